//! The engine: one tokio task that owns the core (`MidLayer`), every session's socket and
//! the callers' buffers, and runs them with the harness's one driver loop on the wall clock.
//!
//! ```text
//!  Disk ──reply slot + queue (mailbox)──► poll: submissions ─► Driver::submit
//!  other requests ──mpsc (bounded)──► poll: messages
//!                                 sockets ─► Session::handle_pdu ─► session events
//!                                 Driver::advance_to(now): actions ─► IscsiTransport,
//!                                    transport events ─► core, core timers
//!                                 outputs: Complete ─► reply slot; Trace ─► Observer
//!                                 sockets ◄─ Session::poll_transmit; one timer for all
//! ```
//!
//! Cost per I/O: one reply slot taken and answered (no allocation, no channel message), no
//! task spawned, no map with the default hasher, and the timer is re-armed only when it
//! fired or a deadline moved earlier.
//! Owns the loop, link state changes as device states (block, unblock, transport-offline,
//! as Linux's iSCSI transport class does) and shutdown. Decisions are the core's.

mod callers;
mod clock;
mod link;
mod mailbox;
mod mpath;
mod notes;
mod observe;
mod transport;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;
use unjam_core::config::{Capabilities, DeviceConfig, HostConfig, Personality, TimedOutHook};
use unjam_core::harness::{Driver, DriverOptions, KeptDeadline, Output};
use unjam_core::state::DeviceState;
use unjam_core::topology::DeviceId;
use unjam_core::{MidLayer, Request};
use unjam_iscsi::client::{ClientConfig, Connection};
use unjam_iscsi::login::LoginOutcome;
use unjam_iscsi::url::TargetUrl;
use unjam_multipath::is_multipath_token;

use callers::Caller;
pub(crate) use callers::Reply;
pub(crate) use clock::Clock;
use link::{Link, LinkEvent};
pub(crate) use mailbox::{data, nothing, Target};
use mailbox::{Mailbox, Submission};
pub(crate) use mpath::PathIdentity;
pub use notes::IscsiNote;
pub(crate) use observe::Observer;
pub use observe::Sink;
pub(crate) use transport::ResetReply;
pub use transport::{response_text, UserReset};
use transport::{IscsiTransport, Route};

use crate::command::{Command, IoError, MAX_TRANSFER_BYTES};
use crate::knobs::Knobs;

/// Turns of the loop per poll before the engine yields to other tasks.
const MAX_TURNS_PER_POLL: usize = 8;
/// Caller messages (and, separately, submitted commands) taken per turn.
const MAX_MESSAGES_PER_TURN: usize = 256;
/// How much later than wanted the one timer may fire. Deadlines move on every completion
/// (the oldest command's timeout, the ping after the last PDU); re-arming a tokio timer
/// each time would cost more than the I/O. It is re-armed when it fired or when the
/// earliest deadline moved earlier by more than this.
const TIMER_SLACK: Duration = Duration::from_millis(20);
/// How far ahead the timer is armed when nothing has a deadline.
const NO_DEADLINE: Duration = Duration::from_secs(86_400);
/// Bound on caller messages other than commands waiting for the engine (commands wait in
/// the mailbox's reply slots, `mailbox::SLOTS`).
pub(crate) const MESSAGE_CHANNEL: usize = 4096;

/// The iSCSI transport's capability set: ABORT TASK, LOGICAL UNIT RESET, TARGET WARM RESET
/// and host reset by session re-login. No bus reset, no completion polling.
pub fn iscsi_capabilities() -> Capabilities {
    Capabilities {
        abort: true,
        lun_reset: true,
        target_reset: true,
        bus_reset: false,
        host_reset: true,
        poll: false,
    }
}

/// What a caller asks the engine, other than commands (`mailbox`).
#[derive(Debug)]
pub(crate) enum Message {
    AddDevice {
        link: usize,
        lun: u64,
        lun_field: u64,
        reply: oneshot::Sender<Result<DeviceId, String>>,
    },
    Reset {
        device: DeviceId,
        kind: UserReset,
        reply: ResetReply,
    },
    Logout {
        reply: oneshot::Sender<()>,
    },
    /// Group core devices into multipath devices (`engine::mpath`).
    MpathStart {
        paths: Vec<DeviceId>,
        config: unjam_multipath::Config,
        reply: mpath::StartReply,
    },
    MpathView {
        mpath: unjam_multipath::MpathId,
        reply: oneshot::Sender<Option<mpath::Snapshot>>,
    },
}

