//! The iSCSI sessions as the core's transport: the same [`Transport`] trait the simulator's
//! target and the test transports implement, so the engine runs the core with the one
//! driver loop of `unjam_core::harness` (`Driver::advance_to` on the wall clock).
//!
//! ```text
//!  Dispatch / SendEhCommand ─► Link::submit (ITT ↔ tag)      Abort ─► ABORT TASK
//!  Reset: Lun ─► LOGICAL UNIT RESET   Target ─► TARGET WARM RESET   Host ─► re-login
//!  poll_event ◄── session TaskDone / ManagementDone, refusals, TMF timeouts
//! ```
//!
//! Owns the tag ↔ Initiator Task Tag mapping, the device routes, the callers' buffers and
//! the task management functions in flight with their open-iscsi timeouts
//! (`abort_timeout`, `lu_reset_timeout`, `tgt_reset_timeout`; a host reset waits for the
//! re-login within `replacement_timeout`). It answers; the core decides.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;
use unjam_core::action::{Action, EhCommand, ResetKind, TmfOp, TmfResult};
use unjam_core::buffers::SenseBuffer;
use unjam_core::harness::{Transport, TransportEvent};
use unjam_core::topology::DeviceId;
use unjam_core::{Tag, TransportOutcome};
use unjam_iscsi::pdu::{TaskAttribute, TaskManagementFunction};
use unjam_iscsi::session::{DataDirection, SessionEvent, SubmitError, TaskFailure, TaskRequest};
use unjam_scsi::disposition::QueueReason;
use unjam_scsi::HostByte;

use super::callers::Callers;
use super::clock::Clock;
use super::link::{Link, LinkEvent, Refusal};
use super::mailbox::Mailbox;
use super::notes::IscsiNote;
use crate::knobs::Knobs;
use crate::outcome::transport_outcome;

/// Parameter data length of the error handler's REQUEST SENSE.
const REQUEST_SENSE_LENGTH: u32 = 96;

/// Bytes of one CDB arena chunk: the CDBs of 256 16-byte commands.
const CDB_CHUNK: usize = 4096;

/// The CDBs handed to the sessions, cut from shared chunks: a copy into a chunk and a
/// reference count instead of an allocation and a free per command (`TaskRequest::cdb` is a
/// `Bytes`). A chunk is freed when the last command cut from it is dropped, so at most the
/// chunks of the commands in flight (and the one being cut) stay allocated.
#[derive(Debug, Default)]
struct CdbArena {
    chunk: BytesMut,
}

impl CdbArena {
    fn copy(&mut self, cdb: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < cdb.len() {
            self.chunk = BytesMut::with_capacity(CDB_CHUNK.max(cdb.len()));
        }
        self.chunk.extend_from_slice(cdb);
        self.chunk.split().freeze()
    }
}

/// Where a core device's commands go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub link: usize,
    /// The 8-byte LUN field.
    pub lun_field: u64,
}

/// Who is waiting for a command's end.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Caller(u64),
    Eh(EhCommand),
}

/// A command the session holds.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    generation: u32,
    link: usize,
    itt: u32,
    lun_field: u64,
    owner: Owner,
}

/// A reset a caller asked for directly (`sg_reset`); not one the core's error handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserReset {
    Lun,
    Target,
    /// Session re-login.
    Host,
}

/// How a reset ended.
pub(crate) type ResetReply = oneshot::Sender<Result<(), String>>;

#[derive(Debug)]
enum Requester {
    Core(TmfOp),
    User(ResetReply),
}

#[derive(Debug, Clone, Copy)]
enum TmfKind {
    Abort {
        task: u32,
    },
    LunReset,
    TargetReset,
    /// Waits for the link to log in again.
    HostReset,
}

#[derive(Debug)]
struct PendingTmf {
    link: usize,
    /// The function's own Initiator Task Tag (none for a host reset).
    itt: Option<u32>,
    kind: TmfKind,
    deadline: Instant,
    requester: Requester,
}

/// The core's transport over every session of one initiator.
#[derive(Debug)]
pub(crate) struct IscsiTransport {
    pub links: Vec<Link>,
    pub callers: Callers,
    routes: Vec<Route>,
    inflight: Vec<Option<InFlight>>,
    ready: VecDeque<TransportEvent>,
    tmfs: Vec<PendingTmf>,
    notes: VecDeque<IscsiNote>,
    knobs: Knobs,
    clock: Clock,
    next_link: usize,
    cdbs: CdbArena,
    /// Completions for commands the core had already revoked (dropped, counted).
    pub revoked_completions: u64,
}

