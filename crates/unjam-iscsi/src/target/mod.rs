//! The target side of iSCSI (RFC 7143), sans-I/O: what an iSCSI target does with the PDUs an
//! initiator sends, from the first Login Request to the Logout Response.
//!
//! ```text
//!  Login Request ─► TargetLogin (security: None / CHAP / mutual CHAP; operational keys)
//!                      └─► Admit(outcome) ─► caller admits the session (TSIH) ─► final response
//!  PDUs ─► TargetSession::handle_pdu ─► CmdSN order ─► write data (immediate, unsolicited,
//!          R2T) ─► TargetEvent::Command / TaskManagement / LoggedOut
//!  caller executes ─► complete(itt, CommandResult) ─► Data-In (+status) / SCSI Response
//!  poll_transmit ─► bytes
//! ```
//!
//! Reuses the PDU codec, text keys, the negotiator of `params` (its result functions are the
//! same for both sides) and the CHAP primitives of `chap`. Owns the target's half of the
//! protocol: status classes of refused logins, StatSN, the CmdSN window it advertises, R2T
//! flow control, Data-In segmentation and residuals. It never executes a SCSI command (the
//! caller does) and never touches a socket or a clock.

mod login;
mod send_targets;
mod session;

pub use login::{
    AuthPolicy, LoginRefusal, TargetEntry, TargetLogin, TargetLoginConfig, TargetLoginOutcome,
    TargetLoginStep,
};
pub use send_targets::{send_targets_text, PublishedTarget};
pub use session::{
    CommandRequest, CommandResult, ManagementRequest, ResponseFaults, TargetEvent, TargetSession,
    TargetSessionConfig, TargetSessionError,
};
