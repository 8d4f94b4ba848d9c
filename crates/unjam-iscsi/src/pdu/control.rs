//! Control PDUs (RFC 7143 §11.5–§11.6, §11.9, §11.17–§11.19): NOP-Out/NOP-In, Task Management
//! Function Request/Response, Asynchronous Message and Reject.
//!
//! Owns the field layout only; what a session does with them lives in `session`.

use bytes::Bytes;

use super::header::{Bhs, Opcode};
use super::TargetSequence;

/// NOP-Out (opcode 0x00): a ping, or the answer to a target's NOP-In.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NopOut {
    pub immediate: bool,
    pub lun: u64,
    /// A fresh tag for a ping that wants a NOP-In back, or the reserved tag for an answer.
    pub initiator_task_tag: u32,
    /// Copied from the NOP-In being answered, else the reserved tag.
    pub target_transfer_tag: u32,
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
    pub data: Bytes,
}

impl NopOut {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::NopOut, self.immediate, 0x80);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.target_transfer_tag);
        bhs.put_u32(24, self.cmd_sn);
        bhs.put_u32(28, self.exp_stat_sn);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> NopOut {
        NopOut {
            immediate: bhs.immediate(),
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            target_transfer_tag: bhs.u32_at(20),
            cmd_sn: bhs.u32_at(24),
            exp_stat_sn: bhs.u32_at(28),
            data,
        }
    }
}

/// NOP-In (opcode 0x20): the answer to a ping, or the target's own ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NopIn {
    pub lun: u64,
    pub initiator_task_tag: u32,
    /// Not the reserved tag when the target wants a NOP-Out back.
    pub target_transfer_tag: u32,
    pub sequence: TargetSequence,
    pub data: Bytes,
}

impl NopIn {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::NopIn, false, 0x80);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.target_transfer_tag);
        self.sequence.write(&mut bhs);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> NopIn {
        NopIn {
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            target_transfer_tag: bhs.u32_at(20),
            sequence: TargetSequence::read(bhs),
            data,
        }
    }
}

/// Task management functions (RFC 7143 §11.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskManagementFunction {
    AbortTask = 1,
    AbortTaskSet = 2,
    ClearAca = 3,
    ClearTaskSet = 4,
    LogicalUnitReset = 5,
    TargetWarmReset = 6,
    TargetColdReset = 7,
    TaskReassign = 8,
}

impl TaskManagementFunction {
    fn from_bits(bits: u8) -> Option<TaskManagementFunction> {
        Some(match bits & 0x7f {
            1 => TaskManagementFunction::AbortTask,
            2 => TaskManagementFunction::AbortTaskSet,
            3 => TaskManagementFunction::ClearAca,
            4 => TaskManagementFunction::ClearTaskSet,
            5 => TaskManagementFunction::LogicalUnitReset,
            6 => TaskManagementFunction::TargetWarmReset,
            7 => TaskManagementFunction::TargetColdReset,
            8 => TaskManagementFunction::TaskReassign,
            _ => return None,
        })
    }
}

/// Task Management Function Request (opcode 0x02).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskManagementRequest {
    pub immediate: bool,
    pub function: TaskManagementFunction,
    pub lun: u64,
    pub initiator_task_tag: u32,
    pub referenced_task_tag: u32,
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
    pub ref_cmd_sn: u32,
    pub exp_data_sn: u32,
}

impl TaskManagementRequest {
    pub(crate) fn encode_header(&self) -> Bhs {
        let flags = 0x80 | self.function as u8;
        let mut bhs = Bhs::new(Opcode::TaskManagementRequest, self.immediate, flags);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, self.initiator_task_tag);
        bhs.put_u32(20, self.referenced_task_tag);
        bhs.put_u32(24, self.cmd_sn);
        bhs.put_u32(28, self.exp_stat_sn);
        bhs.put_u32(32, self.ref_cmd_sn);
        bhs.put_u32(36, self.exp_data_sn);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs) -> Result<TaskManagementRequest, super::PduError> {
        let function = TaskManagementFunction::from_bits(bhs.flags()).ok_or(
            super::PduError::InvalidField {
                opcode: "Task Management Request",
                field: "function",
            },
        )?;
        Ok(TaskManagementRequest {
            immediate: bhs.immediate(),
            function,
            lun: bhs.u64_at(8),
            initiator_task_tag: bhs.u32_at(16),
            referenced_task_tag: bhs.u32_at(20),
            cmd_sn: bhs.u32_at(24),
            exp_stat_sn: bhs.u32_at(28),
            ref_cmd_sn: bhs.u32_at(32),
            exp_data_sn: bhs.u32_at(36),
        })
    }
}

