//! SAT's reuse of fixed-format sense for ATA PASS-THROUGH: with ASC/ASCQ 00h/1Dh ("ATA pass
//! through information available") the information and command-specific fields carry ATA
//! registers instead of an LBA (SAT "fixed format sense data for ATA PASS-THROUGH").
//! Descriptor format uses the ATA status return descriptor (09h) instead.

use super::data::FixedFields;

/// ASC/ASCQ 00h/1Dh.
pub const ATA_PASS_THROUGH_INFORMATION: (u8, u8) = (0x00, 0x1d);

const EXTEND: u8 = 0x80;
const COUNT_UPPER_NONZERO: u8 = 0x40;
const LBA_UPPER_NONZERO: u8 = 0x20;
const LOG_INDEX_MASK: u8 = 0x0f;

/// The ATA registers of fixed-format ATA PASS-THROUGH sense.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct FixedAtaStatus {
    pub error: u8,
    pub status: u8,
    pub device: u8,
    /// COUNT bits 7..0.
    pub count_low: u8,
    pub extend: bool,
    /// Bits 15..8 of COUNT are not zero (they are not reported here).
    pub count_upper_nonzero: bool,
    /// Bits 47..24 of the LBA are not zero (they are not reported here).
    pub lba_upper_nonzero: bool,
    pub log_index: u8,
    /// LBA bits 23..0.
    pub lba_low: u32,
}

impl FixedAtaStatus {
    /// Reads the registers from the information (bytes 3..=6) and command-specific
    /// (bytes 8..=11) fields.
    pub fn from_fixed(fixed: &FixedFields<'_>) -> FixedAtaStatus {
        let [error, status, device, count_low] = fixed.information.to_be_bytes();
        let [flags, lba_high, lba_mid, lba_low] = fixed.command_specific.to_be_bytes();
        FixedAtaStatus {
            error,
            status,
            device,
            count_low,
            extend: flags & EXTEND != 0,
            count_upper_nonzero: flags & COUNT_UPPER_NONZERO != 0,
            lba_upper_nonzero: flags & LBA_UPPER_NONZERO != 0,
            log_index: flags & LOG_INDEX_MASK,
            lba_low: u32::from_be_bytes([0, lba_high, lba_mid, lba_low]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_from_the_fixed_fields() {
        let fixed = FixedFields {
            information: 0x1544_a965,
            command_specific: 0x3e23_e91d,
            ..FixedFields::default()
        };
        assert_eq!(
            FixedAtaStatus::from_fixed(&fixed),
            FixedAtaStatus {
                error: 0x15,
                status: 0x44,
                device: 0xa9,
                count_low: 0x65,
                extend: false,
                count_upper_nonzero: false,
                lba_upper_nonzero: true,
                log_index: 0x0e,
                lba_low: 0x23_e91d,
            }
        );
    }
}
