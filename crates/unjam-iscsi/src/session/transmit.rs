//! The send queue: PDUs and Data-Out runs waiting for the wire, encoded by
//! [`Session::poll_transmit`] in order. A Data-Out run (unsolicited data, or the answer to one
//! R2T) is cut into PDUs only when encoded, so a queued burst costs one entry, and the
//! bytes a write has really handed to the wire are known when its status arrives.
//!
//! Owns encoding order and the accounting done at encode time (bytes sent per write, R2Ts
//! answered, queued answers to target pings). It does not decide what to send.

use crate::pdu::{encode_pdu, DataOut, Pdu, PduError, RESERVED_TAG};

use super::task::Transfer;
use super::{Session, TaskState};

/// One entry of the send queue.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Pdu(Pdu),
    DataOut(DataOutRun),
}

/// A byte range of a write still to be sent as Data-Out PDUs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataOutRun {
    tag: u32,
    lun: u64,
    /// The R2T's tag, or the reserved tag for unsolicited data.
    target_transfer_tag: u32,
    offset: u32,
    end: u32,
    data_sn: u32,
}

impl DataOutRun {
    pub fn unsolicited(tag: u32, lun: u64, offset: usize, end: u32) -> DataOutRun {
        DataOutRun {
            tag,
            lun,
            target_transfer_tag: RESERVED_TAG,
            offset: u32::try_from(offset).unwrap_or(end),
            end,
            data_sn: 0,
        }
    }

    pub fn solicited(tag: u32, lun: u64, target_transfer_tag: u32, range: (u32, u32)) -> Self {
        DataOutRun {
            tag,
            lun,
            target_transfer_tag,
            offset: range.0,
            end: range.1,
            data_sn: 0,
        }
    }
}

impl Session {
    /// Encodes queued PDUs into `out`, up to about `transmit_chunk_bytes`. Returns whether
    /// PDUs remain for a later call.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Result<bool, PduError> {
        let digests = self.digests();
        while out.len() < self.config.transmit_chunk_bytes {
            let Some(item) = self.outgoing.pop_front() else {
                return Ok(false);
            };
            let pdu = match item {
                Outgoing::Pdu(pdu) => {
                    self.note_sent(&pdu);
                    pdu
                }
                Outgoing::DataOut(run) => match self.next_data_out(run) {
                    Some(pdu) => pdu,
                    None => continue,
                },
            };
            encode_pdu(&pdu, digests, out)?;
        }
        Ok(!self.outgoing.is_empty())
    }

    fn note_sent(&mut self, pdu: &Pdu) {
        match pdu {
            Pdu::ScsiCommand(command) if !command.data.is_empty() => {
                let tag = command.initiator_task_tag;
                if let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) {
                    if let Transfer::Write(write) = &mut task.transfer {
                        let end = u32::try_from(command.data.len()).unwrap_or(u32::MAX);
                        write.sent(end, false);
                    }
                }
            }
            Pdu::NopOut(nop) if nop.initiator_task_tag == RESERVED_TAG => {
                self.stats.queued_nop_replies = self.stats.queued_nop_replies.saturating_sub(1);
            }
            _ => {}
        }
    }

    /// The next PDU of `run` (the rest goes back to the front of the queue); `None` when its
    /// task has ended.
    fn next_data_out(&mut self, run: DataOutRun) -> Option<Pdu> {
        let max_segment = self.params.max_send_data_segment_length.max(1);
        let exp_stat_sn = self.window.exp_stat_sn;
        let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&run.tag) else {
            return None;
        };
        let Transfer::Write(write) = &mut task.transfer else {
            return None;
        };
        let chunk_end = run.end.min(run.offset.saturating_add(max_segment));
        assert!(run.offset < chunk_end && chunk_end <= write.length());
        let final_pdu = chunk_end == run.end;
        write.sent(
            chunk_end,
            final_pdu && run.target_transfer_tag != RESERVED_TAG,
        );
        let data = write.data.slice(run.offset as usize..chunk_end as usize);
        if !final_pdu {
            let rest = DataOutRun {
                offset: chunk_end,
                data_sn: run.data_sn.wrapping_add(1),
                ..run
            };
            self.outgoing.push_front(Outgoing::DataOut(rest));
        }
        Some(Pdu::DataOut(DataOut {
            final_pdu,
            lun: run.lun,
            initiator_task_tag: run.tag,
            target_transfer_tag: run.target_transfer_tag,
            exp_stat_sn,
            data_sn: run.data_sn,
            buffer_offset: run.offset,
            data,
        }))
    }
}
