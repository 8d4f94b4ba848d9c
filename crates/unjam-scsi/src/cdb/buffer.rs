//! [`Cdb`]: a command descriptor block held inline (no heap), as built for the wire or
//! copied from it. It checks only the length; what the bytes mean is `command`'s job.

use std::fmt;

use super::error::CdbError;
use super::names::opcode_name;

/// A CDB of 1 to [`Cdb::MAX_LEN`] bytes, stored inline so it is `Copy` and never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cdb {
    bytes: [u8; Cdb::MAX_LEN],
    len: u8,
}

impl Cdb {
    /// The longest CDB unjam carries (the kernel's `BLK_MAX_CDB`; 32-byte variable-length
    /// CDBs are the longest in common use).
    pub const MAX_LEN: usize = 32;

    /// Copies `bytes` into a CDB. Empty or longer than [`Cdb::MAX_LEN`] is an error.
    pub fn from_slice(bytes: &[u8]) -> Result<Cdb, CdbError> {
        if bytes.is_empty() {
            return Err(CdbError::Empty);
        }
        let len = u8::try_from(bytes.len())
            .ok()
            .filter(|len| usize::from(*len) <= Cdb::MAX_LEN)
            .ok_or(CdbError::TooLong {
                len: bytes.len(),
                max: Cdb::MAX_LEN,
            })?;
        let mut cdb = Cdb {
            bytes: [0; Cdb::MAX_LEN],
            len,
        };
        for (slot, byte) in cdb.bytes.iter_mut().zip(bytes) {
            *slot = *byte;
        }
        Ok(cdb)
    }

    /// Wraps a fixed-size CDB; the length is checked at compile time.
    pub const fn from_array<const N: usize>(array: [u8; N]) -> Cdb {
        const { assert!(N >= 1 && N <= Cdb::MAX_LEN) };
        let mut bytes = [0; Cdb::MAX_LEN];
        let mut index = 0;
        while index < N {
            bytes[index] = array[index];
            index += 1;
        }
        Cdb {
            bytes,
            len: N as u8,
        }
    }

    /// The CDB bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a `Cdb` holds at least the opcode.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn opcode(&self) -> u8 {
        self.bytes[0]
    }

    /// The bytes as the kernel's CDB log line prints them: lower-case hex, space separated.
    pub fn hex(&self) -> HexBytes<'_> {
        HexBytes(self.as_slice())
    }
}

/// Prints `<opcode name> <hex bytes>`, the body of the kernel's CDB log line (spec §4.6).
impl fmt::Display for Cdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", opcode_name(self.as_slice()), self.hex())
    }
}

impl fmt::Debug for Cdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cdb({})", self.hex())
    }
}

/// Serialized as its bytes.
impl serde::Serialize for Cdb {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

/// Space-separated lower-case two-digit hex of a byte slice.
#[derive(Clone, Copy, Debug)]
pub struct HexBytes<'a>(pub &'a [u8]);

impl fmt::Display for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, byte) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked() {
        assert_eq!(Cdb::from_slice(&[]), Err(CdbError::Empty));
        assert_eq!(
            Cdb::from_slice(&[0; 33]),
            Err(CdbError::TooLong { len: 33, max: 32 })
        );
        let cdb = Cdb::from_slice(&[0x28, 0, 0, 5, 0x58, 0x70, 0, 0, 0x10, 0]).unwrap();
        assert_eq!(cdb.len(), 10);
        assert_eq!(
            cdb,
            Cdb::from_array([0x28, 0, 0, 5, 0x58, 0x70, 0, 0, 0x10, 0])
        );
    }

    #[test]
    fn displays_like_the_kernel_log_line() {
        let cdb = Cdb::from_array([0x28, 0, 0, 5, 0x58, 0x70, 0, 0, 0x10, 0]);
        assert_eq!(cdb.to_string(), "Read(10) 28 00 00 05 58 70 00 00 10 00");
    }
}
