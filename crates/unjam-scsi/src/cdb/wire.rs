//! Bounds-checked big-endian reading and writing of response data. Every read names what
//! it was reading so a truncation error says where; nothing here indexes without a check.

use super::error::{BuildError, ResponseError};

/// Reads fields front to back from a byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader {
            bytes,
            position: 0,
            what,
        }
    }

    pub(crate) fn truncated(&self, needed: usize) -> ResponseError {
        ResponseError::Truncated {
            what: self.what,
            needed,
            available: self.bytes.len(),
        }
    }

    pub(crate) fn take(&mut self, count: usize) -> Result<&'a [u8], ResponseError> {
        let end = self.position.saturating_add(count);
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or_else(|| self.truncated(end))?;
        self.position = end;
        Ok(slice)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ResponseError> {
        let end = self.position.saturating_add(N);
        let slice = self.take(N)?;
        <[u8; N]>::try_from(slice).map_err(|_| self.truncated(end))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ResponseError> {
        let [byte] = self.array()?;
        Ok(byte)
    }

    pub(crate) fn be16(&mut self) -> Result<u16, ResponseError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn be24(&mut self) -> Result<u32, ResponseError> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn be32(&mut self) -> Result<u32, ResponseError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn be64(&mut self) -> Result<u64, ResponseError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn skip(&mut self, count: usize) -> Result<(), ResponseError> {
        self.take(count).map(|_| ())
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.bytes.get(self.position..).unwrap_or(&[])
    }
}

/// Writes fields front to back into a caller's buffer.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    out: &'a mut [u8],
    position: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing, after checking that `out` holds `needed` bytes.
    pub(crate) fn new(out: &'a mut [u8], needed: usize) -> Result<Self, BuildError> {
        if out.len() < needed {
            return Err(BuildError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        Ok(Writer { out, position: 0 })
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        let end = self.position.saturating_add(bytes.len());
        let available = self.out.len();
        let target = self
            .out
            .get_mut(self.position..end)
            .ok_or(BuildError::BufferTooSmall {
                needed: end,
                available,
            })?;
        target.copy_from_slice(bytes);
        self.position = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, value: u8) -> Result<(), BuildError> {
        self.put(&[value])
    }

    pub(crate) fn be16(&mut self, value: u16) -> Result<(), BuildError> {
        self.put(&value.to_be_bytes())
    }

    /// Writes the low 24 bits; callers check the range first.
    pub(crate) fn be24(&mut self, value: u32) -> Result<(), BuildError> {
        let [_, a, b, c] = value.to_be_bytes();
        self.put(&[a, b, c])
    }

    pub(crate) fn be32(&mut self, value: u32) -> Result<(), BuildError> {
        self.put(&value.to_be_bytes())
    }

    pub(crate) fn be64(&mut self, value: u64) -> Result<(), BuildError> {
        self.put(&value.to_be_bytes())
    }

    pub(crate) fn zeros(&mut self, count: usize) -> Result<(), BuildError> {
        for _ in 0..count {
            self.u8(0)?;
        }
        Ok(())
    }

    pub(crate) fn position(&self) -> usize {
        self.position
    }
}

/// Converts a length to a field value, failing when it exceeds the field's `max`.
pub(crate) fn length_field(field: &'static str, len: usize, max: u64) -> Result<u64, BuildError> {
    let value = u64::try_from(len).unwrap_or(u64::MAX);
    super::error::check_build(field, value, max)?;
    Ok(value)
}
