//! Commands that discover what sits behind a target port: REPORT LUNS (SPC-5 6.33) and
//! REPORT TARGET PORT GROUPS (SPC-5 6.36, MAINTENANCE IN service action 0Ah).

use super::fixed;
use crate::cdb::error::CdbError;
use crate::cdb::opcode;
use crate::cdb::Cdb;

/// Values of the SELECT REPORT field of REPORT LUNS.
pub mod select_report {
    /// Logical units with a LUN conglomerate-independent address, excluding well-known LUNs.
    pub const ALL_LOGICAL_UNITS: u8 = 0x00;
    pub const WELL_KNOWN_ONLY: u8 = 0x01;
    /// Every logical unit accessible to the I_T nexus.
    pub const ALL_ACCESSIBLE: u8 = 0x02;
    pub const ADMINISTRATIVE_LUNS: u8 = 0x10;
    pub const ADMINISTRATIVE_AND_SUBSIDIARY: u8 = 0x11;
    pub const SUBSIDIARY_OF_ADMINISTRATIVE: u8 = 0x12;
}

/// REPORT LUNS. SPC-5 requires an allocation length of at least 16.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReportLuns {
    /// See [`select_report`].
    pub select_report: u8,
    pub allocation_length: u32,
}

impl ReportLuns {
    pub const OPCODE: u8 = opcode::REPORT_LUNS;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let n = self.allocation_length.to_be_bytes();
        Ok(Cdb::from_array([
            Self::OPCODE,
            0,
            self.select_report,
            0,
            0,
            0,
            n[0],
            n[1],
            n[2],
            n[3],
            0,
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 12] = fixed(cdb, Self::OPCODE)?;
        Ok(ReportLuns {
            select_report: b[2],
            allocation_length: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
        })
    }
}

/// REPORT TARGET PORT GROUPS: MAINTENANCE IN with service action 0Ah.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReportTargetPortGroups {
    /// PARAMETER DATA FORMAT 001b: ask for the extended header (with the implicit
    /// transition time) instead of the length-only header (000b).
    pub extended: bool,
    pub allocation_length: u32,
}

impl ReportTargetPortGroups {
    pub const OPCODE: u8 = opcode::MAINTENANCE_IN;
    pub const SERVICE_ACTION: u8 = opcode::SA_REPORT_TARGET_PORT_GROUPS;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let format = if self.extended { 0x20 } else { 0x00 };
        let n = self.allocation_length.to_be_bytes();
        Ok(Cdb::from_array([
            Self::OPCODE,
            format | Self::SERVICE_ACTION,
            0,
            0,
            0,
            0,
            n[0],
            n[1],
            n[2],
            n[3],
            0,
            0,
        ]))
    }

    /// A parameter data format other than 000b or 001b is an invalid field.
    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 12] = fixed(cdb, Self::OPCODE)?;
        super::expect_service_action(b[1], Self::SERVICE_ACTION)?;
        let extended = match b[1] >> 5 {
            0 => false,
            1 => true,
            _ => {
                return Err(CdbError::InvalidField {
                    opcode: Self::OPCODE,
                    byte: 1,
                    bit: 7,
                })
            }
        };
        Ok(ReportTargetPortGroups {
            extended,
            allocation_length: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_luns_layout() {
        let report = ReportLuns {
            select_report: select_report::ALL_ACCESSIBLE,
            allocation_length: 0x1000,
        };
        let cdb = report.build().unwrap();
        assert_eq!(cdb.as_slice(), &[0xa0, 0, 2, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]);
        assert_eq!(ReportLuns::parse(cdb.as_slice()), Ok(report));
    }

    #[test]
    fn rtpg_extended_header_bit() {
        let rtpg = ReportTargetPortGroups {
            extended: true,
            allocation_length: 256,
        };
        let cdb = rtpg.build().unwrap();
        assert_eq!(cdb.as_slice(), &[0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(ReportTargetPortGroups::parse(cdb.as_slice()), Ok(rtpg));
        let mut reserved_format = [0u8; 12];
        reserved_format[0] = 0xa3;
        reserved_format[1] = 0x4a;
        assert_eq!(
            ReportTargetPortGroups::parse(&reserved_format),
            Err(CdbError::InvalidField {
                opcode: 0xa3,
                byte: 1,
                bit: 7
            })
        );
    }
}
