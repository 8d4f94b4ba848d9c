//! virtio-scsi response codes (`VIRTIO_SCSI_S_*`) and how the Linux driver maps a command's
//! response to the result word (spec linux-midlayer.md §9.1, current kernels ≈v5.19/6.0+).
//!
//! Owns only the numbers and the mapping; it keeps no state and does no I/O.

use std::fmt;

use crate::{HostByte, SamStatus};

/// A virtio-scsi response byte. A newtype: devices may send values this table does not name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Response(pub u8);

impl Response {
    pub const OK: Response = Response(0);
    pub const OVERRUN: Response = Response(1);
    pub const ABORTED: Response = Response(2);
    pub const BAD_TARGET: Response = Response(3);
    pub const RESET: Response = Response(4);
    pub const BUSY: Response = Response(5);
    pub const TRANSPORT_FAILURE: Response = Response(6);
    pub const TARGET_FAILURE: Response = Response(7);
    pub const NEXUS_FAILURE: Response = Response(8);
    pub const FAILURE: Response = Response(9);
    /// Task-management responses (numbers follow the virtio spec; marked unverified in §9.1).
    pub const FUNCTION_SUCCEEDED: Response = Response(10);
    pub const FUNCTION_REJECTED: Response = Response(11);
    pub const INCORRECT_LUN: Response = Response(12);

    /// Every named response, in numeric order.
    pub const ALL: [Response; 13] = [
        Self::OK,
        Self::OVERRUN,
        Self::ABORTED,
        Self::BAD_TARGET,
        Self::RESET,
        Self::BUSY,
        Self::TRANSPORT_FAILURE,
        Self::TARGET_FAILURE,
        Self::NEXUS_FAILURE,
        Self::FAILURE,
        Self::FUNCTION_SUCCEEDED,
        Self::FUNCTION_REJECTED,
        Self::INCORRECT_LUN,
    ];

    /// The name without the `VIRTIO_SCSI_S_` prefix, e.g. `FAILURE`.
    pub fn name(self) -> Option<&'static str> {
        NAMES.get(self.0 as usize).copied()
    }

    /// Parses `FAILURE`, `VIRTIO_SCSI_S_FAILURE` (any case) or a number.
    pub fn parse(text: &str) -> Option<Response> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("VIRTIO_SCSI_S_").unwrap_or(&upper);
        if let Some(index) = NAMES.iter().position(|name| *name == bare) {
            return Some(Response(index as u8));
        }
        crate::parse_u8(text).map(Response)
    }

    /// The response a virtio-scsi device answers so that the guest sees `host` (the response
    /// named after that host byte; a host byte virtio has no response for becomes FAILURE,
    /// which the driver reports as DID_ERROR).
    pub fn for_host_byte(host: HostByte) -> Response {
        match host {
            HostByte::DID_OK => Self::OK,
            HostByte::DID_ABORT => Self::ABORTED,
            HostByte::DID_BAD_TARGET | HostByte::DID_NO_CONNECT => Self::BAD_TARGET,
            HostByte::DID_RESET => Self::RESET,
            HostByte::DID_BUS_BUSY => Self::BUSY,
            HostByte::DID_TRANSPORT_DISRUPTED
            | HostByte::DID_TRANSPORT_FAILFAST
            | HostByte::DID_TRANSPORT_MARGINAL => Self::TRANSPORT_FAILURE,
            HostByte(0x10) => Self::TARGET_FAILURE,
            HostByte(0x11) => Self::NEXUS_FAILURE,
            _ => Self::FAILURE,
        }
    }

    /// `virtscsi_complete_cmd`'s mapping of a command response to the result word.
    pub fn to_result(self, device_status: SamStatus) -> VirtioResult {
        let host = |host: HostByte| VirtioResult {
            host,
            status: device_status,
            unknown: false,
        };
        match self {
            Self::OK => host(HostByte::DID_OK),
            Self::OVERRUN | Self::FAILURE => host(HostByte::DID_ERROR),
            Self::ABORTED => host(HostByte::DID_ABORT),
            Self::BAD_TARGET | Self::TARGET_FAILURE => host(HostByte::DID_BAD_TARGET),
            Self::RESET => host(HostByte::DID_RESET),
            Self::BUSY => host(HostByte::DID_BUS_BUSY),
            Self::TRANSPORT_FAILURE => host(HostByte::DID_TRANSPORT_DISRUPTED),
            // The host byte stays 0; the status becomes RESERVATION CONFLICT.
            Self::NEXUS_FAILURE => VirtioResult {
                host: HostByte::DID_OK,
                status: SamStatus::RESERVATION_CONFLICT,
                unknown: false,
            },
            _ => VirtioResult {
                host: HostByte::DID_ERROR,
                status: device_status,
                unknown: true,
            },
        }
    }
}

