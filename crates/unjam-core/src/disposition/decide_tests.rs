//! One test per row of spec §2.1 (decide_disposition) and of the §6.4 step-0 table.

use super::*;
use crate::buffers::Cdb;
use crate::request::Request;
use unjam_scsi::Disposition::{AddToMlQueue, Failed, NeedsRetry, Success};

fn read10() -> Request {
    Request::new(
        Cdb::from_slice(&[0x28, 0, 0, 0, 8, 0, 0, 0, 8, 0]).unwrap(),
        7,
    )
}

fn decide_full(
    result: ScsiResult,
    sense: &SenseBuffer,
    request: &Request,
    abort_scheduled: bool,
    device: DeviceView,
) -> (Decision, RetryCounter) {
    let mut counter = RetryCounter {
        retries: 0,
        allowed: 5,
    };
    let view = CommandView {
        result,
        sense,
        request,
        abort_scheduled,
        submitted_by_eh: false,
    };
    (decide_disposition(&view, &device, &mut counter), counter)
}

fn decide(host: HostByte, status: SamStatus) -> Decision {
    let result = ScsiResult::new(host, MlStatus::OK, status);
    decide_full(
        result,
        &SenseBuffer::EMPTY,
        &read10(),
        false,
        DeviceView::default(),
    )
    .0
}

fn sense(key: u8, asc: u8, ascq: u8) -> SenseBuffer {
    SenseBuffer::from_slice(&crate::request::TransportOutcome::fixed_sense(
        key, asc, ascq,
    ))
}

#[test]
fn step1_offline_device_is_success_without_looking() {
    let device = DeviceView {
        online: false,
        ..DeviceView::default()
    };
    let result = ScsiResult::new(HostByte::DID_TIME_OUT, MlStatus::OK, SamStatus::GOOD);
    let (decision, counter) = decide_full(result, &SenseBuffer::EMPTY, &read10(), false, device);
    assert_eq!(decision.disposition, Success);
    assert_eq!(counter.retries, 0);
}

#[test]
fn host_did_passthrough_clears_host_byte() {
    let decision = decide(HostByte::DID_PASSTHROUGH, SamStatus::CHECK_CONDITION);
    assert_eq!(decision.disposition, Success);
    assert_eq!(decision.result.host(), HostByte::DID_OK);
    assert_eq!(decision.result.status(), SamStatus::CHECK_CONDITION);
}

#[test]
fn host_did_ok_goes_to_status() {
    assert_eq!(
        decide(HostByte::DID_OK, SamStatus::BUSY).disposition,
        AddToMlQueue
    );
}

#[test]
fn host_did_abort_with_abort_scheduled_is_time_out() {
    let result = ScsiResult::new(HostByte::DID_ABORT, MlStatus::OK, SamStatus::GOOD);
    let (decision, _) = decide_full(
        result,
        &SenseBuffer::EMPTY,
        &read10(),
        true,
        DeviceView::default(),
    );
    assert_eq!(decision.disposition, Success);
    assert_eq!(decision.result.host(), HostByte::DID_TIME_OUT);
    let plain = decide(HostByte::DID_ABORT, SamStatus::GOOD);
    assert_eq!(
        (plain.disposition, plain.result.host()),
        (Success, HostByte::DID_ABORT)
    );
}

#[test]
fn host_did_no_connect_and_bad_target_are_success() {
    assert_eq!(
        decide(HostByte::DID_NO_CONNECT, SamStatus::GOOD).disposition,
        Success
    );
    assert_eq!(
        decide(HostByte::DID_BAD_TARGET, SamStatus::GOOD).disposition,
        Success
    );
}

#[test]
fn host_did_soft_error_maybe_retries() {
    let decision = decide(HostByte::DID_SOFT_ERROR, SamStatus::GOOD);
    assert_eq!(decision.disposition, NeedsRetry);
    assert!(decision.effects.counted_retry);
}

