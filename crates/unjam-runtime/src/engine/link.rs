//! One iSCSI session as the engine drives it: the socket, the sans-I/O [`Session`], and the
//! session's recovery, in the shape of Linux's iSCSI transport class.
//!
//! ```text
//!   Up ──conn error / ping timeout / host reset──► Down (re-login with backoff)
//!    ▲                                              │ logged in        │ replacement_timeout
//!    └──────────────────────────────────────────────┘                  ▼
//!                                   Down, failed (commands fail fast; re-login goes on)
//!   logout (shutdown) ──► Closed
//! ```
//!
//! Owns the socket, its buffers, the login attempts (one spawned task per attempt, never
//! per I/O) and the session's timers. Every method is non-blocking: reads and writes use the
//! socket's readiness. Read readiness wakes the engine through the link's own waker
//! ([`ReadWake`]), which remembers that it fired: a socket that reported `Pending` is not
//! polled again until then (a turn woken by a caller's submission does not pay for a read
//! that would only say `WouldBlock`). What a state change means for the SCSI
//! devices (block, unblock, transport-offline) is the engine's business: the link reports
//! [`LinkEvent`]s. It never decides a retry.

use std::collections::VecDeque;
use std::future::Future;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use unjam_core::fast_hash::FastMap;
use unjam_core::topology::HostId;
use unjam_core::Tag;
use unjam_iscsi::client::{open_session, read_draining, ClientConfig, ClientError, Connection};
use unjam_iscsi::login::LoginOutcome;
use unjam_iscsi::pdu::{PduDecoder, TaskManagementFunction};
use unjam_iscsi::session::{Session, SessionError, SessionEvent, SubmitError, TaskId, TaskRequest};
use unjam_iscsi::url::TargetUrl;

use super::notes::IscsiNote;

/// Linux's `enum iscsi_err` values that `detected conn error (N)` prints.
pub(crate) mod conn_error {
    pub const PROTO: u32 = 1008;
    pub const CONN_FAILED: u32 = 1011;
    pub const XMIT_FAILED: u32 = 1019;
    pub const TCP_CONN_CLOSE: u32 = 1020;
    pub const SCSI_EH_SESSION_RST: u32 = 1021;
    pub const NOP_TIMEDOUT: u32 = 1022;
}

/// Socket reads per poll before the engine turns (fairness towards callers and timers).
const MAX_READS_PER_POLL: usize = 16;
/// Socket writes per poll.
const MAX_WRITES_PER_POLL: usize = 64;
/// Free room below which the read buffer grows by [`READ_CHUNK`].
const MIN_READ_ROOM: usize = 16 * 1024;
const READ_CHUNK: usize = 256 * 1024;
/// Re-login backoff: first retry after this, doubling up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Slots of [`IttTags`]' direct-mapped table (a power of two).
const ITT_SLOTS: usize = 1024;

/// The core's tag of each task a session holds, by Initiator Task Tag: a direct-mapped table
/// (the session hands out tags in sequence, so the live ones almost never share a slot)
/// and a map for a tag whose slot another live task holds. One index and one compare per
/// lookup instead of a hash; bounded by the tasks in flight.
#[derive(Debug)]
pub(crate) struct IttTags {
    slots: Vec<Option<(u32, Tag)>>,
    spill: FastMap<u32, Tag>,
}

impl Default for IttTags {
    fn default() -> IttTags {
        IttTags {
            slots: vec![None; ITT_SLOTS],
            spill: FastMap::default(),
        }
    }
}

impl IttTags {
    fn slot(itt: u32) -> usize {
        itt as usize & (ITT_SLOTS - 1)
    }

    pub fn insert(&mut self, itt: u32, tag: Tag) {
        match &mut self.slots[Self::slot(itt)] {
            Some((held, _)) if *held != itt => {
                self.spill.insert(itt, tag);
            }
            slot => *slot = Some((itt, tag)),
        }
    }

    pub fn remove(&mut self, itt: &u32) -> Option<Tag> {
        let slot = &mut self.slots[Self::slot(*itt)];
        if slot.is_some_and(|(held, _)| held == *itt) {
            return slot.take().map(|(_, tag)| tag);
        }
        if self.spill.is_empty() {
            return None;
        }
        self.spill.remove(itt)
    }

