//! The driver task: one per session. It runs the sans-I/O session against a socket, answers
//! callers, and re-establishes a lost connection within the recovery policy's bounds.
//!
//! ```text
//!  Connected ──loss──► Recovering (hold new commands; re-login with backoff)
//!      ▲                    │ success                 │ replacement_timeout
//!      └────────────────────┘                         ▼
//!                                    Failed (commands fail fast; Reconnect restarts)
//! ```
//!
//! The connected loop is fair: callers, writing, reading and the timer are served in turn,
//! one bounded step each per round, so a flood on one side (a NOP-In storm, a burst of
//! submissions) cannot starve the others, and the session's own queues stay bounded. Owns the socket halves, the reply
//! channels and wall-clock timers. Protocol rules are in `session`; retry decisions belong to
//! the caller.

mod events;
mod recovery;

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io::ErrorKind;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustc_hash::FxHashMap;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tracing::warn;

use crate::login::LoginOutcome;
use crate::pdu::{PduDecoder, TaskManagementFunction};
use crate::session::{ScsiOutcome, Session, SessionError, TaskRequest};
use crate::url::TargetUrl;

use super::connection::{read_draining, Connection};
use super::queue;
use super::{ClientConfig, ClientStats, CommandError, RequestId};
use recovery::Recovery;

/// A connection that lived this long resets the reconnect delay.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);

/// Free room below which the read buffer grows by [`READ_CHUNK`].
const MIN_READ_ROOM: usize = 16 * 1024;
const READ_CHUNK: usize = 256 * 1024;

/// Commands drained from the channel per round, so a flood cannot starve the socket.
const MAX_COMMANDS_PER_TURN: usize = 64;

/// Rounds over the sources per wake-up before the driver yields to the runtime.
const MAX_ROUNDS_PER_POLL: usize = 32;

/// Writes (each after encoding up to `transmit_chunk_bytes`) per round.
const MAX_WRITES_PER_ROUND: usize = 4;

type CommandReply = oneshot::Sender<Result<ScsiOutcome, CommandError>>;
type ManageReply = oneshot::Sender<Result<u8, CommandError>>;
type DoneReply = oneshot::Sender<Result<(), CommandError>>;

/// A request from an [`super::IscsiClient`].
#[derive(Debug)]
pub(crate) enum Command {
    Submit {
        id: RequestId,
        request: TaskRequest,
        /// Where a read's data goes (see `Session::submit_into`).
        read_buffer: BytesMut,
        reply: CommandReply,
    },
    Manage {
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<RequestId>,
        reply: ManageReply,
    },
    Reconnect {
        reply: DoneReply,
    },
    Logout {
        reply: DoneReply,
    },
    Stats {
        reply: oneshot::Sender<ClientStats>,
    },
}

/// The socket side of the connected phase.
struct Wire<'a> {
    stream: &'a TcpStream,
    decoder: PduDecoder,
    read_buffer: &'a mut BytesMut,
    write_buffer: Vec<u8>,
    /// Bytes of `write_buffer` already handed to the socket.
    written: usize,
    /// The deadline the timer is armed for.
    armed_for: tokio::time::Instant,
    /// A deadline earlier than this (`armed_for` less `TIMER_SLACK`) re-arms the timer.
    rearm_below: tokio::time::Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The waker the timer holds: it was polled with it since it was last armed.
    timer_waker: Option<Waker>,
}

/// The caller of a SCSI command the session holds.
#[derive(Debug)]
struct PendingTask {
    tag: u32,
    id: RequestId,
    reply: CommandReply,
}

/// Why the connected phase ended.
enum Ended {
    ConnectionLost(String),
    ReconnectRequested(DoneReply),
    /// Our logout finished (or failed, or timed out): answer the caller and stop.
    LoggedOut(Option<DoneReply>, Result<(), CommandError>),
    HandlesDropped,
}

