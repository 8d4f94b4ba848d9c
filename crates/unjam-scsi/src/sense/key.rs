//! The 4-bit sense key and its names.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SenseKey(u8);

impl SenseKey {
    pub const NO_SENSE: SenseKey = SenseKey(0x0);
    pub const RECOVERED_ERROR: SenseKey = SenseKey(0x1);
    pub const NOT_READY: SenseKey = SenseKey(0x2);
    pub const MEDIUM_ERROR: SenseKey = SenseKey(0x3);
    pub const HARDWARE_ERROR: SenseKey = SenseKey(0x4);
    pub const ILLEGAL_REQUEST: SenseKey = SenseKey(0x5);
    pub const UNIT_ATTENTION: SenseKey = SenseKey(0x6);
    pub const DATA_PROTECT: SenseKey = SenseKey(0x7);
    pub const BLANK_CHECK: SenseKey = SenseKey(0x8);
    pub const VENDOR_SPECIFIC: SenseKey = SenseKey(0x9);
    pub const COPY_ABORTED: SenseKey = SenseKey(0xa);
    pub const ABORTED_COMMAND: SenseKey = SenseKey(0xb);
    pub const EQUAL: SenseKey = SenseKey(0xc);
    pub const VOLUME_OVERFLOW: SenseKey = SenseKey(0xd);
    pub const MISCOMPARE: SenseKey = SenseKey(0xe);
    pub const COMPLETED: SenseKey = SenseKey(0xf);

    /// The low four bits of `value`.
    pub const fn new(value: u8) -> SenseKey {
        SenseKey(value & 0x0f)
    }

    pub const fn value(self) -> u8 {
        self.0
    }

    /// The name as the kernel's "Sense Key : ..." log line prints it (spec §4.6), e.g.
    /// `Aborted Command`; key 9 is `Vendor Specific(9)`. Every 4-bit value has one.
    pub fn name(self) -> &'static str {
        NAMES.get(usize::from(self.0)).copied().unwrap_or("")
    }

    /// The name as `sg_decode_sense` prints it: the kernel's names except key 9, which it
    /// spells `Vendor specific(9)`.
    pub fn decoder_name(self) -> &'static str {
        if self == SenseKey::VENDOR_SPECIFIC {
            return "Vendor specific(9)";
        }
        self.name()
    }

    /// Parses a name (any case, spaces or underscores) or a number.
    pub fn parse(text: &str) -> Option<SenseKey> {
        let wanted: String = text
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>();
        let wanted = wanted.to_ascii_lowercase();
        for (value, name) in NAMES.iter().enumerate() {
            let plain: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            if plain.to_ascii_lowercase() == wanted {
                return Some(SenseKey(value as u8));
            }
        }
        crate::parse_u8(text).filter(|v| *v < 16).map(SenseKey)
    }
}

const NAMES: [&str; 16] = [
    "No Sense",
    "Recovered Error",
    "Not Ready",
    "Medium Error",
    "Hardware Error",
    "Illegal Request",
    "Unit Attention",
    "Data Protect",
    "Blank Check",
    "Vendor Specific(9)",
    "Copy Aborted",
    "Aborted Command",
    "Equal",
    "Volume Overflow",
    "Miscompare",
    "Completed",
];

impl fmt::Debug for SenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SenseKey({:#x} {})", self.0, self.name())
    }
}

impl fmt::Display for SenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(SenseKey::ABORTED_COMMAND.name(), "Aborted Command");
        assert_eq!(SenseKey::new(0x1b), SenseKey::ABORTED_COMMAND);
        assert_eq!(
            SenseKey::parse("aborted_command"),
            Some(SenseKey::ABORTED_COMMAND)
        );
        assert_eq!(SenseKey::parse("0xb"), Some(SenseKey::ABORTED_COMMAND));
        assert_eq!(SenseKey::parse("16"), None);
        assert_eq!(
            SenseKey::parse("vendor specific(9)"),
            Some(SenseKey::VENDOR_SPECIFIC)
        );
        assert_eq!(SenseKey::parse("9"), Some(SenseKey::VENDOR_SPECIFIC));
    }

    #[test]
    fn every_key_has_a_kernel_and_a_decoder_name() {
        for value in 0..16u8 {
            let key = SenseKey::new(value);
            assert!(!key.name().is_empty());
            assert!(!key.decoder_name().is_empty());
            if key != SenseKey::VENDOR_SPECIFIC {
                assert_eq!(key.name(), key.decoder_name());
            }
        }
        assert_eq!(SenseKey::VENDOR_SPECIFIC.name(), "Vendor Specific(9)");
        assert_eq!(
            SenseKey::VENDOR_SPECIFIC.decoder_name(),
            "Vendor specific(9)"
        );
        assert_eq!(SenseKey::COMPLETED.name(), "Completed");
        assert_eq!(SenseKey::new(0x0e).name(), "Miscompare");
    }
}
