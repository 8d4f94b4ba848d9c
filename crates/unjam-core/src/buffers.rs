//! Fixed-size inline buffers for a command's CDB (`unjam_scsi::cdb::Cdb`) and sense data,
//! so that a command never allocates. Lengths from the wire are clamped, never trusted.

use std::fmt;

use unjam_scsi::sense::{SenseHeader, SENSE_BUFFER_SIZE};

/// The CDB type is the protocol crate's (one CDB codec, `unjam_scsi::cdb`).
pub use unjam_scsi::cdb::Cdb;

/// Sense data stored inline, at most the kernel's 96 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SenseBuffer {
    bytes: [u8; SENSE_BUFFER_SIZE],
    len: u8,
}

impl Default for SenseBuffer {
    fn default() -> SenseBuffer {
        SenseBuffer::EMPTY
    }
}

impl SenseBuffer {
    pub const EMPTY: SenseBuffer = SenseBuffer {
        bytes: [0; SENSE_BUFFER_SIZE],
        len: 0,
    };

    /// Copies at most 96 bytes (the rest is dropped, as the kernel does). Inline: every
    /// GOOD completion passes an empty slice, which makes no copy and no call.
    #[inline]
    pub fn from_slice(bytes: &[u8]) -> SenseBuffer {
        if bytes.is_empty() {
            return SenseBuffer::EMPTY;
        }
        SenseBuffer::copied(bytes)
    }

    #[inline(never)]
    fn copied(bytes: &[u8]) -> SenseBuffer {
        let len = bytes.len().min(SENSE_BUFFER_SIZE);
        let mut sense = SenseBuffer::EMPTY;
        sense.bytes[..len].copy_from_slice(&bytes[..len]);
        sense.len = len as u8;
        sense
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The normalised header, when the buffer holds valid sense (spec §3.1).
    pub fn header(&self) -> Option<SenseHeader> {
        SenseHeader::normalize(self.as_slice())
    }

    /// `SCSI_SENSE_VALID`: the response code says 0x70..0x7f.
    pub fn is_valid(&self) -> bool {
        self.header().is_some()
    }

    pub fn clear(&mut self) {
        *self = SenseBuffer::EMPTY;
    }
}

impl fmt::Debug for SenseBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.as_slice())
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

/// Serialized as its valid bytes.
impl serde::Serialize for SenseBuffer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sense_is_clamped_to_96_bytes() {
        let long = [0x70u8; 200];
        assert_eq!(SenseBuffer::from_slice(&long).len(), 96);
        assert!(SenseBuffer::from_slice(&[0x70, 0, 5]).is_valid());
        assert!(!SenseBuffer::EMPTY.is_valid());
    }
}
