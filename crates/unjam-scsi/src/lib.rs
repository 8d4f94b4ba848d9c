//! SCSI protocol facts, with the Linux kernel's numeric values, and nothing else.
//!
//! This crate owns the vocabulary every other unjam crate speaks: the SAM status byte, the
//! host byte (`DID_*`), the mid-layer's own byte (`SCSIML_STAT_*`), the 32-bit result word
//! that packs them, the mid-layer's dispositions, the block layer's `BlkStatus`, sense data
//! and CDBs. It does no I/O, keeps no state and never panics on bytes from the wire.
//!
//! ```text
//!   target / LLD                 mid-layer (unjam-core)            caller
//!   status byte ─┐
//!   host byte  ──┼─► ScsiResult ─► Disposition ─► ... ─► BlkStatus ─► errno / log string
//!   sense bytes ─┘       ▲
//!                        └── MlStatus (set by the mid-layer from the sense data)
//! ```
//!
//! Numeric values follow `shared/spec/linux-midlayer.md` §1 so that traces and SG_IO results
//! compare one to one with the kernel's.

pub mod asc;
pub mod blk_status;
pub mod cdb;
pub mod disposition;
pub mod host_byte;
pub mod ml_status;
pub mod result;
pub mod sense;
pub mod status;
pub mod virtio;

pub use blk_status::BlkStatus;
pub use disposition::Disposition;
pub use host_byte::HostByte;
pub use ml_status::MlStatus;
pub use result::ScsiResult;
pub use status::SamStatus;

/// Parses a byte written as `0x1f`, `1fh` or decimal `31`.
pub(crate) fn parse_u8(text: &str) -> Option<u8> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u8::from_str_radix(hex, 16).ok();
    }
    if let Some(hex) = text.strip_suffix('h').or_else(|| text.strip_suffix('H')) {
        return u8::from_str_radix(hex, 16).ok();
    }
    text.parse().ok()
}
