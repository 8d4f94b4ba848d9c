//! Typed CDBs for the commands unjam issues (and its simulated target answers), and
//! [`ScsiCommand`], which parses any CDB: known commands into their type, anything else
//! into [`ScsiCommand::Other`]. Builders write into an inline [`Cdb`]; nothing allocates.

mod block;
mod capacity;
mod discovery;
mod inquiry;
mod mode_sense;
mod simple;

pub use block::{
    read_write, Read10, Read16, Read6, SynchronizeCache10, SynchronizeCache16, Write10, Write16,
    Write6, MAX_BLOCKS_6, MAX_LBA_6,
};
pub use capacity::{ReadCapacity10, ReadCapacity16};
pub use discovery::{select_report, ReportLuns, ReportTargetPortGroups};
pub use inquiry::Inquiry;
pub use mode_sense::{page as mode_page, ModeSense10, ModeSense6, PageControl};
pub use simple::{
    PowerCondition, PreventAllowMediumRemoval, RequestSense, StartStopUnit, TestUnitReady,
};

use super::error::CdbError;
use super::medium::{self, DataDirection};
use super::names::{opcode_name, OpcodeName};
use super::{opcode, Cdb};

/// Any CDB: one variant per command unjam knows, [`ScsiCommand::Other`] for the rest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScsiCommand {
    TestUnitReady(TestUnitReady),
    RequestSense(RequestSense),
    Inquiry(Inquiry),
    ReadCapacity10(ReadCapacity10),
    ReadCapacity16(ReadCapacity16),
    Read6(Read6),
    Read10(Read10),
    Read16(Read16),
    Write6(Write6),
    Write10(Write10),
    Write16(Write16),
    SynchronizeCache10(SynchronizeCache10),
    SynchronizeCache16(SynchronizeCache16),
    StartStopUnit(StartStopUnit),
    PreventAllowMediumRemoval(PreventAllowMediumRemoval),
    ReportLuns(ReportLuns),
    ModeSense6(ModeSense6),
    ModeSense10(ModeSense10),
    ReportTargetPortGroups(ReportTargetPortGroups),
    /// A command without a typed form here, kept as bytes.
    Other(Cdb),
}

impl ScsiCommand {
    /// Parses a CDB. Bytes beyond the command's length (an iSCSI CDB field is padded to 16)
    /// are ignored. Unknown opcodes, and known service-action opcodes with another action,
    /// become [`ScsiCommand::Other`]; a known command that is too short or has a reserved
    /// field value is an error.
    pub fn parse(cdb: &[u8]) -> Result<ScsiCommand, CdbError> {
        let op = *cdb.first().ok_or(CdbError::Empty)?;
        let action = cdb.get(1).map(|byte| byte & 0x1f);
        Ok(match op {
            opcode::TEST_UNIT_READY => Self::TestUnitReady(TestUnitReady::parse(cdb)?),
            opcode::REQUEST_SENSE => Self::RequestSense(RequestSense::parse(cdb)?),
            opcode::INQUIRY => Self::Inquiry(Inquiry::parse(cdb)?),
            opcode::READ_CAPACITY_10 => Self::ReadCapacity10(ReadCapacity10::parse(cdb)?),
            opcode::SERVICE_ACTION_IN_16 if action == Some(opcode::SA_READ_CAPACITY_16) => {
                Self::ReadCapacity16(ReadCapacity16::parse(cdb)?)
            }
            opcode::READ_6 => Self::Read6(Read6::parse(cdb)?),
            opcode::READ_10 => Self::Read10(Read10::parse(cdb)?),
            opcode::READ_16 => Self::Read16(Read16::parse(cdb)?),
            opcode::WRITE_6 => Self::Write6(Write6::parse(cdb)?),
            opcode::WRITE_10 => Self::Write10(Write10::parse(cdb)?),
            opcode::WRITE_16 => Self::Write16(Write16::parse(cdb)?),
            opcode::SYNCHRONIZE_CACHE_10 => {
                Self::SynchronizeCache10(SynchronizeCache10::parse(cdb)?)
            }
            opcode::SYNCHRONIZE_CACHE_16 => {
                Self::SynchronizeCache16(SynchronizeCache16::parse(cdb)?)
            }
            opcode::START_STOP_UNIT => Self::StartStopUnit(StartStopUnit::parse(cdb)?),
            opcode::PREVENT_ALLOW_MEDIUM_REMOVAL => {
                Self::PreventAllowMediumRemoval(PreventAllowMediumRemoval::parse(cdb)?)
            }
            opcode::REPORT_LUNS => Self::ReportLuns(ReportLuns::parse(cdb)?),
            opcode::MODE_SENSE_6 => Self::ModeSense6(ModeSense6::parse(cdb)?),
            opcode::MODE_SENSE_10 => Self::ModeSense10(ModeSense10::parse(cdb)?),
            opcode::MAINTENANCE_IN if action == Some(opcode::SA_REPORT_TARGET_PORT_GROUPS) => {
                Self::ReportTargetPortGroups(ReportTargetPortGroups::parse(cdb)?)
            }
            _ => Self::Other(Cdb::from_slice(cdb)?),
        })
    }