/// The outcome of [`Response::to_result`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VirtioResult {
    pub host: HostByte,
    pub status: SamStatus,
    /// The driver logged `Unknown response %d` (a WARNING) before choosing DID_ERROR.
    pub unknown: bool,
}

const NAMES: [&str; 13] = [
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

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "VIRTIO_SCSI_S_{name}"),
            None => write!(f, "Response({})", self.0),
        }
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "VIRTIO_SCSI_S_{name}"),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(response: Response) -> HostByte {
        response.to_result(SamStatus::GOOD).host
    }

    #[test]
    fn mapping_follows_spec_9_1_current_kernel() {
        assert_eq!(host_of(Response::OK), HostByte::DID_OK);
        assert_eq!(host_of(Response::OVERRUN), HostByte::DID_ERROR);
        assert_eq!(host_of(Response::ABORTED), HostByte::DID_ABORT);
        assert_eq!(host_of(Response::BAD_TARGET), HostByte::DID_BAD_TARGET);
        assert_eq!(host_of(Response::RESET), HostByte::DID_RESET);
        assert_eq!(host_of(Response::BUSY), HostByte::DID_BUS_BUSY);
        assert_eq!(
            host_of(Response::TRANSPORT_FAILURE),
            HostByte::DID_TRANSPORT_DISRUPTED
        );
        assert_eq!(host_of(Response::TARGET_FAILURE), HostByte::DID_BAD_TARGET);
        assert_eq!(host_of(Response::FAILURE), HostByte::DID_ERROR);
    }

    #[test]
    fn nexus_failure_becomes_reservation_conflict() {
        let mapped = Response::NEXUS_FAILURE.to_result(SamStatus::GOOD);
        assert_eq!(mapped.host, HostByte::DID_OK);
        assert_eq!(mapped.status, SamStatus::RESERVATION_CONFLICT);
    }

    #[test]
    fn unknown_response_is_did_error_and_flagged() {
        let mapped = Response::INCORRECT_LUN.to_result(SamStatus::GOOD);
        assert_eq!(mapped.host, HostByte::DID_ERROR);
        assert!(mapped.unknown);
        assert!(Response(200).to_result(SamStatus::GOOD).unknown);
        assert!(!Response::FAILURE.to_result(SamStatus::GOOD).unknown);
    }

    #[test]
    fn host_bytes_choose_the_response_named_after_them() {
        for response in [
            Response::OK,
            Response::ABORTED,
            Response::BAD_TARGET,
            Response::RESET,
            Response::BUSY,
            Response::TRANSPORT_FAILURE,
            Response::FAILURE,
        ] {
            let host = response.to_result(SamStatus::GOOD).host;
            assert_eq!(Response::for_host_byte(host), response, "{response}");
        }
        assert_eq!(
            Response::for_host_byte(HostByte::DID_TIME_OUT),
            Response::FAILURE
        );
        assert_eq!(
            Response::for_host_byte(HostByte(0x10)),
            Response::TARGET_FAILURE
        );
    }

    #[test]
    fn device_status_is_kept() {
        let mapped = Response::OK.to_result(SamStatus::CHECK_CONDITION);
        assert_eq!(mapped.status, SamStatus::CHECK_CONDITION);
    }

    #[test]
    fn names_parse() {
        assert_eq!(Response::parse("FAILURE"), Some(Response::FAILURE));
        assert_eq!(
            Response::parse("virtio_scsi_s_bad_target"),
            Some(Response::BAD_TARGET)
        );
        assert_eq!(Response::parse("9"), Some(Response::FAILURE));
        assert_eq!(Response::parse("nope"), None);
        assert_eq!(Response::FAILURE.to_string(), "VIRTIO_SCSI_S_FAILURE");
    }
}
