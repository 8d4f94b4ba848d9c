//! Sense data: the normalised header the mid-layer decides on (spec §3.1), sense key names,
//! full parsing and building of fixed and descriptor formats, and a human-readable report.
//!
//! ```text
//!   bytes ──► SenseHeader::normalize   kernel-exact, never fails: key, ASC, ASCQ (mid-layer)
//!         ├─► information              kernel-exact information field (partial completion)
//!         ├─► SenseData::parse         full structure, typed errors ──► SenseData::to_bytes
//!         └─► SenseReport              text for people (`unjam decode-sense`)
//! ```
//!
//! The mid-layer only needs [`SenseHeader::normalize`] and [`information`]; everything a
//! human wants to read (descriptors, sense-key-specific fields, text) is in the full parser.
//! Nothing here allocates except building bytes.

mod ata;
mod data;
mod descriptor;
mod descriptors;
mod error;
mod header;
mod key;
mod report;
mod report_descriptor;
mod specific;

pub use ata::{FixedAtaStatus, ATA_PASS_THROUGH_INFORMATION};
pub use data::{FixedFields, SenseBody, SenseData, SenseFormat, StreamFlags};
pub use descriptor::{
    is_typed_kind, kind, kind_name, AtaStatusReturn, Descriptor, DirectAccessBlockDevice,
    OsdAttributes,
};
pub use descriptors::{DescriptorIter, Descriptors};
pub use error::{BuildError, SenseError};
pub use header::{information, SenseHeader, SENSE_BUFFER_SIZE};
pub use key::SenseKey;
pub use report::SenseReport;
pub use specific::{ProgressIndication, SenseKeySpecific, SenseKeySpecificField};

#[cfg(test)]
mod tests;
