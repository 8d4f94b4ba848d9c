//! The typed errors of CDB and response parsing and building. Owns no logic.

use thiserror::Error;

/// A CDB that could not be parsed, or a command whose fields do not fit its CDB.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum CdbError {
    #[error("empty CDB")]
    Empty,
    #[error("CDB for opcode 0x{opcode:02x} needs {needed} bytes, got {available}")]
    TooShort {
        opcode: u8,
        needed: usize,
        available: usize,
    },
    #[error("CDB of {len} bytes is longer than the {max}-byte limit")]
    TooLong { len: usize, max: usize },
    #[error("expected opcode 0x{expected:02x}, found 0x{found:02x}")]
    WrongOpcode { expected: u8, found: u8 },
    #[error("expected service action 0x{expected:02x}, found 0x{found:02x}")]
    WrongServiceAction { expected: u8, found: u8 },
    /// A field holds a value the standard reserves; `byte`/`bit` locate it the way the
    /// sense-key-specific field pointer does (bit = the field's most significant bit).
    #[error("invalid field in CDB (opcode 0x{opcode:02x}) at byte {byte} bit {bit}")]
    InvalidField { opcode: u8, byte: u8, bit: u8 },
    #[error("{field} = {value} does not fit its CDB field (max {max})")]
    FieldOutOfRange {
        field: &'static str,
        value: u64,
        max: u64,
    },
}

/// Response (parameter) data that could not be parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum ResponseError {
    /// The data ends before a field or list it announces. `needed` is the length that
    /// would hold it: re-issue the command with at least that allocation length.
    #[error("{what}: truncated, needs {needed} bytes, have {available}")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("{what}: expected page 0x{expected:02x}, found 0x{found:02x}")]
    WrongPage {
        what: &'static str,
        expected: u8,
        found: u8,
    },
    #[error("{what}: {detail}")]
    Malformed {
        what: &'static str,
        detail: &'static str,
    },
}

/// Response data that could not be built.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum BuildError {
    #[error("output buffer too small: needs {needed} bytes, have {available}")]
    BufferTooSmall { needed: usize, available: usize },
    #[error("{field} = {value} does not fit its field (max {max})")]
    FieldOutOfRange {
        field: &'static str,
        value: u64,
        max: u64,
    },
    /// Fields that contradict each other (e.g. a LUN list length shorter than the list).
    #[error("inconsistent fields: {what}")]
    Inconsistent { what: &'static str },
}

/// Checks that `value` fits in a field whose largest value is `max`.
pub(crate) fn check_build(field: &'static str, value: u64, max: u64) -> Result<(), BuildError> {
    if value > max {
        return Err(BuildError::FieldOutOfRange { field, value, max });
    }
    Ok(())
}

/// Checks that `value` fits in a CDB field whose largest value is `max`.
pub(crate) fn check_cdb(field: &'static str, value: u64, max: u64) -> Result<(), CdbError> {
    if value > max {
        return Err(CdbError::FieldOutOfRange { field, value, max });
    }
    Ok(())
}