impl IscsiTransport {
    pub fn new(knobs: Knobs, clock: Clock, capacity: usize) -> IscsiTransport {
        IscsiTransport {
            links: Vec::new(),
            callers: Callers::with_capacity(capacity),
            routes: Vec::new(),
            inflight: Vec::with_capacity(capacity),
            ready: VecDeque::with_capacity(64),
            tmfs: Vec::new(),
            notes: VecDeque::new(),
            knobs,
            clock,
            next_link: 0,
            cdbs: CdbArena::default(),
            revoked_completions: 0,
        }
    }

    /// Registers where `device`'s commands go (devices are numbered densely by the core).
    pub fn add_route(&mut self, device: DeviceId, route: Route) {
        let index = device.0 as usize;
        if self.routes.len() <= index {
            let filler = Route {
                link: usize::MAX,
                lun_field: 0,
            };
            self.routes.resize(index + 1, filler);
        }
        self.routes[index] = route;
    }

    pub fn route(&self, device: DeviceId) -> Option<Route> {
        self.routes
            .get(device.0 as usize)
            .copied()
            .filter(|route| route.link < self.links.len())
    }

    /// The devices on `link`.
    pub fn devices_of(&self, link: usize) -> impl Iterator<Item = DeviceId> + '_ {
        self.routes
            .iter()
            .enumerate()
            .filter(move |(_, route)| route.link == link)
            .map(|(index, _)| DeviceId(index as u32))
    }

    // ---- sending ----

    /// Hands a command to its session; a refusal of queuecommand's kind comes back.
    fn send(
        &mut self,
        tag: Tag,
        device: DeviceId,
        owner: Owner,
        cdb: &[u8],
    ) -> Option<QueueReason> {
        let Some(route) = self.route(device) else {
            self.answer(tag, TransportOutcome::host(HostByte::DID_NO_CONNECT));
            return None;
        };
        let (direction, buffer) = match owner {
            Owner::Caller(token) => match self.callers.get_mut(token) {
                Some(caller) => caller.next_attempt(),
                None => {
                    self.answer(tag, TransportOutcome::host(HostByte::DID_ERROR));
                    return None;
                }
            },
            Owner::Eh(EhCommand::RequestSense) => (
                DataDirection::Read {
                    length: REQUEST_SENSE_LENGTH,
                },
                BytesMut::new(),
            ),
            Owner::Eh(_) => (DataDirection::None, BytesMut::new()),
        };
        let request = TaskRequest {
            lun: route.lun_field,
            cdb: self.cdbs.copy(cdb),
            direction,
            attribute: TaskAttribute::Simple,
        };
        match self.links[route.link].submit(request, buffer) {
            Ok(itt) => {
                self.links[route.link].itt_tags.insert(itt, tag);
                let slot = tag.slot as usize;
                if self.inflight.len() <= slot {
                    self.inflight.resize(slot + 1, None);
                }
                self.inflight[slot] = Some(InFlight {
                    generation: tag.generation,
                    link: route.link,
                    itt,
                    lun_field: route.lun_field,
                    owner,
                });
                None
            }
            Err((refusal, buffer)) => self.refused(tag, owner, refusal, buffer),
        }
    }

    /// Linux's `iscsi_queuecommand` answers for a session that cannot take the command: a
    /// full task queue is refused at once (host busy), the rest complete with a host byte.
    fn refused(
        &mut self,
        tag: Tag,
        owner: Owner,
        refusal: Refusal,
        buffer: BytesMut,
    ) -> Option<QueueReason> {
        let host = match &refusal {
            Refusal::Recovering => HostByte::DID_IMM_RETRY,
            Refusal::RecoveryFailed => HostByte::DID_TRANSPORT_FAILFAST,
            Refusal::Closed => HostByte::DID_NO_CONNECT,
            Refusal::Session(SubmitError::QueueFull(_)) => {
                if let Owner::Caller(token) = owner {
                    if let Some(caller) = self.callers.get_mut(token) {
                        caller.attempt_refused(buffer, "session task queue full".into());
                    }
                }
                return Some(QueueReason::HostBusy);
            }
            Refusal::Session(_) => HostByte::DID_ERROR,
        };
        if let Owner::Caller(token) = owner {
            if let Some(caller) = self.callers.get_mut(token) {
                caller.attempt_refused(buffer, format!("{refusal:?}"));
            }
        }
        self.answer(tag, TransportOutcome::host(host));
        None
    }

    fn answer(&mut self, tag: Tag, outcome: TransportOutcome) {
        self.ready.push_back(TransportEvent::Done { tag, outcome });
    }

    fn in_flight(&self, tag: Tag) -> Option<InFlight> {
        self.inflight
            .get(tag.slot as usize)
            .copied()
            .flatten()
            .filter(|entry| entry.generation == tag.generation)
    }

    // ---- task management ----

    fn abort(&mut self, now: Instant, op: TmfOp, tag: Tag) {
        let Some(entry) = self.in_flight(tag) else {
            // Nothing holds the command any more: it completed before the abort.
            return self.tmf_answer(Requester::Core(op), Ok(()));
        };
        let function = TaskManagementFunction::AbortTask;
        let link = &mut self.links[entry.link];
        let Some(itt) = link.task_management(function, entry.lun_field, Some(entry.itt)) else {
            return self.tmf_answer(Requester::Core(op), Err("not logged in".into()));
        };
        self.tmfs.push(PendingTmf {
            link: entry.link,
            itt: Some(itt),
            kind: TmfKind::Abort { task: entry.itt },
            deadline: now + self.knobs.abort_timeout,
            requester: Requester::Core(op),
        });
    }

    /// Starts a reset of `kind` for `device`.
    fn reset(&mut self, now: Instant, device: DeviceId, kind: UserReset, requester: Requester) {
        let Some(route) = self.route(device) else {
            return self.tmf_answer(requester, Err("no such device".into()));
        };
        let link = route.link;
        let (function, lun, timeout, tmf_kind) = match kind {
            UserReset::Lun => (
                TaskManagementFunction::LogicalUnitReset,
                route.lun_field,
                self.knobs.lu_reset_timeout,
                TmfKind::LunReset,
            ),
            UserReset::Target => (
                TaskManagementFunction::TargetWarmReset,
                0,
                self.knobs.tgt_reset_timeout,
                TmfKind::TargetReset,
            ),
            UserReset::Host => {
                if !self.links[link].reset_session(now) {
                    return self.tmf_answer(requester, Err("logged out".into()));
                }
                let wait = self.knobs.replacement_timeout + self.knobs.login_timeout;
                self.tmfs.push(PendingTmf {
                    link,
                    itt: None,
                    kind: TmfKind::HostReset,
                    deadline: now + wait,
                    requester,
                });
                return;
            }
        };
        let Some(itt) = self.links[link].task_management(function, lun, None) else {
            return self.tmf_answer(requester, Err("no session to send it on".into()));
        };
        self.tmfs.push(PendingTmf {
            link,
            itt: Some(itt),
            kind: tmf_kind,
            deadline: now + timeout,
            requester,
        });
    }

    /// A reset a caller asked for (`unjam reset`), answered on `reply`.
    pub fn user_reset(
        &mut self,
        now: Instant,
        device: DeviceId,
        kind: UserReset,
        reply: ResetReply,
    ) {
        self.reset(now, device, kind, Requester::User(reply));
    }

    /// Answers the core (success or failure) or a caller (with why it failed).
    fn tmf_answer(&mut self, requester: Requester, result: Result<(), String>) {
        match requester {
            Requester::Core(op) => {
                let result = match result {
                    Ok(()) => TmfResult::Success,
                    Err(_) => TmfResult::Failed,
                };
                self.ready.push_back(TransportEvent::TmfDone { op, result });
            }
            Requester::User(reply) => {
                let _ = reply.send(result);
            }
        }
    }

    fn management_done(&mut self, link: usize, itt: u32, response: Result<u8, TaskFailure>) {
        let Some(index) = self
            .tmfs
            .iter()
            .position(|tmf| tmf.link == link && tmf.itt == Some(itt))
        else {
            return; // answered already (timed out): a late response changes nothing
        };
        let tmf = self.tmfs.swap_remove(index);
        let text = match response {
            Ok(code) => response_text(code).to_string(),
            Err(failure) => failure.to_string(),
        };
        let result = match (tmf.kind, response) {
            (_, Ok(0)) => Ok(()),
            // "Task does not exist": good only if the task really is gone here too.
            (TmfKind::Abort { task }, Ok(1)) if !self.links[link].holds_task(task) => Ok(()),
            _ => Err(format!("the target answered: {text}")),
        };
        let function = tmf_function(tmf.kind);
        if let Some(function) = function {
            let sid = self.links[link].sid;
            self.notes.push_back(IscsiNote::TmfDone {
                sid,
                function,
                response: text,
            });
        }
        self.tmf_answer(tmf.requester, result);
    }

    /// Answers task management functions past their timeout with `Failed`.
    pub fn expire_tmfs(&mut self, now: Instant) {
        while let Some(index) = self.tmfs.iter().position(|tmf| tmf.deadline <= now) {
            let tmf = self.tmfs.swap_remove(index);
            let timeout = match tmf.kind {
                TmfKind::Abort { .. } => self.knobs.abort_timeout,
                TmfKind::LunReset => self.knobs.lu_reset_timeout,
                TmfKind::TargetReset => self.knobs.tgt_reset_timeout,
                TmfKind::HostReset => self.knobs.replacement_timeout,
            };
            if let Some(function) = tmf_function(tmf.kind) {
                let sid = self.links[tmf.link].sid;
                self.notes.push_back(IscsiNote::TmfTimedOut {
                    sid,
                    function,
                    timeout_ms: duration_ms(timeout),
                });
            }
            let reason = format!("no answer within {} ms", duration_ms(timeout));
            self.tmf_answer(tmf.requester, Err(reason));
        }
    }

    /// The earliest task management deadline.
    pub fn tmf_deadline(&self) -> Option<Instant> {
        self.tmfs.iter().map(|tmf| tmf.deadline).min()
    }

    /// A link logged in again, gave up, or closed: host resets waiting on it end.
    pub fn link_event(&mut self, link: usize, event: LinkEvent) {
        let result = match event {
            LinkEvent::Restored => Ok(()),
            LinkEvent::RecoveryTimedOut => Err("no login within replacement_timeout".to_string()),
            LinkEvent::Closed => Err("logged out".to_string()),
            LinkEvent::Lost => return,
        };
        while let Some(index) = self
            .tmfs
            .iter()
            .position(|tmf| tmf.link == link && matches!(tmf.kind, TmfKind::HostReset))
        {
            let tmf = self.tmfs.swap_remove(index);
            self.tmf_answer(tmf.requester, result.clone());
        }
    }

    // ---- receiving ----

    fn task_done(
        &mut self,
        link: usize,
        itt: u32,
        result: Result<unjam_iscsi::session::ScsiOutcome, TaskFailure>,
    ) -> Option<TransportEvent> {
        let tag = self.links[link].itt_tags.remove(&itt)?;
        let Some(entry) = self.in_flight(tag).filter(|entry| entry.link == link) else {
            self.revoked_completions += 1;
            return None;
        };
        self.inflight[tag.slot as usize] = None;
        let mut outcome = transport_outcome(&result);
        match entry.owner {
            Owner::Caller(token) => {
                if let Some(caller) = self.callers.get_mut(token) {
                    match result {
                        Ok(scsi) => caller.attempt_done(scsi.data, None),
                        Err(failure) => {
                            caller.attempt_done(Bytes::new(), Some(failure.to_string()))
                        }
                    }
                }
            }
            Owner::Eh(EhCommand::RequestSense) => {
                if let Ok(scsi) = &result {
                    outcome.sense = SenseBuffer::from_slice(&scsi.data);
                }
            }
            Owner::Eh(_) => {}
        }
        Some(TransportEvent::Done { tag, outcome })
    }

    fn convert(&mut self, link: usize, event: SessionEvent) -> Option<TransportEvent> {
        match event {
            SessionEvent::TaskDone { id, result } => self.task_done(link, id.0, result),
            SessionEvent::ManagementDone { id, response } => {
                self.management_done(link, id.0, response);
                self.ready.pop_front()
            }
            _ => None,
        }
    }

    /// The next session event of any link, in turn from `next_link`, wrapping round (a
    /// plain loop, no division and no chained iterators: one session is the common case
    /// and this runs after every dispatch and completion).
    #[inline]
    fn next_session_event(
        &mut self,
        now: impl Fn() -> Instant + Copy,
    ) -> Option<(usize, SessionEvent)> {
        let count = self.links.len();
        let mut index = self.next_link.min(count);
        for _ in 0..count {
            if index == count {
                index = 0;
            }
            let event = self.links[index].poll_session_event(now);
            index += 1;
            if let Some(event) = event {
                self.next_link = if index == count { 0 } else { index };
                return Some((index - 1, event));
            }
        }
        None
    }

    /// Every caller still waiting gets `error` (at shutdown).
    pub fn fail_callers(&mut self, error: crate::command::IoError, mailbox: &Mailbox) {
        for caller in self.callers.drain() {
            caller.fail(error.clone(), mailbox);
        }
    }
}

