//! Parameter data returned by the commands in [`cdb`](super): parsers for the initiator,
//! builders for the simulated target, with `parse(build(x)) == x` for every type.
//!
//! Parsers are bounded by the buffer and return [`ResponseError`] on truncated or garbled
//! data, never panic. A response that announces more data than the buffer holds (because
//! the allocation length cut it) is [`ResponseError::Truncated`] with the length to ask
//! for, except REPORT LUNS, whose partial list is still useful (see
//! [`ReportLunsData::is_complete`]). Lists borrow the buffer ([`ItemList`]); nothing is
//! copied. Builders write into a caller's buffer ([`BuildResponse::write_to`]).

mod caching;
mod capacity;
mod device_id;
mod inquiry;
mod list;
mod luns;
mod mode;
mod rtpg;
mod text;
mod version;
mod vpd;
mod vpd_block;

pub use caching::CachingPage;
pub use capacity::{ReadCapacity10Data, ReadCapacity16Data};
pub use device_id::{
    protocol_identifier, Association, CodeSet, Designator, DesignatorId, DesignatorType,
    DeviceIdentification,
};
pub use inquiry::{device_type, qualifier, Peripheral, StandardInquiry, Tpgs};
pub use list::{ItemFormat, ItemList, Iter, WireItem};
pub use luns::{Lun, LunAddress, ReportLunsData};
pub use mode::{BlockDescriptor, ModeFormat, ModePage, ModeParameters};
pub use rtpg::{
    AccessState, ExtendedHeader, RelativeTargetPort, SupportedStates, TargetPortGroup,
    TargetPortGroups,
};
pub use text::{space_padded, TextField};
pub use version::{version_descriptors, version_name, version_standard};
pub use vpd::{vpd_page, SupportedVpdPages, UnitSerialNumber};
pub use vpd_block::{
    vpd_page_extra, BlockDeviceCharacteristics, BlockLimits, ExtendedInquiry,
    LogicalBlockProvisioning,
};

use super::error::BuildError;
pub use super::error::ResponseError;

/// Response data a target can send: its encoded length and how to write it.
pub trait BuildResponse {
    /// The bytes [`write_to`](Self::write_to) writes.
    fn encoded_len(&self) -> usize;

    /// Writes the data at the start of `out`; returns the bytes written. Fails when `out`
    /// is too small or a field does not fit.
    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError>;

    /// Builds the data into a new vector.
    fn to_vec(&self) -> Result<Vec<u8>, BuildError> {
        let mut out = vec![0; self.encoded_len()];
        let written = self.write_to(&mut out)?;
        out.truncate(written);
        Ok(out)
    }
}
