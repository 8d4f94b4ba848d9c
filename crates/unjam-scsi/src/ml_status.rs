//! The mid-layer's own byte (`SCSIML_STAT_*`, spec §1.4), bits 8..15 of the result word.
//! Only the mid-layer sets it (from sense data and RESERVATION CONFLICT); transports never do.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MlStatus(pub u8);

impl MlStatus {
    pub const OK: MlStatus = MlStatus(0x00);
    pub const RESV_CONFLICT: MlStatus = MlStatus(0x01);
    pub const NOSPC: MlStatus = MlStatus(0x02);
    pub const MED_ERROR: MlStatus = MlStatus(0x03);
    pub const TGT_FAILURE: MlStatus = MlStatus(0x04);
    pub const DL_TIMEOUT: MlStatus = MlStatus(0x05);

    /// The kernel's constant name, e.g. `SCSIML_STAT_MED_ERROR`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::OK => "SCSIML_STAT_OK",
            Self::RESV_CONFLICT => "SCSIML_STAT_RESV_CONFLICT",
            Self::NOSPC => "SCSIML_STAT_NOSPC",
            Self::MED_ERROR => "SCSIML_STAT_MED_ERROR",
            Self::TGT_FAILURE => "SCSIML_STAT_TGT_FAILURE",
            Self::DL_TIMEOUT => "SCSIML_STAT_DL_TIMEOUT",
            _ => return None,
        })
    }
}

impl fmt::Debug for MlStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "MlStatus({:#04x})", self.0),
        }
    }
}
