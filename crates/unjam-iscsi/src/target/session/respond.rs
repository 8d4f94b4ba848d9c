//! The PDUs that answer one SCSI command (RFC 7143 §11.4, §11.7): Data-In segmented by the
//! initiator's MaxRecvDataSegmentLength with the F bit at every MaxBurstLength boundary, the
//! status in the last Data-In when there is no sense (phase collapse), else a SCSI Response
//! with the sense; residual overflow and underflow against the Expected Data Transfer Length.
//!
//! Owns the layout of the answer only; sequence numbers come from the session.

use bytes::{BufMut, Bytes, BytesMut};

use crate::pdu::{DataIn, DataInStatus, Pdu, Residual, ScsiResponse, TargetSequence, RESERVED_TAG};

/// SAM status CHECK CONDITION.
const CHECK_CONDITION: u8 = 0x02;

/// What the caller says about a finished command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandResult {
    /// iSCSI Response: 0x00 completed at target, 0x01 target failure.
    pub response: u8,
    pub status: u8,
    pub sense: Bytes,
    /// Data for the initiator, as much as the command produced (the session cuts it to the
    /// Expected Data Transfer Length and reports the overflow).
    pub data_in: Bytes,
    /// For writes: the bytes the command itself would move, to report a residual against
    /// the Expected Data Transfer Length (`None`: no residual).
    pub write_length: Option<u32>,
}

/// The command being answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answered {
    pub itt: u32,
    pub lun: u64,
    pub expected_length: u32,
    pub read: bool,
    /// R2Ts sent for the command (ExpDataSN of a write's response).
    pub r2t_count: u32,
}

/// Limits and options that shape the answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub max_segment: u32,
    pub max_burst: u32,
    pub phase_collapse: bool,
}

/// Appends the answer's PDUs to `out`. `sequence` carries the StatSN of the status and the
/// window.
pub(super) fn answer(
    command: Answered,
    result: &CommandResult,
    shape: Shape,
    sequence: TargetSequence,
    out: &mut Vec<Pdu>,
) {
    let edtl = command.expected_length as usize;
    let data = if command.read {
        result.data_in.slice(..result.data_in.len().min(edtl))
    } else {
        Bytes::new()
    };
    let residual = residual(command, result);
    let collapse = shape.phase_collapse
        && result.response == 0
        && result.status != CHECK_CONDITION
        && result.sense.is_empty()
        && !data.is_empty();
    let final_status = collapse.then_some(DataInStatus {
        status: result.status,
        stat_sn: sequence.stat_sn,
        residual,
    });
    let data_in_count = push_data_in(command, &data, shape, sequence, final_status, out);
    if collapse {
        return;
    }
    let exp_data_sn = if command.read {
        data_in_count
    } else {
        command.r2t_count
    };
    let mut segment = BytesMut::new();
    if !result.sense.is_empty() && result.response == 0 {
        let length = result.sense.len().min(u16::MAX as usize);
        segment.put_u16(length as u16);
        segment.extend_from_slice(&result.sense[..length]);
    }
    out.push(Pdu::ScsiResponse(ScsiResponse {
        bidirectional_residual: Residual::None,
        residual,
        response: result.response,
        status: result.status,
        initiator_task_tag: command.itt,
        snack_tag: 0,
        sequence,
        exp_data_sn,
        data: segment.freeze(),
    }));
}

fn residual(command: Answered, result: &CommandResult) -> Residual {
    let expected = command.expected_length;
    let moved = if command.read {
        u32::try_from(result.data_in.len()).unwrap_or(u32::MAX)
    } else {
        match result.write_length {
            Some(length) => length,
            None => return Residual::None,
        }
    };
    match moved.cmp(&expected) {
        std::cmp::Ordering::Less => Residual::Underflow(expected - moved),
        std::cmp::Ordering::Greater => Residual::Overflow(moved - expected),
        std::cmp::Ordering::Equal => Residual::None,
    }
}

/// Data-In PDUs for `data`; the last carries `final_status` when given. Returns how many.
fn push_data_in(
    command: Answered,
    data: &Bytes,
    shape: Shape,
    sequence: TargetSequence,
    final_status: Option<DataInStatus>,
    out: &mut Vec<Pdu>,
) -> u32 {
    let segment = shape.max_segment.max(512) as usize;
    let burst = (shape.max_burst.max(512) as usize).max(segment);
    let mut offset = 0;
    let mut data_sn = 0u32;
    while offset < data.len() {
        let burst_end = (offset / burst + 1) * burst;
        let end = (offset + segment).min(data.len()).min(burst_end);
        let last = end == data.len();
        out.push(Pdu::DataIn(DataIn {
            final_pdu: last || end == burst_end,
            acknowledge: false,
            status: final_status.filter(|_| last),
            lun: command.lun,
            initiator_task_tag: command.itt,
            target_transfer_tag: RESERVED_TAG,
            exp_cmd_sn: sequence.exp_cmd_sn,
            max_cmd_sn: sequence.max_cmd_sn,
            data_sn,
            buffer_offset: offset as u32,
            data: data.slice(offset..end),
        }));
        data_sn += 1;
        offset = end;
    }
    data_sn
}