/// A session that logged in, for the engine to take over.
#[derive(Debug)]
pub(crate) struct LoggedIn {
    pub target: TargetUrl,
    pub config: ClientConfig,
    pub isid: [u8; 6],
    pub connection: Connection,
    pub outcome: LoginOutcome,
}

/// The cheap, cloneable way to talk to the engine.
#[derive(Debug)]
pub(crate) struct EngineHandle {
    /// `None` only while the handle drops (the channel closes before the engine is told).
    messages: Option<mpsc::Sender<Message>>,
    mailbox: Arc<Mailbox>,
}

impl Clone for EngineHandle {
    fn clone(&self) -> EngineHandle {
        EngineHandle {
            messages: self.messages.clone(),
            mailbox: Arc::clone(&self.mailbox),
        }
    }
}

impl Drop for EngineHandle {
    /// The engine polls its channel only when told: the last handle's drop closes it.
    fn drop(&mut self) {
        drop(self.messages.take());
        self.mailbox.note_message();
    }
}

impl EngineHandle {
    async fn ask<T>(&self, message: Message, answer: oneshot::Receiver<T>) -> Option<T> {
        let messages = self.messages.as_ref()?;
        // A free slot is taken without the waiting future `send` builds; a full channel
        // (more callers than MESSAGE_CHANNEL) waits for room.
        match messages.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => {
                messages.send(message).await.ok()?;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return None,
        }
        self.mailbox.note_message();
        answer.await.ok()
    }

    /// Runs one command on a core device (`Target::Device`) or a multipath device.
    pub async fn execute(
        &self,
        target: Target,
        command: Command,
    ) -> Result<crate::command::CommandOutcome, IoError> {
        self.execute_with(target, command, mailbox::whole).await
    }

    /// [`EngineHandle::execute`], taking only what `take` wants of the outcome.
    pub async fn execute_with<T>(
        &self,
        target: Target,
        command: Command,
        take: mailbox::Take<T>,
    ) -> Result<T, IoError> {
        // A free slot is taken without the waiting future `submit` builds, and with this
        // task's waker in it: the reply's first poll, in this same poll, takes no lock.
        let mut command = Some(command);
        let submitted = std::future::poll_fn(|cx| {
            let waker = Some(cx.waker());
            Poll::Ready(
                self.mailbox
                    .try_submit_waking(target, &mut command, take, waker),
            )
        })
        .await;
        let reply = match submitted? {
            Some(reply) => reply,
            None => self.mailbox.submit(target, &mut command, take).await?,
        };
        reply.await
    }

    pub async fn add_device(
        &self,
        link: usize,
        lun: u64,
        lun_field: u64,
    ) -> Result<DeviceId, String> {
        let (reply, answer) = oneshot::channel();
        let message = Message::AddDevice {
            link,
            lun,
            lun_field,
            reply,
        };
        let stopped = || Err("the initiator has stopped".to_string());
        self.ask(message, answer).await.unwrap_or_else(stopped)
    }

    pub async fn reset(&self, device: DeviceId, kind: UserReset) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        let message = Message::Reset {
            device,
            kind,
            reply,
        };
        let stopped = || Err("the initiator has stopped".to_string());
        self.ask(message, answer).await.unwrap_or_else(stopped)
    }

    /// Groups `paths` into multipath devices; what identification found for each.
    pub async fn mpath_start(
        &self,
        paths: Vec<DeviceId>,
        config: unjam_multipath::Config,
    ) -> Result<Vec<PathIdentity>, String> {
        let (reply, answer) = oneshot::channel();
        let message = Message::MpathStart {
            paths,
            config,
            reply,
        };
        let stopped = || Err("the initiator has stopped".to_string());
        self.ask(message, answer).await.unwrap_or_else(stopped)
    }

    /// A multipath device with its paths and counters, and its paths' device states.
    pub async fn mpath_view(&self, mpath: unjam_multipath::MpathId) -> Option<mpath::Snapshot> {
        let (reply, answer) = oneshot::channel();
        self.ask(Message::MpathView { mpath, reply }, answer)
            .await
            .flatten()
    }

    /// Logs out of every session; returns when the engine has stopped.
    pub async fn logout(&self) {
        let (reply, answer) = oneshot::channel();
        let _ = self.ask(Message::Logout { reply }, answer).await;
    }
}

