//! Callers' commands into the live session, and session events back to callers: each
//! pending command and task management function is answered exactly once.
//!
//! Owns the request ↔ tag tables and the mapping from session failures to
//! [`CommandError`]s.

use std::time::Instant;

use tracing::{debug, info};

use crate::session::{ScsiOutcome, Session, SessionEvent, TaskFailure, TaskId};

use super::super::CommandError;
use super::{Command, Driver, Ended, PendingTask};

impl Driver {
    /// Applies one caller command to a live session.
    pub(super) fn apply(&mut self, session: &mut Session, command: Command) -> Option<Ended> {
        match command {
            Command::Submit {
                id,
                request,
                read_buffer,
                reply,
            } => match session.submit_into(request, read_buffer) {
                Ok(task) => {
                    let slot = self.pending.get_mut(session.task_slot(task));
                    let slot = slot.filter(|slot| slot.is_none());
                    let slot = slot.expect("a free caller slot for every live task");
                    *slot = Some(PendingTask {
                        tag: task.0,
                        id,
                        reply,
                    });
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
                let referenced_tag = referenced.and_then(|id| {
                    let mut pending = self.pending.iter().flatten();
                    pending.find(|task| task.id == id).map(|task| task.tag)
                });
                if referenced.is_some() && referenced_tag.is_none() {
                    // The command already finished: the target would say "task does not exist".
                    let _ = reply.send(Ok(1));
                    return None;
                }
                match session.task_management(function, lun, referenced_tag.map(TaskId)) {
                    Ok(TaskId(tag)) => {
                        self.management.insert(tag, reply);
                    }
                    Err(error) => {
                        let _ = reply.send(Err(CommandError::Submit(error)));
                    }
                }
                return self.dispatch_events(session);
            }
            Command::Reconnect { reply } => {
                self.finish_session(session);
                return Some(Ended::ReconnectRequested(reply));
            }
            Command::Logout { reply } => {
                session.logout(Instant::now());
                if let Some(earlier) = self.logout_reply.replace(reply) {
                    let _ = earlier.send(Err(CommandError::Closed));
                }
            }
            Command::Stats { reply } => {
                self.stats.session = session.stats();
                let _ = reply.send(self.snapshot());
            }
        }
        None
    }

    /// Answers callers for every session event; returns when the connected phase must end
    /// (and then has already answered everything still outstanding).
    pub(super) fn dispatch_events(&mut self, session: &mut Session) -> Option<Ended> {
        let mut ended = None;
        while let Some(event) = session.poll_event() {
            if let Some(end) = self.dispatch(session, event) {
                ended.get_or_insert(end);
            }
        }
        if ended.is_some() {
            self.finish_session(session);
        }
        ended
    }

    fn dispatch(&mut self, session: &mut Session, event: SessionEvent) -> Option<Ended> {
        match event {
            SessionEvent::TaskDone { id, result } => self.reply_task(session, id, result),
            SessionEvent::ManagementDone { id, response } => {
                if let Some(reply) = self.management.remove(&id.0) {
                    let _ = reply.send(response.map_err(command_error));
                }
            }
            SessionEvent::LogoutRequested { within_s } => {
                info!(target = %self.url, within_s, "target requested logout; logging out");
                session.logout(Instant::now());
            }
            SessionEvent::ConnectionDropAnnounced => {
                info!(target = %self.url, "target announced it will drop the connection");
            }
            SessionEvent::ScsiAsyncEvent { lun, sense } => {
                info!(target = %self.url, lun, sense = ?sense, "SCSI asynchronous event");
            }
            SessionEvent::LogoutDone { response } => {
                debug!(?response, "logout complete");
                return Some(match self.logout_reply.take() {
                    Some(reply) => {
                        let result = response.map(|_| ()).map_err(command_error);
                        Ended::LoggedOut(Some(reply), result)
                    }
                    None => Ended::ConnectionLost("logged out at the target's request".into()),
                });
            }
        }
        None
    }

    /// The session ends: every task and function still outstanding is answered with
    /// `TransportDisrupted`.
    pub(super) fn finish_session(&mut self, session: &mut Session) {
        session.fail_all();
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::TaskDone { id, result } => self.reply_task(session, id, result),
                SessionEvent::ManagementDone { id, response } => {
                    if let Some(reply) = self.management.remove(&id.0) {
                        let _ = reply.send(response.map_err(command_error));
                    }
                }
                _ => {}
            }
        }
        for (_, reply) in self.management.drain() {
            let _ = reply.send(Err(CommandError::TransportDisrupted));
        }
        self.stats.session = session.stats();
    }

    fn reply_task(
        &mut self,
        session: &Session,
        id: TaskId,
        result: Result<ScsiOutcome, TaskFailure>,
    ) {
        let slot = self.pending.get_mut(session.task_slot(id));
        let Some(slot) = slot.filter(|slot| slot.as_ref().is_some_and(|task| task.tag == id.0))
        else {
            return;
        };
        if let Some(task) = slot.take() {
            let _ = task.reply.send(result.map_err(command_error));
        }
    }
}

/// The caller's view of a task that ended without a status.
pub(super) fn command_error(failure: TaskFailure) -> CommandError {
    match failure {
        TaskFailure::Aborted => CommandError::Aborted,
        TaskFailure::Rejected(reason) => CommandError::Rejected(reason),
        TaskFailure::ConnectionLost { .. } => CommandError::TransportDisrupted,
        TaskFailure::Protocol(violation) => CommandError::Protocol(violation),
    }
}
