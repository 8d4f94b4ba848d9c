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
//! Owns the socket halves, the reply channels and wall-clock timers. Protocol rules are in
//! `session`; retry decisions belong to the caller.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::login::LoginOutcome;
use crate::pdu::TaskManagementFunction;
use crate::session::{ScsiOutcome, Session, SessionEvent, TaskFailure, TaskId, TaskRequest};
use crate::url::TargetUrl;

use super::connection::Connection;
use super::{open_session, ClientConfig, CommandError, RequestId};

/// Commands drained from the channel per loop turn, so a flood cannot starve the socket.
const MAX_COMMANDS_PER_TURN: usize = 64;

type CommandReply = oneshot::Sender<Result<ScsiOutcome, CommandError>>;
type ManageReply = oneshot::Sender<Result<u8, CommandError>>;

/// A request from an [`super::IscsiClient`].
#[derive(Debug)]
pub(crate) enum Command {
    Submit {
        id: RequestId,
        request: TaskRequest,
        reply: CommandReply,
    },
    Manage {
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<RequestId>,
        reply: ManageReply,
    },
    Reconnect {
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    Logout {
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
}

/// Why the connected phase ended.
enum Ended {
    ConnectionLost(String),
    ReconnectRequested(oneshot::Sender<Result<(), CommandError>>),
    LoggedOut(Option<oneshot::Sender<Result<(), CommandError>>>),
    HandlesDropped,
}

#[derive(Debug)]
pub(crate) struct Driver {
    url: TargetUrl,
    config: ClientConfig,
    isid: [u8; 6],
    commands: mpsc::Receiver<Command>,
    pending: HashMap<u32, (RequestId, CommandReply)>,
    tags: HashMap<RequestId, u32>,
    management: HashMap<u32, ManageReply>,
    held: VecDeque<Command>,
    logout_reply: Option<oneshot::Sender<Result<(), CommandError>>>,
    reconnect_waiters: Vec<oneshot::Sender<Result<(), CommandError>>>,
}

/// How a recovery attempt ended.
enum Recovery {
    Connected(Connection, LoginOutcome),
    TimedOut,
    Exit,
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
            pending: HashMap::new(),
            tags: HashMap::new(),
            management: HashMap::new(),
            held: VecDeque::new(),
            logout_reply: None,
            reconnect_waiters: Vec::new(),
        }
    }