/// Starts the engine task for sessions that logged in.
pub(crate) fn start(knobs: Knobs, sessions: Vec<LoggedIn>, observer: Observer) -> EngineHandle {
    let (sender, receiver) = mpsc::channel(MESSAGE_CHANNEL);
    let mailbox = Arc::new(Mailbox::default());
    let engine = Engine::new(knobs, sessions, observer, receiver, Arc::clone(&mailbox));
    tokio::spawn(engine.run());
    EngineHandle {
        messages: Some(sender),
        mailbox,
    }
}

struct Engine {
    driver: Driver<IscsiTransport>,
    messages: mpsc::Receiver<Message>,
    messages_closed: bool,
    /// A handle sent a message or dropped since the channel was last found empty: the
    /// channel is polled only then (polling an empty channel every turn costs as much as
    /// a command's hand-over).
    poll_channel: bool,
    /// The callers' commands and reply slots; closed when the engine ends or is dropped.
    mailbox: Arc<Mailbox>,
    /// Submissions taken from the mailbox, handled outside its lock (kept for its capacity).
    submissions: VecDeque<Submission>,
    /// The waker the mailbox was last given (`Mailbox::is_idle` holds for that one).
    mailbox_waker: Option<std::task::Waker>,
    clock: Clock,
    /// The last wall-clock instant converted for the core, and what it became: a turn
    /// converts its one `now` once, not once per caller message.
    core_time: (Instant, unjam_core::Instant),
    knobs: Knobs,
    observer: Observer,
    timer: Pin<Box<Sleep>>,
    /// A deadline earlier than this re-arms the timer: [`TIMER_SLACK`] before the instant
    /// it is armed for.
    rearm_below: Instant,
    /// The core's earliest deadline in wall-clock time, read again only when the core armed
    /// a timer since or it is due ([`KeptDeadline`]).
    core_deadline: KeptDeadline<Instant>,
    /// The timer was polled since it was last re-armed: its waker is registered, so it
    /// needs no poll until it fires or is re-armed.
    timer_polled: bool,
    closing: bool,
    logout_waiters: Vec<oneshot::Sender<()>>,
    /// Multipath devices, once asked for.
    mpath: Option<mpath::MpathSide>,
}

impl Engine {
    fn new(
        knobs: Knobs,
        sessions: Vec<LoggedIn>,
        observer: Observer,
        messages: mpsc::Receiver<Message>,
        mailbox: Arc<Mailbox>,
    ) -> Engine {
        let clock = Clock::start();
        let capacity = knobs.cmds_max as usize * sessions.len().max(1);
        let mut mid = MidLayer::with_capacity(capacity * 2);
        mid.set_tracing(observer.wants_core_trace());
        let mut transport = IscsiTransport::new(knobs, clock, capacity);
        let now = Instant::now();
        for (index, session) in sessions.into_iter().enumerate() {
            let host = mid.add_host(host_config(&knobs, index as u32));
            let sid = index as u32 + 1;
            let link = Link::new(
                session.target,
                host,
                sid,
                session.config,
                session.isid,
                knobs.replacement_timeout,
                session.connection,
                session.outcome,
                now,
            );
            transport.links.push(link);
        }
        let options = DriverOptions {
            check: false,
            keep_history: false,
        };
        let far = now + NO_DEADLINE;
        Engine {
            driver: Driver::with_options(mid, transport, options),
            messages,
            messages_closed: false,
            poll_channel: true,
            mailbox,
            submissions: VecDeque::new(),
            mailbox_waker: None,
            clock,
            core_time: (clock.epoch(), unjam_core::Instant::ZERO),
            knobs,
            observer,
            timer: Box::pin(tokio::time::sleep_until(far.into())),
            rearm_below: far,
            core_deadline: KeptDeadline::new(),
            timer_polled: false,
            closing: false,
            logout_waiters: Vec::new(),
            mpath: None,
        }
    }

