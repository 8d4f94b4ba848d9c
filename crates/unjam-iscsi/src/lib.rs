//! An iSCSI initiator (RFC 7143) for unjam.
//!
//! ```text
//!   url ──► client (tokio) ──► TcpStream
//!              │   bytes in / bytes out
//!              ▼
//!   login (sans-I/O) ──► session (sans-I/O: tasks, CmdSN window, R2T, NOP) ──► events
//!              │                    │
//!              └──── text / params / chap ──── pdu (codec, digests) ◄──┘
//! ```
//!
//! The protocol layers (`pdu`, `text`, `params`, `chap`, `login`, `session`) do no I/O and
//! read no clock: time is an argument, bytes go in and come out. `client` is the only module
//! that touches sockets and tokio. The crate reports outcomes (status, sense, residuals,
//! transport failures); it never decides whether a command is retried — that is the core's job.

pub mod chap;
pub mod client;
pub mod login;
pub mod name;
pub mod params;
pub mod pdu;
pub mod serial;
pub mod session;
pub mod target;
pub mod text;
pub mod url;