#[test]
fn host_did_imm_retry_is_needs_retry_uncounted() {
    let result = ScsiResult::new(HostByte::DID_IMM_RETRY, MlStatus::OK, SamStatus::GOOD);
    let mut request = read10();
    request.block.cmd_flags = crate::request::cmd_flags::FAILFAST_MASK;
    let (decision, counter) = decide_full(
        result,
        &SenseBuffer::EMPTY,
        &request,
        false,
        DeviceView::default(),
    );
    assert_eq!(decision.disposition, NeedsRetry, "not subject to failfast");
    assert_eq!(counter.retries, 0);
    assert!(!decision.effects.counted_retry);
}

#[test]
fn host_did_requeue_is_add_to_mlqueue() {
    assert_eq!(
        decide(HostByte::DID_REQUEUE, SamStatus::GOOD).disposition,
        AddToMlQueue
    );
}

#[test]
fn host_did_transport_disrupted_maybe_retries() {
    assert_eq!(
        decide(HostByte::DID_TRANSPORT_DISRUPTED, SamStatus::GOOD).disposition,
        NeedsRetry
    );
}

#[test]
fn host_did_transport_failfast_and_marginal_are_success() {
    assert_eq!(
        decide(HostByte::DID_TRANSPORT_FAILFAST, SamStatus::GOOD).disposition,
        Success
    );
    assert_eq!(
        decide(HostByte::DID_TRANSPORT_MARGINAL, SamStatus::GOOD).disposition,
        Success
    );
}

#[test]
fn host_did_error_with_reservation_conflict_goes_to_status() {
    let decision = decide(HostByte::DID_ERROR, SamStatus::RESERVATION_CONFLICT);
    assert_eq!(decision.disposition, Success);
    assert_eq!(decision.result.ml(), MlStatus::RESV_CONFLICT);
    assert!(decision.effects.reservation_conflict);
}

#[test]
fn host_did_error_otherwise_maybe_retries() {
    assert_eq!(
        decide(HostByte::DID_ERROR, SamStatus::GOOD).disposition,
        NeedsRetry
    );
}

#[test]
fn host_did_bus_busy_and_parity_maybe_retry() {
    assert_eq!(
        decide(HostByte::DID_BUS_BUSY, SamStatus::GOOD).disposition,
        NeedsRetry
    );
    assert_eq!(
        decide(HostByte::DID_PARITY, SamStatus::GOOD).disposition,
        NeedsRetry
    );
}

#[test]
fn host_did_time_out_on_tur_or_inquiry_is_success() {
    for op in [0x00u8, 0x12] {
        let request = Request::new(Cdb::from_array([op, 0, 0, 0, 0, 0]), 1);
        let result = ScsiResult::new(HostByte::DID_TIME_OUT, MlStatus::OK, SamStatus::GOOD);
        let (decision, _) = decide_full(
            result,
            &SenseBuffer::EMPTY,
            &request,
            false,
            DeviceView::default(),
        );
        assert_eq!(decision.disposition, Success);
    }
}

#[test]
fn host_did_time_out_otherwise_is_failed() {
    assert_eq!(
        decide(HostByte::DID_TIME_OUT, SamStatus::GOOD).disposition,
        Failed
    );
}

#[test]
fn host_did_reset_is_success() {
    assert_eq!(
        decide(HostByte::DID_RESET, SamStatus::GOOD).disposition,
        Success
    );
}

#[test]
fn host_other_is_failed() {
    for host in [
        HostByte::DID_BAD_INTR,
        HostByte(0x10),
        HostByte(0x13),
        HostByte(0x77),
    ] {
        assert_eq!(
            decide(host, SamStatus::GOOD).disposition,
            Failed,
            "{host:?}"
        );
    }
}

#[test]
fn status_task_set_full_lowers_depth_then_busy() {
    let decision = decide(HostByte::DID_OK, SamStatus::TASK_SET_FULL);
    assert_eq!(decision.disposition, AddToMlQueue);
    assert!(decision.effects.queue_full);
}

#[test]
fn status_busy_is_add_to_mlqueue_never_counted() {
    let result = ScsiResult::new(HostByte::DID_OK, MlStatus::OK, SamStatus::BUSY);
    let (decision, counter) = decide_full(
        result,
        &SenseBuffer::EMPTY,
        &read10(),
        false,
        DeviceView::default(),
    );
    assert_eq!(decision.disposition, AddToMlQueue);
    assert_eq!(counter.retries, 0);
}

