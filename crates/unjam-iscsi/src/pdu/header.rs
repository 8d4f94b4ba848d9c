//! The 48-byte Basic Header Segment (RFC 7143 §11.2.1): opcodes and big-endian field access.
//!
//! Owns byte positions and the opcode table; knows nothing about what a field means for a
//! particular PDU (that is in the sibling modules) and never panics: every read is at a
//! fixed offset inside a `[u8; 48]`.

/// Length of the Basic Header Segment in bytes.
pub const BHS_LENGTH: usize = 48;

/// The reserved tag value meaning "no task" (RFC 7143 §11.2.1.8).
pub const RESERVED_TAG: u32 = 0xffff_ffff;

/// Largest data segment the 24-bit DataSegmentLength field can express.
pub const MAX_DATA_SEGMENT_FIELD: u32 = 0x00ff_ffff;

/// Every opcode unjam's initiator sends or receives (RFC 7143 §11.2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    NopOut = 0x00,
    ScsiCommand = 0x01,
    TaskManagementRequest = 0x02,
    LoginRequest = 0x03,
    TextRequest = 0x04,
    DataOut = 0x05,
    LogoutRequest = 0x06,
    NopIn = 0x20,
    ScsiResponse = 0x21,
    TaskManagementResponse = 0x22,
    LoginResponse = 0x23,
    TextResponse = 0x24,
    DataIn = 0x25,
    LogoutResponse = 0x26,
    ReadyToTransfer = 0x31,
    AsyncMessage = 0x32,
    Reject = 0x3f,
}

impl Opcode {
    /// Decodes the low six bits of byte 0; `None` for opcodes unjam does not speak.
    pub fn from_byte(byte: u8) -> Option<Opcode> {
        Some(match byte & 0x3f {
            0x00 => Opcode::NopOut,
            0x01 => Opcode::ScsiCommand,
            0x02 => Opcode::TaskManagementRequest,
            0x03 => Opcode::LoginRequest,
            0x04 => Opcode::TextRequest,
            0x05 => Opcode::DataOut,
            0x06 => Opcode::LogoutRequest,
            0x20 => Opcode::NopIn,
            0x21 => Opcode::ScsiResponse,
            0x22 => Opcode::TaskManagementResponse,
            0x23 => Opcode::LoginResponse,
            0x24 => Opcode::TextResponse,
            0x25 => Opcode::DataIn,
            0x26 => Opcode::LogoutResponse,
            0x31 => Opcode::ReadyToTransfer,
            0x32 => Opcode::AsyncMessage,
            0x3f => Opcode::Reject,
            _ => return None,
        })
    }
}

/// A Basic Header Segment with typed accessors for the fields every PDU shares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bhs(pub [u8; BHS_LENGTH]);

impl std::fmt::Debug for Bhs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bhs({})", hex::encode(self.0))
    }
}

impl Default for Bhs {
    fn default() -> Self {
        Bhs([0; BHS_LENGTH])
    }
}

impl Bhs {
    /// A header with the opcode, immediate bit and flags byte set; everything else zero.
    pub fn new(opcode: Opcode, immediate: bool, flags: u8) -> Bhs {
        let mut bhs = Bhs::default();
        bhs.0[0] = opcode as u8 | if immediate { 0x40 } else { 0 };
        bhs.0[1] = flags;
        bhs
    }

    pub fn opcode_byte(&self) -> u8 {
        self.0[0] & 0x3f
    }

    pub fn immediate(&self) -> bool {
        self.0[0] & 0x40 != 0
    }

    pub fn flags(&self) -> u8 {
        self.0[1]
    }

    /// TotalAHSLength in bytes (the field counts 4-byte words).
    pub fn total_ahs_length(&self) -> usize {
        usize::from(self.0[4]) * 4
    }

    pub fn data_segment_length(&self) -> u32 {
        u32::from_be_bytes([0, self.0[5], self.0[6], self.0[7]])
    }

    /// Sets TotalAHSLength from a byte count that must be a multiple of 4 and ≤ 1020.
    pub fn set_total_ahs_length(&mut self, bytes: usize) {
        debug_assert!(bytes % 4 == 0 && bytes <= 1020);
        self.0[4] = u8::try_from(bytes / 4).unwrap_or(u8::MAX);
    }

    pub fn set_data_segment_length(&mut self, length: u32) {
        debug_assert!(length <= MAX_DATA_SEGMENT_FIELD);
        let bytes = length.to_be_bytes();
        self.0[5..8].copy_from_slice(&bytes[1..4]);
    }

    pub fn u8_at(&self, offset: usize) -> u8 {
        self.0.get(offset).copied().unwrap_or(0)
    }

    pub fn u16_at(&self, offset: usize) -> u16 {
        match self.0.get(offset..offset + 2) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    pub fn u32_at(&self, offset: usize) -> u32 {
        match self.0.get(offset..offset + 4) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    pub fn u64_at(&self, offset: usize) -> u64 {
        let mut bytes = [0u8; 8];
        if let Some(slice) = self.0.get(offset..offset + 8) {
            bytes.copy_from_slice(slice);
        }
        u64::from_be_bytes(bytes)
    }

    pub fn put_u8(&mut self, offset: usize, value: u8) {
        if let Some(slot) = self.0.get_mut(offset) {
            *slot = value;
        }
    }

    pub fn put_u16(&mut self, offset: usize, value: u16) {
        if let Some(slot) = self.0.get_mut(offset..offset + 2) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
    }

    pub fn put_u32(&mut self, offset: usize, value: u32) {
        if let Some(slot) = self.0.get_mut(offset..offset + 4) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
    }

    pub fn put_u64(&mut self, offset: usize, value: u64) {
        if let Some(slot) = self.0.get_mut(offset..offset + 8) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
    }

    /// The Initiator Task Tag, bytes 16–19 in every PDU.
    pub fn initiator_task_tag(&self) -> u32 {
        self.u32_at(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_segment_length_is_24_bits_big_endian() {
        let mut bhs = Bhs::default();
        bhs.set_data_segment_length(0x0012_3456);
        assert_eq!(&bhs.0[5..8], &[0x12, 0x34, 0x56]);
        assert_eq!(bhs.data_segment_length(), 0x0012_3456);
    }

    #[test]
    fn unknown_opcode_is_none_and_known_ones_round_trip() {
        assert_eq!(Opcode::from_byte(0x10), None);
        for byte in [
            0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x20, 0x21, 0x22, 0x23,
        ] {
            let opcode = Opcode::from_byte(byte).map(|op| op as u8);
            assert_eq!(opcode, Some(byte));
        }
        assert_eq!(Opcode::from_byte(0x40 | 0x01), Some(Opcode::ScsiCommand));
    }
}
