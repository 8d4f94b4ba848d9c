//! The data of one fault rule: what it matches, when it fires, what it does.

use unjam_scsi::{HostByte, SamStatus};

use crate::address::{AddressSelector, LunAddress};
use crate::media_command::{MediaAccess, MediaCommand};
use crate::sense_data::SenseData;
use crate::virtio::VirtioResponse;

pub use super::wire::WireAction;

/// Which commands a rule applies to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum CommandMatch {
    #[default]
    Any,
    Opcode(u8),
    Reads,
    Writes,
    /// Reads and writes.
    MediaAccess,
}

impl CommandMatch {
    pub fn matches(&self, cdb: &[u8], media: Option<&MediaCommand>) -> bool {
        match self {
            CommandMatch::Any => true,
            CommandMatch::Opcode(opcode) => cdb.first() == Some(opcode),
            CommandMatch::Reads => media.is_some_and(|m| m.access == MediaAccess::Read),
            CommandMatch::Writes => media.is_some_and(|m| m.access == MediaAccess::Write),
            CommandMatch::MediaAccess => {
                media.is_some_and(|m| m.access != MediaAccess::Synchronize)
            }
        }
    }
}

/// How many hits a rule fires for (scsi_debug: a positive count is "always", a negative
/// one "the next |n| times").
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Count {
    #[default]
    Always,
    Times(u32),
}

impl Count {
    /// scsi_debug's signed count.
    pub fn from_scsi_debug(count: i64) -> Count {
        if count > 0 {
            Count::Always
        } else {
            Count::Times(u32::try_from(count.unsigned_abs()).unwrap_or(u32::MAX))
        }
    }
}

/// When a rule may fire: inside a window of virtual time, after skipping some matches,
/// for a count of hits, with a probability per match.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct Trigger {
    pub from_us: u64,
    pub until_us: Option<u64>,
    pub skip: u32,
    pub count: Count,
    pub probability: Option<f64>,
}

impl Trigger {
    pub fn in_window(&self, now_us: u64) -> bool {
        now_us >= self.from_us && self.until_us.is_none_or(|until| now_us < until)
    }
}

/// Why the target refuses a command at queue time (queuecommand's return value).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(clippy::enum_variant_names)] // the kernel's SCSI_MLQUEUE_*_BUSY names
pub enum QueueRejection {
    HostBusy,
    DeviceBusy,
    TargetBusy,
}

impl QueueRejection {
    /// The kernel's `SCSI_MLQUEUE_*` value.
    pub fn mlqueue_value(self) -> u32 {
        match self {
            QueueRejection::HostBusy => 0x1055,
            QueueRejection::DeviceBusy => 0x1056,
            QueueRejection::TargetBusy => 0x1058,
        }
    }

    pub fn from_mlqueue_value(value: u32) -> Option<QueueRejection> {
        match value {
            0x1055 => Some(QueueRejection::HostBusy),
            0x1056 | 0x1057 => Some(QueueRejection::DeviceBusy),
            0x1058 => Some(QueueRejection::TargetBusy),
            _ => None,
        }
    }
}

/// The reach of a reset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ResetScope {
    Lun,
    Target,
    Bus,
    Host,
}

impl ResetScope {
    pub fn name(self) -> &'static str {
        match self {
            ResetScope::Lun => "lun",
            ResetScope::Target => "target",
            ResetScope::Bus => "bus",
            ResetScope::Host => "host",
        }
    }

    /// Whether a reset of this scope at `at` reaches `address`.
    pub fn covers(self, at: &LunAddress, address: &LunAddress) -> bool {
        match self {
            ResetScope::Lun => at == address,
            ResetScope::Target => at.same_target(address),
            ResetScope::Bus => at.same_bus(address),
            ResetScope::Host => at.host == address.host,
        }
    }
}

/// A task management function the target receives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TaskManagement {
    Abort,
    Reset(ResetScope),
}

