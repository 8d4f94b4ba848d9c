//! The 3-byte sense-key-specific field (SPC "sense key specific" table): raw bytes as they
//! travel (fixed format bytes 15..=17, descriptor type 02h bytes 4..=6) and their meaning,
//! which depends on the sense key. This module only interprets and encodes those 3 bytes.

use std::fmt;

use super::SenseKey;

/// SKSV: byte 0 bit 7 says the other 23 bits are meaningful.
const SKSV: u8 = 0x80;
/// Field pointer: byte 0 bit 6, C/D (1 = the error is in the CDB).
const COMMAND_DATA: u8 = 0x40;
/// Segment pointer: byte 0 bit 5, SD (1 = relative to the start of a segment descriptor).
const SEGMENT_DESCRIPTOR: u8 = 0x20;
/// Field and segment pointer: byte 0 bit 3, BPV (the bit pointer is valid).
const BIT_POINTER_VALID: u8 = 0x08;
const BIT_POINTER_MASK: u8 = 0x07;
/// Unit attention: byte 0 bit 0, OVERFLOW.
const QUEUE_OVERFLOW: u8 = 0x01;

/// The raw sense-key-specific bytes. Any 3 bytes are representable; [`Self::decode`] gives
/// them meaning for a sense key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SenseKeySpecificField(pub [u8; 3]);

/// What a valid (SKSV = 1) sense-key-specific field says.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SenseKeySpecific {
    /// ILLEGAL REQUEST: which byte (and bit) of the CDB or parameter data is wrong.
    FieldPointer {
        /// C/D: true when the field is in the CDB, false when in the parameter data.
        in_command: bool,
        /// BPV set: the bit (0..=7) within the byte.
        bit_pointer: Option<u8>,
        field_pointer: u16,
    },
    /// RECOVERED ERROR, MEDIUM ERROR, HARDWARE ERROR: retries the device server made.
    ActualRetryCount(u16),
    /// NO SENSE, NOT READY: progress of a long operation, in units of 1/65536.
    Progress(ProgressIndication),
    /// COPY ABORTED: where in the EXTENDED COPY parameter list the error is.
    SegmentPointer {
        /// SD: true when relative to the start of a segment descriptor, false when relative
        /// to the start of the parameter list.
        in_segment_descriptor: bool,
        bit_pointer: Option<u8>,
        field_pointer: u16,
    },
    /// UNIT ATTENTION: the unit attention condition queue overflowed.
    UnitAttentionQueue { overflow: bool },
    /// SKSV set under a sense key for which SPC defines no meaning.
    Unspecified {
        key: SenseKey,
        field: SenseKeySpecificField,
    },
}

/// A progress indication: numerator of a fraction of 65536.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ProgressIndication(pub u16);

impl ProgressIndication {
    /// Progress in hundredths of a percent, rounded down (65535 gives 9999).
    pub fn basis_points(self) -> u32 {
        u32::from(self.0) * 10_000 / 65_536
    }
}

impl fmt::Display for ProgressIndication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let points = self.basis_points();
        write!(f, "{}.{:02}%", points / 100, points % 100)
    }
}

impl SenseKeySpecificField {
    /// SKSV: whether the field carries information.
    pub fn is_valid(self) -> bool {
        self.0[0] & SKSV != 0
    }

    fn value16(self) -> u16 {
        u16::from_be_bytes([self.0[1], self.0[2]])
    }

    fn bit_pointer(self) -> Option<u8> {
        (self.0[0] & BIT_POINTER_VALID != 0).then_some(self.0[0] & BIT_POINTER_MASK)
    }

    /// The meaning under `key`, or `None` when SKSV is clear.
    pub fn decode(self, key: SenseKey) -> Option<SenseKeySpecific> {
        if !self.is_valid() {
            return None;
        }
        let decoded = match key {
            SenseKey::ILLEGAL_REQUEST => SenseKeySpecific::FieldPointer {
                in_command: self.0[0] & COMMAND_DATA != 0,
                bit_pointer: self.bit_pointer(),
                field_pointer: self.value16(),
            },
            SenseKey::RECOVERED_ERROR | SenseKey::MEDIUM_ERROR | SenseKey::HARDWARE_ERROR => {
                SenseKeySpecific::ActualRetryCount(self.value16())
            }
            SenseKey::NO_SENSE | SenseKey::NOT_READY => {
                SenseKeySpecific::Progress(ProgressIndication(self.value16()))
            }
            SenseKey::COPY_ABORTED => SenseKeySpecific::SegmentPointer {
                in_segment_descriptor: self.0[0] & SEGMENT_DESCRIPTOR != 0,
                bit_pointer: self.bit_pointer(),
                field_pointer: self.value16(),
            },
            SenseKey::UNIT_ATTENTION => SenseKeySpecific::UnitAttentionQueue {
                overflow: self.0[0] & QUEUE_OVERFLOW != 0,
            },
            _ => SenseKeySpecific::Unspecified { key, field: self },
        };
        Some(decoded)
    }
}

