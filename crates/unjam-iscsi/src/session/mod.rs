//! The full feature phase of one session over one connection (RFC 7143 §4, ErrorRecoveryLevel
//! 0), sans-I/O: tasks in, PDUs out; PDUs in, task outcomes out.
//!
//! ```text
//!  submit ─► waiting (bounded) ─► window open? ─► SCSI Command (+immediate, +unsolicited)
//!  handle_pdu: Data-In ─► read buffer │ R2T ─► Data-Out │ SCSI Response / S bit ─► TaskDone
//!              TMF Response ─► ManagementDone (+affected tasks Aborted) │ NOP-In │ Async │ Reject
//!  handle_timeout: NOP-Out ping / ping timeout ─► SessionError (connection failed)
//!  poll_transmit ─► bytes          poll_event ─► SessionEvent
//! ```
//!
//! Methods follow quinn-proto's taxonomy: getters; `handle_*(now, input)`; commands
//! (`submit`, `task_management`, `logout`); `poll_*` outputs drained after every input.
//! Owns tags, the command window, task data state and the ping timer. It never retries a
//! command: outcomes, including connection loss, go back to the caller.

mod ping;
mod task;
mod window;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, warn};

pub use ping::PingConfig;
pub use task::DataDirection;
pub use window::CommandWindow;

use crate::login::LoginOutcome;
use crate::params::OperationalParams;
use crate::pdu::{
    self, encode_pdu, DataIn, Digests, LogoutReason, LogoutRequest, NopIn, NopOut, Pdu, PduError,
    ReadyToTransfer, Reject, Residual, ScsiCommand, ScsiResponse, TaskAttribute,
    TaskManagementFunction, TaskManagementRequest, TaskManagementResponse, RESERVED_TAG,
};
use ping::{PingAction, PingTimer};
use task::{first_burst_split, DataOutSequence, ScsiTask, UNSOLICITED_TAG};

/// Bounds and timers of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Most tasks held at once, waiting for the window plus in flight.
    pub max_tasks: usize,
    /// Largest Expected Data Transfer Length accepted from a caller.
    pub max_transfer_length: u32,
    pub ping: PingConfig,
    /// `poll_transmit` stops adding PDUs once this many bytes are pending.
    pub transmit_chunk_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_tasks: 1024,
            max_transfer_length: 64 * 1024 * 1024,
            ping: PingConfig::default(),
            transmit_chunk_bytes: 1024 * 1024,
        }
    }
}

/// A SCSI command to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub lun: u64,
    pub cdb: Bytes,
    pub direction: DataDirection,
    pub attribute: TaskAttribute,
}

/// The Initiator Task Tag that names a task for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

/// What the target said about a completed SCSI command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiOutcome {
    /// iSCSI Response: 0x00 = command completed at target, 0x01 = target failure.
    pub response: u8,
    pub status: u8,
    pub sense: Bytes,
    pub residual: Residual,
    /// Data read (empty for writes and non-data commands).
    pub data: Bytes,
}

/// Why a task ended without a SCSI status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TaskFailure {
    #[error("task aborted by a task management function")]
    Aborted,
    #[error("target rejected the command (reason {0:#04x})")]
    Rejected(u8),
    /// The connection failed; `sent` says whether the target may have seen the command.
    #[error("connection lost")]
    ConnectionLost { sent: bool },
}

/// Why a request could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("task queue full ({0} tasks)")]
    QueueFull(usize),
    #[error("CDB of {0} bytes is empty or longer than 16 bytes")]
    BadCdbLength(usize),
    #[error("transfer of {length} bytes exceeds the limit of {limit}")]
    TransferTooLong { length: u64, limit: u32 },
    #[error("session is logging out")]
    LoggingOut,
}

