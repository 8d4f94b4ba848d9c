//! What each target PDU does to the session: data and status into task accounting, R2Ts into
//! Data-Out runs, task management and logout responses, pings, asynchronous messages and
//! rejects. A PDU whose tag names no task is a stray (bounded per connection); one whose tag
//! names a task of another kind is a violation on that task.
//!
//! Owns the routing by tag and type; the per-task rules are in `task`, their costs in
//! `violation`.

use std::collections::VecDeque;

use bytes::Bytes;
use tracing::{debug, warn};

use crate::pdu::{
    self, DataIn, LogoutResponse, NopIn, NopOut, Pdu, ReadyToTransfer, Reject, Residual,
    ScsiResponse, TaskManagementFunction, TaskManagementResponse, RESERVED_TAG,
};

use super::task::Transfer;
use super::transmit::{DataOutRun, Outgoing};
use super::violation::{is_good_class_status, ProtocolViolation};
use super::{ScsiOutcome, Session, SessionError, SessionEvent, TaskFailure, TaskId, TaskState};

impl Session {
    pub(super) fn on_data_in(&mut self, pdu: DataIn) -> Result<(), SessionError> {
        self.window.update(pdu.exp_cmd_sn, pdu.max_cmd_sn);
        let tag = pdu.initiator_task_tag;
        let accepted = match self.tasks.get_mut(&tag) {
            None => return self.stray("Data-In", tag),
            Some(TaskState::Scsi(task)) => match &mut task.transfer {
                Transfer::Read(read) => read.accept(&pdu),
                _ => return self.wrong_pdu(tag, "Data-In"),
            },
            Some(_) => return self.wrong_pdu(tag, "Data-In"),
        };
        if let Err(violation) = accepted {
            return self.violation(tag, violation);
        }
        self.data_in_status(&pdu)
    }

    /// A Data-In whose data segment was received in place (see `inbound`): its task already
    /// took the checks and the bytes; the rest is as for any Data-In.
    pub(super) fn on_placed_data_in(&mut self, pdu: &DataIn) -> Result<(), SessionError> {
        self.window.update(pdu.exp_cmd_sn, pdu.max_cmd_sn);
        self.data_in_status(pdu)
    }

    /// The status a Data-In carries, if any, for a task whose data it delivered.
    fn data_in_status(&mut self, pdu: &DataIn) -> Result<(), SessionError> {
        let tag = pdu.initiator_task_tag;
        let Some(status) = pdu.status else {
            return Ok(());
        };
        self.window.acknowledge(status.stat_sn);
        if !is_good_class_status(status.status) {
            let violation = ProtocolViolation::StatusInDataIn {
                status: status.status,
            };
            return self.violation(tag, violation);
        }
        self.complete(tag, status.status, Bytes::new(), status.residual)
    }

    pub(super) fn on_scsi_response(&mut self, response: ScsiResponse) -> Result<(), SessionError> {
        let sequence = response.sequence;
        self.window.acknowledge(sequence.stat_sn);
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        let tag = response.initiator_task_tag;
        let counted = match self.tasks.get(&tag) {
            None => return self.stray("SCSI Response", tag),
            Some(TaskState::Scsi(task)) => task.data_pdu_count(),
            Some(_) => return self.wrong_pdu(tag, "SCSI Response"),
        };
        if response.response != 0 {
            // Target failure: status, residual and data are undefined (RFC 7143 §11.4.3).
            let outcome = ScsiOutcome {
                response: response.response,
                status: response.status,
                sense: Bytes::new(),
                residual: Residual::None,
                data: Bytes::new(),
            };
            self.tasks.remove(&tag);
            self.push_task_done(tag, Ok(outcome));
            return Ok(());
        }
        if response.exp_data_sn != 0 && response.exp_data_sn != counted {
            let violation = ProtocolViolation::ExpDataSnMismatch {
                reported: response.exp_data_sn,
                counted,
            };
            return self.violation(tag, violation);
        }
        let sense = Bytes::copy_from_slice(response.sense()?);
        self.complete(tag, response.status, sense, response.residual)
    }