#[derive(Debug)]
pub(crate) struct Driver {
    url: TargetUrl,
    config: ClientConfig,
    isid: [u8; 6],
    commands: queue::Receiver<Command>,
    /// Callers of SCSI commands by their task's slot in the session (`Session::task_slot`):
    /// no hashing per command.
    pending: Vec<Option<PendingTask>>,
    /// Task management callers by tag (rare): no key is chosen by the target, so the Fx hash.
    management: FxHashMap<u32, ManageReply>,
    held: VecDeque<Command>,
    logout_reply: Option<DoneReply>,
    reconnect_waiters: Vec<DoneReply>,
    stats: ClientStats,
}

impl Driver {
    pub fn new(
        url: TargetUrl,
        config: ClientConfig,
        isid: [u8; 6],
        commands: queue::Receiver<Command>,
    ) -> Driver {
        Driver {
            url,
            config,
            isid,
            commands,
            pending: Vec::new(),
            management: FxHashMap::default(),
            held: VecDeque::new(),
            logout_reply: None,
            reconnect_waiters: Vec::new(),
            stats: ClientStats::default(),
        }
    }

    pub async fn run(mut self, connection: Connection, outcome: LoginOutcome) {
        let mut current = Some((connection, outcome));
        let mut delay = Duration::ZERO;
        loop {
            let Some((mut connection, outcome)) = current.take() else {
                return;
            };
            self.stats.logins += 1;
            let started = Instant::now();
            match self.connected(&mut connection, &outcome).await {
                Ended::HandlesDropped => return,
                Ended::LoggedOut(reply, result) => {
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                    return;
                }
                Ended::ConnectionLost(reason) => {
                    warn!(target = %self.url, %reason, "iSCSI connection lost");
                    delay = self.reconnect_delay(delay, started.elapsed());
                    if !self.config.recovery.enabled && !self.failed().await {
                        return;
                    }
                }
                Ended::ReconnectRequested(reply) => {
                    self.reconnect_waiters.push(reply);
                    delay = Duration::ZERO;
                }
            }
            drop(connection);
            current = loop {
                match self.recover(delay).await {
                    Recovery::Connected(connection, outcome) => break Some((connection, outcome)),
                    Recovery::Exit => return,
                    Recovery::TimedOut => {
                        if !self.failed().await {
                            return;
                        }
                    }
                }
            };
        }
    }

    /// How long to wait before re-logging in after a loss: nothing after a connection that
    /// lived `STABLE_CONNECTION`, else the previous delay doubled (from the initial backoff up
    /// to the maximum), so a target that fails every session at once is not hammered.
    fn reconnect_delay(&self, previous: Duration, lived: Duration) -> Duration {
        let policy = self.config.recovery;
        if lived >= STABLE_CONNECTION {
            return Duration::ZERO;
        }
        if previous.is_zero() {
            return policy.initial_backoff;
        }
        (previous * 2).min(policy.max_backoff)
    }

    /// The full feature phase on one connection.
    async fn connected(&mut self, connection: &mut Connection, outcome: &LoginOutcome) -> Ended {
        let mut session = Session::new(outcome, self.config.session, Instant::now());
        assert!(
            self.pending.iter().all(Option::is_none),
            "callers left over"
        );
        self.pending.resize_with(session.task_slots(), || None);
        while let Some(command) = self.held.pop_front() {
            if let Some(ended) = self.apply(&mut session, command) {
                return ended;
            }
        }
        let mut wire = Wire {
            stream: &connection.stream,
            decoder: connection.decoder.clone(),
            read_buffer: &mut connection.read_buffer,
            write_buffer: Vec::with_capacity(256 * 1024),
            written: 0,
            armed_for: far_future(),
            rearm_below: far_future(),
            sleep: Box::pin(tokio::time::sleep_until(far_future())),
            timer_waker: None,
        };
        // The loop bounds its own work per wake-up and yields by itself; tokio's cooperative
        // budget would make a source say `Pending` without registering the waker.
        tokio::task::unconstrained(poll_fn(|cx| {
            self.poll_connected(cx, &mut session, &mut wire)
        }))
        .await
    }

