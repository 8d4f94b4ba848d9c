//! ASCII fields of response data (vendor, product, serial number): trimming, display
//! with escapes, and space padding for builders.

use std::fmt;

/// An ASCII field with its padding trimmed. Displays printable ASCII as is and any other
/// byte as `\xNN`, so garbage from a device never corrupts a log line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TextField<'a>(pub &'a [u8]);

impl<'a> TextField<'a> {
    /// Trims spaces and NULs from both ends.
    pub fn trimmed(bytes: &'a [u8]) -> TextField<'a> {
        let pad = |byte: &u8| *byte == b' ' || *byte == 0;
        let start = bytes.iter().position(|b| !pad(b)).unwrap_or(bytes.len());
        let end = bytes.iter().rposition(|b| !pad(b)).map_or(start, |i| i + 1);
        TextField(bytes.get(start..end).unwrap_or(&[]))
    }

    /// The text, if it is all printable ASCII.
    pub fn as_str(&self) -> Option<&'a str> {
        if !self.0.iter().all(|byte| (0x20..0x7f).contains(byte)) {
            return None;
        }
        std::str::from_utf8(self.0).ok()
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl fmt::Display for TextField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &byte in self.0 {
            if (0x20..0x7f).contains(&byte) {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// `text` left-aligned and padded with spaces to `N` bytes (cut if longer), as INQUIRY
/// vendor, product and revision fields are.
pub fn space_padded<const N: usize>(text: &str) -> [u8; N] {
    let mut field = [b' '; N];
    for (slot, byte) in field.iter_mut().zip(text.bytes()) {
        *slot = byte;
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_escapes() {
        assert_eq!(TextField::trimmed(b"  ABC \0 ").as_str(), Some("ABC"));
        assert_eq!(TextField::trimmed(b"    ").as_str(), Some(""));
        assert_eq!(TextField::trimmed(b"A\x01B").to_string(), "A\\x01B");
        assert_eq!(TextField::trimmed(b"A\x01B").as_str(), None);
        assert_eq!(&space_padded::<8>("LIO-ORG"), b"LIO-ORG ");
        assert_eq!(&space_padded::<4>("TOOLONG"), b"TOOL");
    }
}
