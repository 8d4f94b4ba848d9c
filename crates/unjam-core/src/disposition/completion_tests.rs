//! Tests for §4.1 (result_to_blk_status), §4.3–4.4 (io_completion, partial completion) and
//! one per row of the §4.5 completion-action table.

use super::*;
use crate::buffers::Cdb;
use crate::request::{cmd_flags, TransportOutcome};
use unjam_scsi::SamStatus;

fn read10(data_len: u32) -> Request {
    let mut request = Request::new(
        Cdb::from_slice(&[0x28, 0, 0, 0, 0x10, 0, 0, 0, 8, 0]).unwrap(),
        1,
    );
    request.data_len = data_len;
    request.block.start_sector = 0x10;
    request
}

fn sense(key: u8, asc: u8, ascq: u8) -> SenseBuffer {
    SenseBuffer::from_slice(&TransportOutcome::fixed_sense(key, asc, ascq))
}

fn cc() -> ScsiResult {
    ScsiResult::OK.with_status(SamStatus::CHECK_CONDITION)
}

fn action(key: u8, asc: u8, ascq: u8) -> CompletionAction {
    completion_action(
        cc(),
        &sense(key, asc, ascq),
        &read10(4096),
        &DeviceView::default(),
    )
    .0
}

#[test]
fn blk_status_ml_byte_first() {
    assert_eq!(
        result_to_blk_status(cc().with_ml(MlStatus::RESV_CONFLICT)),
        BlkStatus::ResvConflict
    );
    assert_eq!(
        result_to_blk_status(cc().with_ml(MlStatus::NOSPC)),
        BlkStatus::NoSpc
    );
    assert_eq!(
        result_to_blk_status(cc().with_ml(MlStatus::MED_ERROR)),
        BlkStatus::Medium
    );
    assert_eq!(
        result_to_blk_status(cc().with_ml(MlStatus::TGT_FAILURE)),
        BlkStatus::Target
    );
    assert_eq!(
        result_to_blk_status(cc().with_ml(MlStatus::DL_TIMEOUT)),
        BlkStatus::DurationLimit
    );
}

#[test]
fn blk_status_by_host_byte() {
    assert_eq!(result_to_blk_status(ScsiResult::OK), BlkStatus::Ok);
    assert_eq!(result_to_blk_status(cc()), BlkStatus::IoErr);
    let host = |h| ScsiResult::OK.with_host(h);
    assert_eq!(
        result_to_blk_status(host(HostByte::DID_TRANSPORT_FAILFAST)),
        BlkStatus::Transport
    );
    assert_eq!(
        result_to_blk_status(host(HostByte::DID_TRANSPORT_MARGINAL)),
        BlkStatus::Transport
    );
    for other in [
        HostByte::DID_TIME_OUT,
        HostByte::DID_NO_CONNECT,
        HostByte::DID_ERROR,
        HostByte::DID_RESET,
    ] {
        assert_eq!(result_to_blk_status(host(other)), BlkStatus::IoErr);
    }
}

#[test]
fn row_did_reset_is_retry() {
    let result = ScsiResult::OK.with_host(HostByte::DID_RESET);
    let (action, _) = completion_action(
        result,
        &SenseBuffer::EMPTY,
        &read10(512),
        &DeviceView::default(),
    );
    assert_eq!(action, CompletionAction::Retry);
}

#[test]
fn row_unit_attention_removable_fails_and_sets_changed() {
    let device = DeviceView {
        removable: true,
        ..DeviceView::default()
    };
    let ua = sense(0x6, 0x28, 0x00);
    let (action, _) = completion_action(cc(), &ua, &read10(512), &device);
    assert_eq!(action, CompletionAction::Fail(BlkStatus::IoErr));
    let plan = io_completion(&CompletionInput {
        result: cc(),
        sense: &ua,
        request: &read10(4096),
        resid: 0,
        device: &device,
        runtime_exceeded: false,
    });
    assert!(plan.set_changed);
}

#[test]
fn row_unit_attention_not_removable_retries() {
    assert_eq!(action(0x6, 0x29, 0x00), CompletionAction::Retry);
}

#[test]
fn row_illegal_request_20_00_on_read10_repreps_as_six_byte() {
    assert_eq!(
        action(0x5, 0x20, 0x00),
        CompletionAction::ReprepWithSixByteCdb
    );
    let device = DeviceView {
        use_10_for_rw: false,
        ..DeviceView::default()
    };
    let (action, _) = completion_action(cc(), &sense(0x5, 0x20, 0x00), &read10(512), &device);
    assert_eq!(action, CompletionAction::Fail(BlkStatus::Target));
}