#[test]
fn status_good_is_success_and_sets_ml_from_valid_sense() {
    let result = ScsiResult::OK;
    let medium = sense(0x3, 0x11, 0x00);
    let (decision, _) = decide_full(result, &medium, &read10(), false, DeviceView::default());
    assert_eq!(decision.disposition, Success);
    assert_eq!(decision.result.ml(), MlStatus::MED_ERROR);
    let report_luns = Request::new(
        Cdb::from_slice(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]).unwrap(),
        1,
    );
    let (decision, _) = decide_full(
        result,
        &SenseBuffer::EMPTY,
        &report_luns,
        false,
        DeviceView::default(),
    );
    assert_eq!(
        decision.effects.lun_change,
        Some(false),
        "REPORT LUNS clears expecting_lun_change"
    );
}

#[test]
fn status_command_terminated_is_success() {
    assert_eq!(
        decide(HostByte::DID_OK, SamStatus::COMMAND_TERMINATED).disposition,
        Success
    );
}

#[test]
fn status_task_aborted_maybe_retries() {
    assert_eq!(
        decide(HostByte::DID_OK, SamStatus::TASK_ABORTED).disposition,
        NeedsRetry
    );
}

#[test]
fn status_check_condition_uses_check_sense() {
    let result = ScsiResult::OK.with_status(SamStatus::CHECK_CONDITION);
    let aborted = sense(0xb, 0x00, 0x06);
    let (decision, counter) =
        decide_full(result, &aborted, &read10(), false, DeviceView::default());
    assert_eq!(decision.disposition, NeedsRetry);
    assert_eq!(counter.retries, 1);
    let (no_sense, _) = decide_full(
        result,
        &SenseBuffer::EMPTY,
        &read10(),
        false,
        DeviceView::default(),
    );
    assert_eq!(no_sense.disposition, Failed, "no sense: let EH fetch it");
    let (illegal, _) = decide_full(
        result,
        &sense(0x5, 0x24, 0),
        &read10(),
        false,
        DeviceView::default(),
    );
    assert_eq!(
        (illegal.disposition, illegal.result.ml()),
        (Success, MlStatus::TGT_FAILURE)
    );
}

#[test]
fn status_condition_met_intermediate_aca_are_success() {
    for status in [
        SamStatus::CONDITION_MET,
        SamStatus::INTERMEDIATE,
        SamStatus::INTERMEDIATE_CONDITION_MET,
        SamStatus::ACA_ACTIVE,
    ] {
        assert_eq!(decide(HostByte::DID_OK, status).disposition, Success);
    }
}

#[test]
fn status_reservation_conflict_sets_ml_and_logs() {
    let decision = decide(HostByte::DID_OK, SamStatus::RESERVATION_CONFLICT);
    assert_eq!(decision.disposition, Success);
    assert_eq!(decision.result.ml(), MlStatus::RESV_CONFLICT);
    assert!(decision.effects.reservation_conflict);
}

#[test]
fn status_other_is_failed() {
    assert_eq!(
        decide(HostByte::DID_OK, SamStatus(0x03)).disposition,
        Failed
    );
    assert_eq!(
        decide(HostByte::DID_OK, SamStatus(0x7e)).disposition,
        Failed
    );
}

#[test]
fn maybe_retry_exhausted_after_allowed() {
    let result = ScsiResult::new(HostByte::DID_ERROR, MlStatus::OK, SamStatus::GOOD);
    let mut counter = RetryCounter {
        retries: 0,
        allowed: 5,
    };
    let request = read10();
    let view = CommandView {
        result,
        sense: &SenseBuffer::EMPTY,
        request: &request,
        abort_scheduled: false,
        submitted_by_eh: false,
    };
    let verdicts: Vec<_> = (0..6)
        .map(|_| decide_disposition(&view, &DeviceView::default(), &mut counter).disposition)
        .collect();
    assert_eq!(
        verdicts,
        vec![NeedsRetry, NeedsRetry, NeedsRetry, NeedsRetry, NeedsRetry, Success]
    );
    assert_eq!(
        counter.retries, 6,
        "retry_allowed increments even when it refuses"
    );
}

