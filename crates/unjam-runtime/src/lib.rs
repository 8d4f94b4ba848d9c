//! The initiator runtime: iSCSI sessions to real targets with unjam's SCSI mid-layer
//! (`unjam-core`) underneath every command — timeouts, ABORT TASK, LUN and target resets,
//! host reset by session re-login, retries and sense handling as Linux decides them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::{Bytes, BytesMut};
//! use unjam_iscsi::url::IscsiUrl;
//! use unjam_runtime::{Initiator, InitiatorConfig};
//!
//! let url = IscsiUrl::parse("iscsi://127.0.0.1/iqn.2024-11.dev.unjam:disk/1")?;
//! let (initiator, disk) = Initiator::open(&url, InitiatorConfig::default()).await?;
//! disk.write(0, Bytes::from(vec![0xa5; 4096])).await?;
//! let data = disk.read(0, 8, BytesMut::new()).await?;
//! assert_eq!(&data[..], &[0xa5; 4096][..]);
//! initiator.logout().await;
//! # Ok(())
//! # }
//! ```
//!
//! ```text
//!  Disk ──mpsc──► engine task: MidLayer (unjam-core) ◄──► IscsiTransport ──► sessions
//!    ▲                │ one driver loop (unjam_core::harness::Driver) on the wall clock
//!    └──oneshot───────┘ sockets, timers, re-login, trace sink, kernel log lines
//! ```
//!
//! Why a crate of its own: the core must not know tokio or wall time, and the iSCSI crate
//! must not embed retry policy. This crate is the only place where the two meet. Every
//! device-facing tool reaches a target through it; nothing here decides a retry.
//!
//! Knobs ([`Knobs`]) carry open-iscsi's names and defaults (`noop_out_interval`,
//! `replacement_timeout`, `abort_timeout`, ...). See `docs/runtime.md`.

mod capacity;
mod command;
mod disk;
mod engine;
mod initiator;
mod knobs;
mod multipath;
mod outcome;
mod probe;

pub use capacity::{Capacity, CapacityError, MAX_BLOCK_LENGTH};
pub use command::{Command, CommandOutcome, IoError, Transfer, MAX_TRANSFER_BYTES};
pub use disk::{Disk, ResetKind};
pub use engine::{iscsi_capabilities, response_text, IscsiNote, Sink};
pub use initiator::{
    discover, Initiator, InitiatorConfig, InitiatorError, TargetInfo, DEFAULT_INITIATOR_NAME,
};
pub use knobs::{parse_duration, KnobError, Knobs, KNOB_NAMES};
pub use multipath::{
    identification_bound, portal_paths, set_multipath, DeviceView, Failback, MissingPath, MpathId,
    MultipathConfig, NoPathRetry, PathGrouping, PathLun, PathView, Selector, MAX_PATHS,
    MULTIPATH_KNOB_NAMES,
};
pub use outcome::{failure_host_byte, transport_outcome};
pub use probe::{is_block_device, LunInfo, ProbeError};
pub use unjam_iscsi::client::DiscoveredTarget;
