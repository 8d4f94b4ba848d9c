//! What the iSCSI side reports for the trace beside its answers to the core: logins, lost
//! connections, ping timeouts, the replacement timeout, task management functions. Each
//! note becomes one JSON trace line and, where Linux prints one, a kernel-format log line
//! (`connection1:0: detected conn error (1020)`).
//!
//! Owns the notes' names and texts only.

use serde_json::{json, Value};
use unjam_iscsi::pdu::TaskManagementFunction;

/// One event of the iSCSI transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IscsiNote {
    ConnectionError {
        sid: u32,
        code: u32,
        reason: String,
    },
    PingTimeout {
        sid: u32,
        timeout_s: u64,
    },
    LoginFailed {
        sid: u32,
        reason: String,
    },
    Relogin {
        sid: u32,
        attempts: u32,
    },
    RecoveryTimedOut {
        sid: u32,
        after_s: u64,
    },
    TmfSent {
        sid: u32,
        function: TaskManagementFunction,
        lun: u64,
        itt: u32,
    },
    TmfDone {
        sid: u32,
        function: TaskManagementFunction,
        /// RFC 7143 §11.6.1 response, or why there was none.
        response: String,
    },
    TmfTimedOut {
        sid: u32,
        function: TaskManagementFunction,
        timeout_ms: u64,
    },
    LogoutRequested {
        sid: u32,
        within_s: u16,
    },
    AsyncEvent {
        sid: u32,
        lun: u64,
        sense: Vec<u8>,
    },
}

/// The name Linux's iSCSI layer uses for a task management function.
pub fn tmf_name(function: TaskManagementFunction) -> &'static str {
    match function {
        TaskManagementFunction::AbortTask => "ABORT TASK",
        TaskManagementFunction::AbortTaskSet => "ABORT TASK SET",
        TaskManagementFunction::ClearAca => "CLEAR ACA",
        TaskManagementFunction::ClearTaskSet => "CLEAR TASK SET",
        TaskManagementFunction::LogicalUnitReset => "LOGICAL UNIT RESET",
        TaskManagementFunction::TargetWarmReset => "TARGET WARM RESET",
        TaskManagementFunction::TargetColdReset => "TARGET COLD RESET",
        TaskManagementFunction::TaskReassign => "TASK REASSIGN",
    }
}

impl IscsiNote {
    /// A short machine name for the trace's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            IscsiNote::ConnectionError { .. } => "conn_error",
            IscsiNote::PingTimeout { .. } => "ping_timeout",
            IscsiNote::LoginFailed { .. } => "login_failed",
            IscsiNote::Relogin { .. } => "relogin",
            IscsiNote::RecoveryTimedOut { .. } => "recovery_timed_out",
            IscsiNote::TmfSent { .. } => "tmf_sent",
            IscsiNote::TmfDone { .. } => "tmf_done",
            IscsiNote::TmfTimedOut { .. } => "tmf_timed_out",
            IscsiNote::LogoutRequested { .. } => "logout_requested",
            IscsiNote::AsyncEvent { .. } => "async_event",
        }
    }

    fn sid(&self) -> u32 {
        match self {
            IscsiNote::ConnectionError { sid, .. }
            | IscsiNote::PingTimeout { sid, .. }
            | IscsiNote::LoginFailed { sid, .. }
            | IscsiNote::Relogin { sid, .. }
            | IscsiNote::RecoveryTimedOut { sid, .. }
            | IscsiNote::TmfSent { sid, .. }
            | IscsiNote::TmfDone { sid, .. }
            | IscsiNote::TmfTimedOut { sid, .. }
            | IscsiNote::LogoutRequested { sid, .. }
            | IscsiNote::AsyncEvent { sid, .. } => *sid,
        }
    }

    /// The trace line (`t_ns` and `source` are added by the writer).
    pub fn to_json(&self) -> Value {
        let detail = match self {
            IscsiNote::ConnectionError { code, reason, .. } => {
                json!({ "code": code, "reason": reason })
            }
            IscsiNote::PingTimeout { timeout_s, .. } => json!({ "timeout_s": timeout_s }),
            IscsiNote::LoginFailed { reason, .. } => json!({ "reason": reason }),
            IscsiNote::Relogin { attempts, .. } => json!({ "attempts": attempts }),
            IscsiNote::RecoveryTimedOut { after_s, .. } => json!({ "after_s": after_s }),
            IscsiNote::TmfSent {
                function, lun, itt, ..
            } => {
                json!({ "function": tmf_name(*function), "lun": format!("{lun:016x}"), "itt": itt })
            }
            IscsiNote::TmfDone {
                function, response, ..
            } => json!({ "function": tmf_name(*function), "response": response }),
            IscsiNote::TmfTimedOut {
                function,
                timeout_ms,
                ..
            } => json!({ "function": tmf_name(*function), "timeout_ms": timeout_ms }),
            IscsiNote::LogoutRequested { within_s, .. } => json!({ "within_s": within_s }),
            IscsiNote::AsyncEvent { lun, sense, .. } => json!({
                "lun": format!("{lun:016x}"),
                "sense": sense.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
            }),
        };
        json!({ "kind": self.kind(), "session": self.sid(), "detail": detail })
    }

    /// The line Linux's iSCSI layer (or iscsid) logs for this event, if any.
    pub fn kernel_line(&self) -> Option<String> {
        Some(match self {
            IscsiNote::ConnectionError { sid, code, .. } => {
                format!("connection{sid}:0: detected conn error ({code})")
            }
            IscsiNote::PingTimeout { sid, timeout_s } => {
                format!("connection{sid}:0: ping timeout of {timeout_s} secs expired")
            }
            IscsiNote::RecoveryTimedOut { sid, after_s } => {
                format!("session{sid}: session recovery timed out after {after_s} secs")
            }
            IscsiNote::Relogin { sid, attempts } => {
                format!("connection{sid}:0 is operational after recovery ({attempts} attempts)")
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_print_as_linux_does() {
        let lost = IscsiNote::ConnectionError {
            sid: 1,
            code: 1020,
            reason: "target closed the connection".into(),
        };
        assert_eq!(
            lost.kernel_line().as_deref(),
            Some("connection1:0: detected conn error (1020)")
        );
        assert_eq!(lost.to_json()["kind"], "conn_error");
        assert_eq!(lost.to_json()["detail"]["code"], 1020);
        let timed_out = IscsiNote::RecoveryTimedOut {
            sid: 2,
            after_s: 120,
        };
        assert_eq!(
            timed_out.kernel_line().as_deref(),
            Some("session2: session recovery timed out after 120 secs")
        );
        let sent = IscsiNote::TmfSent {
            sid: 1,
            function: TaskManagementFunction::LogicalUnitReset,
            lun: 1 << 48,
            itt: 7,
        };
        assert_eq!(sent.to_json()["detail"]["function"], "LOGICAL UNIT RESET");
        assert_eq!(sent.kernel_line(), None);
    }
}
