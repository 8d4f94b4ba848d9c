//! PDUs of the login and text phases and of logout (RFC 7143 §11.10–§11.15): Login
//! Request/Response, Text Request/Response, Logout Request/Response.
//!
//! Owns the field layout only; the text inside the data segments is parsed by `text`, the
//! login conversation by `login`.

use bytes::Bytes;

use super::header::{Bhs, Opcode};
use super::{PduError, TargetSequence};

/// A login stage (CSG / NSG, RFC 7143 §11.12.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginStage {
    SecurityNegotiation = 0,
    OperationalNegotiation = 1,
    FullFeature = 3,
}

impl LoginStage {
    fn from_bits(bits: u8) -> Result<LoginStage, PduError> {
        match bits & 0x03 {
            0 => Ok(LoginStage::SecurityNegotiation),
            1 => Ok(LoginStage::OperationalNegotiation),
            3 => Ok(LoginStage::FullFeature),
            _ => Err(PduError::InvalidField {
                opcode: "Login",
                field: "stage value 2 is reserved",
            }),
        }
    }
}

fn stage_flags(transit: bool, cont: bool, current: LoginStage, next: LoginStage) -> u8 {
    u8::from(transit) << 7 | u8::from(cont) << 6 | (current as u8) << 2 | next as u8
}

/// Login Request (opcode 0x03; always immediate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRequest {
    pub transit: bool,
    pub cont: bool,
    pub current_stage: LoginStage,
    pub next_stage: LoginStage,
    pub version_max: u8,
    pub version_min: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub initiator_task_tag: u32,
    pub cid: u16,
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
    pub data: Bytes,
}

impl LoginRequest {
    pub(crate) fn encode_header(&self) -> Bhs {
        let flags = stage_flags(self.transit, self.cont, self.current_stage, self.next_stage);
        let mut bhs = Bhs::new(Opcode::LoginRequest, true, flags);
        bhs.put_u8(2, self.version_max);
        bhs.put_u8(3, self.version_min);
        bhs.0[8..14].copy_from_slice(&self.isid);
        bhs.put_u16(14, self.tsih);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u16(20, self.cid);
        bhs.put_u32(24, self.cmd_sn);
        bhs.put_u32(28, self.exp_stat_sn);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> Result<LoginRequest, PduError> {
        let flags = bhs.flags();
        let mut isid = [0u8; 6];
        isid.copy_from_slice(&bhs.0[8..14]);
        Ok(LoginRequest {
            transit: flags & 0x80 != 0,
            cont: flags & 0x40 != 0,
            current_stage: LoginStage::from_bits(flags >> 2)?,
            next_stage: LoginStage::from_bits(flags)?,
            version_max: bhs.u8_at(2),
            version_min: bhs.u8_at(3),
            isid,
            tsih: bhs.u16_at(14),
            initiator_task_tag: bhs.u32_at(16),
            cid: bhs.u16_at(20),
            cmd_sn: bhs.u32_at(24),
            exp_stat_sn: bhs.u32_at(28),
            data,
        })
    }
}

/// Login Response (opcode 0x23).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginResponse {
    pub transit: bool,
    pub cont: bool,
    pub current_stage: LoginStage,
    pub next_stage: LoginStage,
    pub version_max: u8,
    pub version_active: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub initiator_task_tag: u32,
    pub sequence: TargetSequence,
    pub status_class: u8,
    pub status_detail: u8,
    pub data: Bytes,
}

impl LoginResponse {
    pub(crate) fn encode_header(&self) -> Bhs {
        let flags = stage_flags(self.transit, self.cont, self.current_stage, self.next_stage);
        let mut bhs = Bhs::new(Opcode::LoginResponse, false, flags);
        bhs.put_u8(2, self.version_max);
        bhs.put_u8(3, self.version_active);
        bhs.0[8..14].copy_from_slice(&self.isid);
        bhs.put_u16(14, self.tsih);
        bhs.put_u32(16, self.initiator_task_tag);
        self.sequence.write(&mut bhs);
        bhs.put_u8(36, self.status_class);
        bhs.put_u8(37, self.status_detail);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> Result<LoginResponse, PduError> {
        let flags = bhs.flags();
        let mut isid = [0u8; 6];
        isid.copy_from_slice(&bhs.0[8..14]);
        Ok(LoginResponse {
            transit: flags & 0x80 != 0,
            cont: flags & 0x40 != 0,
            current_stage: LoginStage::from_bits(flags >> 2)?,
            next_stage: LoginStage::from_bits(flags)?,
            version_max: bhs.u8_at(2),
            version_active: bhs.u8_at(3),
            isid,
            tsih: bhs.u16_at(14),
            initiator_task_tag: bhs.u32_at(16),
            sequence: TargetSequence::read(bhs),
            status_class: bhs.u8_at(36),
            status_detail: bhs.u8_at(37),
            data,
        })
    }
}

/// Text Request (opcode 0x04).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRequest {
    pub immediate: bool,
    pub final_pdu: bool,
    pub cont: bool,
    pub lun: u64,
    pub initiator_task_tag: u32,
    pub target_transfer_tag: u32,
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
    pub data: Bytes,
}

