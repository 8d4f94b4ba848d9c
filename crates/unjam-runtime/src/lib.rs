//! The tokio driver for unjam's sans-I/O mid-layer with a real transport.
//!
//! ```text
//!  Disk::execute ──mpsc──► driver task ──submit──► MidLayer (unjam-core)
//!                               ▲  │ poll_action: Dispatch / SendEhCommand / Abort / Reset /
//!                               │  ▼ Revoke / Complete
//!             transport events  │  IscsiClient (unjam-iscsi): commands, ABORT TASK,
//!  (Done, TmfDone) ◄──mpsc──────┘  LOGICAL UNIT RESET, TARGET WARM RESET, re-login
//!  timers: MidLayer::poll_timeout ─► tokio sleep ─► handle_timeout
//! ```
//!
//! Why a crate of its own: the core must not know tokio or wall time, and the iSCSI crate
//! must not embed retry policy. This crate is the only place where the two meet: it moves
//! transport completions and timer expiries into the core and carries out its actions. The
//! binary stays free of protocol logic.
//!
//! Owns the mapping between core tags and iSCSI requests, the caller's data buffers, and the
//! translation of iSCSI outcomes into the host byte, status, sense and residual the core
//! decides on. It never decides a retry itself.

mod capacity;
mod disk;
mod outcome;

pub use capacity::{read_capacity, Capacity, CapacityError, MAX_BLOCK_LENGTH};
pub use disk::{Disk, DiskCompletion, DiskConfig, DiskError};
pub use outcome::transport_outcome;