    pub async fn run(mut self, connection: Connection, outcome: LoginOutcome) {
        let mut current = Some((connection, outcome));
        loop {
            let Some((mut connection, outcome)) = current.take() else {
                return;
            };
            match self.connected(&mut connection, &outcome).await {
                Ended::HandlesDropped => return,
                Ended::LoggedOut(reply) => {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                    return;
                }
                Ended::ConnectionLost(reason) => {
                    warn!(target = %self.url, %reason, "iSCSI connection lost");
                    if !self.config.recovery.enabled && !self.failed().await {
                        return;
                    }
                }
                Ended::ReconnectRequested(reply) => self.reconnect_waiters.push(reply),
            }
            drop(connection);
            current = loop {
                match self.recover().await {
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
        let (mut reader, mut writer) = connection.stream.split();
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
            let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
            let wanted = deadline.unwrap_or_else(far_future);
            if sleep.is_elapsed() || wanted + TIMER_SLACK < armed_for {
                sleep.as_mut().reset(wanted);
                armed_for = wanted;
            }
            tokio::select! {
                biased;
                read = reader.read_buf(read_buffer) => {
                    match read {
                        Ok(0) => return self.lose(&mut session, "target closed the connection".into()),
                        Err(error) => return self.lose(&mut session, error.to_string()),
                        Ok(_) => {}
                    }
                    let now = Instant::now();
                    loop {
                        match decoder.decode(read_buffer) {
                            Ok(Some(pdu)) => {
                                if let Err(error) = session.handle_pdu(now, pdu) {
                                    return self.lose(&mut session, error.to_string());
                                }
                            }
                            Ok(None) => break,
                            Err(error) => return self.lose(&mut session, error.to_string()),
                        }
                    }
                }
                result = writer.write(write_buffer.get(written..).unwrap_or_default()), if written < write_buffer.len() => {
                    match result {
                        Ok(0) => return self.lose(&mut session, "socket closed for writing".into()),
                        Ok(count) => written += count,
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
                    if let Err(error) = session.handle_timeout(Instant::now()) {
                        return self.lose(&mut session, error.to_string());
                    }
                }
            }
            if let Some(ended) = self.dispatch_events(&mut session) {
                let _ = writer.flush().await;
                return ended;
            }
        }
    }

    /// Applies one caller command to a live session.
    fn apply(&mut self, session: &mut Session, command: Command) -> Option<Ended> {
        match command {
            Command::Submit { id, request, reply } => match session.submit(request) {
                Ok(TaskId(tag)) => {
                    self.pending.insert(tag, (id, reply));
                    self.tags.insert(id, tag);
                }
                Err(error) => {
                    let _ = reply.send(Err(CommandError::Submit(error)));
                }
            },
            Command::Manage {
                function,
                lun,
                referenced,
                reply,
            } => {
                let referenced_tag = referenced.and_then(|id| self.tags.get(&id).copied());
                if referenced.is_some() && referenced_tag.is_none() {
                    // The command already finished: the target would say "task does not exist".
                    let _ = reply.send(Ok(1));
                    return None;
                }
                let TaskId(tag) =
                    session.task_management(function, lun, referenced_tag.map(TaskId));
                self.management.insert(tag, reply);
                let _ = self.dispatch_events(session);
            }
            Command::Reconnect { reply } => {
                session.fail_all();
                let _ = self.dispatch_events(session);
                return Some(Ended::ReconnectRequested(reply));
            }
            Command::Logout { reply } => {
                session.logout();
                self.logout_reply = Some(reply);
            }
        }
        None
    }
}

impl Driver {
    /// Fails everything outstanding with `TransportDisrupted` and reports the loss.
    fn lose(&mut self, session: &mut Session, reason: String) -> Ended {
        session.fail_all();
        let _ = self.dispatch_events(session);
        Ended::ConnectionLost(reason)
    }

    /// Answers callers for every session event; returns when the connected phase must end.
    fn dispatch_events(&mut self, session: &mut Session) -> Option<Ended> {
        let mut ended = None;
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::TaskDone { id, result } => self.reply_task(id, result),
                SessionEvent::ManagementDone { id, response } => {
                    if let Some(reply) = self.management.remove(&id.0) {
                        let _ = reply.send(Ok(response));
                    }
                }
                SessionEvent::LogoutRequested { within_s } => {
                    info!(target = %self.url, within_s, "target requested logout; logging out");
                    session.logout();
                }
                SessionEvent::ConnectionDropAnnounced => {
                    info!(target = %self.url, "target announced it will drop the connection");
                }
                SessionEvent::ScsiAsyncEvent { lun, sense } => {
                    info!(target = %self.url, lun, sense = ?sense, "SCSI asynchronous event");
                }
                SessionEvent::LogoutDone { response } => {
                    debug!(response, "logout complete");
                    ended = Some(match self.logout_reply.take() {
                        Some(reply) => Ended::LoggedOut(Some(reply)),
                        None => Ended::ConnectionLost("logged out at the target's request".into()),
                    });
                }
            }
        }
        if ended.is_some() {
            session.fail_all();
            while let Some(event) = session.poll_event() {
                if let SessionEvent::TaskDone { id, result } = event {
                    self.reply_task(id, result);
                }
            }
            self.fail_management(CommandError::TransportDisrupted);
        }
        ended
    }

    fn reply_task(&mut self, id: TaskId, result: Result<ScsiOutcome, TaskFailure>) {
        let Some((request, reply)) = self.pending.remove(&id.0) else {
            return;
        };
        self.tags.remove(&request);
        let result = result.map_err(|failure| match failure {
            TaskFailure::Aborted => CommandError::Aborted,
            TaskFailure::Rejected(reason) => CommandError::Rejected(reason),
            TaskFailure::ConnectionLost { .. } => CommandError::TransportDisrupted,
        });
        let _ = reply.send(result);
    }

    fn fail_management(&mut self, error: CommandError) {
        for (_, reply) in self.management.drain() {
            let _ = reply.send(Err(error.clone()));
        }
    }

    fn fail_held(&mut self, error: CommandError) {
        while let Some(command) = self.held.pop_front() {
            reject(command, error.clone());
        }
        for waiter in self.reconnect_waiters.drain(..) {
            let _ = waiter.send(Err(error.clone()));
        }
    }

    /// Keeps a command for the next connection, within the task bound.
    fn hold(&mut self, command: Command) {
        match command {
            Command::Reconnect { reply } => self.reconnect_waiters.push(reply),
            Command::Manage { reply, .. } => {
                let _ = reply.send(Err(CommandError::TransportDisrupted));
            }
            command if self.held.len() < self.config.session.max_tasks => {
                self.held.push_back(command);
            }
            command => reject(command, CommandError::HeldQueueFull),
        }
    }

    /// Re-login with exponential backoff until success or the replacement timeout.
    async fn recover(&mut self) -> Recovery {
        let policy = self.config.recovery;
        let give_up = tokio::time::Instant::now() + policy.replacement_timeout;
        let mut backoff = policy.initial_backoff;
        loop {
            let (url, config, isid) = (self.url.clone(), self.config.clone(), self.isid);
            let attempt = async move { open_session(&url, &config, isid).await };
            tokio::pin!(attempt);
            let failed_attempt = loop {
                tokio::select! {
                    result = &mut attempt => match result {
                        Ok((connection, outcome)) => {
                            info!(target = %self.url, "iSCSI session re-established");
                            for waiter in self.reconnect_waiters.drain(..) {
                                let _ = waiter.send(Ok(()));
                            }
                            return Recovery::Connected(connection, outcome);
                        }
                        Err(error) => break error,
                    },
                    command = self.commands.recv() => match command {
                        None => return Recovery::Exit,
                        Some(Command::Logout { reply }) => {
                            let _ = reply.send(Ok(()));
                            return Recovery::Exit;
                        }
                        Some(command) => self.hold(command),
                    },
                    _ = tokio::time::sleep_until(give_up) => return self.time_out(),
                }
            };
            debug!(target = %self.url, error = %failed_attempt, ?backoff, "re-login failed");
            let wake = (tokio::time::Instant::now() + backoff).min(give_up);
            loop {
                tokio::select! {
                    command = self.commands.recv() => match command {
                        None => return Recovery::Exit,
                        Some(Command::Logout { reply }) => {
                            let _ = reply.send(Ok(()));
                            return Recovery::Exit;
                        }
                        Some(command) => self.hold(command),
                    },
                    _ = tokio::time::sleep_until(wake) => break,
                }
            }
            if tokio::time::Instant::now() >= give_up {
                return self.time_out();
            }
            backoff = (backoff * 2).min(policy.max_backoff);
        }
    }

    fn time_out(&mut self) -> Recovery {
        warn!(target = %self.url, "replacement timeout expired; failing commands fast");
        self.fail_held(CommandError::TransportFailfast);
        Recovery::TimedOut
    }

    /// The session is down for good: fail commands at once until a Reconnect (returns true)
    /// or the end (returns false).
    async fn failed(&mut self) -> bool {
        while let Some(command) = self.commands.recv().await {
            match command {
                Command::Reconnect { reply } => {
                    self.reconnect_waiters.push(reply);
                    return true;
                }
                Command::Logout { reply } => {
                    let _ = reply.send(Ok(()));
                    return false;
                }
                command => reject(command, CommandError::TransportFailfast),
            }
        }
        false
    }
}

fn reject(command: Command, error: CommandError) {
    match command {
        Command::Submit { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Command::Manage { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Command::Reconnect { reply } | Command::Logout { reply } => {
            let _ = reply.send(Err(error));
        }
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
