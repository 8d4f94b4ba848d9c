//! The iSCSI PDU codec (RFC 7143 §11): typed PDUs, their encoding, and incremental decoding
//! from a byte stream with optional CRC32C digests.
//!
//! ```text
//!  bytes ─► PduDecoder::decode ─► Bhs + AHS + data (+digests checked) ─► Pdu::from_parts
//!  Pdu ─► Pdu::encode ─► BHS | AHS | header digest | data | pad to 4 | data digest ─► bytes
//! ```
//!
//! Owns framing and field layout. It does not know sequence numbers or task state (that is
//! `session`), and it never trusts a length from the wire beyond the limit it was given.

mod control;
mod decoder;
mod header;
mod negotiation;
mod scsi;

use bytes::Bytes;

pub use control::{
    AsyncMessage, NopIn, NopOut, Reject, TaskManagementFunction, TaskManagementRequest,
    TaskManagementResponse,
};
pub(crate) use decoder::FrameHead;
pub use decoder::{encode_pdu, Digests, PduDecoder};
pub use header::{Bhs, Opcode, BHS_LENGTH, MAX_DATA_SEGMENT_FIELD, RESERVED_TAG};
pub use negotiation::{
    LoginRequest, LoginResponse, LoginStage, LogoutReason, LogoutRequest, LogoutResponse,
    TextRequest, TextResponse,
};
pub use scsi::{
    split_sense, DataIn, DataInStatus, DataOut, ReadyToTransfer, Residual, ScsiCommand,
    ScsiResponse, TaskAttribute, MAX_BHS_CDB_LENGTH,
};

/// Why bytes could not be decoded as a PDU. Every variant means the connection is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("unknown or unsupported opcode {0:#04x}")]
    UnknownOpcode(u8),
    #[error("data segment of {length} bytes exceeds the limit of {limit} bytes")]
    DataSegmentTooLong { length: u32, limit: u32 },
    #[error("data segment of {0} bytes does not fit the 24-bit DataSegmentLength field")]
    DataSegmentUnencodable(usize),
    #[error("header digest mismatch: received {received:#010x}, computed {computed:#010x}")]
    HeaderDigest { received: u32, computed: u32 },
    #[error("data digest mismatch: received {received:#010x}, computed {computed:#010x}")]
    DataDigest { received: u32, computed: u32 },
    #[error("{opcode}: invalid field: {field}")]
    InvalidField {
        opcode: &'static str,
        field: &'static str,
    },
}

/// StatSN, ExpCmdSN and MaxCmdSN: bytes 24–35 of most target PDUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TargetSequence {
    pub stat_sn: u32,
    pub exp_cmd_sn: u32,
    pub max_cmd_sn: u32,
}

impl TargetSequence {
    fn read(bhs: &Bhs) -> TargetSequence {
        TargetSequence {
            stat_sn: bhs.u32_at(24),
            exp_cmd_sn: bhs.u32_at(28),
            max_cmd_sn: bhs.u32_at(32),
        }
    }

    fn write(&self, bhs: &mut Bhs) {
        bhs.put_u32(24, self.stat_sn);
        bhs.put_u32(28, self.exp_cmd_sn);
        bhs.put_u32(32, self.max_cmd_sn);
    }
}

/// One PDU of any opcode unjam speaks, initiator or target side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pdu {
    NopOut(NopOut),
    ScsiCommand(ScsiCommand),
    TaskManagementRequest(TaskManagementRequest),
    LoginRequest(LoginRequest),
    TextRequest(TextRequest),
    DataOut(DataOut),
    LogoutRequest(LogoutRequest),
    NopIn(NopIn),
    ScsiResponse(ScsiResponse),
    TaskManagementResponse(TaskManagementResponse),
    LoginResponse(LoginResponse),
    TextResponse(TextResponse),
    DataIn(DataIn),
    LogoutResponse(LogoutResponse),
    ReadyToTransfer(ReadyToTransfer),
    AsyncMessage(AsyncMessage),
    Reject(Reject),
}

