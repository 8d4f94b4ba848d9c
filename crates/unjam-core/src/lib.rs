//! The sans-I/O SCSI mid-layer: command lifecycle, kernel-compatible disposition, retries,
//! timeouts and abort, an error handler, device and host states, and kernel-format logs.
//!
//! [`MidLayer`] is a deterministic state machine in the style of
//! quinn-proto: no tokio, no threads, no clock. Inputs carry `now`
//! ([`time::Instant`], virtual or real); outputs are queued [`action::Action`]s drained
//! with `poll_action`, and `poll_timeout` says when to call `handle_timeout`.
//!
//! ```text
//!  caller ── submit ──► device queue ──(gates: state, depth, blocked, recovery)──► Dispatch
//!                                                                                   │ transport
//!  Complete ◄── finish ◄── io_completion ◄── SUCCESS ◄── decide_disposition ◄── handle_transport_done
//!                 ▲            NEEDS_RETRY / ADD_TO_MLQUEUE ──► requeue at the head
//!                 │            FAILED ──► error handler (recovery) ──► flush: retry | finish
//!  handle_timeout ─► hook (ResetTimer | Done | NotHandled) ─► poll? ─► claim ─► Abort (10 ms)
//!                      abort ok ─► retry | finish        abort failed / 2nd timeout ─► EH
//! ```
//!
//! Module map: `disposition/` the pure decision tables (spec §2–§4); `midlayer/` the state
//! machine (dispatch, completion, timeouts, and `midlayer/recovery/`, which walks the error
//! handler's ladder, §6); `eh` the ladder's steps, jobs and runs as plain data; `log/`
//! kernel log lines (§4.6); `state` the device/host state machines; `harness/` the null
//! and scripted transports, the virtual-clock driver and `explain`.

pub mod action;
pub mod buffers;
mod command;
pub mod config;
pub mod disposition;
pub mod eh;
pub mod fast_hash;
pub mod harness;
pub mod ids;
mod invariants;
pub mod lifecycle;
pub mod log;
pub mod midlayer;
pub mod ratelimit;
pub mod request;
pub mod ring;
pub mod state;
pub mod time;
mod timers;
pub mod topology;
pub mod trace;

pub use action::{Action, Completion, Tag};
pub use midlayer::{MidLayer, SubmitError};
pub use request::{Request, TransportOutcome};
pub use time::Instant;
