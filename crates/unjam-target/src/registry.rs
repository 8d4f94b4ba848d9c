//! Who is connected: every connection with its portal, target and I_T nexus, and every
//! normal session by initiator name, ISID and target (for TSIH assignment and session
//! reinstatement). Connections are told things through bounded channels.
//!
//! Owns the tables and the messages to connections; decides admission of sessions
//! (limits, reinstatement), nothing about protocol.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tracing::debug;

/// Messages to a connection task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Reset the connection now (a fault, a reinstated session, a cold reset).
    Reset,
    /// Window faults or ALUA may have changed: look again.
    Reevaluate,
    /// Ask the initiator to log out within this many seconds.
    LogoutRequest { within_s: u16 },
    /// A task management function elsewhere terminated the tasks on `lun` (all when
    /// `None`) of this target.
    Terminate { lun: Option<u64> },
}

/// Capacity of a connection's control channel.
pub const CONTROL_CHANNEL: usize = 64;

#[derive(Debug)]
struct Connection {
    portal: usize,
    target: Option<usize>,
    control: mpsc::Sender<Control>,
}

/// A normal session: initiator name, ISID and target name.
pub type SessionKey = (String, [u8; 6], String);

#[derive(Debug)]
struct Session {
    tsih: u16,
    connection: u64,
}

/// The tables.
#[derive(Debug)]
pub struct Registry {
    next_connection: u64,
    next_tsih: u16,
    connections: HashMap<u64, Connection>,
    sessions: HashMap<SessionKey, Session>,
    max_sessions: usize,
    max_connections: usize,
}

/// Why a session is not admitted: the login status class and detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub class: u8,
    pub detail: u8,
}

impl Registry {
    pub fn new(max_sessions: usize) -> Registry {
        Registry {
            next_connection: 1,
            next_tsih: 1,
            connections: HashMap::new(),
            sessions: HashMap::new(),
            max_sessions,
            max_connections: max_sessions + 16,
        }
    }

    /// Registers a new connection on `portal`; `None` when there are too many.
    pub fn connect(&mut self, portal: usize, control: mpsc::Sender<Control>) -> Option<u64> {
        if self.connections.len() >= self.max_connections {
            return None;
        }
        let id = self.next_connection;
        self.next_connection += 1;
        self.connections.insert(
            id,
            Connection {
                portal,
                target: None,
                control,
            },
        );
        Some(id)
    }

    /// Forgets a connection (and its session when it was the session's connection).
    pub fn disconnect(&mut self, connection: u64) {
        self.connections.remove(&connection);
        self.sessions
            .retain(|_, session| session.connection != connection);
    }

    /// A discovery session's TSIH.
    pub fn discovery_tsih(&mut self) -> u16 {
        self.allocate_tsih()
    }

    /// Admits a normal session for `connection`. A TSIH of 0 starts a session, reinstating
    /// (resetting) an earlier one with the same key; a non-zero TSIH must name the key's
    /// session, whose old connection is replaced.
    pub fn admit(
        &mut self,
        connection: u64,
        target: usize,
        key: SessionKey,
        tsih: u16,
    ) -> Result<u16, Refused> {
        let existing = self.sessions.get(&key).map(|s| (s.tsih, s.connection));
        let tsih = match (tsih, existing) {
            (0, _) => {
                let active = self.sessions.len() - usize::from(existing.is_some());
                if active >= self.max_sessions {
                    return Err(Refused {
                        class: 0x03,
                        detail: 0x02,
                    });
                }
                self.allocate_tsih()
            }
            (wanted, Some((current, _))) if wanted == current => current,
            _ => {
                return Err(Refused {
                    class: 0x02,
                    detail: 0x0a,
                })
            }
        };
        if let Some((_, old)) = existing.filter(|(_, old)| *old != connection) {
            debug!(old, "session reinstated: the old connection is reset");
            self.send(old, Control::Reset);
        }
        if let Some(entry) = self.connections.get_mut(&connection) {
            entry.target = Some(target);
        }
        self.sessions.insert(key, Session { tsih, connection });
        Ok(tsih)
    }

    fn allocate_tsih(&mut self) -> u16 {
        for _ in 0..=u16::MAX {
            let tsih = self.next_tsih;
            self.next_tsih = self.next_tsih.wrapping_add(1).max(1);
            if !self.sessions.values().any(|s| s.tsih == tsih) {
                return tsih;
            }
        }
        1
    }

    pub fn send(&self, connection: u64, message: Control) {
        if let Some(entry) = self.connections.get(&connection) {
            if entry.control.try_send(message).is_err() {
                debug!(
                    connection,
                    ?message,
                    "control channel full; message dropped"
                );
            }
        }
    }

    /// Sends `message` to every connection that `filter(portal, target)` selects.
    pub fn broadcast(&self, message: Control, filter: impl Fn(usize, Option<usize>) -> bool) {
        for (id, entry) in &self.connections {
            if filter(entry.portal, entry.target) {
                self.send(*id, message);
            }
        }
    }

    /// Sends `message` to the other connections of `target`.
    pub fn to_target_except(&self, target: usize, except: u64, message: Control) {
        for (id, entry) in &self.connections {
            if entry.target == Some(target) && *id != except {
                self.send(*id, message);
            }
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(isid: u8) -> SessionKey {
        ("iqn.i".into(), [isid; 6], "iqn.t".into())
    }

    #[test]
    fn sessions_get_tsihs_are_reinstated_and_bounded() {
        let mut registry = Registry::new(2);
        let (tx, mut rx) = mpsc::channel(4);
        let a = registry.connect(0, tx.clone()).unwrap_or(0);
        let b = registry.connect(0, tx.clone()).unwrap_or(0);
        let c = registry.connect(0, tx).unwrap_or(0);
        let first = registry.admit(a, 0, key(1), 0).unwrap_or(0);
        assert_ne!(first, 0);
        let again = registry.admit(b, 0, key(1), 0).unwrap_or(0);
        assert_ne!(again, first);
        assert_eq!(
            rx.try_recv(),
            Ok(Control::Reset),
            "the old connection is reset"
        );
        assert!(registry.admit(c, 0, key(2), 0).is_ok());
        assert_eq!(
            registry.admit(c, 0, key(3), 0),
            Err(Refused {
                class: 3,
                detail: 2
            })
        );
        assert_eq!(
            registry.admit(c, 0, key(4), 77),
            Err(Refused {
                class: 2,
                detail: 0x0a
            })
        );
        registry.disconnect(b);
        assert!(registry.admit(c, 0, key(3), 0).is_ok());
    }
}
