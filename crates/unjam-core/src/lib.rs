//! The sans-I/O SCSI mid-layer (placeholder doc, rewritten below when the core lands).

pub mod buffers;
pub mod disposition;
pub mod request;
pub mod time;
