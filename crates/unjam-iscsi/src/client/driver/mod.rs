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
//! The connected loop is fair: one `select!` without bias over reading, writing, callers and
//! the timer, so a flood on one side (a NOP-In storm, a burst of submissions) cannot starve
//! the others, and the session's own queues stay bounded. Owns the socket halves, the reply
//! channels and wall-clock timers. Protocol rules are in `session`; retry decisions belong to
//! the caller.

mod events;
mod recovery;

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::login::LoginOutcome;
use crate::pdu::TaskManagementFunction;
use crate::session::{ScsiOutcome, Session, SessionError, TaskRequest};
use crate::url::TargetUrl;

use super::connection::{read_into, Connection};
use super::{ClientConfig, ClientStats, CommandError, RequestId};
use recovery::Recovery;

/// A connection that lived this long resets the reconnect delay.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);

/// Free room below which the read buffer grows by [`READ_CHUNK`].
const MIN_READ_ROOM: usize = 16 * 1024;
const READ_CHUNK: usize = 256 * 1024;

/// Commands drained from the channel per loop turn, so a flood cannot starve the socket.
const MAX_COMMANDS_PER_TURN: usize = 64;

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
    commands: mpsc::Receiver<Command>,
    /// By Initiator Task Tag (handed out by the session) and by request id (handed out by
    /// the client): no key is chosen by the target, so the Fx hash.
    pending: FxHashMap<u32, (RequestId, CommandReply)>,
    tags: FxHashMap<RequestId, u32>,
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
        commands: mpsc::Receiver<Command>,
    ) -> Driver {
        Driver {
            url,
            config,
            isid,
            commands,
            pending: FxHashMap::default(),
            tags: FxHashMap::default(),
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
        while let Some(command) = self.held.pop_front() {
            if let Some(ended) = self.apply(&mut session, command) {
                return ended;
            }
        }
        let mut write_buffer: Vec<u8> = Vec::with_capacity(256 * 1024);
        let mut written = 0usize;
        let decoder = connection.decoder.clone();
        let read_buffer = &mut connection.read_buffer;
        let stream = &connection.stream;
        let mut armed_for = far_future();
        let mut sleep = Box::pin(tokio::time::sleep_until(armed_for));
        loop {
            if written == write_buffer.len() {
                write_buffer.clear();
                written = 0;
                if let Err(error) = session.poll_transmit(&mut write_buffer) {
                    return self.lose(&mut session, error.to_string());
                }
            }
            self.note_buffers(&session, write_buffer.len(), read_buffer.capacity());
            let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
            let wanted = deadline.unwrap_or_else(far_future);
            if sleep.is_elapsed() || wanted + TIMER_SLACK < armed_for {
                sleep.as_mut().reset(wanted);
                armed_for = wanted;
            }
            tokio::select! {
                // `poll_*_ready` use the stream's one waker slot per direction (this task is its
                // only reader and writer), cheaper than `readable()`'s waiter list.
                ready = poll_fn(|cx| stream.poll_read_ready(cx)) => {
                    if let Err(error) = ready {
                        return self.lose(&mut session, error.to_string());
                    }
                    if read_buffer.capacity() - read_buffer.len() < MIN_READ_ROOM {
                        read_buffer.reserve(READ_CHUNK);
                    }
                    // Into the read buffer, or straight into a reading task's buffer (a large
                    // Data-In's data segment: see `Session::read_target`).
                    match read_into(stream, &mut session.read_target(read_buffer)) {
                        Ok(0) => return self.lose(&mut session, "target closed the connection".into()),
                        Ok(_) => {}
                        Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
                        Err(error) => return self.lose(&mut session, error.to_string()),
                    }
                    if let Err(error) = session.handle_read(Instant::now(), &decoder, read_buffer) {
                        return self.lose(&mut session, error.to_string());
                    }
                }
                ready = poll_fn(|cx| stream.poll_write_ready(cx)), if written < write_buffer.len() => {
                    if let Err(error) = ready {
                        return self.lose(&mut session, error.to_string());
                    }
                    match stream.try_write(write_buffer.get(written..).unwrap_or_default()) {
                        Ok(0) => return self.lose(&mut session, "socket closed for writing".into()),
                        Ok(count) => written += count,
                        Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
                        Err(error) => return self.lose(&mut session, error.to_string()),
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else {
                        return Ended::HandlesDropped;
                    };
                    if let Some(ended) = self.apply(&mut session, command) {
                        return ended;
                    }
                    for _ in 0..MAX_COMMANDS_PER_TURN {
                        let Ok(command) = self.commands.try_recv() else { break };
                        if let Some(ended) = self.apply(&mut session, command) {
                            return ended;
                        }
                    }
                }
                _ = &mut sleep, if deadline.is_some() => {
                    match session.handle_timeout(Instant::now()) {
                        Ok(()) => {}
                        Err(SessionError::LogoutTimeout) if self.logout_reply.is_some() => {
                            self.finish_session(&mut session);
                            let reply = self.logout_reply.take();
                            return Ended::LoggedOut(reply, Err(CommandError::LogoutTimeout));
                        }
                        Err(error) => return self.lose(&mut session, error.to_string()),
                    }
                }
            }
            if let Some(ended) = self.dispatch_events(&mut session) {
                return ended;
            }
        }
    }

    /// Records queue lengths and high-water marks for [`super::IscsiClient::stats`].
    fn note_buffers(&mut self, session: &Session, write_buffer: usize, read_buffer: usize) {
        let stats = &mut self.stats;
        stats.session = session.stats();
        stats.write_buffer_high_water = stats.write_buffer_high_water.max(write_buffer);
        stats.read_buffer_high_water = stats.read_buffer_high_water.max(read_buffer);
        stats.held = self.held.len();
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