impl TextRequest {
    pub(crate) fn encode_header(&self) -> Bhs {
        let flags = u8::from(self.final_pdu) << 7 | u8::from(self.cont) << 6;
        let mut bhs = Bhs::new(Opcode::TextRequest, self.immediate, flags);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.target_transfer_tag);
        bhs.put_u32(24, self.cmd_sn);
        bhs.put_u32(28, self.exp_stat_sn);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> TextRequest {
        TextRequest {
            immediate: bhs.immediate(),
            final_pdu: bhs.flags() & 0x80 != 0,
            cont: bhs.flags() & 0x40 != 0,
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            target_transfer_tag: bhs.u32_at(20),
            cmd_sn: bhs.u32_at(24),
            exp_stat_sn: bhs.u32_at(28),
            data,
        }
    }
}

/// Text Response (opcode 0x24).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextResponse {
    pub final_pdu: bool,
    pub cont: bool,
    pub lun: u64,
    pub initiator_task_tag: u32,
    pub target_transfer_tag: u32,
    pub sequence: TargetSequence,
    pub data: Bytes,
}

impl TextResponse {
    pub(crate) fn encode_header(&self) -> Bhs {
        let flags = u8::from(self.final_pdu) << 7 | u8::from(self.cont) << 6;
        let mut bhs = Bhs::new(Opcode::TextResponse, false, flags);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.target_transfer_tag);
        self.sequence.write(&mut bhs);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> TextResponse {
        TextResponse {
            final_pdu: bhs.flags() & 0x80 != 0,
            cont: bhs.flags() & 0x40 != 0,
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            target_transfer_tag: bhs.u32_at(20),
            sequence: TargetSequence::read(bhs),
            data,
        }
    }
}

/// Why an initiator logs out (RFC 7143 §11.14.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutReason {
    CloseSession = 0,
    CloseConnection = 1,
    RemoveConnectionForRecovery = 2,
}

/// Logout Request (opcode 0x06).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogoutRequest {
    pub immediate: bool,
    pub reason: LogoutReason,
    pub initiator_task_tag: u32,
    pub cid: u16,
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
}

impl LogoutRequest {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(
            Opcode::LogoutRequest,
            self.immediate,
            0x80 | self.reason as u8,
        );
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u16(20, self.cid);
        bhs.put_u32(24, self.cmd_sn);
        bhs.put_u32(28, self.exp_stat_sn);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs) -> Result<LogoutRequest, PduError> {
        let reason = match bhs.flags() & 0x7f {
            0 => LogoutReason::CloseSession,
            1 => LogoutReason::CloseConnection,
            2 => LogoutReason::RemoveConnectionForRecovery,
            _ => {
                return Err(PduError::InvalidField {
                    opcode: "Logout Request",
                    field: "reason code",
                })
            }
        };
        Ok(LogoutRequest {
            immediate: bhs.immediate(),
            reason,
            initiator_task_tag: bhs.u32_at(16),
            cid: bhs.u16_at(20),
            cmd_sn: bhs.u32_at(24),
            exp_stat_sn: bhs.u32_at(28),
        })
    }
}

/// Logout Response (opcode 0x26).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogoutResponse {
    /// 0 = closed successfully, 1 = CID not found, 2 = recovery not supported, 3 = cleanup failed.
    pub response: u8,
    pub initiator_task_tag: u32,
    pub sequence: TargetSequence,
    pub time_to_wait_s: u16,
    pub time_to_retain_s: u16,
}

impl LogoutResponse {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::LogoutResponse, false, 0x80);
        bhs.put_u8(2, self.response);
        bhs.put_u32(16, self.initiator_task_tag);
        self.sequence.write(&mut bhs);
        bhs.put_u16(40, self.time_to_wait_s);
        bhs.put_u16(42, self.time_to_retain_s);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs) -> LogoutResponse {
        LogoutResponse {
            response: bhs.u8_at(2),
            initiator_task_tag: bhs.u32_at(16),
            sequence: TargetSequence::read(bhs),
            time_to_wait_s: bhs.u16_at(40),
            time_to_retain_s: bhs.u16_at(42),
        }
    }
}