    /// Builds the CDB. Fails only when a field does not fit (e.g. a READ(6) LBA above
    /// 21 bits).
    pub fn build(&self) -> Result<Cdb, CdbError> {
        match self {
            Self::TestUnitReady(command) => command.build(),
            Self::RequestSense(command) => command.build(),
            Self::Inquiry(command) => command.build(),
            Self::ReadCapacity10(command) => command.build(),
            Self::ReadCapacity16(command) => command.build(),
            Self::Read6(command) => command.build(),
            Self::Read10(command) => command.build(),
            Self::Read16(command) => command.build(),
            Self::Write6(command) => command.build(),
            Self::Write10(command) => command.build(),
            Self::Write16(command) => command.build(),
            Self::SynchronizeCache10(command) => command.build(),
            Self::SynchronizeCache16(command) => command.build(),
            Self::StartStopUnit(command) => command.build(),
            Self::PreventAllowMediumRemoval(command) => command.build(),
            Self::ReportLuns(command) => command.build(),
            Self::ModeSense6(command) => command.build(),
            Self::ModeSense10(command) => command.build(),
            Self::ReportTargetPortGroups(command) => command.build(),
            Self::Other(cdb) => Ok(*cdb),
        }
    }

    pub fn opcode(&self) -> u8 {
        match self {
            Self::TestUnitReady(_) => TestUnitReady::OPCODE,
            Self::RequestSense(_) => RequestSense::OPCODE,
            Self::Inquiry(_) => Inquiry::OPCODE,
            Self::ReadCapacity10(_) => ReadCapacity10::OPCODE,
            Self::ReadCapacity16(_) => ReadCapacity16::OPCODE,
            Self::Read6(_) => Read6::OPCODE,
            Self::Read10(_) => Read10::OPCODE,
            Self::Read16(_) => Read16::OPCODE,
            Self::Write6(_) => Write6::OPCODE,
            Self::Write10(_) => Write10::OPCODE,
            Self::Write16(_) => Write16::OPCODE,
            Self::SynchronizeCache10(_) => SynchronizeCache10::OPCODE,
            Self::SynchronizeCache16(_) => SynchronizeCache16::OPCODE,
            Self::StartStopUnit(_) => StartStopUnit::OPCODE,
            Self::PreventAllowMediumRemoval(_) => PreventAllowMediumRemoval::OPCODE,
            Self::ReportLuns(_) => ReportLuns::OPCODE,
            Self::ModeSense6(_) => ModeSense6::OPCODE,
            Self::ModeSense10(_) => ModeSense10::OPCODE,
            Self::ReportTargetPortGroups(_) => ReportTargetPortGroups::OPCODE,
            Self::Other(cdb) => cdb.opcode(),
        }
    }

    /// The name the kernel's CDB log line prints (`Read(10)`, `Report Target Port Groups`).
    pub fn name(&self) -> OpcodeName {
        match self {
            Self::ReadCapacity16(_) => {
                opcode_name(&[self.opcode(), ReadCapacity16::SERVICE_ACTION])
            }
            Self::ReportTargetPortGroups(_) => {
                opcode_name(&[self.opcode(), ReportTargetPortGroups::SERVICE_ACTION])
            }
            Self::Other(cdb) => opcode_name(cdb.as_slice()),
            _ => opcode_name(&[self.opcode()]),
        }
    }

    /// Starting LBA and block count of a read or write; `None` for anything else.
    pub fn lba_and_block_count(&self) -> Option<(u64, u32)> {
        match *self {
            Self::Read6(Read6 { lba, blocks }) | Self::Write6(Write6 { lba, blocks }) => {
                Some((u64::from(lba), u32::from(blocks)))
            }
            Self::Read10(Read10 { lba, blocks, .. })
            | Self::Write10(Write10 { lba, blocks, .. }) => {
                Some((u64::from(lba), u32::from(blocks)))
            }
            Self::Read16(Read16 { lba, blocks, .. })
            | Self::Write16(Write16 { lba, blocks, .. }) => Some((lba, blocks)),
            Self::Other(cdb) => medium::lba_and_block_count(cdb.as_slice()),
            _ => None,
        }
    }

