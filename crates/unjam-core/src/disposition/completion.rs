//! Completion to the block layer (spec §4): `scsi_result_to_blk_status` (§4.1), sd's
//! completed-bytes rule (§4.4), `scsi_io_completion` (§4.3) and the completion-action
//! table (§4.5).

use unjam_scsi::cdb::opcode;
use unjam_scsi::sense::SenseKey;
use unjam_scsi::{BlkStatus, HostByte, MlStatus, ScsiResult};

use super::retry::noretry_cmd;
use super::DeviceView;
use crate::buffers::SenseBuffer;
use crate::request::{BlockOp, Request};

/// The row of a command that completed every byte (also named by the mid-layer's fast
/// path for a clean GOOD).
pub const RULE_ALL_BYTES: &str = "all bytes completed";

/// `scsi_result_to_blk_status`: the ml byte first, then the host byte.
pub fn result_to_blk_status(result: ScsiResult) -> BlkStatus {
    match result.ml() {
        MlStatus::RESV_CONFLICT => return BlkStatus::ResvConflict,
        MlStatus::NOSPC => return BlkStatus::NoSpc,
        MlStatus::MED_ERROR => return BlkStatus::Medium,
        MlStatus::TGT_FAILURE => return BlkStatus::Target,
        MlStatus::DL_TIMEOUT => return BlkStatus::DurationLimit,
        _ => {}
    }
    match result.host() {
        HostByte::DID_OK if result.status_is_good() => BlkStatus::Ok,
        HostByte::DID_OK => BlkStatus::IoErr,
        HostByte::DID_TRANSPORT_FAILFAST | HostByte::DID_TRANSPORT_MARGINAL => BlkStatus::Transport,
        _ => BlkStatus::IoErr,
    }
}

/// What `scsi_io_completion` does with the rest of a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CompletionAction {
    /// End the remainder with this status (and print the failure unless quiet).
    Fail(BlkStatus),
    /// Requeue the same command (EH_RETRY); not counted.
    Retry,
    /// Requeue with DEVICE_BUSY (the delay comes from device_blocked); not counted.
    DelayedRetry,
    /// Build a new command for the remainder and requeue it at the head.
    Reprep,
    /// As Reprep, after 1000 ms (ALUA transition).
    DelayedReprep,
    /// ILLEGAL REQUEST 20/00 on READ(10)/WRITE(10): rebuild as READ(6)/WRITE(6).
    ReprepWithSixByteCdb,
}

/// How a requeue is done.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RequeueKind {
    Retry,
    DelayedRetry,
    Reprep,
    DelayedReprep,
    SixByteCdb,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FinishOrRequeue {
    /// End the request: `status` for the bytes not completed good.
    Finish {
        status: BlkStatus,
        print_failure: bool,
    },
    Requeue(RequeueKind),
}

/// Inputs of `scsi_io_completion`.
#[derive(Clone, Copy, Debug)]
pub struct CompletionInput<'a> {
    pub result: ScsiResult,
    pub sense: &'a SenseBuffer,
    pub request: &'a Request,
    pub resid: u32,
    pub device: &'a DeviceView,
    /// The runtime cap (§2.3) is exceeded.
    pub runtime_exceeded: bool,
}

/// The plan for a finished command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CompletionPlan {
    /// Bytes completed successfully by this attempt.
    pub good_bytes: u32,
    /// The result after sd_done and nz_result (a RECOVERED ERROR becomes 0...).
    pub result: ScsiResult,
    /// sd cleared a "false check condition" (NO SENSE with an error result).
    pub sense_cleared: bool,
    pub next: FinishOrRequeue,
    /// The row that chose `next`.
    pub rule: &'static str,
    /// A RECOVERED ERROR's sense is printed.
    pub print_recovered: bool,
    /// UNIT ATTENTION on removable medium: `sdev->changed = 1`.
    pub set_changed: bool,
    /// The runtime cap turned a requeue into a failure.
    pub capped: bool,
    /// The residual was not a multiple of the sector size (it was rounded up).
    pub unaligned_resid: bool,
}

/// sd's `sd_done` (§4.4): how many bytes completed good, and whether the result was
/// cleared as a false check condition. Passthrough requests have no ULD: all bytes.
pub fn completed_bytes(
    result: ScsiResult,
    sense: &SenseBuffer,
    request: &Request,
    resid: u32,
    device: &DeviceView,
) -> (u32, ScsiResult, bool, bool) {
    let data_len = request.data_len;
    if request.passthrough {
        return (data_len, result, false, false);
    }
    let sector = device.sector_size.max(1);
    let unaligned = resid % sector != 0;
    let resid = if unaligned {
        resid.div_ceil(sector).saturating_mul(sector)
    } else {
        resid
    };
    let mut good = if result == ScsiResult::OK {
        data_len
    } else {
        0
    };
    let mut result_after = result;
    let mut cleared = false;
    let all_or_nothing = matches!(request.block.op, BlockOp::Discard | BlockOp::WriteZeroes);
    let header = sense.header().filter(|h| h.is_current());
    if let (Some(header), false, true) = (header, all_or_nothing, result != ScsiResult::OK) {
        match header.key {
            SenseKey::HARDWARE_ERROR | SenseKey::MEDIUM_ERROR => {
                good = sd_completed_bytes(sense, request, resid, sector)
            }
            SenseKey::RECOVERED_ERROR => good = data_len,
            SenseKey::NO_SENSE => {
                result_after = ScsiResult::OK;
                cleared = true;
            }
            SenseKey::ABORTED_COMMAND | SenseKey::ILLEGAL_REQUEST if header.asc == 0x10 => {
                good = sd_completed_bytes(sense, request, resid, sector)
            }
            _ => {}
        }
    }
    if good == data_len {
        good = good.saturating_sub(resid);
    }
    (good, result_after, cleared, unaligned)
}

