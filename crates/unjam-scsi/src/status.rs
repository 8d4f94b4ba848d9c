//! The SAM status byte (`enum sam_status`, spec §1.3).
//!
//! A newtype over the raw byte: a target may send any value, and an unknown one must stay
//! representable so that the disposition rules can treat it as "any other value".

use std::fmt;

/// The status byte a target returns with a completed command.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SamStatus(pub u8);

impl SamStatus {
    pub const GOOD: SamStatus = SamStatus(0x00);
    pub const CHECK_CONDITION: SamStatus = SamStatus(0x02);
    pub const CONDITION_MET: SamStatus = SamStatus(0x04);
    pub const BUSY: SamStatus = SamStatus(0x08);
    pub const INTERMEDIATE: SamStatus = SamStatus(0x10);
    pub const INTERMEDIATE_CONDITION_MET: SamStatus = SamStatus(0x14);
    pub const RESERVATION_CONFLICT: SamStatus = SamStatus(0x18);
    pub const COMMAND_TERMINATED: SamStatus = SamStatus(0x22);
    pub const TASK_SET_FULL: SamStatus = SamStatus(0x28);
    pub const ACA_ACTIVE: SamStatus = SamStatus(0x30);
    pub const TASK_ABORTED: SamStatus = SamStatus(0x40);

    /// Every named status, in numeric order.
    pub const ALL: [SamStatus; 11] = [
        Self::GOOD,
        Self::CHECK_CONDITION,
        Self::CONDITION_MET,
        Self::BUSY,
        Self::INTERMEDIATE,
        Self::INTERMEDIATE_CONDITION_MET,
        Self::RESERVATION_CONFLICT,
        Self::COMMAND_TERMINATED,
        Self::TASK_SET_FULL,
        Self::ACA_ACTIVE,
        Self::TASK_ABORTED,
    ];

    /// The kernel's constant name without the `SAM_STAT_` prefix, e.g. `CHECK_CONDITION`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::GOOD => "GOOD",
            Self::CHECK_CONDITION => "CHECK_CONDITION",
            Self::CONDITION_MET => "CONDITION_MET",
            Self::BUSY => "BUSY",
            Self::INTERMEDIATE => "INTERMEDIATE",
            Self::INTERMEDIATE_CONDITION_MET => "INTERMEDIATE_CONDITION_MET",
            Self::RESERVATION_CONFLICT => "RESERVATION_CONFLICT",
            Self::COMMAND_TERMINATED => "COMMAND_TERMINATED",
            Self::TASK_SET_FULL => "TASK_SET_FULL",
            Self::ACA_ACTIVE => "ACA_ACTIVE",
            Self::TASK_ABORTED => "TASK_ABORTED",
            _ => return None,
        })
    }

    /// Parses a name as printed by [`SamStatus::name`] (an optional `SAM_STAT_` prefix and
    /// any letter case are accepted) or a number (`0x18`, `24`).
    pub fn parse(text: &str) -> Option<SamStatus> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SAM_STAT_").unwrap_or(&upper);
        if let Some(found) = Self::ALL.iter().find(|s| s.name() == Some(bare)) {
            return Some(*found);
        }
        crate::parse_u8(text).map(SamStatus)
    }

    /// The status part of the kernel's `scsi_status_is_good`: the status with bit 0 masked
    /// off is GOOD, CONDITION MET, INTERMEDIATE, INTERMEDIATE-CONDITION MET or COMMAND
    /// TERMINATED. (The host-byte part lives in [`crate::ScsiResult::status_is_good`].)
    pub fn is_good(self) -> bool {
        matches!(
            SamStatus(self.0 & 0xfe),
            Self::GOOD
                | Self::CONDITION_MET
                | Self::INTERMEDIATE
                | Self::INTERMEDIATE_CONDITION_MET
                | Self::COMMAND_TERMINATED
        )
    }

    /// `scsi_status_is_check_condition`: the status with bit 0 masked off is 0x02.
    pub fn is_check_condition(self) -> bool {
        self.0 & 0xfe == Self::CHECK_CONDITION.0
    }
}

impl fmt::Debug for SamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "SamStatus({:#04x})", self.0),
        }
    }
}

impl fmt::Display for SamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:02x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_statuses_match_the_kernel_table() {
        let good: Vec<u8> = (0..=255u8).filter(|b| SamStatus(*b).is_good()).collect();
        // The five "yes" rows of spec §1.3, each with bit 0 clear or set.
        assert_eq!(
            good,
            vec![0x00, 0x01, 0x04, 0x05, 0x10, 0x11, 0x14, 0x15, 0x22, 0x23]
        );
    }

    #[test]
    fn check_condition_ignores_bit_zero() {
        assert!(SamStatus(0x02).is_check_condition());
        assert!(SamStatus(0x03).is_check_condition());
        assert!(!SamStatus(0x00).is_check_condition());
    }

    #[test]
    fn names_round_trip() {
        for status in SamStatus::ALL {
            assert_eq!(SamStatus::parse(status.name().unwrap()), Some(status));
        }
        assert_eq!(SamStatus::parse("sam_stat_busy"), Some(SamStatus::BUSY));
        assert_eq!(
            SamStatus::parse("0x18"),
            Some(SamStatus::RESERVATION_CONFLICT)
        );
        assert_eq!(SamStatus::parse("bogus"), None);
    }
}
