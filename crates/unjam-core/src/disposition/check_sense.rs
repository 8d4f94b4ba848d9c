//! `scsi_check_sense` (spec §3.2): the verdict on a CHECK CONDITION from its sense data.
//! No device handler is modelled (the ALUA hook of step 4 is left to a later issue).

use unjam_scsi::cdb::opcode;
use unjam_scsi::sense::SenseKey;
use unjam_scsi::{Disposition, MlStatus};

use super::DeviceView;
use crate::buffers::SenseBuffer;

/// What check_sense decided, with the side effects it asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SenseVerdict {
    pub disposition: Disposition,
    /// The mid-layer byte to set on the result.
    pub ml: Option<MlStatus>,
    /// The row of §3.2 that fired.
    pub rule: &'static str,
    pub clear_cc_ua: bool,
    /// 3f/0e: set the target's `expecting_lun_change`.
    pub set_lun_change: bool,
    /// ABORTED 2e/01-03 or COMPLETED 55/0a: REQ_FAILFAST_DEV and RQF_QUIET.
    pub failfast_dev_quiet: bool,
    pub report: Option<SenseReport>,
}

/// A UNIT ATTENTION that `scsi_report_sense` logs (it never changes the verdict).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenseReport {
    InquiryChanged,
    LunsChanged,
    OperatingParametersChanged,
    ThinProvisioningSoftThreshold,
    PowerOnReset,
    ModeParametersChanged,
    AsymmetricAccessChanged,
    CapacityChanged,
    ParametersChanged,
}

impl SenseReport {
    /// The message the kernel prints after the device prefix.
    pub fn message(self) -> &'static str {
        match self {
            Self::InquiryChanged => "Inquiry data has changed",
            Self::LunsChanged => {
                "LUN assignments on this target have changed. The Linux SCSI layer does not automatically remap LUN assignments."
            }
            Self::OperatingParametersChanged => {
                "Operating parameters on this target have changed. The Linux SCSI layer does not automatically adjust these parameters."
            }
            Self::ThinProvisioningSoftThreshold => {
                "Warning! Received an indication that the LUN reached a thin provisioning soft threshold."
            }
            Self::PowerOnReset => "Power-on or device reset occurred",
            Self::ModeParametersChanged => "Mode parameters changed",
            Self::AsymmetricAccessChanged => "Asymmetric access state changed",
            Self::CapacityChanged => "Capacity data has changed",
            Self::ParametersChanged => "Parameters changed",
        }
    }

    fn of(asc: u8, ascq: u8) -> Option<SenseReport> {
        Some(match (asc, ascq) {
            (0x3f, 0x03) => Self::InquiryChanged,
            (0x3f, 0x0e) => Self::LunsChanged,
            (0x3f, _) => Self::OperatingParametersChanged,
            (0x38, 0x07) => Self::ThinProvisioningSoftThreshold,
            (0x29, _) => Self::PowerOnReset,
            (0x2a, 0x01) => Self::ModeParametersChanged,
            (0x2a, 0x06) => Self::AsymmetricAccessChanged,
            (0x2a, 0x09) => Self::CapacityChanged,
            (0x2a, _) => Self::ParametersChanged,
            _ => return None,
        })
    }
}

impl SenseVerdict {
    fn new(disposition: Disposition, rule: &'static str) -> SenseVerdict {
        SenseVerdict {
            disposition,
            ml: None,
            rule,
            clear_cc_ua: false,
            set_lun_change: false,
            failfast_dev_quiet: false,
            report: None,
        }
    }

    fn with_ml(mut self, ml: MlStatus) -> SenseVerdict {
        self.ml = Some(ml);
        self
    }
}

/// `scsi_check_sense`, steps 1–7 of §3.2.
pub fn check_sense(
    sense: &SenseBuffer,
    opcode_byte: u8,
    submitted_by_eh: bool,
    device: &DeviceView,
) -> SenseVerdict {
    use Disposition::{NeedsRetry, Success};
    let Some(header) = sense.header() else {
        return SenseVerdict::new(
            Disposition::Failed,
            "no valid sense → FAILED (EH fetches it)",
        );
    };
    let report = (header.key == SenseKey::UNIT_ATTENTION)
        .then(|| SenseReport::of(header.asc, header.ascq))
        .flatten();
    // scsi_report_sense sets expecting_lun_change before the key switch reads it.
    let lun_change_reported = report == Some(SenseReport::LunsChanged);
    let device = &DeviceView {
        expecting_lun_change: device.expecting_lun_change || lun_change_reported,
        ..*device
    };
    let mut verdict = if header.is_deferred() {
        SenseVerdict::new(NeedsRetry, "deferred sense → NEEDS_RETRY")
    } else if opcode_byte == opcode::TEST_UNIT_READY && !submitted_by_eh {
        SenseVerdict::new(Success, "TEST UNIT READY → SUCCESS (sense passed up)")
    } else if tape_flags_set(
        sense.as_slice(),
        header.additional_length,
        header.is_descriptor(),
    ) {
        SenseVerdict::new(Success, "FILEMARK/EOM/ILI → SUCCESS")
    } else {
        by_key(header.key, header.asc, header.ascq, device)
    };
    verdict.report = report;
    verdict.set_lun_change = lun_change_reported;
    verdict
}

fn tape_flags_set(bytes: &[u8], additional_length: u8, descriptor: bool) -> bool {
    let byte = |index: usize| bytes.get(index).copied().unwrap_or(0);
    if !descriptor {
        return byte(2) & 0xe0 != 0;
    }
    additional_length > 3 && byte(8) == 0x04 && byte(11) & 0xe0 != 0
}

