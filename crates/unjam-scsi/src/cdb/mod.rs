//! Command descriptor blocks and the parameter data they return.
//!
//! - [`Cdb`]: an inline, `Copy` CDB buffer; [`opcode_name`]: the names of the kernel's CDB
//!   log line.
//! - Typed commands ([`Read10`], [`Inquiry`], ...) with `build` and `parse`, and
//!   [`ScsiCommand`], which parses any CDB (unknown opcodes become `Other`).
//! - What the mid-layer asks of any CDB: [`is_medium_access`], [`lba_and_block_count`],
//!   [`data_direction`], [`expected_transfer_len`].
//! - [`response`]: parsers and builders of the parameter data (INQUIRY, VPD pages, READ
//!   CAPACITY, REPORT LUNS, MODE SENSE, REPORT TARGET PORT GROUPS).
//!
//! Field layouts follow SPC-5 and SBC-4. Nothing here does I/O or panics on bad bytes;
//! CDB building and parsing never allocates.

mod buffer;
mod command;
mod describe;
mod error;
mod medium;
mod names;
pub mod response;
mod wire;

pub use buffer::{Cdb, HexBytes};
pub use command::{
    data_direction, expected_transfer_len, mode_page, read_write, select_report, Inquiry,
    ModeSense10, ModeSense6, PageControl, PowerCondition, PreventAllowMediumRemoval, Read10,
    Read16, Read6, ReadCapacity10, ReadCapacity16, ReportLuns, ReportTargetPortGroups,
    RequestSense, ScsiCommand, StartStopUnit, SynchronizeCache10, SynchronizeCache16,
    TestUnitReady, Write10, Write16, Write6, MAX_BLOCKS_6, MAX_LBA_6,
};
pub use describe::CommandFields;
pub use error::{BuildError, CdbError, ResponseError};
pub use medium::{is_medium_access, lba_and_block_count, with_lba_and_block_count, DataDirection};
pub use names::{opcode_name, OpcodeName};

/// Operation codes unjam builds, parses or names specially.
pub mod opcode {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const READ_6: u8 = 0x08;
    pub const WRITE_6: u8 = 0x0a;
    pub const INQUIRY: u8 = 0x12;
    pub const MODE_SENSE_6: u8 = 0x1a;
    pub const START_STOP_UNIT: u8 = 0x1b;
    pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1e;
    pub const READ_CAPACITY_10: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
    pub const WRITE_10: u8 = 0x2a;
    pub const WRITE_AND_VERIFY_10: u8 = 0x2e;
    pub const VERIFY_10: u8 = 0x2f;
    pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
    pub const WRITE_SAME_10: u8 = 0x41;
    pub const MODE_SENSE_10: u8 = 0x5a;
    /// Variable-length CDB; the service action is in bytes 8..9.
    pub const VARIABLE_LENGTH: u8 = 0x7f;
    pub const READ_16: u8 = 0x88;
    pub const COMPARE_AND_WRITE: u8 = 0x89;
    pub const WRITE_16: u8 = 0x8a;
    pub const ORWRITE_16: u8 = 0x8b;
    pub const WRITE_AND_VERIFY_16: u8 = 0x8e;
    pub const VERIFY_16: u8 = 0x8f;
    pub const SYNCHRONIZE_CACHE_16: u8 = 0x91;
    pub const WRITE_SAME_16: u8 = 0x93;
    pub const WRITE_ATOMIC_16: u8 = 0x9c;
    pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
    pub const REPORT_LUNS: u8 = 0xa0;
    pub const MAINTENANCE_IN: u8 = 0xa3;
    pub const READ_12: u8 = 0xa8;
    pub const WRITE_12: u8 = 0xaa;
    pub const WRITE_AND_VERIFY_12: u8 = 0xae;
    pub const VERIFY_12: u8 = 0xaf;

    /// Service action of SERVICE ACTION IN(16) for READ CAPACITY(16).
    pub const SA_READ_CAPACITY_16: u8 = 0x10;
    /// Service action of MAINTENANCE IN for REPORT TARGET PORT GROUPS.
    pub const SA_REPORT_TARGET_PORT_GROUPS: u8 = 0x0a;
}
