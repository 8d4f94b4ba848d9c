//! What the multipath layer asks of its driver ([`Action`]) and tells it: the one
//! completion of each caller request ([`MpathCompletion`]) and structured events
//! ([`MpathEvent`]) for traces and report lanes.

use serde::Serialize;
use unjam_core::buffers::SenseBuffer;
use unjam_core::request::Request;
use unjam_core::topology::DeviceId;
use unjam_core::Instant;
use unjam_scsi::{BlkStatus, ScsiResult};

/// A path is one core device (one I_T_L nexus).
pub type PathId = DeviceId;

/// A multipath device: one logical unit reached over its paths.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct MpathId(pub u32);

/// Something the driver must do.
#[derive(Clone, Debug)]
pub enum Action {
    /// Submit `request` to the core device `path` and report its completion with
    /// `Multipath::handle_completion` (with the data-in bytes for the layer's own INQUIRY
    /// and REPORT TARGET PORT GROUPS). The request's token is the layer's
    /// ([`crate::is_multipath_token`]); the caller's buffers are those of the caller's token,
    /// given in `caller_token` (`None` for the layer's own commands, which need a data-in
    /// buffer of `request.data_len` bytes).
    Submit {
        path: PathId,
        request: Request,
        caller_token: Option<u64>,
    },
    /// The one completion of a caller's request.
    Complete(MpathCompletion),
    /// A structured event (path failed, failover, ALUA state, ...).
    Event(MpathEvent),
}

/// The one completion of a request submitted to a multipath device.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MpathCompletion {
    /// The caller's token.
    pub token: u64,
    pub mpath: MpathId,
    pub status: BlkStatus,
    pub result: ScsiResult,
    pub sense: SenseBuffer,
    /// The path of the last attempt (`None`: it never reached a path).
    pub path: Option<PathId>,
    /// Times the request was sent again on another path.
    pub failovers: u32,
    /// Sends to the transport over every path.
    pub attempts: u32,
    pub good_bytes: u32,
    /// It failed because no path was usable (`no_path_retry` ran out, or is `fail`), not
    /// with the status of an attempt.
    pub no_path: bool,
}

/// One event of the multipath layer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct MpathEvent {
    pub at: Instant,
    pub mpath: Option<MpathId>,
    pub path: Option<PathId>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The path's logical unit was identified and the path joined its multipath device.
    PathAdded {
        identity: String,
    },
    /// The path could not be identified (no designator, or its INQUIRYs failed).
    PathUnidentified {
        reason: &'static str,
    },
    PathRemoved,
    /// The path stops carrying I/O.
    PathFailed {
        reason: &'static str,
    },
    /// The checker found the path working again.
    PathReinstated,
    /// The path's ALUA access state changed.
    AccessState {
        state: &'static str,
    },
    /// The path is demoted (error rate, latency or flapping).
    Marginal {
        reason: &'static str,
    },
    MarginalCleared,
    /// I/O moved to another path group.
    GroupSwitched {
        group: u32,
    },
    /// A request went whole to another path.
    FailedOver {
        token: u64,
        status: BlkStatus,
    },
    /// No path is usable: queued I/O waits under `no_path_retry`.
    NoPath,
    /// A path is usable again.
    PathRestored {
        waited_ms: u64,
    },
    /// `no_path_retry` ran out: queued I/O failed with `BLK_STS_TRANSPORT`.
    NoPathRetryExpired {
        failed: u32,
    },
}
