//! The full feature phase of one session over one connection (RFC 7143 §4, ErrorRecoveryLevel
//! 0), sans-I/O: tasks in, PDUs out; PDUs in, task outcomes out.
//!
//! ```text
//!  submit ─► waiting (bounded) ─► window open? ─► SCSI Command (+immediate, +unsolicited run)
//!  handle_pdu: Data-In ─► read buffer (in order) │ R2T ─► Data-Out run │ status ─► accounting
//!              ─► TaskDone │ TMF Response ─► ManagementDone (+affected tasks Aborted)
//!              NOP-In │ Async │ Reject │ Logout Response │ unknown tag ─► stray (bounded)
//!  handle_timeout: NOP-Out ping / ping timeout / logout timeout ─► SessionError
//!  poll_transmit ─► bytes (Data-Out cut lazily)          poll_event ─► SessionEvent
//! ```
//!
//! Methods follow quinn-proto's taxonomy: getters; `handle_*(now, input)`; commands
//! (`submit`, `task_management`, `logout`); `poll_*` outputs drained after every input.
//! Owns tags, the command window, task data accounting (see `violation` for what is checked
//! and what a violation costs), the send queue and the ping and logout timers. Every queue is
//! bounded: tasks by `max_tasks`, task management by `max_management_tasks`, answers to target
//! pings by `max_queued_nop_replies`, Data-Out by the R2T rules. It never retries a command:
//! outcomes, including connection loss, go back to the caller.

mod inbound;
mod ping;
mod receive;
mod table;
mod task;
mod tombstones;
mod transmit;
mod types;
mod violation;
mod window;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use inbound::{PlacedRead, ReadTarget};
pub use ping::PingConfig;
pub use task::DataDirection;
pub use types::{
    ScsiOutcome, SessionConfig, SessionError, SessionEvent, SessionStats, SubmitError, TaskFailure,
    TaskId, TaskRequest,
};
pub use violation::{is_good_class_status, ProtocolViolation};
pub use window::CommandWindow;

use crate::login::LoginOutcome;
use crate::params::OperationalParams;
use crate::pdu::{
    self, Digests, LogoutReason, LogoutRequest, NopOut, Pdu, ScsiCommand, TaskManagementFunction,
    TaskManagementRequest, RESERVED_TAG,
};
use inbound::Inbound;
use ping::{PingAction, PingTimer};
use table::TaskTable;
use task::{first_burst_split, ScsiTask};
use tombstones::Tombstones;
use transmit::{DataOutRun, Outgoing};

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

impl TaskState {
    fn kind(&self) -> &'static str {
        match self {
            TaskState::Scsi(task) => task.kind(),
            TaskState::Management { .. } => "task management function",
            TaskState::Logout => "logout",
        }
    }
}

/// One session in the full feature phase.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    params: OperationalParams,
    window: CommandWindow,
    next_tag: u32,
    waiting: VecDeque<(u32, TaskRequest, BytesMut)>,
    /// Sent tasks by the Initiator Task Tags this session hands out (and the tags of
    /// `waiting` commands, reserved).
    tasks: TaskTable,
    management: usize,
    outgoing: VecDeque<Outgoing>,
    events: VecDeque<SessionEvent>,
    ping: PingTimer,
    logging_out: bool,
    /// The Logout task and its deadline while it waits for a response.
    logout: Option<(u32, Instant)>,
    /// Tags of tasks ended by task management: late PDUs for them are expected, not strays.
    tombstones: Tombstones,
    /// A Data-In being received in place, and how the next read is sized.
    inbound: Inbound,
    stats: SessionStats,
}