impl Pdu {
    /// The header of this PDU, without TotalAHSLength and DataSegmentLength.
    pub fn header(&self) -> Bhs {
        match self {
            Pdu::NopOut(pdu) => pdu.encode_header(),
            Pdu::ScsiCommand(pdu) => pdu.encode_header(),
            Pdu::TaskManagementRequest(pdu) => pdu.encode_header(),
            Pdu::LoginRequest(pdu) => pdu.encode_header(),
            Pdu::TextRequest(pdu) => pdu.encode_header(),
            Pdu::DataOut(pdu) => pdu.encode_header(),
            Pdu::LogoutRequest(pdu) => pdu.encode_header(),
            Pdu::NopIn(pdu) => pdu.encode_header(),
            Pdu::ScsiResponse(pdu) => pdu.encode_header(),
            Pdu::TaskManagementResponse(pdu) => pdu.encode_header(),
            Pdu::LoginResponse(pdu) => pdu.encode_header(),
            Pdu::TextResponse(pdu) => pdu.encode_header(),
            Pdu::DataIn(pdu) => pdu.encode_header(),
            Pdu::LogoutResponse(pdu) => pdu.encode_header(),
            Pdu::ReadyToTransfer(pdu) => pdu.encode_header(),
            Pdu::AsyncMessage(pdu) => pdu.encode_header(),
            Pdu::Reject(pdu) => pdu.encode_header(),
        }
    }

    /// The data segment (empty for PDUs that carry none).
    pub fn data(&self) -> &[u8] {
        match self {
            Pdu::NopOut(pdu) => &pdu.data,
            Pdu::ScsiCommand(pdu) => &pdu.data,
            Pdu::LoginRequest(pdu) => &pdu.data,
            Pdu::TextRequest(pdu) => &pdu.data,
            Pdu::DataOut(pdu) => &pdu.data,
            Pdu::NopIn(pdu) => &pdu.data,
            Pdu::ScsiResponse(pdu) => &pdu.data,
            Pdu::LoginResponse(pdu) => &pdu.data,
            Pdu::TextResponse(pdu) => &pdu.data,
            Pdu::DataIn(pdu) => &pdu.data,
            Pdu::AsyncMessage(pdu) => &pdu.data,
            Pdu::Reject(pdu) => &pdu.data,
            Pdu::TaskManagementRequest(_)
            | Pdu::LogoutRequest(_)
            | Pdu::TaskManagementResponse(_)
            | Pdu::LogoutResponse(_)
            | Pdu::ReadyToTransfer(_) => &[],
        }
    }

    /// Builds a typed PDU from a received header and data segment. The AHS, if any, has been
    /// skipped by the decoder: no PDU unjam receives defines one.
    pub fn from_parts(bhs: &Bhs, data: Bytes) -> Result<Pdu, PduError> {
        let opcode = Opcode::from_byte(bhs.opcode_byte())
            .ok_or(PduError::UnknownOpcode(bhs.opcode_byte()))?;
        Ok(match opcode {
            Opcode::NopOut => Pdu::NopOut(NopOut::from_bhs(bhs, data)),
            Opcode::ScsiCommand => Pdu::ScsiCommand(ScsiCommand::from_bhs(bhs, data)),
            Opcode::TaskManagementRequest => {
                Pdu::TaskManagementRequest(TaskManagementRequest::from_bhs(bhs)?)
            }
            Opcode::LoginRequest => Pdu::LoginRequest(LoginRequest::from_bhs(bhs, data)?),
            Opcode::TextRequest => Pdu::TextRequest(TextRequest::from_bhs(bhs, data)),
            Opcode::DataOut => Pdu::DataOut(DataOut::from_bhs(bhs, data)),
            Opcode::LogoutRequest => Pdu::LogoutRequest(LogoutRequest::from_bhs(bhs)?),
            Opcode::NopIn => Pdu::NopIn(NopIn::from_bhs(bhs, data)),
            Opcode::ScsiResponse => Pdu::ScsiResponse(ScsiResponse::from_bhs(bhs, data)?),
            Opcode::TaskManagementResponse => {
                Pdu::TaskManagementResponse(TaskManagementResponse::from_bhs(bhs))
            }
            Opcode::LoginResponse => Pdu::LoginResponse(LoginResponse::from_bhs(bhs, data)?),
            Opcode::TextResponse => Pdu::TextResponse(TextResponse::from_bhs(bhs, data)),
            Opcode::DataIn => Pdu::DataIn(DataIn::from_bhs(bhs, data)?),
            Opcode::LogoutResponse => Pdu::LogoutResponse(LogoutResponse::from_bhs(bhs)),
            Opcode::ReadyToTransfer => Pdu::ReadyToTransfer(ReadyToTransfer::from_bhs(bhs)?),
            Opcode::AsyncMessage => Pdu::AsyncMessage(AsyncMessage::from_bhs(bhs, data)),
            Opcode::Reject => Pdu::Reject(Reject::from_bhs(bhs, data)),
        })
    }
}
