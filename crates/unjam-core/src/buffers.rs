//! Fixed-size inline buffers for a command's CDB and sense data, so that a command never
//! allocates. Lengths from the wire are clamped, never trusted.

use std::fmt;

use unjam_scsi::sense::{SenseHeader, SENSE_BUFFER_SIZE};

/// The longest CDB unjam carries (variable-length CDBs up to 32 bytes).
pub const MAX_CDB_LEN: usize = 32;

/// A command descriptor block stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cdb {
    bytes: [u8; MAX_CDB_LEN],
    len: u8,
}

/// A CDB that cannot be carried.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CdbError {
    #[error("a CDB needs at least one byte")]
    Empty,
    #[error("a CDB of {0} bytes is longer than {MAX_CDB_LEN}")]
    TooLong(usize),
}

impl Cdb {
    pub fn new(bytes: &[u8]) -> Result<Cdb, CdbError> {
        if bytes.is_empty() {
            return Err(CdbError::Empty);
        }
        if bytes.len() > MAX_CDB_LEN {
            return Err(CdbError::TooLong(bytes.len()));
        }
        let mut cdb = Cdb {
            bytes: [0; MAX_CDB_LEN],
            len: bytes.len() as u8,
        };
        cdb.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(cdb)
    }

    /// A six-byte CDB from a fixed array (cannot fail).
    pub const fn six(bytes: [u8; 6]) -> Cdb {
        let mut all = [0u8; MAX_CDB_LEN];
        let mut index = 0;
        while index < 6 {
            all[index] = bytes[index];
            index += 1;
        }
        Cdb { bytes: all, len: 6 }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len as usize]
    }

    pub fn opcode(&self) -> u8 {
        self.bytes[0]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Never true: a CDB has at least its opcode.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Cdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.as_slice())
    }
}

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

    /// Copies at most 96 bytes (the rest is dropped, as the kernel does).
    pub fn from_slice(bytes: &[u8]) -> SenseBuffer {
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

/// Serialized as its bytes.
impl serde::Serialize for Cdb {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
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
    fn cdb_bounds() {
        assert_eq!(Cdb::new(&[]), Err(CdbError::Empty));
        assert_eq!(Cdb::new(&[0; 33]), Err(CdbError::TooLong(33)));
        let cdb = Cdb::new(&[0x28, 0, 0, 5]).unwrap();
        assert_eq!(cdb.as_slice(), &[0x28, 0, 0, 5]);
        assert_eq!(format!("{cdb:?}"), "28 00 00 05");
        assert_eq!(
            Cdb::six([0x1b, 0, 0, 0, 1, 0]).as_slice(),
            &[0x1b, 0, 0, 0, 1, 0]
        );
    }

    #[test]
    fn sense_is_clamped_to_96_bytes() {
        let long = [0x70u8; 200];
        assert_eq!(SenseBuffer::from_slice(&long).len(), 96);
        assert!(SenseBuffer::from_slice(&[0x70, 0, 5]).is_valid());
        assert!(!SenseBuffer::EMPTY.is_valid());
    }
}
