//! PDUs that carry SCSI commands and their data (RFC 7143 §11.3–§11.8): SCSI Command,
//! SCSI Response, SCSI Data-Out, SCSI Data-In and Ready To Transfer (R2T).
//!
//! Owns the field layout of these five PDUs only; sequencing rules live in `session`.

use bytes::Bytes;

use super::header::{Bhs, Opcode, RESERVED_TAG};
use super::{PduError, TargetSequence};

/// Largest CDB carried in the BHS; longer CDBs would need an extended-CDB AHS, which unjam
/// does not send.
pub const MAX_BHS_CDB_LENGTH: usize = 16;

/// Task attribute in the SCSI Command's ATTR field (RFC 7143 §11.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TaskAttribute {
    Untagged = 0,
    #[default]
    Simple = 1,
    Ordered = 2,
    HeadOfQueue = 3,
    Aca = 4,
}

impl TaskAttribute {
    fn from_bits(bits: u8) -> TaskAttribute {
        match bits & 0x07 {
            0 => TaskAttribute::Untagged,
            2 => TaskAttribute::Ordered,
            3 => TaskAttribute::HeadOfQueue,
            4 => TaskAttribute::Aca,
            _ => TaskAttribute::Simple,
        }
    }
}

/// SCSI Command (opcode 0x01).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScsiCommand {
    pub immediate: bool,
    pub final_pdu: bool,
    pub read: bool,
    pub write: bool,
    pub attribute: TaskAttribute,
    pub lun: u64,
    pub initiator_task_tag: u32,
    pub expected_data_transfer_length: u32,
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
    /// The CDB, zero-padded to 16 bytes in the header.
    pub cdb: [u8; MAX_BHS_CDB_LENGTH],
    /// Immediate data.
    pub data: Bytes,
}

impl ScsiCommand {
    pub(crate) fn encode_header(&self) -> Bhs {
        let flags = u8::from(self.final_pdu) << 7
            | u8::from(self.read) << 6
            | u8::from(self.write) << 5
            | self.attribute as u8;
        let mut bhs = Bhs::new(Opcode::ScsiCommand, self.immediate, flags);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.expected_data_transfer_length);
        bhs.put_u32(24, self.cmd_sn);
        bhs.put_u32(28, self.exp_stat_sn);
        bhs.0[32..48].copy_from_slice(&self.cdb);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> ScsiCommand {
        let flags = bhs.flags();
        let mut cdb = [0u8; MAX_BHS_CDB_LENGTH];
        cdb.copy_from_slice(&bhs.0[32..48]);
        ScsiCommand {
            immediate: bhs.immediate(),
            final_pdu: flags & 0x80 != 0,
            read: flags & 0x40 != 0,
            write: flags & 0x20 != 0,
            attribute: TaskAttribute::from_bits(flags),
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            expected_data_transfer_length: bhs.u32_at(20),
            cmd_sn: bhs.u32_at(24),
            exp_stat_sn: bhs.u32_at(28),
            cdb,
            data,
        }
    }
}

/// The residual reported with a status (RFC 7143 §11.4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Residual {
    #[default]
    None,
    /// The target transferred this many bytes less than expected.
    Underflow(u32),
    /// The target had this many more bytes than the initiator expected.
    Overflow(u32),
}

impl Residual {
    fn from_flags(flags: u8, count: u32) -> Result<Residual, PduError> {
        match (flags & 0x04 != 0, flags & 0x02 != 0) {
            (false, false) => Ok(Residual::None),
            (true, false) => Ok(Residual::Overflow(count)),
            (false, true) => Ok(Residual::Underflow(count)),
            (true, true) => Err(PduError::InvalidField {
                opcode: "SCSI Response/Data-In",
                field: "O and U bits both set",
            }),
        }
    }

    fn flag_bits(self) -> (u8, u32) {
        match self {
            Residual::None => (0, 0),
            Residual::Overflow(count) => (0x04, count),
            Residual::Underflow(count) => (0x02, count),
        }
    }
}

/// SCSI Response (opcode 0x21).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScsiResponse {
    pub bidirectional_residual: Residual,
    pub residual: Residual,
    /// 0x00 = command completed at target, 0x01 = target failure.
    pub response: u8,
    pub status: u8,
    pub initiator_task_tag: u32,
    pub snack_tag: u32,
    pub sequence: TargetSequence,
    pub exp_data_sn: u32,
    /// Sense data and response data, with the 2-byte SenseLength prefix.
    pub data: Bytes,
}

impl ScsiResponse {
    pub(crate) fn encode_header(&self) -> Bhs {
        let (bidi_bits, bidi_count) = self.bidirectional_residual.flag_bits();
        let (bits, count) = self.residual.flag_bits();
        let mut bhs = Bhs::new(Opcode::ScsiResponse, false, 0x80 | bidi_bits << 2 | bits);
        bhs.put_u8(2, self.response);
        bhs.put_u8(3, self.status);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.snack_tag);
        self.sequence.write(&mut bhs);
        bhs.put_u32(36, self.exp_data_sn);
        bhs.put_u32(40, bidi_count);
        bhs.put_u32(44, count);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> Result<ScsiResponse, PduError> {
        let flags = bhs.flags();
        Ok(ScsiResponse {
            bidirectional_residual: Residual::from_flags(flags >> 2, bhs.u32_at(40))?,
            residual: Residual::from_flags(flags, bhs.u32_at(44))?,
            response: bhs.u8_at(2),
            status: bhs.u8_at(3),
            initiator_task_tag: bhs.u32_at(16),
            snack_tag: bhs.u32_at(20),
            sequence: TargetSequence::read(bhs),
            exp_data_sn: bhs.u32_at(36),
            data,
        })
    }

