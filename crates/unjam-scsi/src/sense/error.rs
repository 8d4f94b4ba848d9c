//! Why a sense buffer could not be parsed, and why sense data could not be built.

/// A sense buffer that [`super::SenseData::parse`] rejects. Offsets are from the start of
/// the buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SenseError {
    #[error("the sense buffer is empty")]
    Empty,
    #[error("response code {0:#04x} is not sense data (70h..73h expected)")]
    NotSense(u8),
    #[error("response code {0:#04x} is reserved or vendor specific (70h..73h expected)")]
    UnsupportedResponseCode(u8),
    #[error("{length} bytes are too few for the 8-byte sense header")]
    TruncatedHeader { length: usize },
    #[error(
        "descriptor at byte {offset} needs {needed} bytes but only {available} remain \
         inside the additional sense length"
    )]
    TruncatedDescriptor {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("descriptor type {kind:#04x} at byte {offset} has additional length {length:#04x}, which that type does not allow")]
    DescriptorLength { offset: usize, kind: u8, length: u8 },
}

/// Sense data that [`super::SenseData::to_bytes`] refuses to encode because parsing the
/// bytes would not give the same value back.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the additional sense length would be {length}, more than 255")]
    TooLong { length: usize },
    #[error("descriptor type {kind:#04x} carries {length} bytes, more than 255 - 2 allow")]
    DescriptorTooLong { kind: u8, length: usize },
    #[error("descriptor type {kind:#04x} has a typed variant; build it from that, not raw bytes")]
    RawDescriptorOfTypedKind { kind: u8 },
    #[error("OSD attribute list of {length} bytes is not a whole number of 8-byte entries")]
    OsdAttributeList { length: usize },
    #[error("ATA LBA {lba:#x} does not fit in 48 bits")]
    AtaLbaTooLarge { lba: u64 },
}
