//! Device and host state machines with their transition tables (spec §6.8 and §6.2).
//! Setting the current state again is a successful no-op; an illegal transition is an error.

use std::fmt;

use serde::Serialize;

/// `enum scsi_device_state` (spec §6.8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum DeviceState {
    Created,
    Running,
    Cancel,
    Del,
    Quiesce,
    Offline,
    TransportOffline,
    Block,
    CreatedBlock,
}

impl DeviceState {
    /// The sysfs name, e.g. `transport-offline`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Cancel => "cancel",
            Self::Del => "deleted",
            Self::Quiesce => "quiesce",
            Self::Offline => "offline",
            Self::TransportOffline => "transport-offline",
            Self::Block => "blocked",
            Self::CreatedBlock => "created-blocked",
        }
    }

    /// `scsi_device_online`: not OFFLINE, TRANSPORT_OFFLINE or DEL.
    pub fn is_online(self) -> bool {
        !matches!(self, Self::Offline | Self::TransportOffline | Self::Del)
    }

    /// The states a device may enter `self` from (the table of §6.8).
    fn allowed_from(self) -> &'static [DeviceState] {
        use DeviceState::*;
        match self {
            Created => &[CreatedBlock],
            Running => &[Created, Offline, TransportOffline, Quiesce, Block],
            Quiesce => &[Running, Offline, TransportOffline],
            Offline | TransportOffline => &[Created, Running, Quiesce, Block],
            Block => &[Running, CreatedBlock, Quiesce, Offline],
            CreatedBlock => &[Created],
            Cancel => &[Created, Running, Quiesce, Offline, TransportOffline],
            Del => &[
                Created,
                Running,
                Offline,
                TransportOffline,
                Cancel,
                Block,
                CreatedBlock,
            ],
        }
    }

    /// `scsi_device_set_state`'s check.
    pub fn transition(self, to: DeviceState) -> Result<DeviceState, IllegalTransition> {
        if self == to || to.allowed_from().contains(&self) {
            return Ok(to);
        }
        Err(IllegalTransition {
            from: self.name(),
            to: to.name(),
        })
    }
}

/// What dispatch does with a request in a device state (`scsi_device_state_check`, §6.8).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DispatchGate {
    Allow,
    /// Keep it queued (BLOCK, CREATED_BLOCK, QUIESCE).
    Wait,
    /// Fail it: "rejecting I/O to offline device" (logged once per state change).
    RejectOffline,
    /// Fail it: "rejecting I/O to dead device".
    RejectDead,
    /// CANCEL: fail with BLK_STS_OFFLINE.
    RejectCancelled,
}

impl DeviceState {
    pub fn dispatch_gate(self) -> DispatchGate {
        match self {
            Self::Running | Self::Created => DispatchGate::Allow,
            Self::Offline | Self::TransportOffline => DispatchGate::RejectOffline,
            Self::Del => DispatchGate::RejectDead,
            Self::Block | Self::CreatedBlock | Self::Quiesce => DispatchGate::Wait,
            Self::Cancel => DispatchGate::RejectCancelled,
        }
    }
}

/// `enum scsi_host_state` (spec §6.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum HostState {
    Created,
    Running,
    Cancel,
    Del,
    Recovery,
    CancelRecovery,
    DelRecovery,
}

impl HostState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Cancel => "cancel",
            Self::Del => "deleted",
            Self::Recovery => "recovery",
            Self::CancelRecovery => "cancel/recovery",
            Self::DelRecovery => "deleted/recovery",
        }
    }

    /// `scsi_host_in_recovery`: every dispatch on the host is refused.
    pub fn in_recovery(self) -> bool {
        matches!(
            self,
            Self::Recovery | Self::CancelRecovery | Self::DelRecovery
        )
    }

    fn allowed_from(self) -> &'static [HostState] {
        use HostState::*;
        match self {
            Created => &[],
            Running => &[Created, Recovery],
            Recovery => &[Running],
            Cancel => &[Created, Running, CancelRecovery],
            Del => &[Cancel, DelRecovery],
            CancelRecovery => &[Cancel, Recovery],
            DelRecovery => &[CancelRecovery],
        }
    }

    /// `scsi_host_set_state`'s check.
    pub fn transition(self, to: HostState) -> Result<HostState, IllegalTransition> {
        if self == to || to.allowed_from().contains(&self) {
            return Ok(to);
        }
        Err(IllegalTransition {
            from: self.name(),
            to: to.name(),
        })
    }
}

