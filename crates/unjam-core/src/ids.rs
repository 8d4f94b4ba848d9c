//! The identifiers and kinds every other module names: tags, task management operations
//! and their answers, reset kinds, the error handler's commands and scopes, host, target
//! and device indexes. A leaf: it imports nothing else of the crate but `buffers`, so the
//! modules that use these (action, command, eh, midlayer, trace, topology) import no cycle
//! through them.

use std::fmt;

use serde::Serialize;
use unjam_scsi::cdb::{RequestSense, StartStopUnit, TestUnitReady};

use crate::buffers::Cdb;

/// A command's handle at the transport: slot and generation. The generation changes on
/// every dispatch, so a completion for an earlier attempt is recognised as stale.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Tag {
    pub slot: u32,
    pub generation: u32,
}

impl Tag {
    /// The number log lines print after `tag#`.
    pub fn number(self) -> u32 {
        self.slot
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag#{}.{}", self.slot, self.generation)
    }
}

/// Identifies one abort or reset request to the transport.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct TmfOp(pub u32);

/// Which reset (spec §6.4 steps 3–6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub enum ResetKind {
    Lun,
    Target,
    Bus,
    Host,
}

impl ResetKind {
    /// The kernel's log word: BDR, target reset, BRST, HRST.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Self::Lun => "BDR",
            Self::Target => "target reset",
            Self::Bus => "BRST",
            Self::Host => "HRST",
        }
    }
}

/// The transport's answer to an abort or reset.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum TmfResult {
    /// The function completed: the transport dropped every reference to the commands.
    Success,
    Failed,
    /// Not sent, and the commands may be failed fast.
    FastIoFail,
}

/// The error handler's own commands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum EhCommand {
    TestUnitReady,
    StartUnit,
    RequestSense,
}

impl EhCommand {
    /// TEST UNIT READY, START STOP UNIT with START (§6.4: `1b 00 00 00 01 00`), REQUEST
    /// SENSE of 96 bytes, built by unjam-scsi.
    pub fn cdb(self) -> Cdb {
        let built = match self {
            Self::TestUnitReady => TestUnitReady.build(),
            Self::StartUnit => StartStopUnit {
                start: true,
                ..StartStopUnit::default()
            }
            .build(),
            Self::RequestSense => RequestSense {
                descriptor_format: false,
                allocation_length: 96,
            }
            .build(),
        };
        match built {
            Ok(cdb) => cdb,
            Err(error) => panic!("the error handler's fixed {self:?} CDB: {error}"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::TestUnitReady => "TEST UNIT READY",
            Self::StartUnit => "START UNIT",
            Self::RequestSense => "REQUEST SENSE",
        }
    }
}

/// Index of a host in the mid-layer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct HostId(pub u32);

/// Index of a target in the mid-layer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct TargetId(pub u32);

/// Index of a logical unit in the mid-layer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct DeviceId(pub u32);

/// Who issued the command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CommandKind {
    /// A caller's request, completed upward exactly once.
    Io,
    /// The error handler's own command, never completed upward.
    Eh(EhCommand),
}

/// What one error-handler run may touch and block. Serialized as its kind (`lun`,
/// `target`, `host`); trace lines name the device beside it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EhScope {
    /// One LUN (Wenchao Hao's LUN-based handler).
    Lun(DeviceId),
    /// Every LUN of one target.
    Target(TargetId),
    /// Every device of the host (the kernel's `scsi_unjam_host`).
    Host(HostId),
}

impl EhScope {
    pub fn name(self) -> &'static str {
        match self {
            Self::Lun(_) => "lun",
            Self::Target(_) => "target",
            Self::Host(_) => "host",
        }
    }
}

/// "No slot" in the intrusive lists and carrier links.
pub const NO_SLOT: u32 = u32::MAX;