impl SenseKeySpecific {
    /// The 3 bytes with SKSV set. A bit pointer above 7 keeps its low 3 bits.
    pub fn encode(self) -> SenseKeySpecificField {
        let with_value = |first: u8, value: u16| {
            let [high, low] = value.to_be_bytes();
            SenseKeySpecificField([SKSV | first, high, low])
        };
        let bit_bits = |bit_pointer: Option<u8>| {
            bit_pointer.map_or(0, |bit| BIT_POINTER_VALID | (bit & BIT_POINTER_MASK))
        };
        match self {
            SenseKeySpecific::FieldPointer {
                in_command,
                bit_pointer,
                field_pointer,
            } => {
                let command = if in_command { COMMAND_DATA } else { 0 };
                with_value(command | bit_bits(bit_pointer), field_pointer)
            }
            SenseKeySpecific::ActualRetryCount(count) => with_value(0, count),
            SenseKeySpecific::Progress(progress) => with_value(0, progress.0),
            SenseKeySpecific::SegmentPointer {
                in_segment_descriptor,
                bit_pointer,
                field_pointer,
            } => {
                let segment = if in_segment_descriptor {
                    SEGMENT_DESCRIPTOR
                } else {
                    0
                };
                with_value(segment | bit_bits(bit_pointer), field_pointer)
            }
            SenseKeySpecific::UnitAttentionQueue { overflow } => {
                with_value(if overflow { QUEUE_OVERFLOW } else { 0 }, 0)
            }
            SenseKeySpecific::Unspecified { field, .. } => {
                SenseKeySpecificField([field.0[0] | SKSV, field.0[1], field.0[2]])
            }
        }
    }
}

/// One line, e.g. `Field pointer: error in command, byte 2 bit 7`, `Actual retry count: 3`,
/// `Progress indication: 7.11%`.
impl fmt::Display for SenseKeySpecific {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SenseKeySpecific::FieldPointer {
                in_command,
                bit_pointer,
                field_pointer,
            } => {
                let place = if in_command {
                    "Command"
                } else {
                    "Data parameters"
                };
                write!(f, "Field pointer: error in {place}, byte {field_pointer}")?;
                write_bit(f, bit_pointer)
            }
            SenseKeySpecific::ActualRetryCount(count) => write!(f, "Actual retry count: {count}"),
            SenseKeySpecific::Progress(progress) => write!(f, "Progress indication: {progress}"),
            SenseKeySpecific::SegmentPointer {
                in_segment_descriptor,
                bit_pointer,
                field_pointer,
            } => {
                let start = if in_segment_descriptor {
                    "segment descriptor"
                } else {
                    "parameter list"
                };
                write!(
                    f,
                    "Segment pointer: relative to start of {start}, byte {field_pointer}"
                )?;
                write_bit(f, bit_pointer)
            }
            SenseKeySpecific::UnitAttentionQueue { overflow } => {
                write!(
                    f,
                    "Unit attention condition queue: overflow flag is {}",
                    u8::from(overflow)
                )
            }
            SenseKeySpecific::Unspecified { key, field } => write!(
                f,
                "Sense key specific (undefined for {key}): {:02x} {:02x} {:02x}",
                field.0[0], field.0[1], field.0[2]
            ),
        }
    }
}

fn write_bit(f: &mut fmt::Formatter<'_>, bit_pointer: Option<u8>) -> fmt::Result {
    match bit_pointer {
        Some(bit) => write!(f, " bit {bit}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_pointer_with_bit_pointer() {
        let field = SenseKeySpecificField([0xcb, 0x12, 0x34]);
        let decoded = field.decode(SenseKey::ILLEGAL_REQUEST).unwrap();
        assert_eq!(
            decoded,
            SenseKeySpecific::FieldPointer {
                in_command: true,
                bit_pointer: Some(3),
                field_pointer: 0x1234
            }
        );
        assert_eq!(
            decoded.to_string(),
            "Field pointer: error in Command, byte 4660 bit 3"
        );
        assert_eq!(decoded.encode(), field);
    }

    #[test]
    fn sksv_clear_means_nothing() {
        assert_eq!(
            SenseKeySpecificField([0x4b, 0x12, 0x34]).decode(SenseKey::ILLEGAL_REQUEST),
            None
        );
        assert_eq!(
            SenseKeySpecificField::default().decode(SenseKey::NOT_READY),
            None
        );
    }

    #[test]
    fn meaning_follows_the_key() {
        let field = SenseKeySpecificField([0x80, 0x80, 0x00]);
        assert_eq!(
            field.decode(SenseKey::NOT_READY),
            Some(SenseKeySpecific::Progress(ProgressIndication(0x8000)))
        );
        assert_eq!(
            field.decode(SenseKey::MEDIUM_ERROR),
            Some(SenseKeySpecific::ActualRetryCount(0x8000))
        );
        assert_eq!(
            SenseKeySpecificField([0x81, 0, 0]).decode(SenseKey::UNIT_ATTENTION),
            Some(SenseKeySpecific::UnitAttentionQueue { overflow: true })
        );
        assert_eq!(
            SenseKeySpecificField([0xa3, 0x00, 0x10]).decode(SenseKey::COPY_ABORTED),
            Some(SenseKeySpecific::SegmentPointer {
                in_segment_descriptor: true,
                bit_pointer: None,
                field_pointer: 0x10
            })
        );
        assert!(matches!(
            field.decode(SenseKey::DATA_PROTECT),
            Some(SenseKeySpecific::Unspecified { .. })
        ));
    }

    #[test]
    fn progress_prints_hundredths() {
        assert_eq!(ProgressIndication(0x1234).to_string(), "7.11%");
        assert_eq!(ProgressIndication(0x8000).to_string(), "50.00%");
        assert_eq!(ProgressIndication(0xffff).to_string(), "99.99%");
        assert_eq!(ProgressIndication(0).to_string(), "0.00%");
    }
}