/// A failure that ends the connection (ErrorRecoveryLevel 0 has no finer recovery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("PDU: {0}")]
    Pdu(#[from] PduError),
    #[error("unexpected {0} PDU in the full feature phase")]
    UnexpectedPdu(&'static str),
    #[error("Data-In out of order: expected DataSN {expected}, received {received}")]
    DataSequence { expected: u32, received: u32 },
    #[error("Data-In of {length} bytes at offset {offset} outside the {buffer}-byte buffer")]
    DataOutOfRange {
        offset: u32,
        length: usize,
        buffer: usize,
    },
    #[error("R2T for {length} bytes at offset {offset} outside the {buffer}-byte write")]
    R2tOutOfRange {
        offset: u32,
        length: u32,
        buffer: usize,
    },
    #[error("no NOP-In answer within the ping timeout")]
    PingTimeout,
    #[error("target rejected a PDU with a protocol error (reason {0:#04x})")]
    ProtocolReject(u8),
}

/// Outputs of the session, drained with [`Session::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    TaskDone {
        id: TaskId,
        result: Result<ScsiOutcome, TaskFailure>,
    },
    /// A task management function finished with this RFC 7143 §11.6.1 response code.
    ManagementDone {
        id: TaskId,
        response: u8,
    },
    /// The target asked us to log out within this many seconds (AsyncEvent 1).
    LogoutRequested {
        within_s: u16,
    },
    /// The target will drop the connection (AsyncEvent 2 or 3).
    ConnectionDropAnnounced,
    /// A SCSI asynchronous event (AsyncEvent 0) with its sense data.
    ScsiAsyncEvent {
        lun: u64,
        sense: Bytes,
    },
    LogoutDone {
        response: u8,
    },
}

#[derive(Debug)]
enum TaskState {
    Scsi(ScsiTask),
    Management {
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<u32>,
    },
    Logout,
}

/// One session in the full feature phase.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    params: OperationalParams,
    window: CommandWindow,
    next_tag: u32,
    waiting: VecDeque<(u32, TaskRequest)>,
    tasks: HashMap<u32, TaskState>,
    outgoing: VecDeque<Pdu>,
    events: VecDeque<SessionEvent>,
    ping: PingTimer,
    logging_out: bool,
}

impl Session {
    /// A session that starts where `login` left off.
    pub fn new(login: &LoginOutcome, config: SessionConfig, now: Instant) -> Session {
        Session {
            config,
            params: login.params,
            window: CommandWindow::new(
                login.cmd_sn,
                login.exp_cmd_sn,
                login.max_cmd_sn,
                login.next_stat_sn,
            ),
            next_tag: 1,
            waiting: VecDeque::new(),
            tasks: HashMap::new(),
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            ping: PingTimer::new(config.ping, now),
            logging_out: false,
        }
    }

    // ---- getters ----

    pub fn params(&self) -> &OperationalParams {
        &self.params
    }

    pub fn window(&self) -> CommandWindow {
        self.window
    }

    /// Digests in force on the connection.
    pub fn digests(&self) -> Digests {
        Digests {
            header: self.params.header_digest,
            data: self.params.data_digest,
        }
    }

    /// Tasks waiting for the window plus tasks in flight.
    pub fn task_count(&self) -> usize {
        self.waiting.len() + self.tasks.len()
    }

    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    // ---- commands ----

    /// Queues a SCSI command; it is sent as soon as the CmdSN window allows.
    pub fn submit(&mut self, request: TaskRequest) -> Result<TaskId, SubmitError> {
        if self.logging_out {
            return Err(SubmitError::LoggingOut);
        }
        if self.task_count() >= self.config.max_tasks {
            return Err(SubmitError::QueueFull(self.config.max_tasks));
        }
        if request.cdb.is_empty() || request.cdb.len() > pdu::MAX_BHS_CDB_LENGTH {
            return Err(SubmitError::BadCdbLength(request.cdb.len()));
        }
        let length = match &request.direction {
            DataDirection::Write { data } => data.len() as u64,
            other => u64::from(other.length()),
        };
        if length > u64::from(self.config.max_transfer_length) {
            return Err(SubmitError::TransferTooLong {
                length,
                limit: self.config.max_transfer_length,
            });
        }
        let tag = self.allocate_tag();
        self.waiting.push_back((tag, request));
        self.send_waiting();
        Ok(TaskId(tag))
    }

