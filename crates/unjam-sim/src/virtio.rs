//! The virtio-scsi response codes and how the kernel maps them to a host byte (spec
//! linux-midlayer §9.1, current kernels). A fault on a virtio_scsi-personality LUN can be
//! written as one of these responses; the transport then reports the mapped result.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use unjam_scsi::{HostByte, SamStatus};

/// `VIRTIO_SCSI_S_*`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct VirtioResponse(pub u8);

impl VirtioResponse {
    pub const OK: VirtioResponse = VirtioResponse(0);
    pub const OVERRUN: VirtioResponse = VirtioResponse(1);
    pub const ABORTED: VirtioResponse = VirtioResponse(2);
    pub const BAD_TARGET: VirtioResponse = VirtioResponse(3);
    pub const RESET: VirtioResponse = VirtioResponse(4);
    pub const BUSY: VirtioResponse = VirtioResponse(5);
    pub const TRANSPORT_FAILURE: VirtioResponse = VirtioResponse(6);
    pub const TARGET_FAILURE: VirtioResponse = VirtioResponse(7);
    pub const NEXUS_FAILURE: VirtioResponse = VirtioResponse(8);
    pub const FAILURE: VirtioResponse = VirtioResponse(9);
    pub const FUNCTION_SUCCEEDED: VirtioResponse = VirtioResponse(10);
    pub const FUNCTION_REJECTED: VirtioResponse = VirtioResponse(11);
    pub const INCORRECT_LUN: VirtioResponse = VirtioResponse(12);

    const NAMES: [&'static str; 13] = [
        "OK",
        "OVERRUN",
        "ABORTED",
        "BAD_TARGET",
        "RESET",
        "BUSY",
        "TRANSPORT_FAILURE",
        "TARGET_FAILURE",
        "NEXUS_FAILURE",
        "FAILURE",
        "FUNCTION_SUCCEEDED",
        "FUNCTION_REJECTED",
        "INCORRECT_LUN",
    ];

    pub fn name(self) -> Option<&'static str> {
        Self::NAMES.get(self.0 as usize).copied()
    }

    /// The host byte and status the kernel's `virtscsi_complete_cmd` produces for this
    /// response, given the status byte the device sent. NEXUS_FAILURE leaves the host byte
    /// at DID_OK and sets RESERVATION CONFLICT; an unknown response is DID_ERROR (after
    /// the kernel's `Unknown response` warning).
    pub fn to_host_result(self, device_status: SamStatus) -> (HostByte, SamStatus) {
        let host = match self {
            Self::OK => HostByte::DID_OK,
            Self::OVERRUN => HostByte::DID_ERROR,
            Self::ABORTED => HostByte::DID_ABORT,
            Self::BAD_TARGET | Self::TARGET_FAILURE => HostByte::DID_BAD_TARGET,
            Self::RESET => HostByte::DID_RESET,
            Self::BUSY => HostByte::DID_BUS_BUSY,
            Self::TRANSPORT_FAILURE => HostByte::DID_TRANSPORT_DISRUPTED,
            Self::NEXUS_FAILURE => return (HostByte::DID_OK, SamStatus::RESERVATION_CONFLICT),
            _ => HostByte::DID_ERROR,
        };
        (host, device_status)
    }

    /// Whether the kernel logs `Unknown response` for it.
    pub fn is_unknown_to_the_kernel(self) -> bool {
        self.0 > Self::FAILURE.0
    }
}

/// An unrecognised response name.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("`{0}` is not a VIRTIO_SCSI_S_* response (OK, OVERRUN, ABORTED, BAD_TARGET, RESET, BUSY, TRANSPORT_FAILURE, TARGET_FAILURE, NEXUS_FAILURE, FAILURE, or a number)")]
pub struct VirtioResponseError(String);

impl FromStr for VirtioResponse {
    type Err = VirtioResponseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("VIRTIO_SCSI_S_").unwrap_or(&upper);
        if let Some(index) = Self::NAMES.iter().position(|name| *name == bare) {
            return Ok(VirtioResponse(index as u8));
        }
        bare.parse()
            .map(VirtioResponse)
            .map_err(|_| VirtioResponseError(text.to_string()))
    }
}

impl fmt::Display for VirtioResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "VIRTIO_SCSI_S_{name}"),
            None => write!(f, "VIRTIO_SCSI_S_{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_kernel_mapping() {
        let good = SamStatus::GOOD;
        let host = |name: &str| {
            name.parse::<VirtioResponse>()
                .unwrap()
                .to_host_result(good)
                .0
        };
        assert_eq!(host("OK"), HostByte::DID_OK);
        assert_eq!(host("OVERRUN"), HostByte::DID_ERROR);
        assert_eq!(host("ABORTED"), HostByte::DID_ABORT);
        assert_eq!(host("BAD_TARGET"), HostByte::DID_BAD_TARGET);
        assert_eq!(host("RESET"), HostByte::DID_RESET);
        assert_eq!(host("BUSY"), HostByte::DID_BUS_BUSY);
        assert_eq!(host("TRANSPORT_FAILURE"), HostByte::DID_TRANSPORT_DISRUPTED);
        assert_eq!(host("TARGET_FAILURE"), HostByte::DID_BAD_TARGET);
        assert_eq!(host("virtio_scsi_s_failure"), HostByte::DID_ERROR);
        assert_eq!(host("12"), HostByte::DID_ERROR);
        assert_eq!(
            VirtioResponse::NEXUS_FAILURE.to_host_result(good),
            (HostByte::DID_OK, SamStatus::RESERVATION_CONFLICT)
        );
        assert!(VirtioResponse::INCORRECT_LUN.is_unknown_to_the_kernel());
        assert!(!VirtioResponse::FAILURE.is_unknown_to_the_kernel());
        assert!("BOGUS".parse::<VirtioResponse>().is_err());
        assert_eq!(VirtioResponse::FAILURE.to_string(), "VIRTIO_SCSI_S_FAILURE");
    }
}