    /// One wake-up of the connected phase: callers, socket reads, socket writes and the timer
    /// are served in turn, round after round, until every source waits (has registered the
    /// waker) or is idle. A source that said `Pending` is not polled again in the same
    /// wake-up (nothing it waits for can change before the next one), so no waker is
    /// registered twice, and a round is repeated only while a source may have more work
    /// without a wake-up (callers left in the channel, bytes left in the socket or to write,
    /// a timer that fired). Bounded: after `MAX_ROUNDS_PER_POLL` rounds the task yields to
    /// the runtime (and wakes itself), so a flood cannot monopolise it.
    fn poll_connected(
        &mut self,
        cx: &mut Context<'_>,
        session: &mut Session,
        wire: &mut Wire<'_>,
    ) -> Poll<Ended> {
        let (mut callers_waiting, mut read_waiting) = (false, false);
        for _ in 0..MAX_ROUNDS_PER_POLL {
            let mut again = false;
            if !callers_waiting {
                again = true;
                for _ in 0..MAX_COMMANDS_PER_TURN {
                    match self.commands.poll_recv(cx) {
                        Poll::Ready(Some(command)) => {
                            if let Some(ended) = self.apply(session, command) {
                                return Poll::Ready(ended);
                            }
                        }
                        Poll::Ready(None) => return Poll::Ready(Ended::HandlesDropped),
                        Poll::Pending => {
                            callers_waiting = true;
                            again = false;
                            break;
                        }
                    }
                }
            }
            if !read_waiting {
                match self.poll_read(cx, session, wire) {
                    Poll::Ready(Ok(())) => again = true,
                    Poll::Ready(Err(reason)) => return Poll::Ready(self.lose(session, reason)),
                    Poll::Pending => read_waiting = true,
                }
            }
            match self.poll_write(cx, session, wire) {
                Poll::Ready(Ok(more)) => again |= more,
                Poll::Ready(Err(reason)) => return Poll::Ready(self.lose(session, reason)),
                Poll::Pending => {}
            }
            match self.poll_timer(cx, session, wire) {
                Poll::Ready(Ok(())) => again = true,
                Poll::Ready(Err(ended)) => return Poll::Ready(ended),
                Poll::Pending => {}
            }
            if let Some(ended) = self.dispatch_events(session) {
                return Poll::Ready(ended);
            }
            self.note_buffers(wire.write_buffer.len(), wire.read_buffer.capacity());
            if !again {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Encodes what the session has to send and writes it, a bounded number of times:
    /// `Ready(Ok(false))` once everything is written, `Ready(Ok(true))` when more is left for
    /// another round, `Pending` when the socket is full (the waker is registered).
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        session: &mut Session,
        wire: &mut Wire<'_>,
    ) -> Poll<Result<bool, String>> {
        for _ in 0..MAX_WRITES_PER_ROUND {
            if wire.written == wire.write_buffer.len() {
                wire.write_buffer.clear();
                wire.written = 0;
                if let Err(error) = session.poll_transmit(&mut wire.write_buffer) {
                    return Poll::Ready(Err(error.to_string()));
                }
                if wire.write_buffer.is_empty() {
                    return Poll::Ready(Ok(false));
                }
            }
            let pending = wire.write_buffer.get(wire.written..).unwrap_or_default();
            match wire.stream.try_write(pending) {
                Ok(0) => return Poll::Ready(Err("socket closed for writing".into())),
                Ok(count) => wire.written += count,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    // `poll_write_ready` uses the stream's one waker slot per direction (this
                    // task is its only reader and writer), cheaper than a waiter list.
                    ready!(wire.stream.poll_write_ready(cx)).map_err(|error| error.to_string())?;
                }
                Err(error) => return Poll::Ready(Err(error.to_string())),
            }
        }
        Poll::Ready(Ok(true))
    }

    /// One read from the socket and the PDUs it completed: `Ready(Ok(()))` when the socket
    /// may hold more, `Pending` once it is drained (the waker is registered).
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        session: &mut Session,
        wire: &mut Wire<'_>,
    ) -> Poll<Result<(), String>> {
        let read_buffer = &mut *wire.read_buffer;
        // A second turn only after readiness said `Ready` but the read said `WouldBlock`
        // (the readiness is cleared then).
        for _ in 0..2 {
            if read_buffer.capacity() - read_buffer.len() < MIN_READ_ROOM {
                read_buffer.reserve(READ_CHUNK);
            }
            // Into the read buffer, or straight into a reading task's buffer (a large Data-In's
            // data segment: see `Session::read_target`).
            match read_draining(wire.stream, &mut session.read_target(read_buffer)) {
                Ok((0, _)) => return Poll::Ready(Err("target closed the connection".into())),
                Ok((_, drained)) => {
                    let now = Instant::now();
                    if let Err(error) = session.handle_read(now, &wire.decoder, read_buffer) {
                        return Poll::Ready(Err(error.to_string()));
                    }
                    if !drained {
                        return Poll::Ready(Ok(()));
                    }
                    // Drained: a read now would only say `WouldBlock`; wait instead.
                    ready!(wire.stream.poll_read_ready(cx)).map_err(|error| error.to_string())?;
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    ready!(wire.stream.poll_read_ready(cx)).map_err(|error| error.to_string())?;
                }
                Err(error) => return Poll::Ready(Err(error.to_string())),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Runs the session's timers when they are due; `Pending` while the timer (armed for the
    /// session's next deadline, or far in the future) waits with the waker registered.
    fn poll_timer(
        &mut self,
        cx: &mut Context<'_>,
        session: &mut Session,
        wire: &mut Wire<'_>,
    ) -> Poll<Result<(), Ended>> {
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        let elapsed = wire.sleep.is_elapsed();
        // Nothing due: a timer that fired for an old deadline is parked far away.
        let wanted = match deadline {
            Some(wanted) => wanted,
            None if elapsed => far_future(),
            None => wire.armed_for,
        };
        if elapsed || wanted < wire.rearm_below {
            wire.sleep.as_mut().reset(wanted);
            wire.armed_for = wanted;
            wire.rearm_below = wanted.checked_sub(TIMER_SLACK).unwrap_or(wanted);
            wire.timer_waker = None;
        }
        // A timer polled since it was last armed keeps that waker until it fires (then it is
        // elapsed); polling it again would only register the same waker again.
        let registered = wire
            .timer_waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if registered && !wire.sleep.is_elapsed() {
            return Poll::Pending;
        }
        if wire.sleep.as_mut().poll(cx).is_pending() {
            wire.timer_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        wire.timer_waker = None;
        if deadline.is_none() {
            // Fired while nothing is due: the next round parks it far away.
            return Poll::Ready(Ok(()));
        }
        match session.handle_timeout(Instant::now()) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(SessionError::LogoutTimeout) if self.logout_reply.is_some() => {
                self.finish_session(session);
                let reply = self.logout_reply.take();
                Poll::Ready(Err(Ended::LoggedOut(
                    reply,
                    Err(CommandError::LogoutTimeout),
                )))
            }
            Err(error) => Poll::Ready(Err(self.lose(session, error.to_string()))),
        }
    }

    /// Records buffer high-water marks for [`super::IscsiClient::stats`] (the session's own
    /// counters are copied when stats are asked for and when the session ends).
    fn note_buffers(&mut self, write_buffer: usize, read_buffer: usize) {
        let stats = &mut self.stats;
        stats.write_buffer_high_water = stats.write_buffer_high_water.max(write_buffer);
        stats.read_buffer_high_water = stats.read_buffer_high_water.max(read_buffer);
    }

    fn snapshot(&self) -> ClientStats {
        ClientStats {
            held: self.held.len(),
            ..self.stats
        }
    }

    /// Fails everything outstanding with `TransportDisrupted` and reports the loss; a logout
    /// we asked for ends here (the connection is gone, and so is the session).
    fn lose(&mut self, session: &mut Session, reason: String) -> Ended {
        self.finish_session(session);
        if let Some(reply) = self.logout_reply.take() {
            return Ended::LoggedOut(Some(reply), Ok(()));
        }
        Ended::ConnectionLost(reason)
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

/// How much later than wanted the timer may fire. The session's ping deadline moves forward
/// on every received PDU; re-arming the tokio timer each time would cost more than the I/O.
/// The timer is re-armed only when it fired (a spurious wake-up is a no-op in
/// `handle_timeout`) or when the deadline moved earlier by more than this slack.
const TIMER_SLACK: Duration = Duration::from_millis(50);