    /// See [`medium::is_medium_access`](super::is_medium_access).
    pub fn is_medium_access(&self) -> bool {
        match self {
            Self::Other(cdb) => medium::is_medium_access(cdb.as_slice()),
            Self::Read6(_) | Self::Read10(_) | Self::Read16(_) => true,
            Self::Write6(_) | Self::Write10(_) | Self::Write16(_) => true,
            Self::SynchronizeCache10(_) | Self::SynchronizeCache16(_) => true,
            _ => false,
        }
    }

    /// Which way data moves; `None` for an [`Other`](Self::Other) command that is not a
    /// read or write this crate recognises.
    pub fn data_direction(&self) -> Option<DataDirection> {
        Some(match self {
            Self::TestUnitReady(_)
            | Self::SynchronizeCache10(_)
            | Self::SynchronizeCache16(_)
            | Self::StartStopUnit(_)
            | Self::PreventAllowMediumRemoval(_) => DataDirection::NoData,
            Self::Write6(_) | Self::Write10(_) | Self::Write16(_) => DataDirection::ToDevice,
            Self::Other(cdb) => return medium::read_write_direction(cdb.as_slice()),
            _ => DataDirection::FromDevice,
        })
    }

    /// The number of bytes the data phase should move: blocks × `block_size` for reads and
    /// writes, the allocation length for data-in commands, 8 for READ CAPACITY(10), 0 for
    /// commands without data. `None` when unknown (an unrecognised [`Other`](Self::Other)).
    pub fn expected_transfer_len(&self, block_size: u32) -> Option<u64> {
        Some(match *self {
            Self::RequestSense(command) => u64::from(command.allocation_length),
            Self::Inquiry(command) => u64::from(command.allocation_length),
            Self::ReadCapacity10(_) => ReadCapacity10::RESPONSE_LEN as u64,
            Self::ReadCapacity16(command) => u64::from(command.allocation_length),
            Self::ReportLuns(command) => u64::from(command.allocation_length),
            Self::ModeSense6(command) => u64::from(command.allocation_length),
            Self::ModeSense10(command) => u64::from(command.allocation_length),
            Self::ReportTargetPortGroups(command) => u64::from(command.allocation_length),
            _ => {
                if self.data_direction()? == DataDirection::NoData {
                    return Some(0);
                }
                let (_, blocks) = self.lba_and_block_count()?;
                u64::from(blocks) * u64::from(block_size)
            }
        })
    }
}

/// See [`ScsiCommand::data_direction`]; `None` also for a CDB that does not parse.
pub fn data_direction(cdb: &[u8]) -> Option<DataDirection> {
    ScsiCommand::parse(cdb).ok()?.data_direction()
}

/// See [`ScsiCommand::expected_transfer_len`]; `None` also for a CDB that does not parse.
pub fn expected_transfer_len(cdb: &[u8], block_size: u32) -> Option<u64> {
    ScsiCommand::parse(cdb)
        .ok()?
        .expected_transfer_len(block_size)
}

/// The first `N` bytes of a CDB for `opcode`, after checking the opcode and the length.
fn fixed<const N: usize>(cdb: &[u8], opcode: u8) -> Result<&[u8; N], CdbError> {
    let found = *cdb.first().ok_or(CdbError::Empty)?;
    if found != opcode {
        return Err(CdbError::WrongOpcode {
            expected: opcode,
            found,
        });
    }
    cdb.first_chunk::<N>().ok_or(CdbError::TooShort {
        opcode,
        needed: N,
        available: cdb.len(),
    })
}

/// Checks the five-bit service action in byte 1.
fn expect_service_action(byte1: u8, expected: u8) -> Result<(), CdbError> {
    let found = byte1 & 0x1f;
    if found != expected {
        return Err(CdbError::WrongServiceAction { expected, found });
    }
    Ok(())
}

/// `mask` if `set`, else 0.
fn bit(set: bool, mask: u8) -> u8 {
    if set {
        mask
    } else {
        0
    }
}

/// True if any bit of `mask` is set in `byte`.
fn flag(byte: u8, mask: u8) -> bool {
    byte & mask != 0
}
