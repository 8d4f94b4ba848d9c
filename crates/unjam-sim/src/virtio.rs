//! virtio-scsi responses as the simulator's faults name them. The codes and the kernel's
//! mapping to a host byte (spec linux-midlayer §9.1) live in one place, `unjam_scsi::virtio`;
//! this module only adds the error a scenario file gets for a name that is not one.

use thiserror::Error;

pub use unjam_scsi::virtio::Response as VirtioResponse;

/// An unrecognised response name in a scenario file.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("`{0}` is not a VIRTIO_SCSI_S_* response (OK, OVERRUN, ABORTED, BAD_TARGET, RESET, BUSY, TRANSPORT_FAILURE, TARGET_FAILURE, NEXUS_FAILURE, FAILURE, or a number)")]
pub struct VirtioResponseError(String);

/// Parses `FAILURE`, `VIRTIO_SCSI_S_FAILURE` (any case) or a number.
pub fn parse_response(text: &str) -> Result<VirtioResponse, VirtioResponseError> {
    VirtioResponse::parse(text).ok_or_else(|| VirtioResponseError(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_bad_names() {
        assert_eq!(parse_response("failure"), Ok(VirtioResponse::FAILURE));
        assert_eq!(
            parse_response("VIRTIO_SCSI_S_RESET"),
            Ok(VirtioResponse::RESET)
        );
        assert_eq!(parse_response("12"), Ok(VirtioResponse::INCORRECT_LUN));
        let error = parse_response("BOGUS").unwrap_err();
        assert!(error
            .to_string()
            .starts_with("`BOGUS` is not a VIRTIO_SCSI_S_* response"));
    }
}
