//! Sans-I/O SCSI multipath above unjam's core devices (spec README §5, linux-midlayer.md
//! §8): paths are core devices, grouped into one multipath device per logical-unit
//! identity (VPD 83h designator, VPD 80h serial as fallback); requests go to the path the
//! group policy and selector choose; a completion whose status is a path error
//! (`blk_path_error`), `DID_TRANSPORT_FAILFAST` or an ALUA refusal fails the path and goes
//! whole to another path, keeping the original order; a target error is returned.
//!
//! ```text
//!  caller ── submit(mpath) ──► queue (by submission order; failed-over requests keep theirs)
//!                                 │ select: tier (active > marginal > standby > unavailable)
//!                                 │         → group (failover | multibus | prio | tpg, failback)
//!                                 │         → path (round-robin | queue-length | service-time)
//!  Action::Submit{path} ◄─────────┘
//!  handle_completion ─► Ok / target error ─► Action::Complete
//!                    └► path error ─► fail path ─► back to the queue ─► another path
//!  no usable path ─► no_path_retry: fail | queue | N checker intervals ─► BLK_STS_TRANSPORT
//!  handle_timeout ─► TUR checker per path (reinstate, fail, ALUA state), no_path_retry,
//!                    deferred failback, end of a marginal period
//! ```
//!
//! Like the core, the layer reads no clock and does no I/O: every input carries `now`;
//! outputs are [`Action`]s drained with [`Multipath::poll_action`], and
//! [`Multipath::poll_timeout`] says when to call [`Multipath::handle_timeout`]. The driver
//! submits each `Action::Submit` to the core device of its path and hands the core's
//! completion for that token back ([`is_multipath_token`]).

pub mod config;
pub mod event;
pub mod identity;
mod multipath;
mod path;

pub use config::{
    Config, ConfigError, Failback, MarginalConfig, NoPathRetry, PathGrouping, Selector,
};
pub use event::{Action, EventKind, MpathCompletion, MpathEvent, MpathId, PathId};
pub use identity::LuIdentity;
pub use multipath::{
    is_multipath_token, DeviceStats, DeviceView, Multipath, PathError, PathEvent, PathInfo,
    PathView, SubmitError, TOKEN_BIT,
};
pub use path::access_name;