    async fn run(mut self) {
        std::future::poll_fn(|cx| self.poll(cx)).await;
        self.mailbox.close();
        self.observer.flush();
        for waiter in self.logout_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// One turn handles everything that is ready: caller messages, socket reads, the core,
    /// socket writes and the timer. Each source that has nothing more returned `Pending` with
    /// the engine's waker registered, so the next turn runs only when a source stopped at its
    /// per-turn bound, a link changed state (the core must see it), a login finished (the
    /// new socket has not been polled yet) or the timer fired. A turn that only confirmed
    /// that nothing was ready would cost as much as a whole I/O's bookkeeping.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..MAX_TURNS_PER_POLL {
            let now = Instant::now();
            let mut again = self.poll_messages(cx, now);
            again |= self.poll_links(cx, now);
            again |= self.link_events(now);
            self.run_core(now);
            again |= self.link_events(now);
            again |= self.flush_links(cx, now);
            again |= self.link_events(now);
            if self.closing && self.transport().links.iter().all(Link::is_closed) {
                let mailbox = &self.mailbox;
                self.driver
                    .transport
                    .fail_callers(IoError::Stopped, mailbox);
                return Poll::Ready(());
            }
            again |= self.poll_timer(cx, now);
            if !again {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn transport(&self) -> &IscsiTransport {
        &self.driver.transport
    }

    fn transport_mut(&mut self) -> &mut IscsiTransport {
        &mut self.driver.transport
    }

    // ---- callers ----

    /// Takes the callers' commands and messages; true when more may wait than one turn
    /// takes (or the channel closed), false when both are empty with the waker registered.
    fn poll_messages(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        // Skipped when nothing came since the last take and its waker is still this one.
        let registered = self
            .mailbox_waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        let (more, told) = if registered && self.mailbox.is_idle() {
            (false, false)
        } else {
            if !registered {
                self.mailbox_waker = Some(cx.waker().clone());
            }
            self.mailbox
                .take(&mut self.submissions, MAX_MESSAGES_PER_TURN, cx.waker())
        };
        self.poll_channel |= told;
        if !self.submissions.is_empty() {
            let mut submissions = std::mem::take(&mut self.submissions);
            while let Some(submission) = submissions.pop_front() {
                let Submission {
                    target,
                    command,
                    reply,
                } = submission;
                match target {
                    Target::Device(device) => self.submit(device, command, Some(reply), now),
                    Target::Mpath(mpath) => self.mpath_submit(mpath, command, Some(reply), now),
                }
            }
            // The emptied queue goes back for its capacity.
            self.submissions = submissions;
        }
        if self.messages_closed || !self.poll_channel {
            return more;
        }
        for _ in 0..MAX_MESSAGES_PER_TURN {
            match self.messages.poll_recv(cx) {
                Poll::Ready(Some(message)) => self.handle(message, now),
                Poll::Ready(None) => {
                    // Every handle is gone: log out and stop.
                    self.messages_closed = true;
                    self.start_closing(now);
                    return true;
                }
                Poll::Pending => {
                    self.poll_channel = false;
                    return more;
                }
            }
        }
        true
    }

    fn handle(&mut self, message: Message, now: Instant) {
        match message {
            Message::AddDevice {
                link,
                lun,
                lun_field,
                reply,
            } => {
                let _ = reply.send(self.add_device(link, lun, lun_field, now));
            }
            Message::Reset {
                device,
                kind,
                reply,
            } => self.transport_mut().user_reset(now, device, kind, reply),
            Message::Logout { reply } => {
                self.logout_waiters.push(reply);
                self.start_closing(now);
            }
            Message::MpathStart {
                paths,
                config,
                reply,
            } => self.mpath_start(paths, config, reply, now),
            Message::MpathView { mpath, reply } => {
                let _ = reply.send(self.mpath_view(mpath));
            }
        }
    }

    fn submit(&mut self, device: DeviceId, command: Command, reply: Reply, now: Instant) {
        if self.closing {
            return self.refuse(reply, IoError::Stopped);
        }
        let length = command.transfer.length();
        if length > u64::from(MAX_TRANSFER_BYTES) {
            let text = format!("transfer of {length} bytes exceeds {MAX_TRANSFER_BYTES}");
            return self.refuse(reply, IoError::Invalid(text));
        }
        let passthrough = command.is_passthrough();
        let caller = Caller::new(command.transfer, reply);
        let token = self.transport_mut().callers.insert(caller);
        let mut request = Request::new(command.cdb, token);
        request.data_len = length as u32;
        request.block = command.block;
        request.passthrough = passthrough;
        request.timeout = command.timeout;
        request.allowed = command.retries;
        self.driver.now = self.driver.now.max(self.core_time(now));
        if let Err(error) = self.driver.submit(device, request) {
            if let Some(caller) = self.transport_mut().callers.remove(token) {
                caller.fail(IoError::Refused(error.to_string()), &self.mailbox);
            }
        }
    }

    /// Answers a command the engine does not run.
    fn refuse(&self, reply: Reply, error: IoError) {
        if let Some(reply) = reply {
            self.mailbox.answer(reply, Err(error));
        }
    }

    fn add_device(
        &mut self,
        link: usize,
        lun: u64,
        lun_field: u64,
        now: Instant,
    ) -> Result<DeviceId, String> {
        let Some(host) = self.transport().links.get(link).map(|link| link.host) else {
            return Err(format!("no session {link}"));
        };
        let config = device_config(&self.knobs, lun);
        let device = self
            .driver
            .mid
            .add_device(host, config)
            .map_err(|error| error.to_string())?;
        let route = Route { link, lun_field };
        self.transport_mut().add_route(device, route);
        if !self.transport().links[link].is_up() {
            let now = self.clock.to_core(now);
            let _ = self
                .driver
                .mid
                .set_device_state(now, device, DeviceState::Block);
        }
        Ok(device)
    }

    fn start_closing(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        self.closing = true;
        for link in &mut self.transport_mut().links {
            link.logout(now);
        }
    }

    // ---- sockets and sessions ----

    /// Reads every socket and finishes logins; true when another turn is needed (a read
    /// stopped at its bound, a connection failed, a login finished).
    fn poll_links(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut again = false;
        for link in &mut self.driver.transport.links {
            again |= link.poll_read(cx, now);
            again |= link.poll_login(cx, now);
        }
        again
    }

    fn flush_links(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut more = false;
        for link in &mut self.driver.transport.links {
            more |= link.poll_write(cx, now);
        }
        more
    }

    /// Runs the core and the transport until nothing is due now, then hands out what came
    /// of it: completions to callers, trace records and notes to the observer.
    fn run_core(&mut self, now: Instant) {
        for _ in 0..mpath::MAX_ROUNDS {
            self.run_core_once(now);
            // Multipath devices: the layer answers what the core completed and may send
            // more (another path, the checker); then the core runs again.
            if self.mpath.is_none() || !self.mpath_step(now) {
                break;
            }
        }
    }

    /// `clock.to_core(now)`, converted once per distinct `now` (a turn's messages and its
    /// core run share one).
    fn core_time(&mut self, now: Instant) -> unjam_core::Instant {
        if self.core_time.0 != now {
            self.core_time = (now, self.clock.to_core(now));
        }
        self.core_time.1
    }

    fn run_core_once(&mut self, wall: Instant) {
        let now = self.core_time(wall);
        self.driver.advance_to(now);
        // Each output is looked at where it lies in the driver's queue, then dropped:
        // moving a completion out is a copy.
        while let Some((output, mid, transport)) = self.driver.peek_output() {
            match output {
                Output::Completed(completion) if is_multipath_token(completion.token) => {
                    let completion = *completion;
                    self.driver.drop_output();
                    self.mpath_completed(&completion, wall);
                    continue;
                }
                Output::Completed(completion) => {
                    let token = completion.token;
                    transport.callers.complete(token, completion, &self.mailbox);
                }
                Output::Traced(record) => self.observer.core(record, mid),
                Output::Note(at, note) => self.observer.note(*at, note),
            }
            self.driver.drop_output();
        }
        while let Some(note) = unjam_core::harness::Transport::poll_note(&mut self.driver.transport)
        {
            self.observer.note(now, &note);
        }
    }

    /// Applies what the links reported to the core's devices (Linux's iSCSI transport
    /// class: block on a lost connection, unblock on re-login, transport-offline when
    /// `replacement_timeout` passes).
    ///
    /// Called three times per engine turn and almost always finds nothing: the check stays
    /// inline and small, the rare handling is out of line.
    #[inline]
    fn link_events(&mut self, now: Instant) -> bool {
        let mut any = false;
        for index in 0..self.transport().links.len() {
            while let Some(event) = self.driver.transport.links[index].take_event() {
                any = true;
                self.handle_link_event(index, event, now);
            }
        }
        any
    }

    #[cold]
    #[inline(never)]
    fn handle_link_event(&mut self, link: usize, event: LinkEvent, now: Instant) {
        self.driver.transport.link_event(link, event);
        self.apply_link_event(link, event, now);
    }

    fn apply_link_event(&mut self, link: usize, event: LinkEvent, now: Instant) {
        let now = self.clock.to_core(now);
        let host = self.transport().links[link].host;
        let devices: Vec<DeviceId> = self.transport().devices_of(link).collect();
        let (hook, from, to): (_, &[DeviceState], _) = match event {
            // A multipath path fails its I/O over at once (engine::mpath).
            LinkEvent::Lost if self.mpath_fast_fail(link) => (
                TimedOutHook::NotHandled,
                &[DeviceState::Running, DeviceState::Block],
                DeviceState::TransportOffline,
            ),
            LinkEvent::Lost => (
                TimedOutHook::ResetTimer,
                &[DeviceState::Running],
                DeviceState::Block,
            ),
            LinkEvent::Restored => (
                TimedOutHook::NotHandled,
                &[DeviceState::Block, DeviceState::TransportOffline],
                DeviceState::Running,
            ),
            LinkEvent::RecoveryTimedOut => (
                TimedOutHook::NotHandled,
                &[DeviceState::Block],
                DeviceState::TransportOffline,
            ),
            LinkEvent::Closed => return,
        };
        let mid = &mut self.driver.mid;
        let _ = mid.set_timed_out_hook(host, hook);
        for device in devices {
            if mid
                .device_state(device)
                .is_some_and(|state| from.contains(&state))
            {
                let _ = mid.set_device_state(now, device, to);
            }
        }
    }

    // ---- time ----

    /// Arms the one timer for the earliest deadline of the core, the links and the task
    /// management functions; when it fires, runs the link and TMF timers (the core's run
    /// in `run_core`).
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let wanted = self.next_deadline(now);
        if self.timer.is_elapsed() || wanted < self.rearm_below {
            self.timer.as_mut().reset(wanted.into());
            self.rearm_below = wanted.checked_sub(TIMER_SLACK).unwrap_or(wanted);
        } else if self.timer_polled {
            // Armed, registered and not fired: polling it would only say so again.
            return false;
        }
        self.timer_polled = true;
        if self.timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        let now = Instant::now();
        for link in &mut self.driver.transport.links {
            link.on_timer(now);
        }
        self.driver.transport.expire_tmfs(now);
        true
    }

    /// The earliest deadline of the core, the links, the task management functions and the
    /// multipath layer (a day ahead when none has one). The core's is read again only when
    /// it armed a timer since (the only way it moves earlier) or when the one read is due.
    fn next_deadline(&mut self, now: Instant) -> Instant {
        let clock = self.clock;
        let core = self.core_deadline.get(&mut self.driver.mid, now, |mid| {
            mid.poll_timeout().map(|at| clock.to_std(at))
        });
        let transport = &self.driver.transport;
        let mut earliest = earlier(core, transport.tmf_deadline());
        for link in &transport.links {
            earliest = earlier(earliest, link.deadline());
        }
        if self.mpath.is_some() {
            earliest = earlier(earliest, self.mpath_deadline());
        }
        earliest.unwrap_or_else(|| now + NO_DEADLINE)
    }
}

/// The earlier of two optional deadlines.
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Drop for Engine {
    /// An engine dropped before it ended (its runtime shut down) answers every caller still
    /// waiting: nothing will complete their commands.
    fn drop(&mut self) {
        self.mailbox.close();
    }
}

/// One core host per session (as iscsi_tcp), with the transport's capabilities and a
/// task-management backstop longer than any of the knobs' own timeouts.
fn host_config(knobs: &Knobs, host_number: u32) -> HostConfig {
    let mut host = HostConfig::new(host_number, Personality::IscsiTcp);
    host.capabilities = iscsi_capabilities();
    host.can_queue = knobs.cmds_max;
    host.skip_settle_delay = knobs.skip_settle_delay;
    let longest = knobs
        .abort_timeout
        .max(knobs.lu_reset_timeout)
        .max(knobs.tgt_reset_timeout)
        .max(knobs.replacement_timeout + knobs.login_timeout);
    host.tmf_timeout = longest + Duration::from_secs(5);
    host
}

fn device_config(knobs: &Knobs, lun: u64) -> DeviceConfig {
    let mut device = DeviceConfig::disk(0, 0, lun);
    device.queue_depth = knobs.queue_depth;
    device.max_outstanding = knobs.queue_depth.saturating_mul(4).max(64);
    device.timeout = knobs.command_timeout;
    device.eh_timeout = knobs.eh_timeout;
    device.allowed = knobs.retries;
    device.eh_scopes = knobs.eh_scopes;
    device
}
