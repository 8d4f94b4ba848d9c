//! The command window the target advertises (RFC 7143 §4.2.2.1): which CmdSN it expects next,
//! how far the initiator may run ahead (MaxCmdSN), and the order in which non-immediate
//! commands are delivered. Commands outside the window, and duplicates, are dropped silently
//! as the RFC requires; commands ahead of a gap wait (bounded by the window).
//!
//! Owns the sequence numbers and the held commands; which PDU carries a CmdSN is decided by
//! the caller.

use std::collections::HashMap;

use crate::pdu::Pdu;
use crate::serial::{serial_le, serial_lt};

/// What to do with a PDU that carries a CmdSN.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Process it now.
    Now,
    /// Held until the gap before it is filled.
    Held,
    /// Outside the window or a duplicate: ignore it.
    Dropped,
}

#[derive(Debug)]
pub(super) struct CommandOrder {
    exp_cmd_sn: u32,
    /// The MaxCmdSN last advertised; it never moves backwards.
    max_cmd_sn: u32,
    window: u32,
    held: HashMap<u32, Pdu>,
    /// Frozen: MaxCmdSN stops advancing (a stalled window).
    stalled: bool,
}

impl CommandOrder {
    pub(super) fn new(exp_cmd_sn: u32, window: u32) -> CommandOrder {
        let window = window.max(1);
        CommandOrder {
            exp_cmd_sn,
            max_cmd_sn: exp_cmd_sn.wrapping_add(window - 1),
            window,
            held: HashMap::new(),
            stalled: false,
        }
    }

    pub(super) fn exp_cmd_sn(&self) -> u32 {
        self.exp_cmd_sn
    }

    /// Decides about a PDU with `cmd_sn`; an admitted non-immediate one advances ExpCmdSN.
    pub(super) fn admit(
        &mut self,
        cmd_sn: u32,
        immediate: bool,
        pdu: &mut Option<Pdu>,
    ) -> Admission {
        if immediate {
            return Admission::Now;
        }
        if cmd_sn == self.exp_cmd_sn {
            self.exp_cmd_sn = self.exp_cmd_sn.wrapping_add(1);
            return Admission::Now;
        }
        let ahead = serial_lt(self.exp_cmd_sn, cmd_sn) && serial_le(cmd_sn, self.max_cmd_sn);
        if !ahead || self.held.contains_key(&cmd_sn) || self.held.len() >= self.window as usize {
            return Admission::Dropped;
        }
        if let Some(pdu) = pdu.take() {
            self.held.insert(cmd_sn, pdu);
        }
        Admission::Held
    }

    /// The next held PDU whose turn has come (advancing ExpCmdSN).
    pub(super) fn release(&mut self) -> Option<Pdu> {
        let pdu = self.held.remove(&self.exp_cmd_sn)?;
        self.exp_cmd_sn = self.exp_cmd_sn.wrapping_add(1);
        Some(pdu)
    }

    /// MaxCmdSN to advertise with `outstanding` commands in the target: the window's free
    /// slots past ExpCmdSN, never less than before.
    pub(super) fn max_cmd_sn(&mut self, outstanding: usize) -> u32 {
        if self.stalled {
            return self.max_cmd_sn;
        }
        let used = u32::try_from(outstanding + self.held.len()).unwrap_or(u32::MAX);
        let free = self.window.saturating_sub(used);
        let candidate = self.exp_cmd_sn.wrapping_add(free).wrapping_sub(1);
        if serial_lt(self.max_cmd_sn, candidate) {
            self.max_cmd_sn = candidate;
        }
        self.max_cmd_sn
    }

    pub(super) fn set_stalled(&mut self, stalled: bool) {
        self.stalled = stalled;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::NopOut;
    use bytes::Bytes;

    fn nop(cmd_sn: u32) -> Option<Pdu> {
        Some(Pdu::NopOut(NopOut {
            immediate: false,
            lun: 0,
            initiator_task_tag: cmd_sn,
            target_transfer_tag: u32::MAX,
            cmd_sn,
            exp_stat_sn: 0,
            data: Bytes::new(),
        }))
    }

    #[test]
    fn in_order_advances_and_gaps_hold() {
        let mut order = CommandOrder::new(10, 4);
        assert_eq!(order.admit(10, false, &mut nop(10)), Admission::Now);
        assert_eq!(order.admit(10, true, &mut nop(10)), Admission::Now);
        assert_eq!(order.admit(12, false, &mut nop(12)), Admission::Held);
        assert!(order.release().is_none());
        assert_eq!(order.admit(11, false, &mut nop(11)), Admission::Now);
        assert!(order.release().is_some());
        assert_eq!(order.exp_cmd_sn(), 13);
    }

    #[test]
    fn outside_the_window_and_duplicates_drop() {
        let mut order = CommandOrder::new(0, 4);
        assert_eq!(order.max_cmd_sn(0), 3);
        assert_eq!(order.admit(4, false, &mut nop(4)), Admission::Dropped);
        assert_eq!(
            order.admit(u32::MAX, false, &mut nop(0)),
            Admission::Dropped
        );
        assert_eq!(order.admit(2, false, &mut nop(2)), Admission::Held);
        assert_eq!(order.admit(2, false, &mut nop(2)), Admission::Dropped);
    }

    #[test]
    fn max_cmd_sn_follows_free_slots_and_never_shrinks() {
        let mut order = CommandOrder::new(0, 4);
        assert_eq!(order.admit(0, false, &mut nop(0)), Admission::Now);
        assert_eq!(order.max_cmd_sn(1), 3);
        assert_eq!(order.max_cmd_sn(0), 4);
        assert_eq!(order.max_cmd_sn(4), 4, "never moves backwards");
        order.set_stalled(true);
        assert_eq!(order.admit(1, false, &mut nop(1)), Admission::Now);
        assert_eq!(order.max_cmd_sn(0), 4, "stalled");
        order.set_stalled(false);
        assert_eq!(order.max_cmd_sn(0), 5);
    }
}
