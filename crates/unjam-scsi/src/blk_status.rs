//! The block layer's `blk_status_t` (spec §1.6): what a caller finally sees, with its errno,
//! the string the kernel prints in "%s error, dev ..." and `blk_path_error`.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum BlkStatus {
    Ok = 0,
    NotSupp = 1,
    Timeout = 2,
    NoSpc = 3,
    Transport = 4,
    Target = 5,
    ResvConflict = 6,
    Medium = 7,
    Protection = 8,
    Resource = 9,
    IoErr = 10,
    DmRequeue = 11,
    Again = 12,
    DevResource = 13,
    ZoneResource = 14,
    ZoneOpenResource = 15,
    ZoneActiveResource = 16,
    Offline = 17,
    DurationLimit = 18,
    Inval = 19,
}

impl BlkStatus {
    pub const ALL: [BlkStatus; 20] = [
        Self::Ok,
        Self::NotSupp,
        Self::Timeout,
        Self::NoSpc,
        Self::Transport,
        Self::Target,
        Self::ResvConflict,
        Self::Medium,
        Self::Protection,
        Self::Resource,
        Self::IoErr,
        Self::DmRequeue,
        Self::Again,
        Self::DevResource,
        Self::ZoneResource,
        Self::ZoneOpenResource,
        Self::ZoneActiveResource,
        Self::Offline,
        Self::DurationLimit,
        Self::Inval,
    ];

    /// The kernel's numeric value.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<BlkStatus> {
        Self::ALL.get(code as usize).copied()
    }

    /// The kernel's constant name, e.g. `BLK_STS_IOERR`.
    pub fn kernel_name(self) -> &'static str {
        self.row().0
    }

    /// The negative errno the block layer hands to the caller (0 for OK; ZONE_RESOURCE has
    /// none and reports 0).
    pub fn errno(self) -> i32 {
        self.row().1
    }

    /// The text in the block layer's "%s error, dev ..." line, e.g. `I/O` or
    /// `critical medium`. Empty for OK and ZONE_RESOURCE.
    pub fn log_string(self) -> &'static str {
        self.row().2
    }

    /// `blk_path_error`: could another path help? False for the target errors NOTSUPP,
    /// NOSPC, TARGET, RESV_CONFLICT, MEDIUM and PROTECTION; true for everything else.
    pub fn is_path_error(self) -> bool {
        !matches!(
            self,
            Self::NotSupp
                | Self::NoSpc
                | Self::Target
                | Self::ResvConflict
                | Self::Medium
                | Self::Protection
        )
    }

    fn row(self) -> (&'static str, i32, &'static str) {
        match self {
            Self::Ok => ("BLK_STS_OK", 0, ""),
            Self::NotSupp => ("BLK_STS_NOTSUPP", -95, "operation not supported"),
            Self::Timeout => ("BLK_STS_TIMEOUT", -110, "timeout"),
            Self::NoSpc => ("BLK_STS_NOSPC", -28, "critical space allocation"),
            Self::Transport => ("BLK_STS_TRANSPORT", -67, "recoverable transport"),
            Self::Target => ("BLK_STS_TARGET", -121, "critical target"),
            Self::ResvConflict => ("BLK_STS_RESV_CONFLICT", -52, "reservation conflict"),
            Self::Medium => ("BLK_STS_MEDIUM", -61, "critical medium"),
            Self::Protection => ("BLK_STS_PROTECTION", -84, "protection"),
            Self::Resource => ("BLK_STS_RESOURCE", -12, "kernel resource"),
            Self::IoErr => ("BLK_STS_IOERR", -5, "I/O"),
            Self::DmRequeue => ("BLK_STS_DM_REQUEUE", -78, "dm internal retry"),
            Self::Again => ("BLK_STS_AGAIN", -11, "nonblocking retry"),
            Self::DevResource => ("BLK_STS_DEV_RESOURCE", -16, "device resource"),
            Self::ZoneResource => ("BLK_STS_ZONE_RESOURCE", 0, ""),
            Self::ZoneOpenResource => ("BLK_STS_ZONE_OPEN_RESOURCE", -109, "open zones exceeded"),
            Self::ZoneActiveResource => {
                ("BLK_STS_ZONE_ACTIVE_RESOURCE", -75, "active zones exceeded")
            }
            Self::Offline => ("BLK_STS_OFFLINE", -19, "device offline"),
            Self::DurationLimit => ("BLK_STS_DURATION_LIMIT", -62, "duration limit exceeded"),
            Self::Inval => ("BLK_STS_INVAL", -22, "invalid"),
        }
    }

    /// Parses a kernel name (`BLK_STS_IOERR`, `IOERR`, any case).
    pub fn parse(text: &str) -> Option<BlkStatus> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("BLK_STS_").unwrap_or(&upper);
        Self::ALL
            .into_iter()
            .find(|s| &s.kernel_name()["BLK_STS_".len()..] == bare)
    }
}

impl fmt::Display for BlkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}

/// Serialised as the kernel name, which is what reports and JSON output promise.
impl Serialize for BlkStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.kernel_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_kernels() {
        for (index, status) in BlkStatus::ALL.iter().enumerate() {
            assert_eq!(status.code() as usize, index);
            assert_eq!(BlkStatus::from_code(index as u8), Some(*status));
        }
        assert_eq!(BlkStatus::IoErr.code(), 10);
        assert_eq!(BlkStatus::DurationLimit.code(), 18);
    }

    #[test]
    fn errnos_and_strings_match_spec_table() {
        assert_eq!(BlkStatus::IoErr.errno(), -5);
        assert_eq!(BlkStatus::Medium.errno(), -61);
        assert_eq!(BlkStatus::Target.errno(), -121);
        assert_eq!(BlkStatus::Transport.errno(), -67);
        assert_eq!(BlkStatus::ResvConflict.errno(), -52);
        assert_eq!(BlkStatus::DurationLimit.errno(), -62);
        assert_eq!(BlkStatus::IoErr.log_string(), "I/O");
        assert_eq!(BlkStatus::Medium.log_string(), "critical medium");
    }

    #[test]
    fn path_errors() {
        let not_path: Vec<_> = BlkStatus::ALL
            .into_iter()
            .filter(|s| !s.is_path_error())
            .collect();
        assert_eq!(
            not_path,
            vec![
                BlkStatus::NotSupp,
                BlkStatus::NoSpc,
                BlkStatus::Target,
                BlkStatus::ResvConflict,
                BlkStatus::Medium,
                BlkStatus::Protection
            ]
        );
    }

    #[test]
    fn parse_names() {
        assert_eq!(BlkStatus::parse("BLK_STS_IOERR"), Some(BlkStatus::IoErr));
        assert_eq!(BlkStatus::parse("medium"), Some(BlkStatus::Medium));
        assert_eq!(BlkStatus::parse("nope"), None);
    }
}
