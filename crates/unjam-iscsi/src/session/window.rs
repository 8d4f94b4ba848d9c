//! The command window (RFC 7143 §4.2.2.1): CmdSN assignment, ExpCmdSN / MaxCmdSN updates and
//! ExpStatSN acknowledgement.
//!
//! Owns the sequence numbers only; which PDU may advance them is decided by the caller.

use crate::serial::{serial_le, serial_lt};

/// CmdSN window and StatSN acknowledgement state of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandWindow {
    /// CmdSN the next non-immediate command will carry.
    pub cmd_sn: u32,
    pub exp_cmd_sn: u32,
    pub max_cmd_sn: u32,
    /// The next StatSN we expect (sent as ExpStatSN).
    pub exp_stat_sn: u32,
}

impl CommandWindow {
    pub fn new(cmd_sn: u32, exp_cmd_sn: u32, max_cmd_sn: u32, exp_stat_sn: u32) -> Self {
        CommandWindow {
            cmd_sn,
            exp_cmd_sn,
            max_cmd_sn,
            exp_stat_sn,
        }
    }

    /// True when a non-immediate command may be sent now.
    pub fn is_open(&self) -> bool {
        serial_le(self.cmd_sn, self.max_cmd_sn)
    }

    /// Takes the CmdSN for a non-immediate command and advances it.
    pub fn take_cmd_sn(&mut self) -> u32 {
        let cmd_sn = self.cmd_sn;
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        cmd_sn
    }

    /// Applies ExpCmdSN and MaxCmdSN from a target PDU. Per RFC 7143 §4.2.2.1, values with
    /// MaxCmdSN < ExpCmdSN - 1 are ignored, and neither value ever moves backwards.
    pub fn update(&mut self, exp_cmd_sn: u32, max_cmd_sn: u32) {
        if serial_lt(max_cmd_sn, exp_cmd_sn.wrapping_sub(1)) {
            return;
        }
        if serial_lt(self.exp_cmd_sn, exp_cmd_sn) {
            self.exp_cmd_sn = exp_cmd_sn;
        }
        if serial_lt(self.max_cmd_sn, max_cmd_sn) {
            self.max_cmd_sn = max_cmd_sn;
        }
    }

    /// Records a StatSN that the PDU carrying it consumed.
    pub fn acknowledge(&mut self, stat_sn: u32) {
        let next = stat_sn.wrapping_add(1);
        if serial_lt(self.exp_stat_sn, next) {
            self.exp_stat_sn = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_closes_at_max_cmd_sn_and_reopens() {
        let mut window = CommandWindow::new(10, 10, 11, 0);
        assert!(window.is_open());
        assert_eq!(window.take_cmd_sn(), 10);
        assert!(window.is_open());
        assert_eq!(window.take_cmd_sn(), 11);
        assert!(!window.is_open());
        window.update(12, 12);
        assert!(window.is_open());
    }

    #[test]
    fn stale_or_invalid_updates_are_ignored() {
        let mut window = CommandWindow::new(5, 5, 20, 0);
        window.update(4, 10);
        assert_eq!((window.exp_cmd_sn, window.max_cmd_sn), (5, 20));
        // MaxCmdSN < ExpCmdSN - 1: invalid, ignored.
        window.update(30, 10);
        assert_eq!((window.exp_cmd_sn, window.max_cmd_sn), (5, 20));
        // MaxCmdSN = ExpCmdSN - 1 closes the window: valid.
        window.update(21, 20);
        assert_eq!(window.exp_cmd_sn, 21);
    }

    #[test]
    fn wraps_around_zero() {
        let mut window = CommandWindow::new(u32::MAX, u32::MAX, 1, 0);
        assert_eq!(window.take_cmd_sn(), u32::MAX);
        assert!(window.is_open());
        window.acknowledge(u32::MAX);
        assert_eq!(window.exp_stat_sn, 0);
    }
}
