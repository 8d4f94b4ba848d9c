//! One test per row of spec §3.2 (check_sense).

use super::*;
use unjam_scsi::Disposition::{AddToMlQueue, Failed, NeedsRetry, Success};

const READ_10: u8 = 0x28;

fn fixed(key: u8, asc: u8, ascq: u8) -> SenseBuffer {
    SenseBuffer::from_slice(&crate::request::TransportOutcome::fixed_sense(
        key, asc, ascq,
    ))
}

fn check(key: u8, asc: u8, ascq: u8) -> SenseVerdict {
    check_sense(
        &fixed(key, asc, ascq),
        READ_10,
        false,
        &DeviceView::default(),
    )
}

fn check_with(key: u8, asc: u8, ascq: u8, device: DeviceView) -> SenseVerdict {
    check_sense(&fixed(key, asc, ascq), READ_10, false, &device)
}

#[test]
fn step1_no_valid_sense_is_failed() {
    let verdict = check_sense(&SenseBuffer::EMPTY, READ_10, false, &DeviceView::default());
    assert_eq!(verdict.disposition, Failed);
    let garbage = SenseBuffer::from_slice(&[0x00, 0x05]);
    assert_eq!(
        check_sense(&garbage, READ_10, false, &DeviceView::default()).disposition,
        Failed
    );
}

#[test]
fn step2_unit_attention_reports_do_not_change_the_verdict() {
    let verdict = check(0x6, 0x29, 0x00);
    assert_eq!(verdict.report, Some(SenseReport::PowerOnReset));
    assert_eq!(verdict.disposition, Success);
    assert_eq!(
        verdict.report.map(SenseReport::message),
        Some("Power-on or device reset occurred")
    );
    assert_eq!(
        check(0x6, 0x2a, 0x09).report,
        Some(SenseReport::CapacityChanged)
    );
    assert_eq!(
        check(0x6, 0x3f, 0x03).report,
        Some(SenseReport::InquiryChanged)
    );
    assert_eq!(
        check(0x2, 0x29, 0x00).report,
        None,
        "only UNIT ATTENTION reports"
    );
}

#[test]
fn step3_deferred_sense_is_needs_retry() {
    let mut sense = fixed(0x3, 0x11, 0x00).as_slice().to_vec();
    sense[0] = 0x71;
    let verdict = check_sense(
        &SenseBuffer::from_slice(&sense),
        READ_10,
        false,
        &DeviceView::default(),
    );
    assert_eq!(verdict.disposition, NeedsRetry);
    assert_eq!(verdict.ml, None);
}

#[test]
fn step5_test_unit_ready_from_caller_is_success() {
    let sense = fixed(0x2, 0x04, 0x01);
    let device = DeviceView::default();
    assert_eq!(
        check_sense(&sense, 0x00, false, &device).disposition,
        Success
    );
    assert_eq!(
        check_sense(&sense, 0x00, true, &device).disposition,
        NeedsRetry,
        "EH TURs are interpreted"
    );
}

#[test]
fn step6_tape_flags_are_success() {
    let mut sense = fixed(0x3, 0x00, 0x00).as_slice().to_vec();
    sense[2] |= 0x80; // FILEMARK
    let verdict = check_sense(
        &SenseBuffer::from_slice(&sense),
        READ_10,
        false,
        &DeviceView::default(),
    );
    assert_eq!(verdict.disposition, Success);
    let descriptor = [0x72, 0x03, 0x00, 0x00, 0, 0, 0, 4, 0x04, 0x02, 0x00, 0x20];
    let verdict = check_sense(
        &SenseBuffer::from_slice(&descriptor),
        READ_10,
        false,
        &DeviceView::default(),
    );
    assert_eq!(
        verdict.disposition, Success,
        "stream-commands descriptor with ILI"
    );
}

#[test]
fn key_no_sense_is_success() {
    assert_eq!(check(0x0, 0, 0).disposition, Success);
}

#[test]
fn key_recovered_error_is_success() {
    assert_eq!(check(0x1, 0x17, 0x01).disposition, Success);
}

#[test]
fn key_aborted_command_dif_is_success() {
    let verdict = check(0xb, 0x10, 0x01);
    assert_eq!((verdict.disposition, verdict.ml), (Success, None));
}

#[test]
fn key_aborted_command_duration_limit_is_dl_timeout() {
    for ascq in 1..=3 {
        let verdict = check(0xb, 0x2e, ascq);
        assert_eq!(
            (verdict.disposition, verdict.ml),
            (Success, Some(MlStatus::DL_TIMEOUT))
        );
        assert!(verdict.failfast_dev_quiet);
    }
    assert_eq!(check(0xb, 0x2e, 0x04).disposition, NeedsRetry);
}

#[test]
fn key_aborted_command_44_with_retry_itf_is_add_to_mlqueue() {
    let device = DeviceView {
        retry_itf: true,
        ..DeviceView::default()
    };
    assert_eq!(
        check_with(0xb, 0x44, 0x00, device).disposition,
        AddToMlQueue
    );
    assert_eq!(check(0xb, 0x44, 0x00).disposition, NeedsRetry);
}

#[test]
fn key_aborted_command_c1_01_with_retry_asc_c1_is_add_to_mlqueue() {
    let device = DeviceView {
        retry_asc_c1: true,
        ..DeviceView::default()
    };
    assert_eq!(
        check_with(0xb, 0xc1, 0x01, device).disposition,
        AddToMlQueue
    );
    assert_eq!(check(0xb, 0xc1, 0x01).disposition, NeedsRetry);
}