    /// Sends a task management function as an immediate command. `referenced` names the task
    /// for ABORT TASK. A referenced task that has not been sent yet is dropped locally.
    pub fn task_management(
        &mut self,
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<TaskId>,
    ) -> TaskId {
        let tag = self.allocate_tag();
        let mut ref_cmd_sn = self.window.cmd_sn;
        if let Some(TaskId(referenced_tag)) = referenced {
            if let Some(position) = self.waiting.iter().position(|(t, _)| *t == referenced_tag) {
                self.waiting.remove(position);
                self.finish_task(referenced_tag, Err(TaskFailure::Aborted));
                self.events.push_back(SessionEvent::ManagementDone {
                    id: TaskId(tag),
                    response: 0,
                });
                return TaskId(tag);
            }
            if let Some(TaskState::Scsi(task)) = self.tasks.get(&referenced_tag) {
                ref_cmd_sn = task.cmd_sn;
            }
        }
        self.tasks.insert(
            tag,
            TaskState::Management {
                function,
                lun,
                referenced: referenced.map(|id| id.0),
            },
        );
        self.outgoing
            .push_back(Pdu::TaskManagementRequest(TaskManagementRequest {
                immediate: true,
                function,
                lun,
                initiator_task_tag: tag,
                referenced_task_tag: referenced.map_or(RESERVED_TAG, |id| id.0),
                cmd_sn: self.window.cmd_sn,
                exp_stat_sn: self.window.exp_stat_sn,
                ref_cmd_sn,
                exp_data_sn: 0,
            }));
        TaskId(tag)
    }

    /// Starts a session logout; new submissions are refused from now on.
    pub fn logout(&mut self) -> TaskId {
        self.logging_out = true;
        let tag = self.allocate_tag();
        self.tasks.insert(tag, TaskState::Logout);
        self.outgoing.push_back(Pdu::LogoutRequest(LogoutRequest {
            immediate: true,
            reason: LogoutReason::CloseSession,
            initiator_task_tag: tag,
            cid: 0,
            cmd_sn: self.window.cmd_sn,
            exp_stat_sn: self.window.exp_stat_sn,
        }));
        TaskId(tag)
    }

    /// The connection is gone: every task ends with `ConnectionLost` (in tag order, so the
    /// result is deterministic) and the session is unusable afterwards.
    pub fn fail_all(&mut self) {
        let waiting: Vec<u32> = self.waiting.drain(..).map(|(tag, _)| tag).collect();
        let mut sent: Vec<u32> = self.tasks.keys().copied().collect();
        sent.sort_unstable();
        for tag in sent {
            self.finish_task(tag, Err(TaskFailure::ConnectionLost { sent: true }));
        }
        for tag in waiting {
            self.events.push_back(SessionEvent::TaskDone {
                id: TaskId(tag),
                result: Err(TaskFailure::ConnectionLost { sent: false }),
            });
        }
        self.outgoing.clear();
    }

    // ---- inputs ----