impl Session {
    /// A session that starts where `login` left off.
    pub fn new(login: &LoginOutcome, config: SessionConfig, now: Instant) -> Session {
        // unjam always offers DataPDUInOrder=Yes and DataSequenceInOrder=Yes, and the result
        // function is OR: the accounting below relies on it.
        assert!(login.params.data_pdu_in_order && login.params.data_sequence_in_order);
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
            // SCSI tasks, task management functions and the logout.
            tasks: TaskTable::new(
                config
                    .max_tasks
                    .saturating_add(config.max_management_tasks)
                    .saturating_add(1),
            ),
            management: 0,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            ping: PingTimer::new(config.ping, now),
            logging_out: false,
            logout: None,
            tombstones: Tombstones::new(config.max_tasks),
            inbound: Inbound::default(),
            stats: SessionStats::default(),
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

    /// SCSI tasks waiting for the window plus tasks in flight.
    pub fn task_count(&self) -> usize {
        self.waiting.len() + self.scsi_in_flight()
    }

    /// Slots for live tasks: every task this session has not ended (waiting, in flight, task
    /// management, logout) has its own [`Session::task_slot`] below this, so a caller can keep
    /// per-task data in a plain array instead of a map keyed by tag.
    pub fn task_slots(&self) -> usize {
        self.tasks.slot_count()
    }

    /// The slot of a task (see [`Session::task_slots`]); only one live task holds it.
    pub fn task_slot(&self, id: TaskId) -> usize {
        self.tasks.slot_of(id.0)
    }

    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    pub fn stats(&self) -> SessionStats {
        SessionStats {
            in_flight: self.scsi_in_flight(),
            waiting: self.waiting.len(),
            management: self.management,
            outgoing: self.outgoing.len(),
            ..self.stats
        }
    }

    /// A command, task management function or logout waits for the target's answer (the
    /// ping timer is stricter then: a silent connection stalls I/O).
    fn busy(&self) -> bool {
        !self.tasks.is_empty()
    }

    fn scsi_in_flight(&self) -> usize {
        let logout = usize::from(self.logout.is_some());
        self.tasks.len() - self.management - logout
    }

    // ---- commands ----

    /// Queues a SCSI command; it is sent as soon as the CmdSN window allows.
    pub fn submit(&mut self, request: TaskRequest) -> Result<TaskId, SubmitError> {
        self.submit_into(request, BytesMut::new())
    }

    /// [`Session::submit`] with the buffer a read's data goes into: its contents are
    /// overwritten, and it is cut or grown (the new bytes zeroed) to the transfer's length.
    /// A caller that hands back the buffer of its last read of that length
    /// (`Bytes::try_into_mut` on the outcome's data, whose length is its capacity) reads
    /// without allocating, zeroing or touching fresh pages.
    pub fn submit_into(
        &mut self,
        request: TaskRequest,
        read_buffer: BytesMut,
    ) -> Result<TaskId, SubmitError> {
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
        if self.waiting.is_empty() && self.window.is_open() {
            // Nothing queued ahead of it: straight out, without a trip through `waiting`.
            self.send_command(tag, &request, read_buffer);
        } else {
            self.tasks.reserve(tag);
            self.waiting.push_back((tag, request, read_buffer));
            self.send_waiting();
        }
        Ok(TaskId(tag))
    }

    /// Sends a task management function as an immediate command. `referenced` names the task
    /// for ABORT TASK. A referenced task that has not been sent yet is dropped locally.
    pub fn task_management(
        &mut self,
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<TaskId>,
    ) -> Result<TaskId, SubmitError> {
        if self.logging_out {
            return Err(SubmitError::LoggingOut);
        }
        if self.management >= self.config.max_management_tasks {
            return Err(SubmitError::ManagementQueueFull(
                self.config.max_management_tasks,
            ));
        }
        let tag = self.allocate_tag();
        let mut ref_cmd_sn = self.window.cmd_sn;
        if let Some(TaskId(referenced_tag)) = referenced {
            if let Some(position) = self
                .waiting
                .iter()
                .position(|(t, _, _)| *t == referenced_tag)
            {
                self.waiting.remove(position);
                self.tasks.release(referenced_tag);
                self.push_task_done(referenced_tag, Err(TaskFailure::Aborted));
                self.events.push_back(SessionEvent::ManagementDone {
                    id: TaskId(tag),
                    response: Ok(0),
                });
                return Ok(TaskId(tag));
            }
            if let Some(TaskState::Scsi(task)) = self.tasks.get(&referenced_tag) {
                ref_cmd_sn = task.cmd_sn;
            }
        }
        let referenced = referenced.map(|id| id.0);
        let state = TaskState::Management {
            function,
            lun,
            referenced,
        };
        self.tasks.insert(tag, state);
        self.management += 1;
        let request = TaskManagementRequest {
            immediate: true,
            function,
            lun,
            initiator_task_tag: tag,
            referenced_task_tag: referenced.unwrap_or(RESERVED_TAG),
            cmd_sn: self.window.cmd_sn,
            exp_stat_sn: self.window.exp_stat_sn,
            ref_cmd_sn,
            exp_data_sn: 0,
        };
        self.queue(Outgoing::Pdu(Pdu::TaskManagementRequest(request)));
        Ok(TaskId(tag))
    }

    /// Starts a session logout (once; later calls return the same task); new submissions are
    /// refused from now on, and the response must come within `logout_timeout`.
    pub fn logout(&mut self, now: Instant) -> TaskId {
        if let Some((tag, _)) = self.logout {
            return TaskId(tag);
        }
        self.logging_out = true;
        let tag = self.allocate_tag();
        self.tasks.insert(tag, TaskState::Logout);
        self.logout = Some((tag, now + self.config.logout_timeout));
        self.queue(Outgoing::Pdu(Pdu::LogoutRequest(LogoutRequest {
            immediate: true,
            reason: LogoutReason::CloseSession,
            initiator_task_tag: tag,
            cid: 0,
            cmd_sn: self.window.cmd_sn,
            exp_stat_sn: self.window.exp_stat_sn,
        })));
        TaskId(tag)
    }

    /// The connection is gone: every task ends with `ConnectionLost` (in tag order, so the
    /// result is deterministic) and the session is unusable afterwards.
    pub fn fail_all(&mut self) {
        self.drop_placement();
        let waiting: Vec<u32> = self.waiting.drain(..).map(|(tag, _, _)| tag).collect();
        for tag in &waiting {
            self.tasks.release(*tag);
        }
        let mut sent: Vec<u32> = self.tasks.iter().map(|(tag, _)| tag).collect();
        sent.sort_unstable();
        for tag in sent {
            self.end_task(tag, TaskFailure::ConnectionLost { sent: true });
        }
        for tag in waiting {
            self.push_task_done(tag, Err(TaskFailure::ConnectionLost { sent: false }));
        }
        self.outgoing.clear();
        self.stats.queued_nop_replies = 0;
    }

    // ---- inputs ----

    /// Consumes one PDU from the target. An error means the connection must be dropped (any
    /// task it concerns has already ended).
    pub fn handle_pdu(&mut self, now: Instant, pdu: Pdu) -> Result<(), SessionError> {
        self.ping.received(now);
        let result = match pdu {
            Pdu::DataIn(data_in) => self.on_data_in(data_in),
            Pdu::ScsiResponse(response) => self.on_scsi_response(response),
            Pdu::ReadyToTransfer(r2t) => self.on_r2t(r2t),
            Pdu::NopIn(nop_in) => self.on_nop_in(nop_in),
            Pdu::TaskManagementResponse(response) => self.on_management_response(response),
            Pdu::AsyncMessage(message) => {
                self.on_async(message);
                Ok(())
            }
            Pdu::Reject(reject) => self.on_reject(reject),
            Pdu::LogoutResponse(response) => self.on_logout_response(response),
            Pdu::TextResponse(_) => Err(SessionError::UnexpectedPdu("Text Response")),
            Pdu::LoginResponse(_) => Err(SessionError::UnexpectedPdu("Login Response")),
            _ => Err(SessionError::UnexpectedPdu("initiator-only")),
        };
        self.send_waiting();
        result
    }

    /// Runs the ping and logout timers. An error means the connection must be dropped.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.logout.is_some_and(|(_, deadline)| now >= deadline) {
            return Err(SessionError::LogoutTimeout);
        }
        match self.ping.on_timeout(now, self.busy()) {
            PingAction::Nothing => Ok(()),
            PingAction::TimedOut => Err(SessionError::PingTimeout),
            PingAction::SendPing => {
                let tag = self.allocate_tag();
                self.ping.sent(tag, now);
                self.queue(Outgoing::Pdu(Pdu::NopOut(NopOut {
                    immediate: true,
                    lun: 0,
                    initiator_task_tag: tag,
                    target_transfer_tag: RESERVED_TAG,
                    cmd_sn: self.window.cmd_sn,
                    exp_stat_sn: self.window.exp_stat_sn,
                    data: Bytes::new(),
                })));
                Ok(())
            }
        }
    }

    // ---- outputs ----

    /// The next instant `handle_timeout` wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let logout = self.logout.map(|(_, deadline)| deadline);
        match (self.ping.deadline(self.busy()), logout) {
            (Some(ping), Some(logout)) => Some(ping.min(logout)),
            (ping, logout) => ping.or(logout),
        }
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Whether [`Session::poll_event`] has an event: a cheap look for a driver that polls
    /// after every input and mostly finds nothing.
    #[inline]
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// Whether [`Session::poll_transmit`] has anything to encode (the same kind of look).
    #[inline]
    pub fn has_transmit(&self) -> bool {
        !self.outgoing.is_empty()
    }

    // ---- internals ----

    /// The next tag in sequence whose slot is free. Callers checked the task bounds, so at
    /// least half of the slots are free and the search ends.
    fn allocate_tag(&mut self) -> u32 {
        for _ in 0..=self.tasks.slot_count() {
            let tag = self.next_tag;
            self.next_tag = self.next_tag.wrapping_add(1);
            if tag != RESERVED_TAG && self.tasks.is_free(tag) {
                return tag;
            }
        }
        unreachable!("no free task slot within the task bounds")
    }

    fn send_waiting(&mut self) {
        while self.window.is_open() {
            let Some((tag, request, read_buffer)) = self.waiting.pop_front() else {
                return;
            };
            self.send_command(tag, &request, read_buffer);
        }
    }

    fn send_command(&mut self, tag: u32, request: &TaskRequest, read_buffer: BytesMut) {
        let cmd_sn = self.window.take_cmd_sn();
        let write_data = match &request.direction {
            DataDirection::Write { data } => data.clone(),
            _ => Bytes::new(),
        };
        let (immediate, unsolicited) = first_burst_split(
            write_data.len(),
            self.params.immediate_data,
            self.params.initial_r2t,
            self.params.first_burst_length,
            self.params.max_send_data_segment_length,
        );
        let first_burst = u32::try_from(immediate + unsolicited).unwrap_or(u32::MAX);
        let task = ScsiTask::new(request, cmd_sn, first_burst, read_buffer);
        let mut cdb = [0u8; pdu::MAX_BHS_CDB_LENGTH];
        // `submit` checked 1..=16 bytes.
        if let Some(slot) = cdb.get_mut(..request.cdb.len()) {
            slot.copy_from_slice(&request.cdb);
        }
        self.queue(Outgoing::Pdu(Pdu::ScsiCommand(ScsiCommand {
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
            data: write_data.slice(..immediate),
        })));
        if unsolicited > 0 {
            self.queue(Outgoing::DataOut(DataOutRun::unsolicited(
                tag,
                request.lun,
                immediate,
                first_burst,
            )));
        }
        self.tasks.insert(tag, TaskState::Scsi(task));
    }

    fn queue(&mut self, item: Outgoing) {
        self.outgoing.push_back(item);
        self.stats.outgoing_high_water = self.stats.outgoing_high_water.max(self.outgoing.len());
    }

    /// Ends whatever task `tag` names with `failure` and reports it.
    fn end_task(&mut self, tag: u32, failure: TaskFailure) {
        match self.tasks.remove(&tag) {
            Some(TaskState::Scsi(_)) => self.push_task_done(tag, Err(failure)),
            Some(TaskState::Management { .. }) => {
                self.management -= 1;
                self.events.push_back(SessionEvent::ManagementDone {
                    id: TaskId(tag),
                    response: Err(failure),
                });
            }
            Some(TaskState::Logout) => {
                self.logout = None;
                let response = Err(failure);
                self.events.push_back(SessionEvent::LogoutDone { response });
            }
            None => {}
        }
    }

    fn push_task_done(&mut self, tag: u32, result: Result<ScsiOutcome, TaskFailure>) {
        self.events.push_back(SessionEvent::TaskDone {
            id: TaskId(tag),
            result,
        });
    }
}