    pub fn contains_key(&self, itt: &u32) -> bool {
        self.slots[Self::slot(*itt)].is_some_and(|(held, _)| held == *itt)
            || self.spill.contains_key(itt)
    }
}

/// A connection lost sooner than this after its login counts as a quick failure: the next
/// re-login waits the backoff (doubling with each quick failure), so a target that breaks
/// every session at once is not hammered.
const QUICK_FAILURE: Duration = Duration::from_secs(10);

/// What the engine must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// The connection failed: the devices block, commands in flight end
    /// `DID_TRANSPORT_DISRUPTED`.
    Lost,
    /// Logged in again: the devices run again.
    Restored,
    /// `replacement_timeout` passed without a login: the devices go transport-offline.
    RecoveryTimedOut,
    /// Logged out for good.
    Closed,
}

/// Why a command could not be handed to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The session is re-logging in (Linux: `DID_IMM_RETRY`).
    Recovering,
    /// The replacement timeout passed (Linux: `DID_TRANSPORT_FAILFAST`).
    RecoveryFailed,
    /// Logged out.
    Closed,
    Session(SubmitError),
}

type LoginResult = Result<(Connection, LoginOutcome), ClientError>;

/// The waker a link's socket holds for read readiness: it records that readiness fired and
/// wakes the engine.
#[derive(Debug, Default)]
struct ReadWake {
    woken: AtomicBool,
    engine: Mutex<Option<Waker>>,
}

impl Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let engine = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(engine) = engine.as_ref() {
            engine.wake_by_ref();
        }
    }
}

/// A logged-in connection.
#[derive(Debug)]
struct Up {
    stream: TcpStream,
    decoder: PduDecoder,
    read_buffer: BytesMut,
    write_buffer: Vec<u8>,
    written: usize,
    session: Session,
    /// The last read ended `Pending` with [`ReadWake`] registered: no read until it fires.
    read_parked: bool,
}

/// No connection: re-login attempts with backoff.
#[derive(Debug)]
struct Down {
    give_up: Instant,
    failed: bool,
    backoff: Duration,
    next_attempt: Instant,
    attempt: Option<oneshot::Receiver<LoginResult>>,
    attempts: u32,
}

#[derive(Debug)]
enum State {
    Up(Box<Up>),
    Down(Down),
    Closed,
}

/// One session to one target: the core's host.
#[derive(Debug)]
pub(crate) struct Link {
    pub target: TargetUrl,
    pub host: HostId,
    /// open-iscsi's session number (`session1`, `connection1:0`).
    pub sid: u32,
    config: ClientConfig,
    isid: [u8; 6],
    replacement_timeout: Duration,
    state: State,
    /// Events of a session that just died, still to be delivered.
    orphans: VecDeque<SessionEvent>,
    /// The core tag of each task in flight, by Initiator Task Tag.
    pub itt_tags: IttTags,
    events: VecDeque<LinkEvent>,
    notes: VecDeque<IscsiNote>,
    closing: bool,
    relogin_after_logout: bool,
    logged_in_at: Instant,
    /// Connections in a row that died within [`QUICK_FAILURE`] of their login.
    quick_failures: u32,
    read_wake: Arc<ReadWake>,
    /// `read_wake` as a waker (made once).
    read_waker: Waker,
    /// The engine waker `read_wake` holds (compared each turn without its lock).
    engine_waker: Option<Waker>,
}

