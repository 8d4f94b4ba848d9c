//! unjam's embedded fault-injecting target on the network: an RFC 7143 iSCSI target serving
//! a scenario's logical units on the wall clock, with several portals, ALUA, faults on the
//! wire and a control socket.
//!
//! ```text
//!  scenario ─► Layout (targets, portals, groups) ─► Engine (units, nexus state, faults, ALUA)
//!  listeners ─► connection task: TargetLogin ─► TargetSession (unjam-iscsi, sans-I/O)
//!                 ├─ commands ─► Engine::admit ─► held until due ─► Engine::execute
//!                 └─ TMF ─► Engine::task_management ─► discard tasks, answer
//!  timeline task: window edges (portal down/up, logout requests, ALUA changes)
//!  control socket: fault add / list / clear
//! ```
//!
//! Owns sockets, tasks and wall-clock time for the target side. The protocol is in
//! `unjam-iscsi::target`, the SCSI semantics and fault grammar in `unjam-sim`.

pub mod connection;
pub mod control;
pub mod engine;
pub mod faults;
pub mod layout;
pub mod registry;
pub mod server;
pub mod timeline;

pub use server::{StartError, TargetServer};