/// An illegal state change (the kernel's -EINVAL, "Illegal state transition %s->%s").
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub struct IllegalTransition {
    pub from: &'static str,
    pub to: &'static str,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Illegal state transition {}->{}", self.from, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICE_STATES: [DeviceState; 9] = [
        DeviceState::Created,
        DeviceState::Running,
        DeviceState::Cancel,
        DeviceState::Del,
        DeviceState::Quiesce,
        DeviceState::Offline,
        DeviceState::TransportOffline,
        DeviceState::Block,
        DeviceState::CreatedBlock,
    ];

    #[test]
    fn device_table_matches_spec() {
        use DeviceState::*;
        let legal: Vec<(DeviceState, DeviceState)> = DEVICE_STATES
            .iter()
            .flat_map(|from| DEVICE_STATES.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| from != to && from.transition(*to).is_ok())
            .collect();
        assert!(legal.contains(&(Offline, Running)));
        assert!(legal.contains(&(Running, Offline)));
        assert!(legal.contains(&(Block, Del)));
        assert!(
            !legal.contains(&(Del, Running)),
            "a deleted device stays deleted"
        );
        assert!(!legal.contains(&(Cancel, Running)));
        assert!(!legal.contains(&(TransportOffline, Block)));
        assert_eq!(
            legal.len(),
            34,
            "1 + 5 + 3 + 4 + 4 + 4 + 1 + 5 + 7 rows of §6.8"
        );
    }

    #[test]
    fn same_state_is_a_no_op_and_errors_name_both_states() {
        assert_eq!(
            DeviceState::Del.transition(DeviceState::Del),
            Ok(DeviceState::Del)
        );
        let error = DeviceState::Del
            .transition(DeviceState::Running)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Illegal state transition deleted->running"
        );
    }

    #[test]
    fn dispatch_gating() {
        assert_eq!(DeviceState::Running.dispatch_gate(), DispatchGate::Allow);
        assert_eq!(DeviceState::Created.dispatch_gate(), DispatchGate::Allow);
        assert_eq!(
            DeviceState::Offline.dispatch_gate(),
            DispatchGate::RejectOffline
        );
        assert_eq!(
            DeviceState::TransportOffline.dispatch_gate(),
            DispatchGate::RejectOffline
        );
        assert_eq!(DeviceState::Del.dispatch_gate(), DispatchGate::RejectDead);
        assert_eq!(DeviceState::Block.dispatch_gate(), DispatchGate::Wait);
        assert_eq!(DeviceState::Quiesce.dispatch_gate(), DispatchGate::Wait);
        assert_eq!(
            DeviceState::Cancel.dispatch_gate(),
            DispatchGate::RejectCancelled
        );
        assert!(!DeviceState::TransportOffline.is_online());
        assert!(DeviceState::Block.is_online());
    }

    #[test]
    fn host_table_matches_spec() {
        use HostState::*;
        assert!(Running.transition(Recovery).is_ok());
        assert!(Recovery.transition(Running).is_ok());
        assert!(Created.transition(Recovery).is_err());
        assert!(Recovery.transition(CancelRecovery).is_ok());
        assert!(CancelRecovery.transition(DelRecovery).is_ok());
        assert!(
            Running.transition(Created).is_err(),
            "CREATED is initial only"
        );
        assert!(Del.transition(Running).is_err());
        assert!(Recovery.in_recovery() && DelRecovery.in_recovery() && !Running.in_recovery());
    }
}
