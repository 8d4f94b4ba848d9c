//! The sans-I/O SCSI mid-layer (placeholder doc, rewritten when the core lands).

pub mod action;
pub mod buffers;
mod cdb_rw;
mod command;
pub mod config;
pub mod disposition;
pub mod eh;
pub mod harness;
mod invariants;
pub mod log;
pub mod midlayer;
pub mod request;
pub mod state;
pub mod time;
mod timers;
pub mod topology;
pub mod trace;