impl Link {
    /// A link for a session that just logged in.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: TargetUrl,
        host: HostId,
        sid: u32,
        config: ClientConfig,
        isid: [u8; 6],
        replacement_timeout: Duration,
        connection: Connection,
        outcome: LoginOutcome,
        now: Instant,
    ) -> Link {
        let read_wake = Arc::new(ReadWake::default());
        let mut link = Link {
            target,
            host,
            sid,
            config,
            isid,
            replacement_timeout,
            state: State::Closed,
            orphans: VecDeque::new(),
            itt_tags: IttTags::default(),
            events: VecDeque::new(),
            notes: VecDeque::new(),
            closing: false,
            relogin_after_logout: false,
            logged_in_at: now,
            quick_failures: 0,
            read_wake: Arc::clone(&read_wake),
            read_waker: Waker::from(read_wake),
            engine_waker: None,
        };
        link.come_up(connection, &outcome, now);
        link
    }

    fn come_up(&mut self, connection: Connection, outcome: &LoginOutcome, now: Instant) {
        self.logged_in_at = now;
        let parts = connection.into_parts();
        let session = Session::new(outcome, self.config.session, now);
        self.state = State::Up(Box::new(Up {
            stream: parts.stream,
            decoder: parts.decoder,
            read_buffer: parts.read_buffer,
            write_buffer: Vec::with_capacity(64 * 1024),
            written: 0,
            session,
            read_parked: false,
        }));
    }

    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    pub fn take_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    #[inline]
    pub fn take_note(&mut self) -> Option<IscsiNote> {
        self.notes.pop_front()
    }

    fn note(&mut self, note: IscsiNote) {
        self.notes.push_back(note);
    }

    // ---- commands ----

    /// Hands a SCSI command to the session; the Initiator Task Tag names it from now on.
    /// A refused command's read buffer comes back unless the session consumed it.
    pub fn submit(
        &mut self,
        request: TaskRequest,
        read_buffer: BytesMut,
    ) -> Result<u32, (Refusal, BytesMut)> {
        match &mut self.state {
            State::Up(up) => up
                .session
                .submit_into(request, read_buffer)
                .map(|TaskId(itt)| itt)
                .map_err(|error| (Refusal::Session(error), BytesMut::new())),
            State::Down(down) if down.failed => Err((Refusal::RecoveryFailed, read_buffer)),
            State::Down(_) => Err((Refusal::Recovering, read_buffer)),
            State::Closed => Err((Refusal::Closed, read_buffer)),
        }
    }

    /// Sends a task management function; `None` when there is no session to send it on.
    pub fn task_management(
        &mut self,
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<u32>,
    ) -> Option<u32> {
        let State::Up(up) = &mut self.state else {
            return None;
        };
        let sent = up
            .session
            .task_management(function, lun, referenced.map(TaskId));
        let itt = sent.ok()?.0;
        self.note(IscsiNote::TmfSent {
            sid: self.sid,
            function,
            lun,
            itt,
        });
        Some(itt)
    }

    /// Does the session still hold the task?
    pub fn holds_task(&self, itt: u32) -> bool {
        self.itt_tags.contains_key(&itt)
    }

    /// Host reset: drop the connection and log in again. Returns false when there is
    /// nothing to recover (logged out).
    pub fn reset_session(&mut self, now: Instant) -> bool {
        match &mut self.state {
            State::Up(_) => {
                let reason = "session reset by the SCSI error handler".to_string();
                self.lose(now, conn_error::SCSI_EH_SESSION_RST, reason);
                // A deliberate reset logs in again at once.
                if let State::Down(down) = &mut self.state {
                    down.next_attempt = now;
                }
                true
            }
            State::Down(down) => {
                if down.failed {
                    down.failed = false;
                    down.give_up = now + self.replacement_timeout;
                    down.backoff = INITIAL_BACKOFF;
                    down.next_attempt = now;
                }
                true
            }
            State::Closed => false,
        }
    }

    /// Logs out (at shutdown); the link reports [`LinkEvent::Closed`] when done.
    pub fn logout(&mut self, now: Instant) {
        self.closing = true;
        match &mut self.state {
            State::Up(up) => {
                up.session.logout(now);
            }
            State::Down(_) => self.close(),
            State::Closed => {}
        }
    }

    fn close(&mut self) {
        if let State::Up(up) = &mut self.state {
            up.session.fail_all();
            while let Some(event) = up.session.poll_event() {
                self.orphans.push_back(event);
            }
        }
        if !self.is_closed() {
            self.state = State::Closed;
            self.events.push_back(LinkEvent::Closed);
        }
    }

    // ---- the session's outputs ----

    /// The next task or task-management answer; other session events are handled here.
    /// The next task or management completion; `now` is converted only for the rare events
    /// that need the wall clock (a logout).
    ///
    /// Inline and small: it runs after every dispatch and completion and almost always finds
    /// nothing or a task's end; the other events are handled out of line.
    #[inline]
    pub fn poll_session_event(&mut self, now: impl Fn() -> Instant + Copy) -> Option<SessionEvent> {
        let event = self.next_session_event()?;
        match event {
            SessionEvent::TaskDone { .. } | SessionEvent::ManagementDone { .. } => Some(event),
            event => self.other_session_event(event, now),
        }
    }

    /// Whether [`Link::poll_session_event`] may have an event (a cheap look: the transport
    /// asks after every dispatch and answer, and mostly there is none).
    #[inline]
    pub fn has_session_event(&self) -> bool {
        !self.orphans.is_empty()
            || match &self.state {
                State::Up(up) => up.session.has_event(),
                _ => false,
            }
    }

    /// The next event of a session that died, else of the live session.
    #[inline]
    fn next_session_event(&mut self) -> Option<SessionEvent> {
        match self.orphans.pop_front() {
            Some(event) => Some(event),
            None => match &mut self.state {
                State::Up(up) => up.session.poll_event(),
                _ => None,
            },
        }
    }

    /// Handles an event that is not a task's end, then goes on as
    /// [`Link::poll_session_event`] does.
    #[cold]
    #[inline(never)]
    fn other_session_event(
        &mut self,
        first: SessionEvent,
        now: impl Fn() -> Instant + Copy,
    ) -> Option<SessionEvent> {
        let mut event = first;
        loop {
            match event {
                SessionEvent::TaskDone { .. } | SessionEvent::ManagementDone { .. } => {
                    return Some(event)
                }
                SessionEvent::LogoutDone { .. } => self.logged_out(now()),
                SessionEvent::LogoutRequested { within_s } => {
                    self.note(IscsiNote::LogoutRequested {
                        sid: self.sid,
                        within_s,
                    });
                    if let State::Up(up) = &mut self.state {
                        self.relogin_after_logout = true;
                        up.session.logout(now());
                    }
                }
                SessionEvent::ConnectionDropAnnounced => {}
                SessionEvent::ScsiAsyncEvent { lun, sense } => {
                    let note = IscsiNote::AsyncEvent {
                        sid: self.sid,
                        lun,
                        sense: sense.to_vec(),
                    };
                    self.note(note);
                }
            }
            event = self.next_session_event()?;
        }
    }

    fn logged_out(&mut self, now: Instant) {
        if self.closing || !self.relogin_after_logout {
            self.close();
            return;
        }
        self.relogin_after_logout = false;
        let reason = "logged out at the target's request".to_string();
        self.lose(now, conn_error::CONN_FAILED, reason);
    }

    // ---- I/O ----

    /// Reads what the socket has and feeds the session; true when the engine must turn
    /// again (more may wait than one poll reads, or the connection failed), false when the
    /// socket is drained with the waker registered.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let State::Up(up) = &mut self.state else {
            return false;
        };
        if !self
            .engine_waker
            .as_ref()
            .is_some_and(|engine| engine.will_wake(cx.waker()))
        {
            let engine = cx.waker().clone();
            *self
                .read_wake
                .engine
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(engine.clone());
            self.engine_waker = Some(engine);
        }
        // Cleared before the read: readiness that fires during it is not lost.
        let woken = self.read_wake.woken.swap(false, Ordering::AcqRel);
        if up.read_parked && !woken {
            return false;
        }
        let mut read_cx = Context::from_waker(&self.read_waker);
        let result = up.read(&mut read_cx, now);
        up.read_parked = matches!(result, Ok(false));
        match result {
            Ok(more) => more,
            Err((code, reason)) => {
                self.fail(now, code, reason);
                true
            }
        }
    }

    /// Writes what the session has queued; true when more remains than one poll writes.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let State::Up(up) = &mut self.state else {
            return false;
        };
        match up.write(cx) {
            Ok(more) => more,
            Err((code, reason)) => {
                self.fail(now, code, reason);
                true
            }
        }
    }

    /// A connection error: while logging out it ends the link, else recovery starts.
    fn fail(&mut self, now: Instant, code: u32, reason: String) {
        if self.closing {
            self.close();
        } else {
            self.lose(now, code, reason);
        }
    }

    /// Finishes a login attempt that completed; true when anything happened. Inline: a
    /// link that is up (every turn of a running session) only checks that.
    #[inline]
    pub fn poll_login(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        if !matches!(self.state, State::Down(_)) {
            return false;
        }
        self.poll_login_attempt(cx, now)
    }

    fn poll_login_attempt(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let State::Down(down) = &mut self.state else {
            return false;
        };
        let Some(attempt) = down.attempt.as_mut() else {
            return false;
        };
        let result = match std::pin::Pin::new(attempt).poll(cx) {
            Poll::Pending => return false,
            Poll::Ready(Ok(result)) => result,
            Poll::Ready(Err(_)) => Err(ClientError::Closed),
        };
        down.attempt = None;
        match result {
            Ok((connection, outcome)) => {
                let attempts = down.attempts;
                self.come_up(connection, &outcome, now);
                self.events.push_back(LinkEvent::Restored);
                self.note(IscsiNote::Relogin {
                    sid: self.sid,
                    attempts,
                });
            }
            Err(error) => {
                down.next_attempt = now + down.backoff;
                down.backoff = (down.backoff * 2).min(MAX_BACKOFF);
                let note = IscsiNote::LoginFailed {
                    sid: self.sid,
                    reason: error.to_string(),
                };
                self.note(note);
            }
        }
        true
    }

    // ---- time ----

    /// When [`Link::on_timer`] has work.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Up(up) => up.session.poll_timeout(),
            State::Down(down) => {
                let attempt = down.attempt.is_none().then_some(down.next_attempt);
                let give_up = (!down.failed).then_some(down.give_up);
                match (attempt, give_up) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::Closed => None,
        }
    }

    /// Runs the session's ping and logout timers, the replacement timeout and re-login.
    pub fn on_timer(&mut self, now: Instant) {
        match &mut self.state {
            State::Up(up) => {
                if up.session.poll_timeout().is_some_and(|at| at <= now) {
                    if let Err(error) = up.session.handle_timeout(now) {
                        self.on_session_timeout(now, error);
                    }
                }
            }
            State::Down(down) => {
                if !down.failed && now >= down.give_up {
                    down.failed = true;
                    self.events.push_back(LinkEvent::RecoveryTimedOut);
                    let after_s = self.replacement_timeout.as_secs();
                    self.notes.push_back(IscsiNote::RecoveryTimedOut {
                        sid: self.sid,
                        after_s,
                    });
                }
                let due = matches!(&self.state, State::Down(down)
                    if down.attempt.is_none() && now >= down.next_attempt);
                if due {
                    let attempt = self.start_login();
                    if let State::Down(down) = &mut self.state {
                        down.attempts += 1;
                        down.attempt = Some(attempt);
                    }
                }
            }
            State::Closed => {}
        }
    }

    fn on_session_timeout(&mut self, now: Instant, error: SessionError) {
        match error {
            SessionError::LogoutTimeout => {
                if self.closing {
                    self.close();
                } else {
                    self.lose(now, conn_error::CONN_FAILED, error.to_string());
                }
            }
            SessionError::PingTimeout => {
                let timeout_s = self.config.session.ping.timeout.as_secs();
                self.note(IscsiNote::PingTimeout {
                    sid: self.sid,
                    timeout_s,
                });
                self.fail(now, conn_error::NOP_TIMEDOUT, error.to_string());
            }
            other => self.fail(now, conn_error::CONN_FAILED, other.to_string()),
        }
    }

    fn start_login(&self) -> oneshot::Receiver<LoginResult> {
        let (sender, receiver) = oneshot::channel();
        let (target, config, isid) = (self.target.clone(), self.config.clone(), self.isid);
        tokio::spawn(async move {
            let result = open_session(&target, &config, isid).await;
            let _ = sender.send(result);
        });
        receiver
    }

    /// The connection is gone: every task ends (delivered from `orphans`), recovery starts
    /// with an immediate re-login attempt.
    fn lose(&mut self, now: Instant, code: u32, reason: String) {
        if let State::Up(up) = &mut self.state {
            up.session.fail_all();
            while let Some(event) = up.session.poll_event() {
                self.orphans.push_back(event);
            }
        }
        let quick = now.saturating_duration_since(self.logged_in_at) < QUICK_FAILURE;
        self.quick_failures = if quick { self.quick_failures + 1 } else { 0 };
        let delay = match self.quick_failures {
            0 => Duration::ZERO,
            count => INITIAL_BACKOFF
                .checked_mul(2u32.saturating_pow(count - 1))
                .map_or(MAX_BACKOFF, |delay| delay.min(MAX_BACKOFF)),
        };
        self.state = State::Down(Down {
            give_up: now + self.replacement_timeout,
            failed: false,
            backoff: INITIAL_BACKOFF,
            next_attempt: now + delay,
            attempt: None,
            attempts: 0,
        });
        self.events.push_back(LinkEvent::Lost);
        self.note(IscsiNote::ConnectionError {
            sid: self.sid,
            code,
            reason,
        });
    }
}

