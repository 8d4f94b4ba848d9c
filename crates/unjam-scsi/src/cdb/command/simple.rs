//! Commands without data or with a one-byte allocation length: TEST UNIT READY,
//! REQUEST SENSE, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL (SPC-5, SBC-4).

use super::{bit, fixed, flag};
use crate::cdb::error::CdbError;
use crate::cdb::opcode;
use crate::cdb::Cdb;

/// TEST UNIT READY (SPC-5 6.47): six bytes, no fields.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TestUnitReady;

impl TestUnitReady {
    pub const OPCODE: u8 = opcode::TEST_UNIT_READY;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        Ok(Cdb::from_array([Self::OPCODE, 0, 0, 0, 0, 0]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let _: &[u8; 6] = fixed(cdb, Self::OPCODE)?;
        Ok(TestUnitReady)
    }
}

/// REQUEST SENSE (SPC-5 6.39).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RequestSense {
    /// DESC: ask for descriptor-format sense data.
    pub descriptor_format: bool,
    pub allocation_length: u8,
}

impl RequestSense {
    pub const OPCODE: u8 = opcode::REQUEST_SENSE;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let desc = bit(self.descriptor_format, 0x01);
        Ok(Cdb::from_array([
            Self::OPCODE,
            desc,
            0,
            0,
            self.allocation_length,
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 6] = fixed(cdb, Self::OPCODE)?;
        Ok(RequestSense {
            descriptor_format: flag(b[1], 0x01),
            allocation_length: b[4],
        })
    }
}

/// The POWER CONDITION field of START STOP UNIT (SBC-4 5.27, table 80). Values the
/// standard reserves are not representable and parse as an invalid field.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum PowerCondition {
    /// 0h: process the START and LOEJ bits.
    #[default]
    StartValid,
    Active,
    Idle,
    Standby,
    /// 7h: hand power control back to the logical unit.
    LuControl,
    /// Ah: force the idle condition timer to zero.
    ForceIdle0,
    /// Bh: force the standby condition timer to zero.
    ForceStandby0,
}

impl PowerCondition {
    pub fn code(self) -> u8 {
        match self {
            PowerCondition::StartValid => 0x0,
            PowerCondition::Active => 0x1,
            PowerCondition::Idle => 0x2,
            PowerCondition::Standby => 0x3,
            PowerCondition::LuControl => 0x7,
            PowerCondition::ForceIdle0 => 0xa,
            PowerCondition::ForceStandby0 => 0xb,
        }
    }

    pub fn from_code(code: u8) -> Option<PowerCondition> {
        Some(match code {
            0x0 => PowerCondition::StartValid,
            0x1 => PowerCondition::Active,
            0x2 => PowerCondition::Idle,
            0x3 => PowerCondition::Standby,
            0x7 => PowerCondition::LuControl,
            0xa => PowerCondition::ForceIdle0,
            0xb => PowerCondition::ForceStandby0,
            _ => return None,
        })
    }
}

/// START STOP UNIT (SBC-4 5.27).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct StartStopUnit {
    /// Return status once the CDB is validated.
    pub immed: bool,
    pub power_condition: PowerCondition,
    /// Do not flush the cache before stopping.
    pub no_flush: bool,
    /// Load (with `start`) or eject (without) the medium.
    pub loej: bool,
    pub start: bool,
}

impl StartStopUnit {
    pub const OPCODE: u8 = opcode::START_STOP_UNIT;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let byte4 = self.power_condition.code() << 4
            | bit(self.no_flush, 0x04)
            | bit(self.loej, 0x02)
            | bit(self.start, 0x01);
        Ok(Cdb::from_array([
            Self::OPCODE,
            bit(self.immed, 0x01),
            0,
            0,
            byte4,
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 6] = fixed(cdb, Self::OPCODE)?;
        let power_condition =
            PowerCondition::from_code(b[4] >> 4).ok_or(CdbError::InvalidField {
                opcode: Self::OPCODE,
                byte: 4,
                bit: 7,
            })?;
        Ok(StartStopUnit {
            immed: flag(b[1], 0x01),
            power_condition,
            no_flush: flag(b[4], 0x04),
            loej: flag(b[4], 0x02),
            start: flag(b[4], 0x01),
        })
    }
}

/// PREVENT ALLOW MEDIUM REMOVAL (SPC-5 6.13; the error handler sends it to re-lock a door
/// after a reset). The obsolete PREVENT values 10b and 11b parse as an invalid field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PreventAllowMediumRemoval {
    pub prevent: bool,
}

impl PreventAllowMediumRemoval {
    pub const OPCODE: u8 = opcode::PREVENT_ALLOW_MEDIUM_REMOVAL;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        Ok(Cdb::from_array([
            Self::OPCODE,
            0,
            0,
            0,
            bit(self.prevent, 0x01),
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 6] = fixed(cdb, Self::OPCODE)?;
        match b[4] & 0x03 {
            0 => Ok(PreventAllowMediumRemoval { prevent: false }),
            1 => Ok(PreventAllowMediumRemoval { prevent: true }),
            _ => Err(CdbError::InvalidField {
                opcode: Self::OPCODE,
                byte: 4,
                bit: 1,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_stop_unit_packs_byte_4() {
        let stop = StartStopUnit {
            immed: true,
            power_condition: PowerCondition::Standby,
            no_flush: false,
            loej: true,
            start: false,
        };
        let cdb = stop.build().unwrap();
        assert_eq!(cdb.as_slice(), &[0x1b, 0x01, 0, 0, 0x32, 0]);
        assert_eq!(StartStopUnit::parse(cdb.as_slice()), Ok(stop));
    }

    #[test]
    fn reserved_values_are_invalid_fields() {
        assert_eq!(
            StartStopUnit::parse(&[0x1b, 0, 0, 0, 0x41, 0]),
            Err(CdbError::InvalidField {
                opcode: 0x1b,
                byte: 4,
                bit: 7
            })
        );
        assert_eq!(
            PreventAllowMediumRemoval::parse(&[0x1e, 0, 0, 0, 2, 0]),
            Err(CdbError::InvalidField {
                opcode: 0x1e,
                byte: 4,
                bit: 1
            })
        );
    }
}
