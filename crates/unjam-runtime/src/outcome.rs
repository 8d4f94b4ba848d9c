//! iSCSI results as the core sees them: host byte, SAM status, autosense and residual
//! (what the Linux iSCSI LLD reports through `scsi_done`).

use unjam_core::buffers::SenseBuffer;
use unjam_core::TransportOutcome;
use unjam_iscsi::client::CommandError;
use unjam_iscsi::pdu::Residual;
use unjam_iscsi::session::ScsiOutcome;
use unjam_scsi::{HostByte, MlStatus, SamStatus, ScsiResult};

/// Converts one iSCSI command result into the core's transport outcome.
///
/// - a SCSI status: `DID_OK` with the status, the sense and the underflow residual; an
///   iSCSI "target failure" response becomes `DID_ERROR`;
/// - a lost connection: `DID_TRANSPORT_DISRUPTED` (the core requeues);
/// - the replacement timeout expired: `DID_TRANSPORT_FAILFAST`;
/// - terminated by a task management function: `DID_ABORT`; rejected, or an iSCSI protocol
///   violation (the data or status did not add up; nothing of it is delivered): `DID_ERROR`,
///   which the core retries as a counted retry;
///   refused for lack of room: `DID_REQUEUE`; session closed: `DID_NO_CONNECT`.
pub fn transport_outcome(result: &Result<ScsiOutcome, CommandError>) -> TransportOutcome {
    match result {
        Ok(outcome) if outcome.response != 0 => TransportOutcome::host(HostByte::DID_ERROR),
        Ok(outcome) => TransportOutcome {
            result: ScsiResult::new(HostByte::DID_OK, MlStatus::OK, SamStatus(outcome.status)),
            sense: SenseBuffer::from_slice(&outcome.sense),
            resid: match outcome.residual {
                Residual::Underflow(count) => count,
                Residual::None | Residual::Overflow(_) => 0,
            },
        },
        Err(CommandError::Closed) => TransportOutcome::host(HostByte::DID_NO_CONNECT),
        Err(error) => TransportOutcome::host(error.host_byte()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use unjam_iscsi::session::ProtocolViolation;

    fn outcome(status: u8, sense: &[u8], residual: Residual) -> Result<ScsiOutcome, CommandError> {
        Ok(ScsiOutcome {
            response: 0,
            status,
            sense: Bytes::copy_from_slice(sense),
            residual,
            data: Bytes::new(),
        })
    }

    #[test]
    fn status_sense_and_residual_pass_through() {
        let sense = TransportOutcome::fixed_sense(0x06, 0x29, 0x00);
        let converted = transport_outcome(&outcome(2, &sense, Residual::Underflow(512)));
        assert_eq!(converted.result.host(), HostByte::DID_OK);
        assert_eq!(converted.result.status(), SamStatus::CHECK_CONDITION);
        assert_eq!(converted.sense.as_slice(), &sense[..]);
        assert_eq!(converted.resid, 512);
        let over = transport_outcome(&outcome(0, &[], Residual::Overflow(9)));
        assert_eq!(over.resid, 0);
    }

    #[test]
    fn transport_failures_become_the_linux_host_bytes() {
        let cases = [
            (
                CommandError::TransportDisrupted,
                HostByte::DID_TRANSPORT_DISRUPTED,
            ),
            (
                CommandError::TransportFailfast,
                HostByte::DID_TRANSPORT_FAILFAST,
            ),
            (CommandError::Aborted, HostByte::DID_ABORT),
            (CommandError::Rejected(4), HostByte::DID_ERROR),
            (
                CommandError::Protocol(ProtocolViolation::DataGap {
                    expected: 512,
                    offset: 1024,
                }),
                HostByte::DID_ERROR,
            ),
            (CommandError::Closed, HostByte::DID_NO_CONNECT),
        ];
        for (error, host) in cases {
            assert_eq!(transport_outcome(&Err(error)).result.host(), host);
        }
        let failure = Ok(ScsiOutcome {
            response: 1,
            status: 0,
            sense: Bytes::new(),
            residual: Residual::None,
            data: Bytes::new(),
        });
        assert_eq!(
            transport_outcome(&failure).result.host(),
            HostByte::DID_ERROR
        );
    }
}