/// What a rule does when it fires.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum FaultAction {
    /// The command is swallowed: it never completes until aborted or reset.
    Timeout,
    /// The command is executed but its completion notification is lost; a poll of the
    /// host finds it.
    LostCompletion,
    /// The command is not executed and completes with this host byte, status and sense.
    /// Without autosense the sense is withheld for the next REQUEST SENSE.
    Fail {
        host_byte: HostByte,
        status: SamStatus,
        sense: Option<SenseData>,
        autosense: bool,
    },
    /// A virtio-scsi response (mapped to a host byte as the kernel does) with the device's
    /// status and sense.
    Virtio {
        response: VirtioResponse,
        status: SamStatus,
        sense: Option<SenseData>,
    },
    /// BUSY or TASK SET FULL status.
    Busy { status: SamStatus },
    /// queuecommand refuses the command.
    QueueReject { reason: QueueRejection },
    /// MEDIUM ERROR over the rule's LBA range: reads 11/00, writes 0c/00, with the first
    /// bad LBA in the information field.
    MediumError,
    /// The command takes this much longer (slow rules add up; they never decide the outcome).
    Slow { extra_us: u64 },
    /// Inside the window the transport is down: commands in flight and new ones complete
    /// with this host byte; task management fails.
    TransportDown { host_byte: HostByte },
    /// A task management function answers FAILED.
    TmfFails { function: TmfKind },
    /// A task management function never answers (or answers FAILED after `after_us`).
    TmfHangs {
        function: TmfKind,
        after_us: Option<u64>,
    },
    /// A fault on the wire of a network front (`portal`: the index of the portal it is
    /// limited to); the simulator ignores it.
    Wire {
        action: WireAction,
        portal: Option<u16>,
    },
}

/// Which task management functions a TMF rule matches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TmfKind {
    Abort,
    /// A reset of this scope, or of any scope when `None`.
    Reset(Option<ResetScope>),
}

impl TmfKind {
    pub fn matches(self, function: TaskManagement) -> bool {
        match (self, function) {
            (TmfKind::Abort, TaskManagement::Abort) => true,
            (TmfKind::Reset(None), TaskManagement::Reset(_)) => true,
            (TmfKind::Reset(Some(wanted)), TaskManagement::Reset(scope)) => wanted == scope,
            _ => false,
        }
    }
}

/// One rule.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct FaultRule {
    pub devices: AddressSelector,
    pub commands: CommandMatch,
    /// Inclusive LBA range; a media command matches when it overlaps it.
    pub lba_range: Option<(u64, u64)>,
    pub trigger: Trigger,
    pub action: FaultAction,
}

impl FaultRule {
    /// A rule that fires on every matching command from time zero.
    pub fn new(devices: AddressSelector, action: FaultAction) -> Self {
        FaultRule {
            devices,
            commands: CommandMatch::Any,
            lba_range: None,
            trigger: Trigger::default(),
            action,
        }
    }

    /// A fault of a network front's wire (ignored by the simulator).
    pub fn is_wire(&self) -> bool {
        matches!(self.action, FaultAction::Wire { .. })
    }

    pub fn is_task_management(&self) -> bool {
        matches!(
            self.action,
            FaultAction::TmfFails { .. } | FaultAction::TmfHangs { .. }
        )
    }

    /// Whether the rule's static conditions (device, opcode, LBA range, window) hold.
    pub fn applies(
        &self,
        now_us: u64,
        address: &LunAddress,
        cdb: &[u8],
        media: Option<&MediaCommand>,
    ) -> bool {
        if !self.devices.matches(address) || !self.trigger.in_window(now_us) {
            return false;
        }
        if !self.commands.matches(cdb, media) {
            return false;
        }
        match self.lba_range {
            None => true,
            Some((first, last)) => media.is_some_and(|m| m.overlaps(first, last)),
        }
    }
}
