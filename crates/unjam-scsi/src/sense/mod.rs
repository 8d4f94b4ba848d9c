//! Sense data: the normalised header the mid-layer decides on (spec §3.1), sense key names,
//! and (in submodules) full parsing and building of fixed and descriptor formats.
//!
//! The mid-layer only needs [`SenseHeader::normalize`] and [`information`]; everything a
//! human wants to read (descriptors, sense-key-specific fields, text) is in the full parser.

mod header;
mod key;

pub use header::{information, SenseHeader, SENSE_BUFFER_SIZE};
pub use key::SenseKey;