fn by_key(key: SenseKey, asc: u8, ascq: u8, device: &DeviceView) -> SenseVerdict {
    use Disposition::{AddToMlQueue, NeedsRetry, Success};
    let verdict = SenseVerdict::new;
    match key {
        SenseKey::NO_SENSE => verdict(Success, "NO SENSE → SUCCESS"),
        SenseKey::RECOVERED_ERROR => verdict(Success, "RECOVERED ERROR → SUCCESS"),
        SenseKey::ABORTED_COMMAND => aborted_command(asc, ascq, device),
        SenseKey::NOT_READY | SenseKey::UNIT_ATTENTION => not_ready_or_ua(asc, ascq, device),
        SenseKey::DATA_PROTECT if (asc, ascq) == (0x27, 0x07) => {
            verdict(Success, "DATA PROTECT 27/07 → ml NOSPC, SUCCESS").with_ml(MlStatus::NOSPC)
        }
        SenseKey::DATA_PROTECT
        | SenseKey::COPY_ABORTED
        | SenseKey::VOLUME_OVERFLOW
        | SenseKey::MISCOMPARE
        | SenseKey::BLANK_CHECK => verdict(Success, "target failure key → ml TGT_FAILURE, SUCCESS")
            .with_ml(MlStatus::TGT_FAILURE),
        SenseKey::MEDIUM_ERROR if matches!(asc, 0x11 | 0x13 | 0x14) => {
            verdict(Success, "MEDIUM ERROR 11/13/14 → ml MED_ERROR, SUCCESS")
                .with_ml(MlStatus::MED_ERROR)
        }
        SenseKey::MEDIUM_ERROR => verdict(NeedsRetry, "MEDIUM ERROR, other asc → NEEDS_RETRY"),
        SenseKey::HARDWARE_ERROR if device.retry_hwerror => verdict(
            AddToMlQueue,
            "HARDWARE ERROR with retry_hwerror → ADD_TO_MLQUEUE",
        ),
        SenseKey::HARDWARE_ERROR => verdict(Success, "HARDWARE ERROR → ml TGT_FAILURE, SUCCESS")
            .with_ml(MlStatus::TGT_FAILURE),
        SenseKey::ILLEGAL_REQUEST if matches!(asc, 0x20 | 0x21 | 0x22 | 0x24 | 0x26 | 0x27) => {
            verdict(
                Success,
                "ILLEGAL REQUEST 20/21/22/24/26/27 → ml TGT_FAILURE, SUCCESS",
            )
            .with_ml(MlStatus::TGT_FAILURE)
        }
        SenseKey::ILLEGAL_REQUEST => verdict(Success, "ILLEGAL REQUEST → SUCCESS"),
        SenseKey::COMPLETED if (asc, ascq) == (0x55, 0x0a) => {
            let mut completed = verdict(Success, "COMPLETED 55/0a → ml DL_TIMEOUT, SUCCESS")
                .with_ml(MlStatus::DL_TIMEOUT);
            completed.failfast_dev_quiet = true;
            completed
        }
        SenseKey::COMPLETED => verdict(Success, "COMPLETED → SUCCESS"),
        _ => verdict(Success, "other key → SUCCESS"),
    }
}

fn aborted_command(asc: u8, ascq: u8, device: &DeviceView) -> SenseVerdict {
    use Disposition::{AddToMlQueue, NeedsRetry, Success};
    let verdict = SenseVerdict::new;
    match (asc, ascq) {
        (0x10, _) => verdict(Success, "ABORTED COMMAND 10/xx (DIF) → SUCCESS"),
        (0x2e, 0x01..=0x03) => {
            let mut dl = verdict(Success, "ABORTED COMMAND 2e/01-03 → ml DL_TIMEOUT, SUCCESS")
                .with_ml(MlStatus::DL_TIMEOUT);
            dl.failfast_dev_quiet = true;
            dl
        }
        (0x44, _) if device.retry_itf => verdict(
            AddToMlQueue,
            "ABORTED COMMAND 44/xx with BLIST_RETRY_ITF → ADD_TO_MLQUEUE",
        ),
        (0xc1, 0x01) if device.retry_asc_c1 => verdict(
            AddToMlQueue,
            "ABORTED COMMAND c1/01 with BLIST_RETRY_ASC_C1 → ADD_TO_MLQUEUE",
        ),
        _ => verdict(NeedsRetry, "ABORTED COMMAND → NEEDS_RETRY"),
    }
}

fn not_ready_or_ua(asc: u8, ascq: u8, device: &DeviceView) -> SenseVerdict {
    use Disposition::{Failed, NeedsRetry, Success};
    let verdict = SenseVerdict::new;
    if device.expecting_cc_ua && (asc, ascq) != (0x28, 0x00) {
        let mut expected = verdict(
            NeedsRetry,
            "UA/NOT READY expected after reset → NEEDS_RETRY",
        );
        expected.clear_cc_ua = true;
        return expected;
    }
    if device.expecting_lun_change && (asc, ascq) == (0x3f, 0x0e) {
        return verdict(
            NeedsRetry,
            "3f/0e while expecting a LUN change → NEEDS_RETRY",
        );
    }
    match (asc, ascq) {
        (0x04, 0x01) => verdict(NeedsRetry, "04/01 becoming ready → NEEDS_RETRY"),
        (0x04, 0x02) if device.allow_restart => verdict(
            Failed,
            "04/02 initializing command required → FAILED (EH sends START UNIT)",
        ),
        _ => verdict(Success, "UA/NOT READY → SUCCESS (passed up)"),
    }
}

#[cfg(test)]
#[path = "check_sense_tests.rs"]
mod tests;
