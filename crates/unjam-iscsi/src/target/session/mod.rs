//! The full feature phase of one target connection (RFC 7143, ErrorRecoveryLevel 0),
//! sans-I/O: PDUs from the initiator in, commands and task management requests out to the
//! caller (who executes them), answers in, PDUs out.
//!
//! ```text
//!  handle_pdu ─► CmdSN order ─► SCSI Command ─► write data (immediate, unsolicited, R2T)
//!                                  └─► TargetEvent::Command ─► caller ─► complete(itt, result)
//!            ─► Task Management ─► TargetEvent::TaskManagement ─► complete_management
//!            ─► NOP-Out ─► NOP-In │ Text (SendTargets) ─► Text Response │ Logout ─► LoggedOut
//!  poll_transmit ─► bytes             poll_event ─► TargetEvent
//! ```
//!
//! Methods follow quinn-proto's taxonomy: getters; `handle_pdu`; commands from the caller
//! (`complete`, `discard`, `request_logout`, ...); `poll_*` outputs drained after every
//! input. Owns StatSN, the advertised window, the tasks of the connection and their write
//! data, with bounds on all of them. Never executes SCSI and never decides a task
//! management function's fate: both are the caller's.

mod order;
mod respond;
mod text;
mod write;

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use tracing::debug;
use unjam_scsi::sense::{FixedFields, SenseBody, SenseData, SenseKey};

use crate::params::OperationalParams;
use crate::pdu::{
    encode_pdu, AsyncMessage, Bhs, DataOut, Digests, LogoutReason, LogoutRequest, LogoutResponse,
    NopIn, NopOut, Pdu, PduError, ReadyToTransfer, Reject, ScsiCommand, TargetSequence,
    TaskAttribute, TaskManagementFunction, TaskManagementRequest, TaskManagementResponse,
    TextRequest, BHS_LENGTH, MAX_BHS_CDB_LENGTH, RESERVED_TAG,
};
use order::{Admission, CommandOrder};
use respond::{Answered, Shape};
use text::TextExchange;
use write::{DataOutError, R2tRequest, WriteCollection};

pub use respond::CommandResult;

use super::send_targets::PublishedTarget;

/// Reject reasons (RFC 7143 §11.17.1).
const REJECT_PROTOCOL_ERROR: u8 = 0x04;
const REJECT_TASK_IN_PROGRESS: u8 = 0x07;
const REJECT_INVALID_PDU_FIELD: u8 = 0x09;

/// Bounds and options of a target connection.
#[derive(Debug, Clone)]
pub struct TargetSessionConfig {
    /// Commands the initiator may have in the target at once (the advertised window).
    pub max_tasks: u32,
    /// Largest Expected Data Transfer Length served; larger commands are refused.
    pub max_transfer_length: u32,
    /// Write data the connection buffers at once; R2Ts wait while it is used up (one
    /// command may always proceed).
    pub max_write_buffer_bytes: u64,
    /// Send the status in the last Data-In when there is no sense.
    pub phase_collapse: bool,
    /// What SendTargets reports.
    pub published: Vec<PublishedTarget>,
    /// The session's target (`None` for a discovery session).
    pub own_target: Option<String>,
    pub cid: u16,
}

impl Default for TargetSessionConfig {
    fn default() -> Self {
        TargetSessionConfig {
            max_tasks: 128,
            max_transfer_length: 32 * 1024 * 1024,
            max_write_buffer_bytes: 64 * 1024 * 1024,
            phase_collapse: true,
            published: Vec::new(),
            own_target: None,
            cid: 0,
        }
    }
}

/// A SCSI command ready to execute (its write data complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    pub itt: u32,
    pub lun: u64,
    /// The CDB as carried in the header, zero-padded to 16 bytes.
    pub cdb: [u8; MAX_BHS_CDB_LENGTH],
    pub read: bool,
    pub write: bool,
    pub attribute: TaskAttribute,
    pub expected_length: u32,
    pub data_out: Bytes,
}

/// A task management function to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagementRequest {
    pub itt: u32,
    pub function: TaskManagementFunction,
    pub lun: u64,
    /// ABORT TASK: the task to abort (`None` otherwise).
    pub referenced_itt: Option<u32>,
    pub ref_cmd_sn: u32,
}