impl Up {
    /// Reads and decodes; `Ok(true)` when more may wait after this poll's share, `Err` a
    /// connection error (code, reason).
    fn read(&mut self, cx: &mut Context<'_>, now: Instant) -> Result<bool, (u32, String)> {
        for _ in 0..MAX_READS_PER_POLL {
            if self.read_buffer.capacity() - self.read_buffer.len() < MIN_READ_ROOM {
                self.read_buffer.reserve(READ_CHUNK);
            }
            // Into the read buffer, or straight into a reading task's buffer (a large
            // Data-In's data segment: see `Session::read_target`).
            let mut target = self.session.read_target(&mut self.read_buffer);
            // Whether the socket is empty now: a short read drained it, so another would
            // only say `WouldBlock`; wait for readiness instead of paying for that read.
            let drained = match read_draining(&self.stream, &mut target) {
                Ok((0, _)) => {
                    let reason = "target closed the connection".to_string();
                    return Err((conn_error::TCP_CONN_CLOSE, reason));
                }
                Ok((_, drained)) => {
                    self.session
                        .handle_read(now, &self.decoder, &mut self.read_buffer)
                        .map_err(|error| (conn_error::PROTO, error.to_string()))?;
                    drained
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => true,
                Err(error) => return Err((conn_error::CONN_FAILED, error.to_string())),
            };
            if drained {
                match self.stream.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => {
                        return Err((conn_error::CONN_FAILED, error.to_string()))
                    }
                    Poll::Pending => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    /// Writes queued PDUs; `Ok(true)` when more remains after this poll's share.
    fn write(&mut self, cx: &mut Context<'_>) -> Result<bool, (u32, String)> {
        for _ in 0..MAX_WRITES_PER_POLL {
            if self.written == self.write_buffer.len() {
                self.write_buffer.clear();
                self.written = 0;
                // Written out and nothing queued (the common case after the work of a
                // turn): no encoding pass to find that out.
                if !self.session.has_transmit() {
                    return Ok(false);
                }
                self.session
                    .poll_transmit(&mut self.write_buffer)
                    .map_err(|error| (conn_error::XMIT_FAILED, error.to_string()))?;
                if self.write_buffer.is_empty() {
                    return Ok(false);
                }
            }
            let pending = self.write_buffer.get(self.written..).unwrap_or_default();
            match self.stream.try_write(pending) {
                Ok(0) => {
                    let reason = "socket closed for writing".to_string();
                    return Err((conn_error::XMIT_FAILED, reason));
                }
                Ok(count) => self.written += count,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    match self.stream.poll_write_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(error)) => {
                            return Err((conn_error::XMIT_FAILED, error.to_string()))
                        }
                        Poll::Pending => return Ok(false),
                    }
                }
                Err(error) => return Err((conn_error::XMIT_FAILED, error.to_string())),
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itt_tags_find_each_live_task_even_when_slots_are_shared() {
        let mut tags = IttTags::default();
        let tag = |n: u32| Tag {
            slot: n,
            generation: 1,
        };
        let shared = 5 + ITT_SLOTS as u32;
        tags.insert(5, tag(1));
        tags.insert(shared, tag(2));
        tags.insert(6, tag(3));
        assert!(tags.contains_key(&5) && tags.contains_key(&shared));
        assert_eq!(tags.remove(&shared), Some(tag(2)));
        assert_eq!(tags.remove(&5), Some(tag(1)));
        assert_eq!(tags.remove(&5), None, "removed once");
        assert!(!tags.contains_key(&7));
        assert_eq!(tags.remove(&6), Some(tag(3)));
    }
}
