//! Seed 002 §8 (spec/README.md §7.3): a command times out, is aborted and retried, then
//! completes with CHECK CONDITION without sense; the error handler issues REQUEST SENSE,
//! gets ILLEGAL REQUEST, and finishes the command. The explanation lists the same steps.

mod common;

use common::run;
use unjam_scsi::BlkStatus;

const ILLEGAL_REQUEST: &str = "rs=70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 00 00 00";

#[test]
fn seed_002_path_timeout_abort_retry_request_sense_illegal_request_finished() {
    let second = format!("status=CHECK_CONDITION {ILLEGAL_REQUEST}");
    let explanation = run(&["timeout", &second]);
    assert_eq!(explanation.attempts, 2);
    assert_eq!(explanation.blk_status, Some(BlkStatus::Target));
    assert_eq!(explanation.dispositions, vec!["TIMEOUT_ERROR", "SUCCESS"]);
    assert_eq!(explanation.stats.eh_runs, 1);
    assert_eq!(explanation.stats.eh_commands, 1, "only REQUEST SENSE");
    let steps = [
        "attempt 1: dispatched",
        "timed out",
        "abort scheduled",
        "ABORT TASK sent",
        "retry aborted command",
        "attempt 2: dispatched",
        "status=CHECK_CONDITION, no sense data",
        "no valid sense → FAILED (EH fetches it)",
        "scsi_eh_scmd_add",
        "error handler wakes",
        "EH step: get sense",
        "REQUEST SENSE sent",
        "REQUEST SENSE answered",
        "ILLEGAL REQUEST 20/21/22/24/26/27 → ml TGT_FAILURE, SUCCESS",
        "flush done queue: finish",
        "ILLEGAL REQUEST 20/24 → FAIL TARGET",
        "completed upward: BLK_STS_TARGET",
    ];
    let mut from = 0;
    for step in steps {
        let found = explanation.path[from..]
            .iter()
            .position(|line| line.contains(step));
        let Some(offset) = found else {
            panic!(
                "step `{step}` not found after line {from}:\n{}",
                explanation.path.join("\n")
            );
        };
        from += offset + 1;
    }
}