/// Outputs for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetEvent {
    Command(CommandRequest),
    TaskManagement(ManagementRequest),
    /// A Logout Response is queued: send it, then close the connection. Every task of the
    /// connection is gone.
    LoggedOut {
        reason: LogoutReason,
    },
}

/// Faults applied to one command's answer on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseFaults {
    /// Send the status PDU twice.
    pub duplicate: bool,
    /// Flip the header digest of the status PDU (no effect without digests).
    pub corrupt_digest: bool,
}

/// A failure that ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetSessionError {
    #[error("PDU: {0}")]
    Pdu(#[from] PduError),
    #[error("unexpected {0} PDU in the full feature phase")]
    UnexpectedPdu(&'static str),
    #[error("protocol error: {0}")]
    Protocol(&'static str),
}

#[derive(Debug)]
struct Task {
    lun: u64,
    cdb: [u8; MAX_BHS_CDB_LENGTH],
    header: Bhs,
    read: bool,
    write: bool,
    attribute: TaskAttribute,
    expected_length: u32,
    collecting: Option<WriteCollection>,
    /// Write buffer bytes this task holds against the connection's budget.
    budget_bytes: u64,
    r2t_count: u32,
}

#[derive(Debug)]
struct Outgoing {
    pdu: Pdu,
    faults: ResponseFaults,
}

/// One target connection in the full feature phase.
#[derive(Debug)]
pub struct TargetSession {
    config: TargetSessionConfig,
    params: OperationalParams,
    order: CommandOrder,
    stat_sn: u32,
    tasks: HashMap<u32, Task>,
    outgoing: VecDeque<Outgoing>,
    events: VecDeque<TargetEvent>,
    next_target_transfer_tag: u32,
    buffered_bytes: u64,
    waiting_for_r2t: VecDeque<u32>,
    text: TextExchange,
    answer_nops: bool,
    logged_out: bool,
    scratch: Vec<Pdu>,
}

impl TargetSession {
    /// A session that starts where the login left off.
    pub fn new(
        params: OperationalParams,
        exp_cmd_sn: u32,
        next_stat_sn: u32,
        config: TargetSessionConfig,
    ) -> TargetSession {
        TargetSession {
            order: CommandOrder::new(exp_cmd_sn, config.max_tasks),
            config,
            params,
            stat_sn: next_stat_sn,
            tasks: HashMap::new(),
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            next_target_transfer_tag: 1,
            buffered_bytes: 0,
            waiting_for_r2t: VecDeque::new(),
            text: TextExchange::default(),
            answer_nops: true,
            logged_out: false,
            scratch: Vec::new(),
        }
    }

    // ---- getters ----

    pub fn params(&self) -> &OperationalParams {
        &self.params
    }

    pub fn digests(&self) -> Digests {
        Digests {
            header: self.params.header_digest,
            data: self.params.data_digest,
        }
    }

    /// Tasks of the connection, received and not yet answered or discarded.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    pub fn has_task(&self, itt: u32) -> bool {
        self.tasks.contains_key(&itt)
    }

    /// The CDB of task `itt`, while the connection holds it.
    pub fn task_cdb(&self, itt: u32) -> Option<[u8; MAX_BHS_CDB_LENGTH]> {
        self.tasks.get(&itt).map(|task| task.cdb)
    }

    /// The tasks addressed to `lun` (every task when `None`), in tag order.
    pub fn tasks_on(&self, lun: Option<u64>) -> Vec<u32> {
        let mut tags: Vec<u32> = self
            .tasks
            .iter()
            .filter(|(_, task)| lun.is_none_or(|lun| task.lun == lun))
            .map(|(itt, _)| *itt)
            .collect();
        tags.sort_unstable();
        tags
    }

    pub fn is_logged_out(&self) -> bool {
        self.logged_out
    }

    // ---- commands ----

    /// Answers command `itt` (Data-In and status). Unknown tags are ignored.
    pub fn complete(&mut self, itt: u32, result: &CommandResult, faults: ResponseFaults) {
        let Some(task) = self.remove_task(itt) else {
            debug!(itt, "answer for a task no longer outstanding dropped");
            return;
        };
        let command = Answered {
            itt,
            lun: task.lun,
            expected_length: task.expected_length,
            read: task.read,
            r2t_count: task.r2t_count,
        };
        let shape = Shape {
            max_segment: self.params.max_send_data_segment_length,
            max_burst: self.params.max_burst_length,
            phase_collapse: self.config.phase_collapse,
        };
        let sequence = self.status_sequence();
        let mut pdus = std::mem::take(&mut self.scratch);
        respond::answer(command, result, shape, sequence, &mut pdus);
        let last = pdus.len().saturating_sub(1);
        for (index, pdu) in pdus.drain(..).enumerate() {
            let faults = if index == last {
                faults
            } else {
                ResponseFaults::default()
            };
            self.outgoing.push_back(Outgoing { pdu, faults });
        }
        self.scratch = pdus;
    }

    /// Answers task management request `itt` with an RFC 7143 §11.6.1 response code.
    pub fn complete_management(&mut self, itt: u32, response: u8) {
        let sequence = self.status_sequence();
        self.push(Pdu::TaskManagementResponse(TaskManagementResponse {
            response,
            initiator_task_tag: itt,
            sequence,
        }));
    }

    /// Forgets task `itt` without answering it (terminated by a task management function,
    /// or its answer is dropped on purpose). Returns whether the connection held it.
    pub fn discard(&mut self, itt: u32) -> bool {
        self.remove_task(itt).is_some()
    }

    /// Answers command `itt` with a Reject PDU carrying its header instead of a status.
    pub fn reject_command(&mut self, itt: u32, reason: u8) {
        if let Some(task) = self.remove_task(itt) {
            self.reject(reason, &task.header);
        }
    }

    /// Asks the initiator to log out within `within_s` seconds (AsyncEvent 1).
    pub fn request_logout(&mut self, within_s: u16) {
        self.send_async(1, within_s);
    }

    /// Announces that the target drops the connection (AsyncEvent 2).
    pub fn announce_drop(&mut self) {
        self.send_async(2, 0);
    }

    /// Answers a PDU the caller could not parse (its header kept) with a Reject.
    pub fn reject_pdu(&mut self, reason: u8, header: &Bhs) {
        self.reject(reason, header);
    }

    /// Sends the current ExpCmdSN and MaxCmdSN in a NOP-In that asks for no answer (after a
    /// stalled window thaws, the initiator may have nothing in flight to learn it from).
    pub fn announce_window(&mut self) {
        let sequence = self.peek_sequence();
        self.push(Pdu::NopIn(NopIn {
            lun: 0,
            initiator_task_tag: RESERVED_TAG,
            target_transfer_tag: RESERVED_TAG,
            sequence,
            data: Bytes::new(),
        }));
    }

    /// Freezes (or thaws) MaxCmdSN: the initiator can send no more than the window it has.
    pub fn set_window_stalled(&mut self, stalled: bool) {
        self.order.set_stalled(stalled);
    }

    /// Whether NOP-Out pings get a NOP-In (a fault turns this off).
    pub fn set_answer_nops(&mut self, answer: bool) {
        self.answer_nops = answer;
    }

    // ---- inputs ----

    /// Consumes one PDU from the initiator. An error means the connection must be closed.
    pub fn handle_pdu(&mut self, pdu: Pdu) -> Result<(), TargetSessionError> {
        if let Pdu::DataOut(data_out) = pdu {
            return self.on_data_out(&data_out);
        }
        let (cmd_sn, immediate) = match &pdu {
            Pdu::ScsiCommand(c) => (c.cmd_sn, c.immediate),
            Pdu::TaskManagementRequest(t) => (t.cmd_sn, t.immediate),
            Pdu::TextRequest(t) => (t.cmd_sn, t.immediate),
            Pdu::LogoutRequest(l) => (l.cmd_sn, l.immediate),
            // A NOP-Out answering our NOP-In carries the reserved tag and no CmdSN of its own.
            Pdu::NopOut(n) => (
                n.cmd_sn,
                n.immediate || n.initiator_task_tag == RESERVED_TAG,
            ),
            Pdu::LoginRequest(_) => return Err(TargetSessionError::UnexpectedPdu("Login Request")),
            _ => return Err(TargetSessionError::UnexpectedPdu("target-only")),
        };
        let mut held = Some(pdu);
        if self.order.admit(cmd_sn, immediate, &mut held) != Admission::Now {
            debug!(cmd_sn, "PDU held or dropped by the command window");
            return Ok(());
        }
        if let Some(pdu) = held {
            self.on_ordered(pdu)?;
        }
        while let Some(pdu) = self.order.release() {
            self.on_ordered(pdu)?;
        }
        Ok(())
    }

    // ---- outputs ----

    /// Encodes pending PDUs into `out`; `faults` of each status are applied here.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Result<(), PduError> {
        let digests = self.digests();
        while let Some(Outgoing { pdu, faults }) = self.outgoing.pop_front() {
            let start = out.len();
            encode_pdu(&pdu, digests, out)?;
            if faults.corrupt_digest && digests.header {
                if let Some(digest) = out.get_mut(start + BHS_LENGTH..start + BHS_LENGTH + 4) {
                    digest.iter_mut().for_each(|byte| *byte ^= 0xff);
                }
            }
            if faults.duplicate {
                let copy = out[start..].to_vec();
                out.extend_from_slice(&copy);
            }
        }
        Ok(())
    }

    pub fn has_output(&self) -> bool {
        !self.outgoing.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<TargetEvent> {
        self.events.pop_front()
    }

    // ---- internals ----

    fn on_ordered(&mut self, pdu: Pdu) -> Result<(), TargetSessionError> {
        match pdu {
            Pdu::ScsiCommand(command) => self.on_command(command),
            Pdu::TaskManagementRequest(request) => {
                self.on_management(request);
                Ok(())
            }
            Pdu::TextRequest(request) => {
                self.on_text(request);
                Ok(())
            }
            Pdu::LogoutRequest(request) => {
                self.on_logout(request);
                Ok(())
            }
            Pdu::NopOut(nop) => {
                self.on_nop_out(nop);
                Ok(())
            }
            _ => Err(TargetSessionError::UnexpectedPdu("unordered")),
        }
    }

    fn on_command(&mut self, command: ScsiCommand) -> Result<(), TargetSessionError> {
        let header = Pdu::ScsiCommand(command.clone()).header();
        if self.config.own_target.is_none() {
            self.reject(REJECT_PROTOCOL_ERROR, &header);
            return Ok(());
        }
        if self.tasks.contains_key(&command.initiator_task_tag) {
            self.reject(REJECT_TASK_IN_PROGRESS, &header);
            return Ok(());
        }
        if !command.data.is_empty()
            && (!command.write
                || !self.params.immediate_data
                || command.data.len() as u32 > self.params.first_burst_length)
        {
            self.reject(REJECT_INVALID_PDU_FIELD, &header);
            return Ok(());
        }
        let task = Task {
            lun: command.lun,
            cdb: command.cdb,
            header,
            read: command.read,
            write: command.write,
            attribute: command.attribute,
            expected_length: command.expected_data_transfer_length,
            collecting: None,
            budget_bytes: 0,
            r2t_count: 0,
        };
        let itt = command.initiator_task_tag;
        self.tasks.insert(itt, task);
        let edtl = command.expected_data_transfer_length;
        if edtl > self.config.max_transfer_length || (command.read && command.write) {
            self.complete(itt, &refused_transfer(), ResponseFaults::default());
            return Ok(());
        }
        if !command.write || edtl == 0 || command.data.len() as u32 == edtl {
            self.deliver(itt, command.data);
            return Ok(());
        }
        let unsolicited_end = if !self.params.initial_r2t && !command.final_pdu {
            edtl.min(self.params.first_burst_length)
        } else {
            command.data.len() as u32
        };
        let collection = WriteCollection::new(edtl, &command.data, unsolicited_end);
        let needs_r2t = collection.needs_r2t();
        if let Some(task) = self.tasks.get_mut(&itt) {
            task.collecting = Some(collection);
        }
        if needs_r2t {
            self.waiting_for_r2t.push_back(itt);
            self.start_r2ts();
        }
        Ok(())
    }

    fn on_data_out(&mut self, data_out: &DataOut) -> Result<(), TargetSessionError> {
        let itt = data_out.initiator_task_tag;
        let Some(collection) = self
            .tasks
            .get_mut(&itt)
            .and_then(|task| task.collecting.as_mut())
        else {
            debug!(itt, "Data-Out for a task not collecting data dropped");
            return Ok(());
        };
        match collection.accept(data_out) {
            Ok(()) => {}
            Err(DataOutError::DataSequence { expected, received }) => {
                debug!(itt, expected, received, "Data-Out DataSN out of sequence");
                self.complete(itt, &data_phase_error(), ResponseFaults::default());
                self.start_r2ts();
                return Ok(());
            }
            Err(DataOutError::Protocol(what)) => return Err(TargetSessionError::Protocol(what)),
        }
        if collection.is_complete() {
            let data = collection.take_data();
            self.release_budget(itt);
            self.deliver(itt, data);
        }
        self.start_r2ts();
        Ok(())
    }

    /// Hands a command with all its data to the caller.
    fn deliver(&mut self, itt: u32, data_out: Bytes) {
        let Some(task) = self.tasks.get_mut(&itt) else {
            return;
        };
        task.collecting = None;
        self.events.push_back(TargetEvent::Command(CommandRequest {
            itt,
            lun: task.lun,
            cdb: task.cdb,
            read: task.read,
            write: task.write,
            attribute: task.attribute,
            expected_length: task.expected_length,
            data_out,
        }));
    }

    /// Sends R2Ts for waiting writes while the write budget allows (one task always may).
    fn start_r2ts(&mut self) {
        let mut requests: Vec<R2tRequest> = Vec::new();
        let mut index = 0;
        while index < self.waiting_for_r2t.len() {
            let itt = self.waiting_for_r2t[index];
            let Some(task) = self.tasks.get_mut(&itt) else {
                self.waiting_for_r2t.remove(index);
                continue;
            };
            let Some(collection) = task.collecting.as_mut() else {
                self.waiting_for_r2t.remove(index);
                continue;
            };
            if task.budget_bytes == 0 {
                let size = u64::from(task.expected_length);
                let over = self.buffered_bytes + size > self.config.max_write_buffer_bytes;
                if over && self.buffered_bytes > 0 {
                    break;
                }
                task.budget_bytes = size;
                self.buffered_bytes += size;
            }
            let tag = &mut self.next_target_transfer_tag;
            let mut next_tag = || {
                let value = *tag;
                *tag = tag.wrapping_add(1);
                if *tag == RESERVED_TAG {
                    *tag = 1;
                }
                value
            };
            requests.clear();
            collection.next_r2ts(
                self.params.max_outstanding_r2t,
                self.params.max_burst_length,
                &mut next_tag,
                &mut requests,
            );
            task.r2t_count += requests.len() as u32;
            let lun = task.lun;
            let done = !collection.needs_r2t();
            for request in &requests {
                let sequence = self.peek_sequence();
                self.push(Pdu::ReadyToTransfer(ReadyToTransfer {
                    lun,
                    initiator_task_tag: itt,
                    target_transfer_tag: request.target_transfer_tag,
                    sequence,
                    r2t_sn: request.r2t_sn,
                    buffer_offset: request.offset,
                    desired_data_transfer_length: request.length,
                }));
            }
            if done {
                self.waiting_for_r2t.remove(index);
            } else {
                index += 1;
            }
        }
    }

    fn release_budget(&mut self, itt: u32) {
        if let Some(task) = self.tasks.get_mut(&itt) {
            self.buffered_bytes = self.buffered_bytes.saturating_sub(task.budget_bytes);
            task.budget_bytes = 0;
        }
    }

    fn remove_task(&mut self, itt: u32) -> Option<Task> {
        self.release_budget(itt);
        let task = self.tasks.remove(&itt)?;
        if task.collecting.is_some() {
            self.start_r2ts();
        }
        Some(task)
    }

    fn on_management(&mut self, request: TaskManagementRequest) {
        if self.config.own_target.is_none() {
            let header = Pdu::TaskManagementRequest(request).header();
            self.reject(REJECT_PROTOCOL_ERROR, &header);
            return;
        }
        let referenced_itt = (request.function == TaskManagementFunction::AbortTask)
            .then_some(request.referenced_task_tag);
        self.events
            .push_back(TargetEvent::TaskManagement(ManagementRequest {
                itt: request.initiator_task_tag,
                function: request.function,
                lun: request.lun,
                referenced_itt,
                ref_cmd_sn: request.ref_cmd_sn,
            }));
    }

    fn on_text(&mut self, request: TextRequest) {
        let own = self.config.own_target.clone();
        let max_segment = self.params.max_send_data_segment_length;
        let answer = self.text.handle(
            &request,
            &self.config.published,
            own.as_deref(),
            max_segment,
        );
        match answer {
            Ok(mut response) => {
                response.sequence = self.status_sequence();
                self.push(Pdu::TextResponse(response));
            }
            Err(reason) => {
                let header = Pdu::TextRequest(request).header();
                self.reject(reason, &header);
            }
        }
    }

    fn on_logout(&mut self, request: LogoutRequest) {
        let response = match request.reason {
            LogoutReason::CloseSession => 0,
            LogoutReason::CloseConnection if request.cid == self.config.cid => 0,
            LogoutReason::CloseConnection => 1,
            LogoutReason::RemoveConnectionForRecovery => 2,
        };
        if response == 0 {
            for itt in self.tasks_on(None) {
                self.remove_task(itt);
            }
            self.logged_out = true;
            self.events.push_back(TargetEvent::LoggedOut {
                reason: request.reason,
            });
        }
        let sequence = self.status_sequence();
        self.push(Pdu::LogoutResponse(LogoutResponse {
            response,
            initiator_task_tag: request.initiator_task_tag,
            sequence,
            time_to_wait_s: 0,
            time_to_retain_s: 0,
        }));
    }

    fn on_nop_out(&mut self, nop: NopOut) {
        if nop.initiator_task_tag == RESERVED_TAG || !self.answer_nops {
            return;
        }
        let mut data = nop.data;
        data.truncate(self.params.max_send_data_segment_length as usize);
        let sequence = self.status_sequence();
        self.push(Pdu::NopIn(NopIn {
            lun: nop.lun,
            initiator_task_tag: nop.initiator_task_tag,
            target_transfer_tag: RESERVED_TAG,
            sequence,
            data,
        }));
    }

    fn send_async(&mut self, event: u8, parameter3: u16) {
        let sequence = self.status_sequence();
        self.push(Pdu::AsyncMessage(AsyncMessage {
            lun: 0,
            sequence,
            event,
            vendor_code: 0,
            parameter1: 0,
            parameter2: 0,
            parameter3,
            data: Bytes::new(),
        }));
    }

    fn reject(&mut self, reason: u8, header: &Bhs) {
        let sequence = self.status_sequence();
        self.push(Pdu::Reject(Reject {
            reason,
            sequence,
            data_sn: 0,
            data: Bytes::copy_from_slice(&header.0),
        }));
    }

    /// The sequence fields of a PDU that consumes a StatSN.
    fn status_sequence(&mut self) -> TargetSequence {
        let sequence = self.peek_sequence();
        self.stat_sn = self.stat_sn.wrapping_add(1);
        sequence
    }

    /// The sequence fields of a PDU that does not advance StatSN (R2T).
    fn peek_sequence(&mut self) -> TargetSequence {
        TargetSequence {
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.order.exp_cmd_sn(),
            max_cmd_sn: self.order.max_cmd_sn(self.tasks.len()),
        }
    }

    fn push(&mut self, pdu: Pdu) {
        self.outgoing.push_back(Outgoing {
            pdu,
            faults: ResponseFaults::default(),
        });
    }
}

/// CHECK CONDITION with fixed-format current sense data (SPC-4 §4.5.3), encoded by
/// unjam-scsi's one sense codec, for the few refusals the session makes itself.
fn check_condition(key: SenseKey, asc: u8, ascq: u8) -> CommandResult {
    let sense = SenseData {
        deferred: false,
        key,
        asc,
        ascq,
        sdat_overflow: false,
        body: SenseBody::Fixed(FixedFields::default()),
    };
    let encoded = match sense.to_bytes() {
        Ok(encoded) => encoded,
        Err(error) => panic!("fixed sense {key:?}/{asc:02x}/{ascq:02x}: {error:?}"),
    };
    CommandResult {
        status: 0x02,
        sense: Bytes::from(encoded),
        ..CommandResult::default()
    }
}

/// A transfer the connection does not serve: ILLEGAL REQUEST, INVALID FIELD IN CDB.
fn refused_transfer() -> CommandResult {
    check_condition(SenseKey::ILLEGAL_REQUEST, 0x24, 0x00)
}

/// Write data out of sequence: ABORTED COMMAND, DATA PHASE ERROR.
fn data_phase_error() -> CommandResult {
    check_condition(SenseKey::ABORTED_COMMAND, 0x4b, 0x00)
}