fn tmf_function(kind: TmfKind) -> Option<TaskManagementFunction> {
    match kind {
        TmfKind::Abort { .. } => Some(TaskManagementFunction::AbortTask),
        TmfKind::LunReset => Some(TaskManagementFunction::LogicalUnitReset),
        TmfKind::TargetReset => Some(TaskManagementFunction::TargetWarmReset),
        TmfKind::HostReset => None,
    }
}

/// RFC 7143 §11.6.1 response texts.
pub fn response_text(response: u8) -> &'static str {
    match response {
        0 => "function complete",
        1 => "task does not exist",
        2 => "LUN does not exist",
        3 => "task still allegiant",
        4 => "task allegiance reassignment not supported",
        5 => "task management function not supported",
        6 => "function authorization failed",
        255 => "function rejected",
        _ => "unknown response",
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Transport for IscsiTransport {
    type Note = IscsiNote;

    fn execute(&mut self, now: unjam_core::Instant, action: &Action) -> Option<QueueReason> {
        // The wall clock only for task management (a dispatch does not need it).
        let clock = self.clock;
        let now = move || clock.to_std(now);
        match *action {
            Action::Dispatch {
                tag,
                device,
                request,
            } => {
                let owner = Owner::Caller(request.token);
                return self.send(tag, device, owner, request.cdb.as_slice());
            }
            Action::SendEhCommand {
                tag,
                device,
                command,
                cdb,
                ..
            } => return self.send(tag, device, Owner::Eh(command), cdb.as_slice()),
            Action::Abort { op, tag, .. } => self.abort(now(), op, tag),
            Action::Reset {
                op, kind, device, ..
            } => {
                let kind = match kind {
                    ResetKind::Lun => UserReset::Lun,
                    ResetKind::Target => UserReset::Target,
                    ResetKind::Host => UserReset::Host,
                    ResetKind::Bus => {
                        let reason = "iSCSI has no bus reset".to_string();
                        self.tmf_answer(Requester::Core(op), Err(reason));
                        return None;
                    }
                };
                self.reset(now(), device, kind, Requester::Core(op));
            }
            // iSCSI delivers completions as they arrive: there is nothing missed to reap.
            Action::Poll { tag, .. } => self.ready.push_back(TransportEvent::PollDone { tag }),
            Action::Revoke { tag, .. } => {
                if self.in_flight(tag).is_some() {
                    self.inflight[tag.slot as usize] = None;
                }
            }
            Action::Complete(_) | Action::Trace(_) => {}
        }
        None
    }

    /// Inline and cheap when there is nothing (after every dispatch and answer, mostly):
    /// the full look is out of line.
    #[inline]
    fn poll_event(&mut self, now: unjam_core::Instant) -> Option<TransportEvent> {
        if self.ready.is_empty() && !self.links.iter().any(Link::has_session_event) {
            return None;
        }
        self.poll_event_slow(now)
    }

    fn next_due(&self) -> Option<unjam_core::Instant> {
        None
    }

    fn holds(&self, tag: Tag) -> bool {
        self.in_flight(tag).is_some()
    }

    #[inline(always)]
    fn poll_note(&mut self) -> Option<IscsiNote> {
        if let Some(note) = self.notes.pop_front() {
            return Some(note);
        }
        self.links.iter_mut().find_map(Link::take_note)
    }
}

impl IscsiTransport {
    /// [`Transport::poll_event`] when a session or the ready queue may have an event.
    #[inline(never)]
    fn poll_event_slow(&mut self, now: unjam_core::Instant) -> Option<TransportEvent> {
        let clock = self.clock;
        let now = move || clock.to_std(now);
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let (index, event) = self.next_session_event(now)?;
            if let Some(event) = self.convert(index, event) {
                return Some(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdbs_are_cut_from_one_chunk_until_it_is_full() {
        let mut arena = CdbArena::default();
        let first = arena.copy(&[0x88; 16]);
        let second = arena.copy(&[0x28, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(&first[..], &[0x88; 16]);
        assert_eq!(&second[..], &[0x28, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // The second CDB follows the first in its chunk: no allocation of its own.
        assert_eq!(second.as_ptr() as usize, first.as_ptr() as usize + 16);
        let mut cut = vec![first, second];
        while cut.len() < 2 * CDB_CHUNK / 16 {
            cut.push(arena.copy(&[cut.len() as u8; 16]));
        }
        for (index, cdb) in cut.iter().enumerate().skip(2) {
            assert_eq!(&cdb[..], &[index as u8; 16], "CDB {index} kept its bytes");
        }
        drop(cut);
        // A CDB longer than a chunk gets a chunk of its own.
        let long = vec![7u8; CDB_CHUNK + 1];
        assert_eq!(&arena.copy(&long)[..], &long[..]);
    }
}