/// `sd_completed_bytes`: the bytes before the failing LBA in the sense's information field.
fn sd_completed_bytes(sense: &SenseBuffer, request: &Request, resid: u32, sector: u32) -> u32 {
    let data_len = request.data_len;
    if data_len <= sector {
        return 0;
    }
    let Some(bad_lba) = unjam_scsi::sense::information(sense.as_slice()) else {
        return 0;
    };
    let start_lba = request.block.start_sector.saturating_mul(512) / u64::from(sector);
    let end_lba = start_lba + u64::from(data_len / sector);
    if bad_lba < start_lba || bad_lba >= end_lba {
        return 0;
    }
    let good = (bad_lba - start_lba).saturating_mul(u64::from(sector));
    let cap = u64::from(data_len.saturating_sub(resid));
    good.min(cap) as u32
}

/// `scsi_io_completion` (§4.3) with sd_done's good bytes (§4.4).
pub fn io_completion(input: &CompletionInput<'_>) -> CompletionPlan {
    let request = input.request;
    let (good, result, cleared, unaligned) = completed_bytes(
        input.result,
        input.sense,
        request,
        input.resid,
        input.device,
    );
    let sense = if cleared {
        &SenseBuffer::EMPTY
    } else {
        input.sense
    };
    let (result, blk, print_recovered) = nz_result(result, sense, request);
    let mut plan = CompletionPlan {
        good_bytes: good,
        result,
        sense_cleared: cleared,
        next: FinishOrRequeue::Finish {
            status: blk,
            print_failure: false,
        },
        rule: RULE_ALL_BYTES,
        print_recovered,
        set_changed: false,
        capped: false,
        unaligned_resid: unaligned,
    };
    let data_len = request.data_len;
    if (data_len > 0 || blk == BlkStatus::Ok) && (good >= data_len || data_len == 0) {
        return plan;
    }
    if blk != BlkStatus::Ok && noretry_cmd(result, request) {
        plan.rule = "error status and noretry → end the remainder";
        return plan;
    }
    if result == ScsiResult::OK {
        return leftover_without_error(plan, input);
    }
    let (action, rule) = completion_action(result, sense, request, input.device);
    plan.rule = rule;
    plan.set_changed = rule == RULE_UA_REMOVABLE;
    plan.next = match action {
        CompletionAction::Fail(status) => FinishOrRequeue::Finish {
            status,
            print_failure: !request.quiet,
        },
        _ if input.runtime_exceeded => {
            plan.capped = true;
            let status = result_to_blk_status(result);
            FinishOrRequeue::Finish {
                status,
                print_failure: !request.quiet,
            }
        }
        CompletionAction::Retry => FinishOrRequeue::Requeue(RequeueKind::Retry),
        CompletionAction::DelayedRetry => FinishOrRequeue::Requeue(RequeueKind::DelayedRetry),
        CompletionAction::Reprep => FinishOrRequeue::Requeue(RequeueKind::Reprep),
        CompletionAction::DelayedReprep => FinishOrRequeue::Requeue(RequeueKind::DelayedReprep),
        CompletionAction::ReprepWithSixByteCdb => FinishOrRequeue::Requeue(RequeueKind::SixByteCdb),
    };
    plan
}

/// Bytes remain and there is no error: the kernel requeues the remainder as a new command,
/// with no bound. unjam keeps that decision under the runtime cap and fails the request
/// when the cap is reached (kernel-observed.md, "A kernel loop unjam must not copy").
fn leftover_without_error(mut plan: CompletionPlan, input: &CompletionInput<'_>) -> CompletionPlan {
    if !input.runtime_exceeded {
        plan.rule = "bytes left without error → requeue the remainder";
        plan.next = FinishOrRequeue::Requeue(RequeueKind::Reprep);
        return plan;
    }
    let original = result_to_blk_status(input.result);
    let status = if original == BlkStatus::Ok {
        BlkStatus::IoErr
    } else {
        original
    };
    plan.capped = true;
    plan.rule = "bytes left without error, runtime cap reached → fail";
    plan.result = input.result;
    plan.next = FinishOrRequeue::Finish {
        status,
        print_failure: !input.request.quiet,
    };
    plan
}

