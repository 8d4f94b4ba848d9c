//! The kernel's 32-bit `scmd->result` word (spec §1.1): status in bits 0..7, the mid-layer
//! byte in bits 8..15, the host byte in bits 16..23, bits 24..31 unused (formerly the driver
//! byte). Kept as one word so that traces and SG_IO results compare one to one.

use std::fmt;

use crate::{HostByte, MlStatus, SamStatus};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScsiResult(pub u32);

impl ScsiResult {
    pub const OK: ScsiResult = ScsiResult(0);

    pub fn new(host: HostByte, ml: MlStatus, status: SamStatus) -> ScsiResult {
        ScsiResult((host.0 as u32) << 16 | (ml.0 as u32) << 8 | status.0 as u32)
    }

    pub fn status(self) -> SamStatus {
        SamStatus((self.0 & 0xff) as u8)
    }

    pub fn ml(self) -> MlStatus {
        MlStatus(((self.0 >> 8) & 0xff) as u8)
    }

    pub fn host(self) -> HostByte {
        HostByte(((self.0 >> 16) & 0xff) as u8)
    }

    #[must_use]
    pub fn with_status(self, status: SamStatus) -> ScsiResult {
        ScsiResult(self.0 & !0xff | status.0 as u32)
    }

    #[must_use]
    pub fn with_ml(self, ml: MlStatus) -> ScsiResult {
        ScsiResult(self.0 & !0xff00 | (ml.0 as u32) << 8)
    }

    #[must_use]
    pub fn with_host(self, host: HostByte) -> ScsiResult {
        ScsiResult(self.0 & !0xff_0000 | (host.0 as u32) << 16)
    }

    /// `scsi_status_is_good`: false for DID_NO_CONNECT, otherwise the status table of §1.3.
    /// It deliberately looks at no other host byte.
    pub fn status_is_good(self) -> bool {
        self.host() != HostByte::DID_NO_CONNECT && self.status().is_good()
    }
}

impl fmt::Debug for ScsiResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ScsiResult({:#010x}: {:?} {:?} {:?})",
            self.0,
            self.host(),
            self.ml(),
            self.status()
        )
    }
}

/// Serialized as its parts: `{"host_byte": "DID_OK", "status": "GOOD", "word": 0}`.
impl serde::Serialize for ScsiResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut parts = serializer.serialize_struct("ScsiResult", 3)?;
        parts.serialize_field("host_byte", &self.host().to_string())?;
        parts.serialize_field("status", &self.status().to_string())?;
        parts.serialize_field("word", &self.0)?;
        parts.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_pack_and_unpack() {
        let r = ScsiResult::new(
            HostByte::DID_ERROR,
            MlStatus::MED_ERROR,
            SamStatus::CHECK_CONDITION,
        );
        assert_eq!(r.0, 0x0007_0302);
        assert_eq!(r.host(), HostByte::DID_ERROR);
        assert_eq!(r.ml(), MlStatus::MED_ERROR);
        assert_eq!(r.status(), SamStatus::CHECK_CONDITION);
        let r = r
            .with_host(HostByte::DID_TIME_OUT)
            .with_ml(MlStatus::OK)
            .with_status(SamStatus::GOOD);
        assert_eq!(r.0, 0x0003_0000);
    }

    #[test]
    fn no_connect_is_never_good() {
        assert!(ScsiResult::OK.status_is_good());
        assert!(
            !ScsiResult::new(HostByte::DID_NO_CONNECT, MlStatus::OK, SamStatus::GOOD)
                .status_is_good()
        );
        // Any other host byte is not consulted.
        assert!(
            ScsiResult::new(HostByte::DID_ERROR, MlStatus::OK, SamStatus::GOOD).status_is_good()
        );
    }
}