    /// Consumes one PDU from the target. An error means the connection must be dropped.
    pub fn handle_pdu(&mut self, now: Instant, pdu: Pdu) -> Result<(), SessionError> {
        self.ping.received(now);
        match pdu {
            Pdu::DataIn(data_in) => self.on_data_in(data_in)?,
            Pdu::ScsiResponse(response) => self.on_scsi_response(response)?,
            Pdu::ReadyToTransfer(r2t) => self.on_r2t(r2t)?,
            Pdu::NopIn(nop_in) => self.on_nop_in(nop_in),
            Pdu::TaskManagementResponse(response) => self.on_management_response(response),
            Pdu::AsyncMessage(message) => self.on_async(message),
            Pdu::Reject(reject) => self.on_reject(reject)?,
            Pdu::LogoutResponse(response) => {
                self.window.acknowledge(response.sequence.stat_sn);
                self.window
                    .update(response.sequence.exp_cmd_sn, response.sequence.max_cmd_sn);
                self.tasks.remove(&response.initiator_task_tag);
                self.events.push_back(SessionEvent::LogoutDone {
                    response: response.response,
                });
            }
            Pdu::TextResponse(_) => return Err(SessionError::UnexpectedPdu("Text Response")),
            Pdu::LoginResponse(_) => return Err(SessionError::UnexpectedPdu("Login Response")),
            _ => return Err(SessionError::UnexpectedPdu("initiator-only")),
        }
        self.send_waiting();
        Ok(())
    }

