//! `scsi_normalize_sense` (spec §3.1): the few fields the mid-layer decides on, read from a
//! fixed or descriptor buffer without trusting any length in it.

use super::SenseKey;

/// The kernel's `SCSI_SENSE_BUFFERSIZE`: the most sense the mid-layer keeps.
pub const SENSE_BUFFER_SIZE: usize = 96;

/// The normalised sense header (`struct scsi_sense_hdr`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SenseHeader {
    /// byte 0 & 0x7f: 0x70/0x71 fixed, 0x72/0x73 descriptor (0x74..0x7f treated as descriptor).
    pub response_code: u8,
    pub key: SenseKey,
    pub asc: u8,
    pub ascq: u8,
    /// Descriptor format only: byte 7. Zero for fixed format.
    pub additional_length: u8,
}

impl SenseHeader {
    /// Normalises a sense buffer. `None` when it holds no valid sense: empty, or a response
    /// code outside 0x70..0x7f. Fields the buffer is too short to hold read as zero.
    pub fn normalize(sense: &[u8]) -> Option<SenseHeader> {
        let sense = &sense[..sense.len().min(SENSE_BUFFER_SIZE)];
        let first = *sense.first()?;
        let response_code = first & 0x7f;
        if response_code & 0x70 != 0x70 {
            return None;
        }
        let byte = |index: usize| sense.get(index).copied().unwrap_or(0);
        let mut header = SenseHeader {
            response_code,
            ..SenseHeader::default()
        };
        if response_code >= 0x72 {
            header.key = SenseKey::new(byte(1));
            header.asc = byte(2);
            header.ascq = byte(3);
            header.additional_length = byte(7);
            return Some(header);
        }
        header.key = SenseKey::new(byte(2));
        let mut effective = sense.len();
        if effective > 7 {
            effective = effective.min(byte(7) as usize + 8);
        }
        if effective > 12 {
            header.asc = byte(12);
        }
        if effective > 13 {
            header.ascq = byte(13);
        }
        Some(header)
    }

    /// `scsi_sense_is_deferred`: response code 0x71 or 0x73.
    pub fn is_deferred(&self) -> bool {
        self.response_code >= 0x70 && self.response_code & 1 == 1
    }

    pub fn is_descriptor(&self) -> bool {
        self.response_code >= 0x72
    }

    /// Valid and not deferred (the completion path's `sense_current`).
    pub fn is_current(&self) -> bool {
        !self.is_deferred()
    }
}

/// `scsi_get_sense_info_fld`: the information field, if the sense carries a valid one.
/// Fixed format: VALID bit (byte 0 bit 7) set, the 32-bit value at bytes 3..7.
/// Descriptor format: descriptor type 00h with additional length 0Ah, the 64-bit value at
/// offset 4 of the descriptor.
pub fn information(sense: &[u8]) -> Option<u64> {
    let sense = &sense[..sense.len().min(SENSE_BUFFER_SIZE)];
    let header = SenseHeader::normalize(sense)?;
    if !header.is_descriptor() {
        if sense[0] & 0x80 == 0 || sense.len() < 7 {
            return None;
        }
        return Some(u32::from_be_bytes([sense[3], sense[4], sense[5], sense[6]]) as u64);
    }
    let end = sense.len().min(8 + header.additional_length as usize);
    let mut offset = 8;
    while offset + 2 <= end {
        let kind = sense[offset];
        let length = sense[offset + 1] as usize;
        if kind == 0x00 && length == 0x0a && offset + 12 <= end {
            let mut value = [0u8; 8];
            value.copy_from_slice(&sense[offset + 4..offset + 12]);
            return Some(u64::from_be_bytes(value));
        }
        offset += 2 + length;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_000: [u8; 18] = [
        0x70, 0, 0x0b, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x00, 0x06, 0, 0, 0, 0,
    ];

    #[test]
    fn fixed_format_from_seed_000() {
        let header = SenseHeader::normalize(&SEED_000).unwrap();
        assert_eq!(header.key, SenseKey::ABORTED_COMMAND);
        assert_eq!((header.asc, header.ascq), (0x00, 0x06));
        assert!(header.is_current());
        assert!(!header.is_descriptor());
        assert_eq!(information(&SEED_000), None, "VALID bit is clear");
    }

    #[test]
    fn fixed_format_respects_additional_length() {
        let mut sense = SEED_000;
        sense[7] = 4; // effective length 12: asc and ascq lie outside it
        sense[12] = 0x11;
        let header = SenseHeader::normalize(&sense).unwrap();
        assert_eq!((header.asc, header.ascq), (0, 0));
    }

    #[test]
    fn invalid_and_short_buffers() {
        assert_eq!(SenseHeader::normalize(&[]), None);
        assert_eq!(SenseHeader::normalize(&[0x00, 0x00]), None);
        assert_eq!(SenseHeader::normalize(&[0x6f]), None);
        let header = SenseHeader::normalize(&[0xf1]).unwrap();
        assert!(header.is_deferred());
        assert_eq!(header.key, SenseKey::NO_SENSE);
    }

    #[test]
    fn descriptor_format_and_information() {
        let sense = [
            0x72, 0x03, 0x11, 0x00, 0, 0, 0, 12, // header, additional length 12
            0x00, 0x0a, 0x80, 0x00, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78,
        ];
        let header = SenseHeader::normalize(&sense).unwrap();
        assert_eq!(header.key, SenseKey::MEDIUM_ERROR);
        assert_eq!((header.asc, header.ascq), (0x11, 0x00));
        assert_eq!(information(&sense), Some(0x1234_5678));
        // Truncated descriptor: no information.
        assert_eq!(information(&sense[..15]), None);
    }

    #[test]
    fn fixed_information_needs_valid_bit() {
        let mut sense = SEED_000;
        sense[0] = 0xf0;
        sense[3..7].copy_from_slice(&0x0005_5870u32.to_be_bytes());
        assert_eq!(information(&sense), Some(0x0005_5870));
    }
}