/// Task Management Function Response (opcode 0x22).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskManagementResponse {
    /// 0 = function complete, 1 = task does not exist, 2 = LUN does not exist, 3 = task still
    /// allegiant, 4 = reassignment not supported, 5 = function not supported, 6 = function
    /// authorization failed, 255 = function rejected.
    pub response: u8,
    pub initiator_task_tag: u32,
    pub sequence: TargetSequence,
}

impl TaskManagementResponse {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::TaskManagementResponse, false, 0x80);
        bhs.put_u8(2, self.response);
        bhs.put_u32(16, self.initiator_task_tag);
        self.sequence.write(&mut bhs);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs) -> TaskManagementResponse {
        TaskManagementResponse {
            response: bhs.u8_at(2),
            initiator_task_tag: bhs.u32_at(16),
            sequence: TargetSequence::read(bhs),
        }
    }
}

/// Asynchronous Message (opcode 0x32).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncMessage {
    pub lun: u64,
    pub sequence: TargetSequence,
    /// 0 = SCSI async event, 1 = logout requested, 2 = connection will be dropped,
    /// 3 = all connections will be dropped, 4 = renegotiation requested, 255 = vendor.
    pub event: u8,
    pub vendor_code: u8,
    pub parameter1: u16,
    pub parameter2: u16,
    pub parameter3: u16,
    pub data: Bytes,
}

impl AsyncMessage {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::AsyncMessage, false, 0x80);
        bhs.put_u64(8, self.lun);
        bhs.put_u32(16, super::header::RESERVED_TAG);
        self.sequence.write(&mut bhs);
        bhs.put_u8(36, self.event);
        bhs.put_u8(37, self.vendor_code);
        bhs.put_u16(38, self.parameter1);
        bhs.put_u16(40, self.parameter2);
        bhs.put_u16(42, self.parameter3);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> AsyncMessage {
        AsyncMessage {
            lun: bhs.u64_at(8),
            sequence: TargetSequence::read(bhs),
            event: bhs.u8_at(36),
            vendor_code: bhs.u8_at(37),
            parameter1: bhs.u16_at(38),
            parameter2: bhs.u16_at(40),
            parameter3: bhs.u16_at(42),
            data,
        }
    }
}

/// Reject (opcode 0x3f).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// RFC 7143 §11.17.1 reason code, e.g. 0x04 protocol error, 0x09 invalid PDU field.
    pub reason: u8,
    pub sequence: TargetSequence,
    pub data_sn: u32,
    /// The rejected PDU's header.
    pub data: Bytes,
}

impl Reject {
    pub(crate) fn encode_header(&self) -> Bhs {
        let mut bhs = Bhs::new(Opcode::Reject, false, 0x80);
        bhs.put_u8(2, self.reason);
        bhs.put_u32(16, super::header::RESERVED_TAG);
        self.sequence.write(&mut bhs);
        bhs.put_u32(36, self.data_sn);
        bhs
    }

    pub(crate) fn from_bhs(bhs: &Bhs, data: Bytes) -> Reject {
        Reject {
            reason: bhs.u8_at(2),
            sequence: TargetSequence::read(bhs),
            data_sn: bhs.u32_at(36),
            data,
        }
    }

    /// The Initiator Task Tag of the rejected PDU, when its header is present.
    pub fn rejected_task_tag(&self) -> Option<u32> {
        match self.data.get(16..20) {
            Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        }
    }

    /// The opcode of the rejected PDU, when its header is present.
    pub fn rejected_opcode(&self) -> Option<u8> {
        self.data.first().map(|byte| byte & 0x3f)
    }
}