    /// Runs the ping timer. An error means the connection must be dropped.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        match self.ping.on_timeout(now) {
            PingAction::Nothing => Ok(()),
            PingAction::TimedOut => Err(SessionError::PingTimeout),
            PingAction::SendPing => {
                let tag = self.allocate_tag();
                self.ping.sent(tag, now);
                self.outgoing.push_back(Pdu::NopOut(NopOut {
                    immediate: true,
                    lun: 0,
                    initiator_task_tag: tag,
                    target_transfer_tag: RESERVED_TAG,
                    cmd_sn: self.window.cmd_sn,
                    exp_stat_sn: self.window.exp_stat_sn,
                    data: Bytes::new(),
                }));
                Ok(())
            }
        }
    }

    // ---- outputs ----

    /// The next instant `handle_timeout` wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ping.deadline()
    }

    /// Encodes pending PDUs into `out`, up to about `transmit_chunk_bytes`. Returns whether
    /// PDUs remain for a later call.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Result<bool, PduError> {
        let digests = self.digests();
        while out.len() < self.config.transmit_chunk_bytes {
            let Some(pdu) = self.outgoing.pop_front() else {
                return Ok(false);
            };
            encode_pdu(&pdu, digests, out)?;
        }
        Ok(!self.outgoing.is_empty())
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    // ---- internals ----

    fn allocate_tag(&mut self) -> u32 {
        loop {
            let tag = self.next_tag;
            self.next_tag = self.next_tag.wrapping_add(1);
            let in_use =
                self.tasks.contains_key(&tag) || self.waiting.iter().any(|(t, _)| *t == tag);
            if tag != RESERVED_TAG && !in_use {
                return tag;
            }
        }
    }

    fn send_waiting(&mut self) {
        while self.window.is_open() {
            let Some((tag, request)) = self.waiting.pop_front() else {
                return;
            };
            self.send_command(tag, &request);
        }
    }

    fn send_command(&mut self, tag: u32, request: &TaskRequest) {
        let cmd_sn = self.window.take_cmd_sn();
        let task = ScsiTask::new(request, cmd_sn);
        let write_length = task.write_data.len();
        let (immediate, unsolicited) = first_burst_split(
            write_length,
            self.params.immediate_data,
            self.params.initial_r2t,
            self.params.first_burst_length,
            self.params.max_send_data_segment_length,
        );
        let mut cdb = [0u8; pdu::MAX_BHS_CDB_LENGTH];
        // `submit` checked 1..=16 bytes.
        if let Some(slot) = cdb.get_mut(..request.cdb.len()) {
            slot.copy_from_slice(&request.cdb);
        }
        self.outgoing.push_back(Pdu::ScsiCommand(ScsiCommand {
            immediate: false,
            final_pdu: unsolicited == 0,
            read: matches!(request.direction, DataDirection::Read { .. }),
            write: matches!(request.direction, DataDirection::Write { .. }),
            attribute: request.attribute,
            lun: request.lun,
            initiator_task_tag: tag,
            expected_data_transfer_length: request.direction.length(),
            cmd_sn,
            exp_stat_sn: self.window.exp_stat_sn,
            cdb,
            data: task.write_data.slice(..immediate),
        }));
        if unsolicited > 0 {
            let sequence = DataOutSequence {
                lun: request.lun,
                initiator_task_tag: tag,
                target_transfer_tag: UNSOLICITED_TAG,
                exp_stat_sn: self.window.exp_stat_sn,
                data: &task.write_data,
                offset: immediate,
                length: unsolicited,
                max_segment: self.params.max_send_data_segment_length as usize,
            };
            let mut pdus = Vec::new();
            sequence.emit(&mut pdus);
            self.outgoing.extend(pdus.into_iter().map(Pdu::DataOut));
        }
        self.tasks.insert(tag, TaskState::Scsi(task));
    }

    fn on_data_in(&mut self, data_in: DataIn) -> Result<(), SessionError> {
        self.window.update(data_in.exp_cmd_sn, data_in.max_cmd_sn);
        let tag = data_in.initiator_task_tag;
        let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) else {
            debug!(tag, "Data-In for a task no longer outstanding; dropped");
            return Ok(());
        };
        task.accept_data_in(&data_in)?;
        let Some(status) = data_in.status else {
            return Ok(());
        };
        self.window.acknowledge(status.stat_sn);
        let data = task.take_read_data();
        let outcome = ScsiOutcome {
            response: 0,
            status: status.status,
            sense: Bytes::new(),
            residual: status.residual,
            data,
        };
        self.finish_task(tag, Ok(outcome));
        Ok(())
    }

    fn on_scsi_response(&mut self, response: ScsiResponse) -> Result<(), SessionError> {
        let sequence = response.sequence;
        self.window.acknowledge(sequence.stat_sn);
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        let tag = response.initiator_task_tag;
        let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) else {
            debug!(
                tag,
                "SCSI Response for a task no longer outstanding; dropped"
            );
            return Ok(());
        };
        let sense = Bytes::copy_from_slice(response.sense()?);
        let outcome = ScsiOutcome {
            response: response.response,
            status: response.status,
            sense,
            residual: response.residual,
            data: task.take_read_data(),
        };
        self.finish_task(tag, Ok(outcome));
        Ok(())
    }

    fn on_r2t(&mut self, r2t: ReadyToTransfer) -> Result<(), SessionError> {
        self.window
            .update(r2t.sequence.exp_cmd_sn, r2t.sequence.max_cmd_sn);
        let tag = r2t.initiator_task_tag;
        let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) else {
            debug!(tag, "R2T for a task no longer outstanding; dropped");
            return Ok(());
        };
        task.check_r2t(&r2t, self.params.max_burst_length)?;
        let sequence = DataOutSequence {
            lun: task.lun,
            initiator_task_tag: tag,
            target_transfer_tag: r2t.target_transfer_tag,
            exp_stat_sn: self.window.exp_stat_sn,
            data: &task.write_data,
            offset: r2t.buffer_offset as usize,
            length: r2t.desired_data_transfer_length as usize,
            max_segment: self.params.max_send_data_segment_length as usize,
        };
        let mut pdus = Vec::new();
        sequence.emit(&mut pdus);
        self.outgoing.extend(pdus.into_iter().map(Pdu::DataOut));
        Ok(())
    }

    fn on_nop_in(&mut self, nop_in: NopIn) {
        self.window
            .update(nop_in.sequence.exp_cmd_sn, nop_in.sequence.max_cmd_sn);
        if nop_in.initiator_task_tag != RESERVED_TAG {
            self.window.acknowledge(nop_in.sequence.stat_sn);
            self.ping.answered(nop_in.initiator_task_tag);
            return;
        }
        if nop_in.target_transfer_tag == RESERVED_TAG {
            return;
        }
        // The target pings us: answer with its TTT, as an immediate NOP-Out.
        let mut data = nop_in.data;
        data.truncate(self.params.max_send_data_segment_length as usize);
        self.outgoing.push_back(Pdu::NopOut(NopOut {
            immediate: true,
            lun: nop_in.lun,
            initiator_task_tag: RESERVED_TAG,
            target_transfer_tag: nop_in.target_transfer_tag,
            cmd_sn: self.window.cmd_sn,
            exp_stat_sn: self.window.exp_stat_sn,
            data,
        }));
    }

    fn on_management_response(&mut self, response: TaskManagementResponse) {
        let sequence = response.sequence;
        self.window.acknowledge(sequence.stat_sn);
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        let tag = response.initiator_task_tag;
        let Some(TaskState::Management {
            function,
            lun,
            referenced,
        }) = self.tasks.remove(&tag)
        else {
            debug!(tag, "TMF Response for an unknown tag; dropped");
            return;
        };
        if response.response == 0 {
            self.terminate_affected(function, lun, referenced);
        }
        self.events.push_back(SessionEvent::ManagementDone {
            id: TaskId(tag),
            response: response.response,
        });
    }

    /// After a successful TMF the target sends nothing more for the tasks it terminated
    /// (RFC 7143 §4.2.3.3); they end here as aborted.
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
                self.finish_task(tag, Err(TaskFailure::Aborted));
            }
        }
    }

    fn scsi_tags(&self, lun: Option<u64>) -> Vec<u32> {
        self.tasks
            .iter()
            .filter_map(|(tag, state)| match state {
                TaskState::Scsi(task) if lun.is_none_or(|lun| lun == task.lun) => Some(*tag),
                _ => None,
            })
            .collect()
    }

    fn on_async(&mut self, message: pdu::AsyncMessage) {
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

    fn on_reject(&mut self, reject: Reject) -> Result<(), SessionError> {
        let sequence = reject.sequence;
        self.window.acknowledge(sequence.stat_sn);
        self.window.update(sequence.exp_cmd_sn, sequence.max_cmd_sn);
        warn!(reason = reject.reason, opcode = ?reject.rejected_opcode(), "target rejected a PDU");
        let rejected = reject
            .rejected_task_tag()
            .filter(|tag| *tag != RESERVED_TAG);
        match rejected.and_then(|tag| self.tasks.get(&tag).map(|_| tag)) {
            Some(tag) => {
                match self.tasks.get(&tag) {
                    Some(TaskState::Scsi(_)) => {
                        self.finish_task(tag, Err(TaskFailure::Rejected(reject.reason)))
                    }
                    Some(TaskState::Management { .. }) => {
                        self.tasks.remove(&tag);
                        self.events.push_back(SessionEvent::ManagementDone {
                            id: TaskId(tag),
                            response: 255,
                        });
                    }
                    _ => {}
                }
                Ok(())
            }
            // A rejected Data-Out or unknown PDU with a protocol error: with ERL 0 the
            // connection cannot be repaired.
            None if reject.reason == 0x04 => Err(SessionError::ProtocolReject(reject.reason)),
            None => Ok(()),
        }
    }

    fn finish_task(&mut self, tag: u32, result: Result<ScsiOutcome, TaskFailure>) {
        if let Some(state) = self.tasks.remove(&tag) {
            let result = match (state, result) {
                (TaskState::Scsi(_), result) => result,
                (TaskState::Management { .. }, _) => {
                    self.events.push_back(SessionEvent::ManagementDone {
                        id: TaskId(tag),
                        response: 255,
                    });
                    return;
                }
                (TaskState::Logout, _) => {
                    self.events
                        .push_back(SessionEvent::LogoutDone { response: 255 });
                    return;
                }
            };
            self.events.push_back(SessionEvent::TaskDone {
                id: TaskId(tag),
                result,
            });
            return;
        }
        // A task dropped before it was sent (ABORT TASK on a waiting task).
        self.events.push_back(SessionEvent::TaskDone {
            id: TaskId(tag),
            result,
        });
    }
}