/// `scsi_io_completion_nz_result`: the status for passthrough and zero-length requests,
/// RECOVERED ERROR and "good but non-zero" statuses turned into success.
fn nz_result(
    result: ScsiResult,
    sense: &SenseBuffer,
    request: &Request,
) -> (ScsiResult, BlkStatus, bool) {
    if result == ScsiResult::OK {
        return (result, BlkStatus::Ok, false);
    }
    let header = sense.header();
    let current = header.is_some_and(|h| h.is_current());
    let mut blk = BlkStatus::Ok;
    if current && (request.passthrough || request.data_len == 0) {
        blk = result_to_blk_status(result);
    }
    let mut result = result;
    let mut print = false;
    if let Some(header) = header.filter(|h| h.key == SenseKey::RECOVERED_ERROR) {
        print = !request.quiet && (header.asc, header.ascq) != (0x00, 0x1d);
        result = ScsiResult::OK;
        blk = BlkStatus::Ok;
    }
    if result.status().0 != 0 && result.status_is_good() {
        result = ScsiResult::OK;
        blk = BlkStatus::Ok;
    }
    (result, blk, print)
}

const RULE_UA_REMOVABLE: &str = "UNIT ATTENTION on removable medium → FAIL (medium changed)";

/// `scsi_io_completion_action`'s table (§4.5), without the runtime cap (applied by the
/// caller): the action and the row that chose it.
pub fn completion_action(
    result: ScsiResult,
    sense: &SenseBuffer,
    request: &Request,
    device: &DeviceView,
) -> (CompletionAction, &'static str) {
    use CompletionAction::{DelayedReprep, DelayedRetry, Fail, Retry};
    let mapped = result_to_blk_status(result);
    if result.host() == HostByte::DID_RESET {
        return (Retry, "DID_RESET → RETRY");
    }
    let Some(header) = sense.header().filter(|h| h.is_current()) else {
        return (Fail(mapped), "no valid current sense → FAIL");
    };
    let (asc, ascq) = (header.asc, header.ascq);
    match header.key {
        SenseKey::UNIT_ATTENTION if device.removable => (Fail(mapped), RULE_UA_REMOVABLE),
        SenseKey::UNIT_ATTENTION => (Retry, "UNIT ATTENTION → RETRY"),
        SenseKey::ILLEGAL_REQUEST => illegal_request(asc, ascq, mapped, request, device),
        SenseKey::ABORTED_COMMAND if asc == 0x10 => (
            Fail(BlkStatus::Protection),
            "ABORTED COMMAND 10/xx → FAIL PROTECTION",
        ),
        SenseKey::ABORTED_COMMAND => (Fail(mapped), "ABORTED COMMAND → FAIL"),
        SenseKey::NOT_READY if asc == 0x04 => match ascq {
            0x01 | 0x04 | 0x05 | 0x06 | 0x07 | 0x08 | 0x09 | 0x11 | 0x14 | 0x1a | 0x1b | 0x1d => (
                DelayedRetry,
                "NOT READY 04/(becoming ready, in progress) → DELAYED_RETRY",
            ),
            0x0a => (
                DelayedReprep,
                "NOT READY 04/0a ALUA transition → DELAYED_REPREP",
            ),
            0x24 | 0x25 => (Fail(mapped), "NOT READY 04/24, 04/25 depopulation → FAIL"),
            _ => (Fail(mapped), "NOT READY, other → FAIL"),
        },
        SenseKey::NOT_READY => (Fail(mapped), "NOT READY, other → FAIL"),
        SenseKey::VOLUME_OVERFLOW => (Fail(mapped), "VOLUME OVERFLOW → FAIL"),
        SenseKey::DATA_PROTECT
            if matches!((asc, ascq), (0x0c, 0x12) | (0x55, 0x0e) | (0x55, 0x0f)) =>
        {
            (
                Fail(BlkStatus::ZoneOpenResource),
                "DATA PROTECT zone resources → FAIL ZONE_OPEN_RESOURCE",
            )
        }
        SenseKey::DATA_PROTECT => (Fail(mapped), "DATA PROTECT → FAIL"),
        _ => (Fail(mapped), "COMPLETED or other key → FAIL"),
    }
}

fn illegal_request(
    asc: u8,
    ascq: u8,
    mapped: BlkStatus,
    request: &Request,
    device: &DeviceView,
) -> (CompletionAction, &'static str) {
    use CompletionAction::{Fail, ReprepWithSixByteCdb};
    let command = request.cdb.opcode();
    if (asc, ascq) == (0x20, 0x00)
        && device.use_10_for_rw
        && matches!(command, opcode::READ_10 | opcode::WRITE_10)
    {
        return (
            ReprepWithSixByteCdb,
            "ILLEGAL REQUEST 20/00 on READ(10)/WRITE(10) → REPREP as 6-byte",
        );
    }
    match asc {
        0x10 => (
            Fail(BlkStatus::Protection),
            "ILLEGAL REQUEST 10/xx (DIX) → FAIL PROTECTION",
        ),
        0x20 | 0x24 => (
            Fail(BlkStatus::Target),
            "ILLEGAL REQUEST 20/24 → FAIL TARGET",
        ),
        _ => (Fail(mapped), "ILLEGAL REQUEST, other asc → FAIL"),
    }
}

#[cfg(test)]
#[path = "completion_tests.rs"]
mod tests;
