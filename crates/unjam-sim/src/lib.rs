//! The embedded SCSI target of unjam: simulated hosts, targets and logical units that
//! answer SCSI commands correctly from sparse RAM, with personalities, latency models and
//! fault injection, driven by scenario files.
//!
//! ```text
//!  scenario (TOML) ─► topology ─► SimTarget ◄─ dispatch / abort / reset / poll ─ core
//!                                   │  faults decide: answer, delay, fail, hang, lose
//!                                   ▼
//!                     executor (pure SPC/SBC) ─► LogicalUnit (SparseMedia, identity)
//! ```
//!
//! The simulator never decides dispositions: it answers like a device would, and the core
//! decides what the answer means.

pub mod address;
pub mod chunk_map;
pub mod execute;
pub mod fast_hash;
pub mod fault;
pub mod identity;
pub mod latency;
pub mod logical_unit;
pub mod media;
pub mod media_command;
pub mod personality;
pub mod report;
pub mod reservation;
pub mod runner;
pub mod scenario;
pub mod sense_data;
pub mod target;
pub mod token_map;
pub mod transport;
pub mod virtio;
pub mod workload;

pub use address::{AddressSelector, LunAddress};
pub use execute::{cut_write, data_out_length, execute, execute_absent, PortView, Reply};
pub use identity::Identity;
pub use logical_unit::{LogicalUnit, PathState};
pub use media::SparseMedia;
pub use sense_data::SenseData;