#[test]
fn key_aborted_command_otherwise_is_needs_retry() {
    assert_eq!(check(0xb, 0x00, 0x06).disposition, NeedsRetry);
}

#[test]
fn not_ready_a_expecting_cc_ua_retries_and_clears() {
    let device = DeviceView {
        expecting_cc_ua: true,
        ..DeviceView::default()
    };
    let verdict = check_with(0x6, 0x29, 0x00, device);
    assert_eq!(verdict.disposition, NeedsRetry);
    assert!(verdict.clear_cc_ua);
    let medium_changed = check_with(0x6, 0x28, 0x00, device);
    assert_eq!(
        medium_changed.disposition, Success,
        "28/00 is not the expected UA"
    );
    assert!(!medium_changed.clear_cc_ua);
}

#[test]
fn not_ready_b_expecting_lun_change_retries_3f_0e() {
    let verdict = check(0x6, 0x3f, 0x0e);
    assert_eq!(
        verdict.disposition, NeedsRetry,
        "the report sets the flag first"
    );
    assert!(verdict.set_lun_change);
    assert_eq!(verdict.report, Some(SenseReport::LunsChanged));
}

#[test]
fn not_ready_c_becoming_ready_is_needs_retry() {
    assert_eq!(check(0x2, 0x04, 0x01).disposition, NeedsRetry);
}

#[test]
fn not_ready_d_initializing_command_required_is_failed_with_allow_restart() {
    assert_eq!(check(0x2, 0x04, 0x02).disposition, Failed);
    let device = DeviceView {
        allow_restart: false,
        ..DeviceView::default()
    };
    assert_eq!(check_with(0x2, 0x04, 0x02, device).disposition, Success);
}

#[test]
fn not_ready_e_otherwise_is_success() {
    assert_eq!(check(0x2, 0x3a, 0x00).disposition, Success);
    assert_eq!(check(0x6, 0x29, 0x00).disposition, Success);
}

#[test]
fn key_data_protect_27_07_is_nospc() {
    let verdict = check(0x7, 0x27, 0x07);
    assert_eq!(
        (verdict.disposition, verdict.ml),
        (Success, Some(MlStatus::NOSPC))
    );
}

#[test]
fn key_data_protect_otherwise_is_target_failure() {
    let verdict = check(0x7, 0x27, 0x00);
    assert_eq!(
        (verdict.disposition, verdict.ml),
        (Success, Some(MlStatus::TGT_FAILURE))
    );
}

#[test]
fn key_copy_aborted_volume_overflow_miscompare_blank_check_are_target_failure() {
    for key in [0xa, 0xd, 0xe, 0x8] {
        let verdict = check(key, 0x1d, 0x00);
        assert_eq!(
            (verdict.disposition, verdict.ml),
            (Success, Some(MlStatus::TGT_FAILURE)),
            "key {key:#x}"
        );
    }
}

#[test]
fn key_medium_error_11_13_14_is_med_error() {
    for asc in [0x11, 0x13, 0x14] {
        let verdict = check(0x3, asc, 0x00);
        assert_eq!(
            (verdict.disposition, verdict.ml),
            (Success, Some(MlStatus::MED_ERROR))
        );
    }
}

#[test]
fn key_medium_error_otherwise_is_needs_retry() {
    assert_eq!(check(0x3, 0x0c, 0x00).disposition, NeedsRetry);
}

#[test]
fn key_hardware_error_with_retry_hwerror_is_add_to_mlqueue() {
    let device = DeviceView {
        retry_hwerror: true,
        ..DeviceView::default()
    };
    assert_eq!(
        check_with(0x4, 0x44, 0x00, device).disposition,
        AddToMlQueue
    );
}

#[test]
fn key_hardware_error_otherwise_is_target_failure() {
    let verdict = check(0x4, 0x44, 0x00);
    assert_eq!(
        (verdict.disposition, verdict.ml),
        (Success, Some(MlStatus::TGT_FAILURE))
    );
}

#[test]
fn key_illegal_request_listed_ascs_are_target_failure() {
    for asc in [0x20, 0x21, 0x22, 0x24, 0x26, 0x27] {
        let verdict = check(0x5, asc, 0x00);
        assert_eq!(
            (verdict.disposition, verdict.ml),
            (Success, Some(MlStatus::TGT_FAILURE))
        );
    }
}

#[test]
fn key_illegal_request_other_asc_is_plain_success() {
    let verdict = check(0x5, 0x25, 0x00);
    assert_eq!((verdict.disposition, verdict.ml), (Success, None));
}

#[test]
fn key_completed_55_0a_is_dl_timeout() {
    let verdict = check(0xf, 0x55, 0x0a);
    assert_eq!(
        (verdict.disposition, verdict.ml),
        (Success, Some(MlStatus::DL_TIMEOUT))
    );
    assert!(verdict.failfast_dev_quiet);
    assert_eq!(check(0xf, 0x00, 0x00).ml, None);
}

#[test]
fn key_other_vendor_and_equal_are_success() {
    assert_eq!(check(0x9, 0, 0).disposition, Success);
    assert_eq!(check(0xc, 0, 0).disposition, Success);
}