#[test]
fn row_illegal_request_dix_is_protection() {
    assert_eq!(
        action(0x5, 0x10, 0x01),
        CompletionAction::Fail(BlkStatus::Protection)
    );
}

#[test]
fn row_illegal_request_20_or_24_is_target() {
    assert_eq!(
        action(0x5, 0x24, 0x00),
        CompletionAction::Fail(BlkStatus::Target)
    );
    assert_eq!(
        action(0x5, 0x20, 0x01),
        CompletionAction::Fail(BlkStatus::Target)
    );
}

#[test]
fn row_illegal_request_other_asc_maps_the_result() {
    assert_eq!(
        action(0x5, 0x25, 0x00),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
    let with_ml = cc().with_ml(MlStatus::TGT_FAILURE);
    let (action, _) = completion_action(
        with_ml,
        &sense(0x5, 0x21, 0),
        &read10(512),
        &DeviceView::default(),
    );
    assert_eq!(action, CompletionAction::Fail(BlkStatus::Target));
}

#[test]
fn row_aborted_command_fails_protection_for_dif() {
    assert_eq!(
        action(0xb, 0x10, 0x01),
        CompletionAction::Fail(BlkStatus::Protection)
    );
    assert_eq!(
        action(0xb, 0x00, 0x06),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
}

#[test]
fn row_not_ready_becoming_ready_family_is_delayed_retry() {
    for ascq in [
        0x01, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x11, 0x14, 0x1a, 0x1b, 0x1d,
    ] {
        assert_eq!(
            action(0x2, 0x04, ascq),
            CompletionAction::DelayedRetry,
            "04/{ascq:02x}"
        );
    }
}

#[test]
fn row_not_ready_alua_transition_is_delayed_reprep() {
    assert_eq!(action(0x2, 0x04, 0x0a), CompletionAction::DelayedReprep);
}

#[test]
fn row_not_ready_depopulation_fails() {
    assert_eq!(
        action(0x2, 0x04, 0x24),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
    assert_eq!(
        action(0x2, 0x04, 0x25),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
}

#[test]
fn row_not_ready_other_fails() {
    assert_eq!(
        action(0x2, 0x3a, 0x00),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
    assert_eq!(
        action(0x2, 0x04, 0x02),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
}

#[test]
fn row_volume_overflow_fails() {
    let with_ml = cc().with_ml(MlStatus::TGT_FAILURE);
    let (action, _) = completion_action(
        with_ml,
        &sense(0xd, 0, 2),
        &read10(512),
        &DeviceView::default(),
    );
    assert_eq!(action, CompletionAction::Fail(BlkStatus::Target));
}

#[test]
fn row_data_protect_zone_resources() {
    for (asc, ascq) in [(0x0c, 0x12), (0x55, 0x0e), (0x55, 0x0f)] {
        assert_eq!(
            action(0x7, asc, ascq),
            CompletionAction::Fail(BlkStatus::ZoneOpenResource)
        );
    }
}

#[test]
fn row_data_protect_other_maps_the_result() {
    assert_eq!(
        action(0x7, 0x27, 0x00),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
}

#[test]
fn row_completed_or_other_key_fails() {
    assert_eq!(
        action(0xf, 0x00, 0x00),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
    assert_eq!(
        action(0x3, 0x0c, 0x00),
        CompletionAction::Fail(BlkStatus::IoErr)
    );
}

#[test]
fn row_no_valid_or_deferred_sense_fails() {
    let (action, _) = completion_action(
        cc(),
        &SenseBuffer::EMPTY,
        &read10(512),
        &DeviceView::default(),
    );
    assert_eq!(action, CompletionAction::Fail(BlkStatus::IoErr));
    let mut deferred = sense(0x6, 0x29, 0).as_slice().to_vec();
    deferred[0] = 0x71;
    let deferred = SenseBuffer::from_slice(&deferred);
    let (action, _) = completion_action(cc(), &deferred, &read10(512), &DeviceView::default());
    assert_eq!(action, CompletionAction::Fail(BlkStatus::IoErr));
}

fn complete(
    result: ScsiResult,
    sense: &SenseBuffer,
    request: &Request,
    exceeded: bool,
) -> CompletionPlan {
    io_completion(&CompletionInput {
        result,
        sense,
        request,
        resid: 0,
        device: &DeviceView::default(),
        runtime_exceeded: exceeded,
    })
}

#[test]
fn runtime_cap_turns_a_requeue_action_into_fail() {
    let ua = sense(0x6, 0x29, 0x00);
    let plan = complete(cc(), &ua, &read10(4096), false);
    assert_eq!(plan.next, FinishOrRequeue::Requeue(RequeueKind::Retry));
    let plan = complete(cc(), &ua, &read10(4096), true);
    assert!(plan.capped);
    assert_eq!(
        plan.next,
        FinishOrRequeue::Finish {
            status: BlkStatus::IoErr,
            print_failure: true
        }
    );
}

#[test]
fn good_completion_finishes_ok() {
    let plan = complete(ScsiResult::OK, &SenseBuffer::EMPTY, &read10(4096), false);
    assert_eq!(plan.good_bytes, 4096);
    assert_eq!(
        plan.next,
        FinishOrRequeue::Finish {
            status: BlkStatus::Ok,
            print_failure: false
        }
    );
}

#[test]
fn recovered_error_is_success_and_printed() {
    let plan = complete(cc(), &sense(0x1, 0x17, 0x01), &read10(4096), false);
    assert_eq!(plan.good_bytes, 4096);
    assert!(plan.print_recovered);
    assert_eq!(
        plan.next,
        FinishOrRequeue::Finish {
            status: BlkStatus::Ok,
            print_failure: false
        }
    );
    let quiet_ata = complete(cc(), &sense(0x1, 0x00, 0x1d), &read10(4096), false);
    assert!(!quiet_ata.print_recovered);
}

#[test]
fn condition_met_is_treated_as_good() {
    let plan = complete(
        ScsiResult::OK.with_status(SamStatus::CONDITION_MET),
        &SenseBuffer::EMPTY,
        &read10(0),
        false,
    );
    assert_eq!(plan.result, ScsiResult::OK);
    assert_eq!(
        plan.next,
        FinishOrRequeue::Finish {
            status: BlkStatus::Ok,
            print_failure: false
        }
    );
}

#[test]
fn medium_error_completes_the_bytes_before_the_bad_lba() {
    // Request starts at sector 0x10 (LBA 16 with 512-byte sectors), 8 blocks; bad LBA 19.
    let mut bytes = TransportOutcome::fixed_sense(0x3, 0x11, 0x00);
    bytes[0] |= 0x80;
    bytes[3..7].copy_from_slice(&19u32.to_be_bytes());
    let medium = SenseBuffer::from_slice(&bytes);
    let result = cc().with_ml(MlStatus::MED_ERROR);
    let plan = complete(result, &medium, &read10(4096), false);
    assert_eq!(plan.good_bytes, 3 * 512);
    assert_eq!(
        plan.next,
        FinishOrRequeue::Finish {
            status: BlkStatus::Medium,
            print_failure: true
        }
    );
    bytes[3..7].copy_from_slice(&99u32.to_be_bytes());
    let outside = complete(
        result,
        &SenseBuffer::from_slice(&bytes),
        &read10(4096),
        false,
    );
    assert_eq!(outside.good_bytes, 0, "bad LBA outside the request");
}

#[test]
fn residual_is_subtracted_and_the_remainder_requeued() {
    let request = read10(4096);
    let plan = io_completion(&CompletionInput {
        result: ScsiResult::OK,
        sense: &SenseBuffer::EMPTY,
        request: &request,
        resid: 1000,
        device: &DeviceView::default(),
        runtime_exceeded: false,
    });
    assert!(plan.unaligned_resid);
    assert_eq!(
        plan.good_bytes,
        4096 - 1024,
        "1000 rounds up to two sectors"
    );
    assert_eq!(plan.next, FinishOrRequeue::Requeue(RequeueKind::Reprep));
}

#[test]
fn false_check_condition_is_cleared_and_requeued_until_the_cap() {
    let no_sense = sense(0x0, 0x00, 0x00);
    let result = ScsiResult::OK.with_host(HostByte::DID_ERROR);
    let plan = complete(result, &no_sense, &read10(4096), false);
    assert!(plan.sense_cleared);
    assert_eq!(plan.good_bytes, 0);
    assert_eq!(plan.next, FinishOrRequeue::Requeue(RequeueKind::Reprep));
    let capped = complete(result, &no_sense, &read10(4096), true);
    assert!(capped.capped);
    assert_eq!(
        capped.next,
        FinishOrRequeue::Finish {
            status: BlkStatus::IoErr,
            print_failure: true
        }
    );
}

#[test]
fn passthrough_keeps_its_error_status() {
    let mut request = read10(512);
    request.passthrough = true;
    let plan = complete(cc(), &sense(0x5, 0x24, 0x00), &request, false);
    assert_eq!(
        plan.next,
        FinishOrRequeue::Finish {
            status: BlkStatus::IoErr,
            print_failure: false
        }
    );
    let mut request = read10(512);
    request.block.cmd_flags = cmd_flags::FAILFAST_DEV;
    let plan = complete(cc(), &sense(0x6, 0x29, 0), &request, false);
    assert_eq!(
        plan.next,
        FinishOrRequeue::Requeue(RequeueKind::Retry),
        "normal request: action table"
    );
}
