//! One SCSI task's data transfer state: the read buffer filled by Data-In, and the write data
//! cut into immediate data, unsolicited Data-Out and Data-Out answering R2Ts.
//!
//! Owns per-task bounds checks (offsets inside the buffer, DataSN order, R2T ranges). It does
//! not know the command window or other tasks.

use bytes::{Bytes, BytesMut};

use crate::pdu::{DataIn, DataOut, ReadyToTransfer, RESERVED_TAG};

use super::{SessionError, TaskRequest};

/// Where a task's data goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDirection {
    None,
    /// Read up to this many bytes.
    Read {
        length: u32,
    },
    /// Write these bytes.
    Write {
        data: Bytes,
    },
}

impl DataDirection {
    /// The Expected Data Transfer Length of the command.
    pub fn length(&self) -> u32 {
        match self {
            DataDirection::None => 0,
            DataDirection::Read { length } => *length,
            DataDirection::Write { data } => u32::try_from(data.len()).unwrap_or(u32::MAX),
        }
    }
}

/// The transfer state of a SCSI task that has been sent.
#[derive(Debug)]
pub(crate) struct ScsiTask {
    pub lun: u64,
    pub cmd_sn: u32,
    pub read_buffer: BytesMut,
    /// End of the furthest Data-In received (bytes).
    pub read_end: usize,
    pub next_data_sn: u32,
    pub write_data: Bytes,
    pub last_r2t_sn: Option<u32>,
}

impl ScsiTask {
    pub fn new(request: &TaskRequest, cmd_sn: u32) -> ScsiTask {
        let (read_buffer, write_data) = match &request.direction {
            DataDirection::Read { length } => (BytesMut::zeroed(*length as usize), Bytes::new()),
            DataDirection::Write { data } => (BytesMut::new(), data.clone()),
            DataDirection::None => (BytesMut::new(), Bytes::new()),
        };
        ScsiTask {
            lun: request.lun,
            cmd_sn,
            read_buffer,
            read_end: 0,
            next_data_sn: 0,
            write_data,
            last_r2t_sn: None,
        }
    }

    /// Copies one Data-In PDU into the read buffer after checking DataSN order and bounds.
    pub fn accept_data_in(&mut self, pdu: &DataIn) -> Result<(), SessionError> {
        if pdu.data_sn != self.next_data_sn {
            return Err(SessionError::DataSequence {
                expected: self.next_data_sn,
                received: pdu.data_sn,
            });
        }
        self.next_data_sn = self.next_data_sn.wrapping_add(1);
        if pdu.data.is_empty() {
            return Ok(());
        }
        let start = pdu.buffer_offset as usize;
        let end = start.checked_add(pdu.data.len());
        let slot = end.and_then(|end| self.read_buffer.get_mut(start..end));
        let Some(slot) = slot else {
            return Err(SessionError::DataOutOfRange {
                offset: pdu.buffer_offset,
                length: pdu.data.len(),
                buffer: self.read_buffer.len(),
            });
        };
        slot.copy_from_slice(&pdu.data);
        self.read_end = self.read_end.max(start + pdu.data.len());
        Ok(())
    }

    /// The bytes read, up to the furthest byte received.
    pub fn take_read_data(&mut self) -> Bytes {
        let mut buffer = std::mem::take(&mut self.read_buffer);
        buffer.truncate(self.read_end);
        buffer.freeze()
    }

    /// Validates an R2T against the write buffer and the negotiated burst limit.
    pub fn check_r2t(&mut self, r2t: &ReadyToTransfer, max_burst: u32) -> Result<(), SessionError> {
        let end = u64::from(r2t.buffer_offset) + u64::from(r2t.desired_data_transfer_length);
        if end > self.write_data.len() as u64
            || r2t.desired_data_transfer_length > max_burst
            || r2t.desired_data_transfer_length == 0
        {
            return Err(SessionError::R2tOutOfRange {
                offset: r2t.buffer_offset,
                length: r2t.desired_data_transfer_length,
                buffer: self.write_data.len(),
            });
        }
        self.last_r2t_sn = Some(r2t.r2t_sn);
        Ok(())
    }
}

