//! Sense data the simulated target returns: a fixed-capacity buffer (no heap per command
//! once built) holding sense encoded by `unjam_scsi::sense` (the one sense codec), and the
//! additional sense codes the target reports. This module must not grow a codec.

use unjam_scsi::sense::{FixedFields, SenseBody, SenseKey, SENSE_BUFFER_SIZE};

/// Additional sense codes (ASC, ASCQ) the target reports.
pub mod code {
    pub const NO_ADDITIONAL_SENSE: (u8, u8) = (0x00, 0x00);
    pub const LOGICAL_UNIT_NOT_READY_INIT_REQUIRED: (u8, u8) = (0x04, 0x02);
    pub const WRITE_ERROR: (u8, u8) = (0x0c, 0x00);
    pub const UNRECOVERED_READ_ERROR: (u8, u8) = (0x11, 0x00);
    pub const INVALID_OPCODE: (u8, u8) = (0x20, 0x00);
    pub const LBA_OUT_OF_RANGE: (u8, u8) = (0x21, 0x00);
    pub const INVALID_FIELD_IN_CDB: (u8, u8) = (0x24, 0x00);
    pub const LOGICAL_UNIT_NOT_SUPPORTED: (u8, u8) = (0x25, 0x00);
    pub const SPACE_ALLOCATION_FAILED: (u8, u8) = (0x27, 0x07);
    pub const POWER_ON_RESET: (u8, u8) = (0x29, 0x00);
    pub const POWER_ON_OCCURRED: (u8, u8) = (0x29, 0x01);
    pub const BUS_RESET_OCCURRED: (u8, u8) = (0x29, 0x02);
    pub const DEVICE_RESET_OCCURRED: (u8, u8) = (0x29, 0x03);
    pub const SAVING_PARAMETERS_NOT_SUPPORTED: (u8, u8) = (0x39, 0x00);
    pub const DATA_PHASE_ERROR: (u8, u8) = (0x4b, 0x00);
}

/// Up to 96 bytes of sense data, stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SenseData {
    bytes: [u8; SENSE_BUFFER_SIZE],
    len: u8,
}

impl SenseData {
    /// Fixed-format current sense: response code 70h, key, ASC/ASCQ and, when `information`
    /// is given, the VALID bit and the 32-bit information field (for an LBA above 32 bits
    /// the field cannot hold it and VALID stays clear, as SBC-3 requires).
    pub fn fixed(key: SenseKey, (asc, ascq): (u8, u8), information: Option<u64>) -> Self {
        let information = information.and_then(|value| u32::try_from(value).ok());
        let sense = unjam_scsi::sense::SenseData {
            deferred: false,
            key,
            asc,
            ascq,
            sdat_overflow: false,
            body: SenseBody::Fixed(FixedFields {
                valid: information.is_some(),
                information: information.unwrap_or(0),
                ..FixedFields::default()
            }),
        };
        let mut encoded = Vec::with_capacity(18);
        // A fixed-format body without additional bytes always encodes (18 bytes).
        let _ = sense.encode_into(&mut encoded);
        SenseData::raw(&encoded)
    }

    /// Raw sense bytes as given (e.g. injected by a fault), cut to 96 bytes.
    pub fn raw(data: &[u8]) -> Self {
        let len = data.len().min(SENSE_BUFFER_SIZE);
        let mut bytes = [0u8; SENSE_BUFFER_SIZE];
        bytes[..len].copy_from_slice(&data[..len]);
        SenseData {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The sense key, ASC and ASCQ as the mid-layer would normalise them.
    pub fn key_code(&self) -> Option<(SenseKey, u8, u8)> {
        unjam_scsi::sense::SenseHeader::normalize(self.as_bytes())
            .map(|header| (header.key, header.asc, header.ascq))
    }
}

impl std::fmt::Debug for SenseData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SenseData(")?;
        for (index, byte) in self.as_bytes().iter().enumerate() {
            if index > 0 {
                write!(f, " ")?;
            }
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_sense_normalises_back() {
        let sense = SenseData::fixed(
            SenseKey::MEDIUM_ERROR,
            code::UNRECOVERED_READ_ERROR,
            Some(0x1234),
        );
        assert_eq!(sense.as_bytes().len(), 18);
        assert_eq!(sense.key_code(), Some((SenseKey::MEDIUM_ERROR, 0x11, 0x00)));
        assert_eq!(
            unjam_scsi::sense::information(sense.as_bytes()),
            Some(0x1234)
        );
        let far = SenseData::fixed(SenseKey::MEDIUM_ERROR, (0x11, 0), Some(1 << 40));
        assert_eq!(unjam_scsi::sense::information(far.as_bytes()), None);
    }

    #[test]
    fn raw_sense_is_cut_to_the_buffer_size() {
        let sense = SenseData::raw(&[0x72; 200]);
        assert_eq!(sense.as_bytes().len(), SENSE_BUFFER_SIZE);
        assert_eq!(
            format!("{:?}", SenseData::raw(&[0x70, 0x00])),
            "SenseData(70 00)"
        );
    }
}