    /// Accounts the bytes of a task whose status arrived, and reports it.
    fn complete(
        &mut self,
        tag: u32,
        status: u8,
        sense: Bytes,
        residual: Residual,
    ) -> Result<(), SessionError> {
        let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) else {
            return Ok(());
        };
        match task.finish(status, residual) {
            Ok((data, residual)) => {
                self.tasks.remove(&tag);
                let outcome = ScsiOutcome {
                    response: 0,
                    status,
                    sense,
                    residual,
                    data,
                };
                self.push_task_done(tag, Ok(outcome));
                Ok(())
            }
            Err(violation) => self.violation(tag, violation),
        }
    }

    pub(super) fn on_r2t(&mut self, r2t: ReadyToTransfer) -> Result<(), SessionError> {
        self.window
            .update(r2t.sequence.exp_cmd_sn, r2t.sequence.max_cmd_sn);
        let tag = r2t.initiator_task_tag;
        let (max_burst, max_outstanding) = (
            self.params.max_burst_length,
            self.params.max_outstanding_r2t,
        );
        let (lun, accepted) = match self.tasks.get_mut(&tag) {
            None => return self.stray("R2T", tag),
            Some(TaskState::Scsi(task)) => match &mut task.transfer {
                Transfer::Write(write) => {
                    (task.lun, write.accept_r2t(&r2t, max_burst, max_outstanding))
                }
                _ => return self.wrong_pdu(tag, "R2T"),
            },
            Some(_) => return self.wrong_pdu(tag, "R2T"),
        };
        match accepted {
            Ok(range) => {
                let run = DataOutRun::solicited(tag, lun, r2t.target_transfer_tag, range);
                self.queue(Outgoing::DataOut(run));
                Ok(())
            }
            Err(violation) => self.violation(tag, violation),
        }
    }

    pub(super) fn on_nop_in(&mut self, nop_in: NopIn) -> Result<(), SessionError> {
        let sequence = nop_in.sequence;
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        let tag = nop_in.initiator_task_tag;
        if tag != RESERVED_TAG {
            self.window.acknowledge(sequence.stat_sn);
            if self.ping.answered(tag) {
                return Ok(());
            }
            if self.tasks.contains_key(&tag) {
                return self.wrong_pdu(tag, "NOP-In");
            }
            return self.stray("NOP-In", tag);
        }
        if nop_in.target_transfer_tag == RESERVED_TAG {
            return Ok(());
        }
        // The target pings us: answer with its TTT, as an immediate NOP-Out, unless too many
        // answers already wait for the wire (a ping storm must not grow the queue).
        if self.stats.queued_nop_replies >= self.config.max_queued_nop_replies {
            self.stats.nop_replies_dropped += 1;
            debug!(
                ttt = nop_in.target_transfer_tag,
                "target ping left unanswered"
            );
            return Ok(());
        }
        self.stats.queued_nop_replies += 1;
        let mut data = nop_in.data;
        data.truncate(self.params.max_send_data_segment_length as usize);
        self.queue(Outgoing::Pdu(Pdu::NopOut(NopOut {
            immediate: true,
            lun: nop_in.lun,
            initiator_task_tag: RESERVED_TAG,
            target_transfer_tag: nop_in.target_transfer_tag,
            cmd_sn: self.window.cmd_sn,
            exp_stat_sn: self.window.exp_stat_sn,
            data,
        })));
        Ok(())
    }

    pub(super) fn on_management_response(
        &mut self,
        response: TaskManagementResponse,
    ) -> Result<(), SessionError> {
        let sequence = response.sequence;
        self.window.acknowledge(sequence.stat_sn);
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        let tag = response.initiator_task_tag;
        let (function, lun, referenced) = match self.tasks.get(&tag) {
            None => return self.stray("Task Management Response", tag),
            Some(TaskState::Management {
                function,
                lun,
                referenced,
            }) => (*function, *lun, *referenced),
            Some(_) => return self.wrong_pdu(tag, "Task Management Response"),
        };
        self.tasks.remove(&tag);
        self.management -= 1;
        if response.response == 0 {
            self.terminate_affected(function, lun, referenced);
        }
        self.events.push_back(SessionEvent::ManagementDone {
            id: TaskId(tag),
            response: Ok(response.response),
        });
        Ok(())
    }

    /// After a successful TMF the target sends nothing more for the tasks it terminated
    /// (RFC 7143 §4.2.3.3); they end here as aborted, and a late PDU for one is not a stray.
    fn terminate_affected(
        &mut self,
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<u32>,
    ) {
        use TaskManagementFunction as F;
        let mut affected: Vec<u32> = match function {
            F::AbortTask => referenced.into_iter().collect(),
            F::AbortTaskSet | F::ClearTaskSet | F::LogicalUnitReset => self.scsi_tags(Some(lun)),
            F::TargetWarmReset | F::TargetColdReset => self.scsi_tags(None),
            F::ClearAca | F::TaskReassign => Vec::new(),
        };
        affected.sort_unstable();
        for tag in affected {
            if matches!(self.tasks.get(&tag), Some(TaskState::Scsi(_))) {
                self.tasks.remove(&tag);
                self.tombstones.add(tag);
                self.push_task_done(tag, Err(TaskFailure::Aborted));
            }
        }
        // Commands of the reset LUNs still waiting for the window end too (as the Linux
        // initiator fails them): they belong to the task set the reset cleared.
        let lun = match function {
            F::AbortTaskSet | F::ClearTaskSet | F::LogicalUnitReset => Some(lun),
            F::TargetWarmReset | F::TargetColdReset => None,
            F::AbortTask | F::ClearAca | F::TaskReassign => return,
        };
        let (ended, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(_, request, _)| lun.is_none_or(|lun| lun == request.lun));
        self.waiting = kept;
        for (tag, _, _) in ended {
            self.tasks.release(tag);
            self.push_task_done(tag, Err(TaskFailure::Aborted));
        }
    }

    fn scsi_tags(&self, lun: Option<u64>) -> Vec<u32> {
        self.tasks
            .iter()
            .filter_map(|(tag, state)| match state {
                TaskState::Scsi(task) if lun.is_none_or(|lun| lun == task.lun) => Some(tag),
                _ => None,
            })
            .collect()
    }

    pub(super) fn on_logout_response(
        &mut self,
        response: LogoutResponse,
    ) -> Result<(), SessionError> {
        self.window.acknowledge(response.sequence.stat_sn);
        let sequence = response.sequence;
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        let tag = response.initiator_task_tag;
        match self.tasks.get(&tag) {
            None => return self.stray("Logout Response", tag),
            Some(TaskState::Logout) => {}
            Some(_) => return self.wrong_pdu(tag, "Logout Response"),
        }
        self.tasks.remove(&tag);
        self.logout = None;
        self.events.push_back(SessionEvent::LogoutDone {
            response: Ok(response.response),
        });
        Ok(())
    }

    pub(super) fn on_async(&mut self, message: pdu::AsyncMessage) {
        let sequence = message.sequence;
        self.window.acknowledge(sequence.stat_sn);
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        let event = match message.event {
            0 => {
                let sense = pdu::split_sense(&message.data).map(Bytes::copy_from_slice);
                SessionEvent::ScsiAsyncEvent {
                    lun: message.lun,
                    sense: sense.unwrap_or_default(),
                }
            }
            1 => SessionEvent::LogoutRequested {
                within_s: message.parameter3,
            },
            2 | 3 => SessionEvent::ConnectionDropAnnounced,
            other => {
                debug!(event = other, "asynchronous message ignored");
                return;
            }
        };
        self.events.push_back(event);
    }

    pub(super) fn on_reject(&mut self, reject: Reject) -> Result<(), SessionError> {
        let sequence = reject.sequence;
        self.window.acknowledge(sequence.stat_sn);
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        warn!(reason = reject.reason, opcode = ?reject.rejected_opcode(), "target rejected a PDU");
        let rejected = reject
            .rejected_task_tag()
            .filter(|tag| *tag != RESERVED_TAG && self.tasks.contains_key(tag));
        match rejected {
            Some(tag) => {
                self.end_task(tag, TaskFailure::Rejected(reject.reason));
                Ok(())
            }
            // A rejected Data-Out or unknown PDU with a protocol error: with ERL 0 the
            // connection cannot be repaired.
            None if reject.reason == 0x04 => Err(SessionError::ProtocolReject(reject.reason)),
            None => Ok(()),
        }
    }

    /// A PDU for a tag no task has: dropped, and counted unless task management ended that
    /// task; past `max_stray_pdus` the connection is dropped.
    fn stray(&mut self, pdu: &'static str, tag: u32) -> Result<(), SessionError> {
        if self.tombstones.contains(tag) {
            debug!(tag, pdu, "PDU for a task ended by task management; dropped");
            return Ok(());
        }
        self.stats.stray_pdus += 1;
        warn!(
            tag,
            pdu,
            count = self.stats.stray_pdus,
            "PDU for an unknown task tag"
        );
        if self.stats.stray_pdus > self.config.max_stray_pdus {
            return Err(SessionError::TooManyStrayPdus {
                limit: self.config.max_stray_pdus,
            });
        }
        Ok(())
    }

    /// A PDU of a type that task `tag` cannot receive.
    fn wrong_pdu(&mut self, tag: u32, pdu: &'static str) -> Result<(), SessionError> {
        let task = self.tasks.get(&tag).map_or("task", TaskState::kind);
        self.violation(tag, ProtocolViolation::WrongPduForTask { pdu, task })
    }

    /// Ends task `tag` with `violation`; a mid-stream violation ends the connection too.
    pub(super) fn violation(
        &mut self,
        tag: u32,
        violation: ProtocolViolation,
    ) -> Result<(), SessionError> {
        self.stats.violations += 1;
        warn!(tag, reason = violation.reason(), %violation, "iSCSI protocol violation");
        self.end_task(tag, TaskFailure::Protocol(violation));
        if violation.ends_connection() {
            return Err(SessionError::Violation { tag, violation });
        }
        Ok(())
    }
}
