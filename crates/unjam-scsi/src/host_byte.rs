//! The host byte (`DID_*`, spec §1.2): what the HBA or transport says about a command.

use std::fmt;

/// Bits 16..23 of the result word. A newtype so that unknown and retired values
/// (0x10..0x13) stay representable; the disposition rules treat them as "anything else".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HostByte(pub u8);

impl HostByte {
    pub const DID_OK: HostByte = HostByte(0x00);
    pub const DID_NO_CONNECT: HostByte = HostByte(0x01);
    pub const DID_BUS_BUSY: HostByte = HostByte(0x02);
    pub const DID_TIME_OUT: HostByte = HostByte(0x03);
    pub const DID_BAD_TARGET: HostByte = HostByte(0x04);
    pub const DID_ABORT: HostByte = HostByte(0x05);
    pub const DID_PARITY: HostByte = HostByte(0x06);
    pub const DID_ERROR: HostByte = HostByte(0x07);
    pub const DID_RESET: HostByte = HostByte(0x08);
    pub const DID_BAD_INTR: HostByte = HostByte(0x09);
    pub const DID_PASSTHROUGH: HostByte = HostByte(0x0a);
    pub const DID_SOFT_ERROR: HostByte = HostByte(0x0b);
    pub const DID_IMM_RETRY: HostByte = HostByte(0x0c);
    pub const DID_REQUEUE: HostByte = HostByte(0x0d);
    pub const DID_TRANSPORT_DISRUPTED: HostByte = HostByte(0x0e);
    pub const DID_TRANSPORT_FAILFAST: HostByte = HostByte(0x0f);
    pub const DID_TRANSPORT_MARGINAL: HostByte = HostByte(0x14);

    /// Every host byte that current kernels define, in numeric order.
    pub const ALL: [HostByte; 17] = [
        Self::DID_OK,
        Self::DID_NO_CONNECT,
        Self::DID_BUS_BUSY,
        Self::DID_TIME_OUT,
        Self::DID_BAD_TARGET,
        Self::DID_ABORT,
        Self::DID_PARITY,
        Self::DID_ERROR,
        Self::DID_RESET,
        Self::DID_BAD_INTR,
        Self::DID_PASSTHROUGH,
        Self::DID_SOFT_ERROR,
        Self::DID_IMM_RETRY,
        Self::DID_REQUEUE,
        Self::DID_TRANSPORT_DISRUPTED,
        Self::DID_TRANSPORT_FAILFAST,
        Self::DID_TRANSPORT_MARGINAL,
    ];

    /// The constant's name, e.g. `DID_TIME_OUT`, for a host byte current kernels define.
    pub fn name(self) -> Option<&'static str> {
        let index = self.0 as usize;
        if index < NAMES.len() {
            return Some(NAMES[index]);
        }
        (self == Self::DID_TRANSPORT_MARGINAL).then_some("DID_TRANSPORT_MARGINAL")
    }

    /// The name the kernel's log line prints after `hostbyte=` (spec §1.2, ≈v6.0–6.12
    /// `hostbyte_table`): it still names the retired 0x10..0x13 codes and has no entry for
    /// 0x14, which therefore prints as `0x14`.
    pub fn log_name(self) -> Option<&'static str> {
        let index = self.0 as usize;
        if index < NAMES.len() {
            return Some(NAMES[index]);
        }
        RETIRED_NAMES.get(index - NAMES.len()).copied()
    }

    /// Parses `DID_ERROR`, `error`, `did_error` or a number.
    pub fn parse(text: &str) -> Option<HostByte> {
        let upper = text.trim().to_ascii_uppercase();
        let with_prefix = if upper.starts_with("DID_") {
            upper
        } else {
            format!("DID_{upper}")
        };
        if let Some(found) = Self::ALL
            .iter()
            .find(|h| h.name() == Some(with_prefix.as_str()))
        {
            return Some(*found);
        }
        crate::parse_u8(text).map(HostByte)
    }
}

const NAMES: [&str; 16] = [
    "DID_OK",
    "DID_NO_CONNECT",
    "DID_BUS_BUSY",
    "DID_TIME_OUT",
    "DID_BAD_TARGET",
    "DID_ABORT",
    "DID_PARITY",
    "DID_ERROR",
    "DID_RESET",
    "DID_BAD_INTR",
    "DID_PASSTHROUGH",
    "DID_SOFT_ERROR",
    "DID_IMM_RETRY",
    "DID_REQUEUE",
    "DID_TRANSPORT_DISRUPTED",
    "DID_TRANSPORT_FAILFAST",
];

/// Names the ≈v6.0–6.12 log table still prints for the retired codes 0x10..0x13.
const RETIRED_NAMES: [&str; 4] = [
    "DID_TARGET_FAILURE",
    "DID_NEXUS_FAILURE",
    "DID_ALLOC_FAILURE",
    "DID_MEDIUM_ERROR",
];

impl fmt::Debug for HostByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "HostByte({:#04x})", self.0),
        }
    }
}

impl fmt::Display for HostByte {
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
    fn values_match_the_kernel() {
        assert_eq!(HostByte::DID_TIME_OUT.0, 0x03);
        assert_eq!(HostByte::DID_TRANSPORT_FAILFAST.0, 0x0f);
        assert_eq!(HostByte::DID_TRANSPORT_MARGINAL.0, 0x14);
        for (index, host) in HostByte::ALL.iter().enumerate().take(16) {
            assert_eq!(host.0 as usize, index);
        }
    }

    #[test]
    fn log_names_follow_the_v6_table() {
        assert_eq!(HostByte(0x07).log_name(), Some("DID_ERROR"));
        assert_eq!(HostByte(0x10).log_name(), Some("DID_TARGET_FAILURE"));
        assert_eq!(HostByte(0x13).log_name(), Some("DID_MEDIUM_ERROR"));
        assert_eq!(HostByte(0x14).log_name(), None);
        assert_eq!(HostByte(0x14).name(), Some("DID_TRANSPORT_MARGINAL"));
        assert_eq!(HostByte(0x10).name(), None);
    }

    #[test]
    fn parse_accepts_short_and_long_names() {
        assert_eq!(HostByte::parse("DID_ERROR"), Some(HostByte::DID_ERROR));
        assert_eq!(HostByte::parse("time_out"), Some(HostByte::DID_TIME_OUT));
        assert_eq!(
            HostByte::parse("0x0e"),
            Some(HostByte::DID_TRANSPORT_DISRUPTED)
        );
        assert_eq!(HostByte::parse("DID_NOPE"), None);
    }
}