#[test]
fn maybe_retry_failfast_driver_stops_did_error() {
    let result = ScsiResult::new(HostByte::DID_ERROR, MlStatus::OK, SamStatus::GOOD);
    let mut request = read10();
    request.block.cmd_flags = crate::request::cmd_flags::FAILFAST_DRIVER;
    let (decision, counter) = decide_full(
        result,
        &SenseBuffer::EMPTY,
        &request,
        false,
        DeviceView::default(),
    );
    assert_eq!(decision.disposition, Success);
    assert_eq!(counter.retries, 1, "retry_allowed is evaluated first");
}

#[test]
fn eh_completed_normally_table() {
    let device = DeviceView::default();
    let tur = 0x00;
    let ok = ScsiResult::OK;
    assert_eq!(
        eh_completed_normally(ok, &SenseBuffer::EMPTY, tur, &device).disposition,
        Success
    );
    let host = ScsiResult::OK.with_host(HostByte::DID_ERROR);
    assert_eq!(
        eh_completed_normally(host, &SenseBuffer::EMPTY, tur, &device).disposition,
        Failed
    );
    let cc = ScsiResult::OK.with_status(SamStatus::CHECK_CONDITION);
    assert_eq!(
        eh_completed_normally(cc, &sense(0x2, 0x04, 0x01), tur, &device).disposition,
        NeedsRetry
    );
    assert_eq!(
        eh_completed_normally(cc, &sense(0x2, 0x3a, 0x00), tur, &device).disposition,
        Success
    );
    assert_eq!(
        eh_completed_normally(cc, &SenseBuffer::EMPTY, tur, &device).disposition,
        Failed
    );
    let conflict = ScsiResult::OK.with_status(SamStatus::RESERVATION_CONFLICT);
    assert_eq!(
        eh_completed_normally(conflict, &SenseBuffer::EMPTY, tur, &device).disposition,
        Success
    );
    assert_eq!(
        eh_completed_normally(conflict, &SenseBuffer::EMPTY, 0x1b, &device).disposition,
        Failed
    );
    let busy = ScsiResult::OK.with_status(SamStatus::BUSY);
    assert_eq!(
        eh_completed_normally(busy, &SenseBuffer::EMPTY, tur, &device).disposition,
        NeedsRetry
    );
    let reset = ScsiResult::OK
        .with_host(HostByte::DID_RESET)
        .with_status(SamStatus::CHECK_CONDITION);
    assert_eq!(
        eh_completed_normally(reset, &sense(0x6, 0x29, 0x00), tur, &device).disposition,
        Success
    );
    let hw = sense(0x4, 0x44, 0x00);
    let retry_hw = DeviceView {
        retry_hwerror: true,
        ..device
    };
    assert_eq!(
        eh_completed_normally(cc, &hw, tur, &retry_hw).disposition,
        NeedsRetry,
        "ADD_TO_MLQUEUE → NEEDS_RETRY"
    );
}

#[test]
fn a_unit_attention_to_an_eh_command_clears_expecting_cc_ua_and_is_reported() {
    // §3.2: check_sense's effects apply to the error handler's TUR too: the UA a reset
    // raises clears expecting_cc_ua (retried once) and logs "Power-on or device reset".
    let device = DeviceView {
        expecting_cc_ua: true,
        ..DeviceView::default()
    };
    let cc = ScsiResult::OK.with_status(SamStatus::CHECK_CONDITION);
    let verdict = eh_completed_normally(cc, &sense(0x6, 0x29, 0x03), 0x00, &device);
    assert_eq!(verdict.disposition, NeedsRetry);
    assert!(verdict.effects.clear_cc_ua);
    assert_eq!(
        verdict.effects.report,
        Some(crate::disposition::SenseReport::PowerOnReset)
    );
}