    /// The sense data inside the data segment: a 2-byte big-endian SenseLength, then that many
    /// bytes (RFC 7143 §11.4.7.2). Empty when there is none.
    pub fn sense(&self) -> Result<&[u8], PduError> {
        split_sense(&self.data)
    }
}

/// Splits the SenseLength-prefixed sense data out of a data segment.
pub fn split_sense(data: &[u8]) -> Result<&[u8], PduError> {
    let Some((length_bytes, rest)) = data.split_first_chunk::<2>() else {
        return Ok(&[]);
    };
    let length = usize::from(u16::from_be_bytes(*length_bytes));
    rest.get(..length).ok_or(PduError::InvalidField {
        opcode: "SCSI Response",
        field: "SenseLength exceeds the data segment",
    })
}

/// SCSI Data-Out (opcode 0x05).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataOut {
    pub final_pdu: bool,
    pub lun: u64,
    pub initiator_task_tag: u32,
    /// The tag from the R2T this answers, or the reserved tag for unsolicited data.
    pub target_transfer_tag: u32,
    pub exp_stat_sn: u32,
    pub data_sn: u32,
    pub buffer_offset: u32,
    pub data: Bytes,
}

impl DataOut {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::DataOut, false, u8::from(self.final_pdu) << 7);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.target_transfer_tag);
        bhs.put_u32(28, self.exp_stat_sn);
        bhs.put_u32(36, self.data_sn);
        bhs.put_u32(40, self.buffer_offset);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> DataOut {
        DataOut {
            final_pdu: bhs.flags() & 0x80 != 0,
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            target_transfer_tag: bhs.u32_at(20),
            exp_stat_sn: bhs.u32_at(28),
            data_sn: bhs.u32_at(36),
            buffer_offset: bhs.u32_at(40),
            data,
        }
    }
}

/// The status carried in the last Data-In PDU of a read when the S bit is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataInStatus {
    pub status: u8,
    pub stat_sn: u32,
    pub residual: Residual,
}

/// SCSI Data-In (opcode 0x25).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataIn {
    pub final_pdu: bool,
    pub acknowledge: bool,
    /// Present when the S bit is set (only together with the F bit).
    pub status: Option<DataInStatus>,
    pub lun: u64,
    pub initiator_task_tag: u32,
    pub target_transfer_tag: u32,
    pub exp_cmd_sn: u32,
    pub max_cmd_sn: u32,
    pub data_sn: u32,
    pub buffer_offset: u32,
    pub data: Bytes,
}

impl DataIn {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut flags = u8::from(self.final_pdu) << 7 | u8::from(self.acknowledge) << 6;
        let mut bhs = Bhs::new(Opcode::DataIn, false, 0);
        if let Some(status) = self.status {
            let (bits, count) = status.residual.flag_bits();
            flags |= 0x01 | bits;
            bhs.put_u8(3, status.status);
            bhs.put_u32(24, status.stat_sn);
            bhs.put_u32(44, count);
        }
        bhs.put_u8(1, flags);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.target_transfer_tag);
        bhs.put_u32(28, self.exp_cmd_sn);
        bhs.put_u32(32, self.max_cmd_sn);
        bhs.put_u32(36, self.data_sn);
        bhs.put_u32(40, self.buffer_offset);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> Result<DataIn, PduError> {
        let flags = bhs.flags();
        let final_pdu = flags & 0x80 != 0;
        let status = if flags & 0x01 != 0 {
            if !final_pdu {
                return Err(PduError::InvalidField {
                    opcode: "SCSI Data-In",
                    field: "S bit set without F bit",
                });
            }
            Some(DataInStatus {
                status: bhs.u8_at(3),
                stat_sn: bhs.u32_at(24),
                residual: Residual::from_flags(flags, bhs.u32_at(44))?,
            })
        } else {
            None
        };
        Ok(DataIn {
            final_pdu,
            acknowledge: flags & 0x40 != 0,
            status,
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            target_transfer_tag: bhs.u32_at(20),
            exp_cmd_sn: bhs.u32_at(28),
            max_cmd_sn: bhs.u32_at(32),
            data_sn: bhs.u32_at(36),
            buffer_offset: bhs.u32_at(40),
            data,
        })
    }
}

/// Ready To Transfer (opcode 0x31).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyToTransfer {
    pub lun: u64,
    pub initiator_task_tag: u32,
    pub target_transfer_tag: u32,
    pub sequence: TargetSequence,
    pub r2t_sn: u32,
    pub buffer_offset: u32,
    pub desired_data_transfer_length: u32,
}

impl ReadyToTransfer {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::ReadyToTransfer, false, 0x80);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.target_transfer_tag);
        self.sequence.write(&mut bhs);
        bhs.put_u32(36, self.r2t_sn);
        bhs.put_u32(40, self.buffer_offset);
        bhs.put_u32(44, self.desired_data_transfer_length);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs) -> Result<ReadyToTransfer, PduError> {
        let target_transfer_tag = bhs.u32_at(20);
        if target_transfer_tag == RESERVED_TAG {
            return Err(PduError::InvalidField {
                opcode: "R2T",
                field: "Target Transfer Tag is the reserved value",
            });
        }
        Ok(ReadyToTransfer {
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            target_transfer_tag,
            sequence: TargetSequence::read(bhs),
            r2t_sn: bhs.u32_at(36),
            buffer_offset: bhs.u32_at(40),
            desired_data_transfer_length: bhs.u32_at(44),
        })
    }
}
