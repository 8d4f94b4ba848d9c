//! Session recovery (open-iscsi's behaviour): re-login with exponential backoff until the
//! replacement timeout, holding new commands (bounded) meanwhile; then the failed state, in
//! which commands fail fast until a host reset (`Reconnect`) or the end.
//!
//! Owns the backoff loop and what happens to commands while there is no session.

use std::time::Duration;

use tracing::{debug, info, warn};

use crate::login::LoginOutcome;

use super::super::connection::Connection;
use super::super::{open_session, CommandError};
use super::{Command, Driver};

/// How a recovery attempt ended.
pub(super) enum Recovery {
    Connected(Connection, LoginOutcome),
    TimedOut,
    Exit,
}

impl Driver {
    /// Re-login with exponential backoff until success or the replacement timeout. `delay`
    /// comes first: a connection that keeps failing soon after each login (a target that
    /// misbehaves right away) is retried ever more slowly, not in a tight loop.
    pub(super) async fn recover(&mut self, delay: Duration) -> Recovery {
        let policy = self.config.recovery;
        let give_up = tokio::time::Instant::now() + policy.replacement_timeout;
        let mut backoff = policy.initial_backoff;
        if let Some(end) = self.wait_holding(delay, give_up).await {
            return end;
        }
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
                    command = self.commands.recv() => {
                        if let Some(end) = self.while_recovering(command) {
                            return end;
                        }
                    }
                    _ = tokio::time::sleep_until(give_up) => return self.time_out(),
                }
            };
            debug!(target = %self.url, error = %failed_attempt, ?backoff, "re-login failed");
            if let Some(end) = self.wait_holding(backoff, give_up).await {
                return end;
            }
            backoff = (backoff * 2).min(policy.max_backoff);
        }
    }

    /// Waits `delay` (at most until `give_up`), holding callers' commands meanwhile.
    async fn wait_holding(
        &mut self,
        delay: Duration,
        give_up: tokio::time::Instant,
    ) -> Option<Recovery> {
        let wake = (tokio::time::Instant::now() + delay).min(give_up);
        loop {
            tokio::select! {
                command = self.commands.recv() => {
                    if let Some(end) = self.while_recovering(command) {
                        return Some(end);
                    }
                }
                _ = tokio::time::sleep_until(wake) => break,
            }
        }
        if tokio::time::Instant::now() >= give_up {
            return Some(self.time_out());
        }
        None
    }

    /// A caller's command while there is no session; `Some` when recovery must stop.
    fn while_recovering(&mut self, command: Option<Command>) -> Option<Recovery> {
        match command {
            None => Some(Recovery::Exit),
            Some(Command::Logout { reply }) => {
                let _ = reply.send(Ok(()));
                Some(Recovery::Exit)
            }
            Some(command) => {
                self.hold(command);
                None
            }
        }
    }

    fn time_out(&mut self) -> Recovery {
        warn!(target = %self.url, "replacement timeout expired; failing commands fast");
        self.fail_held(CommandError::TransportFailfast);
        Recovery::TimedOut
    }

    /// The session is down for good: fail commands at once until a Reconnect (returns true)
    /// or the end (returns false).
    pub(super) async fn failed(&mut self) -> bool {
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
                Command::Stats { reply } => {
                    let _ = reply.send(self.snapshot());
                }
                command => reject(command, CommandError::TransportFailfast),
            }
        }
        false
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
            Command::Stats { reply } => {
                let _ = reply.send(self.snapshot());
            }
            command if self.held.len() < self.config.session.max_tasks => {
                self.held.push_back(command);
            }
            command => reject(command, CommandError::HeldQueueFull),
        }
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
        Command::Stats { .. } => {}
    }
}