/// Everything needed to cut a byte range of write data into Data-Out PDUs.
pub(crate) struct DataOutSequence<'a> {
    pub lun: u64,
    pub initiator_task_tag: u32,
    /// The R2T's tag, or `RESERVED_TAG` for unsolicited data.
    pub target_transfer_tag: u32,
    pub exp_stat_sn: u32,
    pub data: &'a Bytes,
    pub offset: usize,
    pub length: usize,
    pub max_segment: usize,
}

impl DataOutSequence<'_> {
    /// Appends the sequence's Data-Out PDUs: DataSN from 0, the F bit on the last.
    pub fn emit(&self, out: &mut impl Extend<DataOut>) {
        let end = self.offset + self.length;
        let segment = self.max_segment.max(1);
        let mut offset = self.offset;
        let mut data_sn = 0u32;
        while offset < end {
            let chunk_end = end.min(offset + segment);
            out.extend(std::iter::once(DataOut {
                final_pdu: chunk_end == end,
                lun: self.lun,
                initiator_task_tag: self.initiator_task_tag,
                target_transfer_tag: self.target_transfer_tag,
                exp_stat_sn: self.exp_stat_sn,
                data_sn,
                buffer_offset: u32::try_from(offset).unwrap_or(u32::MAX),
                data: self.data.slice(offset..chunk_end),
            }));
            offset = chunk_end;
            data_sn = data_sn.wrapping_add(1);
        }
    }
}

/// The split of a write's first burst: bytes sent as immediate data in the command PDU and
/// bytes sent as unsolicited Data-Out after it (RFC 7143 §4.2.5.2).
pub(crate) fn first_burst_split(
    write_length: usize,
    immediate_data: bool,
    initial_r2t: bool,
    first_burst_length: u32,
    max_send_segment: u32,
) -> (usize, usize) {
    let first_burst = (first_burst_length as usize).min(write_length);
    let immediate = if immediate_data {
        first_burst.min(max_send_segment as usize)
    } else {
        0
    };
    let unsolicited = if initial_r2t {
        0
    } else {
        first_burst - immediate
    };
    (immediate, unsolicited)
}

pub(crate) const UNSOLICITED_TAG: u32 = RESERVED_TAG;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_burst_obeys_every_key() {
        // ImmediateData=Yes, InitialR2T=No: immediate up to MRDSL, the rest of the first burst
        // unsolicited.
        assert_eq!(
            first_burst_split(100_000, true, false, 65_536, 8192),
            (8192, 57_344)
        );
        // InitialR2T=Yes: only immediate data.
        assert_eq!(
            first_burst_split(100_000, true, true, 65_536, 8192),
            (8192, 0)
        );
        // ImmediateData=No, InitialR2T=Yes: everything waits for R2T.
        assert_eq!(
            first_burst_split(100_000, false, true, 65_536, 8192),
            (0, 0)
        );
        // A small write fits entirely.
        assert_eq!(
            first_burst_split(4096, true, false, 65_536, 8192),
            (4096, 0)
        );
    }

    #[test]
    fn data_out_sequence_splits_by_segment_and_marks_the_last() {
        let data = Bytes::from(vec![7u8; 10_000]);
        let sequence = DataOutSequence {
            lun: 1,
            initiator_task_tag: 9,
            target_transfer_tag: 0x55,
            exp_stat_sn: 3,
            data: &data,
            offset: 1000,
            length: 9000,
            max_segment: 4096,
        };
        let mut pdus = Vec::new();
        sequence.emit(&mut pdus);
        let shape: Vec<_> = pdus
            .iter()
            .map(|pdu| {
                (
                    pdu.data_sn,
                    pdu.buffer_offset,
                    pdu.data.len(),
                    pdu.final_pdu,
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, 1000, 4096, false),
                (1, 5096, 4096, false),
                (2, 9192, 808, true)
            ]
        );
    }
}
