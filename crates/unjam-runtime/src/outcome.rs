//! iSCSI results as the core sees them: host byte, SAM status, autosense and residual
//! (what the Linux iSCSI LLD reports through `scsi_done`).

use unjam_core::buffers::SenseBuffer;
use unjam_core::TransportOutcome;
use unjam_iscsi::pdu::Residual;
use unjam_iscsi::session::{ScsiOutcome, TaskFailure};
use unjam_scsi::{HostByte, MlStatus, SamStatus, ScsiResult};

/// Converts one task's end into the core's transport outcome.
///
/// - a SCSI status: `DID_OK` with the status, the sense and the underflow residual; an
///   iSCSI "target failure" response becomes `DID_ERROR`;
/// - a lost connection: `DID_TRANSPORT_DISRUPTED` (the core requeues without counting);
/// - terminated by a task management function: `DID_ABORT`;
/// - rejected, or an iSCSI protocol violation (the data or status did not add up; nothing
///   of it is delivered): `DID_ERROR`, which the core retries as a counted retry.
#[inline]
pub fn transport_outcome(result: &Result<ScsiOutcome, TaskFailure>) -> TransportOutcome {
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
        Err(failure) => TransportOutcome::host(failure_host_byte(failure)),
    }
}

/// The host byte the Linux iSCSI LLD reports for a task that ended without a status.
pub fn failure_host_byte(failure: &TaskFailure) -> HostByte {
    match failure {
        TaskFailure::ConnectionLost { .. } => HostByte::DID_TRANSPORT_DISRUPTED,
        TaskFailure::Aborted => HostByte::DID_ABORT,
        TaskFailure::Rejected(_) | TaskFailure::Protocol(_) => HostByte::DID_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use unjam_iscsi::session::ProtocolViolation;

    fn outcome(status: u8, sense: &[u8], residual: Residual) -> Result<ScsiOutcome, TaskFailure> {
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
    fn task_failures_become_the_linux_host_bytes() {
        let violation = ProtocolViolation::DataGap {
            expected: 512,
            offset: 1024,
        };
        let cases = [
            (
                TaskFailure::ConnectionLost { sent: true },
                HostByte::DID_TRANSPORT_DISRUPTED,
            ),
            (TaskFailure::Aborted, HostByte::DID_ABORT),
            (TaskFailure::Rejected(4), HostByte::DID_ERROR),
            (TaskFailure::Protocol(violation), HostByte::DID_ERROR),
        ];
        for (failure, host) in cases {
            assert_eq!(transport_outcome(&Err(failure)).result.host(), host);
        }
        let target_failure = Ok(ScsiOutcome {
            response: 1,
            status: 0,
            sense: Bytes::new(),
            residual: Residual::None,
            data: Bytes::new(),
        });
        let converted = transport_outcome(&target_failure);
        assert_eq!(converted.result.host(), HostByte::DID_ERROR);
    }
}
