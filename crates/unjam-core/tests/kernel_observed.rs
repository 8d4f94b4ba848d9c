//! kernel-observed.md, "Attempts and final status, per outcome": every row of the table
//! (6.12, READ(10), sd retries = 5) as a test of sends and final BlkStatus; the verbatim
//! log lines; the runtime cap line; the persistent-timeout path with sd's medium-access
//! rule; and the "kernel loop unjam must not copy".

mod common;

use common::{cc, run, run_with, secs};
use unjam_scsi::BlkStatus;

fn sends_and_status(outcomes: &[&str]) -> (u32, BlkStatus) {
    let explanation = run(outcomes);
    (explanation.attempts, explanation.blk_status.unwrap())
}

#[test]
fn unrecovered_read_error_03_11_00_is_one_send_medium() {
    assert_eq!(
        sends_and_status(&[&cc(0x3, 0x11, 0x00)]),
        (1, BlkStatus::Medium)
    );
}

#[test]
fn write_error_03_0c_00_is_six_sends_ioerr() {
    assert_eq!(
        sends_and_status(&[&cc(0x3, 0x0c, 0x00)]),
        (6, BlkStatus::IoErr)
    );
}

#[test]
fn invalid_field_in_cdb_05_24_00_is_one_send_target() {
    assert_eq!(
        sends_and_status(&[&cc(0x5, 0x24, 0x00)]),
        (1, BlkStatus::Target)
    );
}

#[test]
fn unit_attention_06_29_00_once_then_good_is_two_sends_success() {
    assert_eq!(
        sends_and_status(&[&cc(0x6, 0x29, 0x00), "status=GOOD"]),
        (2, BlkStatus::Ok)
    );
}

#[test]
fn becoming_ready_02_04_01_twice_then_good_is_three_sends_success() {
    let not_ready = cc(0x2, 0x04, 0x01);
    assert_eq!(
        sends_and_status(&[&not_ready, &not_ready, "status=GOOD"]),
        (3, BlkStatus::Ok)
    );
}

#[test]
fn medium_not_present_02_3a_00_is_one_send_ioerr() {
    assert_eq!(
        sends_and_status(&[&cc(0x2, 0x3a, 0x00)]),
        (1, BlkStatus::IoErr)
    );
}

#[test]
fn space_allocation_failed_07_27_07_is_one_send_nospc() {
    assert_eq!(
        sends_and_status(&[&cc(0x7, 0x27, 0x07)]),
        (1, BlkStatus::NoSpc)
    );
}

#[test]
fn dif_guard_check_0b_10_01_is_one_send_protection() {
    assert_eq!(
        sends_and_status(&[&cc(0xb, 0x10, 0x01)]),
        (1, BlkStatus::Protection)
    );
}

#[test]
fn internal_target_failure_04_44_00_is_one_send_target() {
    assert_eq!(
        sends_and_status(&[&cc(0x4, 0x44, 0x00)]),
        (1, BlkStatus::Target)
    );
}

#[test]
fn recovered_error_01_17_01_is_one_send_success() {
    assert_eq!(
        sends_and_status(&[&cc(0x1, 0x17, 0x01)]),
        (1, BlkStatus::Ok)
    );
}

#[test]
fn copy_aborted_volume_overflow_miscompare_data_protect_are_one_send_target() {
    for (key, asc, ascq) in [
        (0xa, 0x1d, 0x00),
        (0xd, 0x00, 0x02),
        (0xe, 0x1d, 0x00),
        (0x7, 0x27, 0x00),
    ] {
        assert_eq!(
            sends_and_status(&[&cc(key, asc, ascq)]),
            (1, BlkStatus::Target),
            "{key:x}/{asc:x}/{ascq:x}"
        );
    }
}

#[test]
fn command_duration_limit_0b_2e_01_is_one_send_duration_limit() {
    assert_eq!(
        sends_and_status(&[&cc(0xb, 0x2e, 0x01)]),
        (1, BlkStatus::DurationLimit)
    );
}

#[test]
fn aborted_command_0b_00_06_with_max_retries_2_is_three_sends_ioerr() {
    let explanation = run_with(&[&cc(0xb, 0x00, 0x06)], |c| c.allowed = 2);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (3, Some(BlkStatus::IoErr))
    );
}

#[test]
fn aborted_command_0b_00_06_with_no_limit_three_times_then_good_is_four_sends_success() {
    let aborted = cc(0xb, 0x00, 0x06);
    let explanation = run_with(&[&aborted, &aborted, &aborted, "status=GOOD"], |c| {
        c.allowed = -1
    });
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (4, Some(BlkStatus::Ok))
    );
}

#[test]
fn no_connect_bad_target_abort_are_one_send_ioerr() {
    for host in ["DID_NO_CONNECT", "DID_BAD_TARGET", "DID_ABORT"] {
        assert_eq!(
            sends_and_status(&[&format!("host={host}")]),
            (1, BlkStatus::IoErr),
            "{host}"
        );
    }
}

#[test]
fn bus_busy_soft_error_transport_disrupted_error_parity_are_six_sends_ioerr() {
    for host in [
        "DID_BUS_BUSY",
        "DID_SOFT_ERROR",
        "DID_TRANSPORT_DISRUPTED",
        "DID_ERROR",
        "DID_PARITY",
    ] {
        assert_eq!(
            sends_and_status(&[&format!("host={host}")]),
            (6, BlkStatus::IoErr),
            "{host}"
        );
    }
}

#[test]
fn bus_busy_with_max_retries_0_is_one_send_ioerr() {
    let explanation = run_with(&["host=DID_BUS_BUSY"], |c| c.allowed = 0);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (1, Some(BlkStatus::IoErr))
    );
}

#[test]
fn transport_failfast_is_one_send_transport() {
    assert_eq!(
        sends_and_status(&["host=DID_TRANSPORT_FAILFAST"]),
        (1, BlkStatus::Transport)
    );
}

#[test]
fn imm_retry_reset_busy_task_set_full_once_then_good_are_two_sends_success() {
    for first in [
        "host=DID_IMM_RETRY",
        "host=DID_RESET",
        "status=BUSY",
        "status=TASK_SET_FULL",
    ] {
        assert_eq!(
            sends_and_status(&[first, "status=GOOD"]),
            (2, BlkStatus::Ok),
            "{first}"
        );
    }
}

#[test]
fn reservation_conflict_is_one_send_resv_conflict() {
    let explanation = run(&["status=RESERVATION_CONFLICT"]);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (1, Some(BlkStatus::ResvConflict))
    );
    assert!(explanation
        .log_lines
        .contains(&"sd 0:0:0:0: reservation conflict".to_string()));
}

#[test]
fn task_aborted_is_six_sends_ioerr() {
    assert_eq!(
        sends_and_status(&["status=TASK_ABORTED"]),
        (6, BlkStatus::IoErr)
    );
}

#[test]
fn verbatim_log_lines_aborted_command_and_medium_error() {
    let aborted = run(&[&cc(0xb, 0x00, 0x06)]);
    let tag = aborted.completion.unwrap().tag_number;
    assert_eq!(
        aborted.log_lines,
        vec![
            format!("sd 0:0:0:0: [sda] tag#{tag} FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s"),
            format!("sd 0:0:0:0: [sda] tag#{tag} Sense Key : Aborted Command [current] "),
            format!("sd 0:0:0:0: [sda] tag#{tag} Add. Sense: I/O process terminated"),
            format!("sd 0:0:0:0: [sda] tag#{tag} CDB: Read(10) 28 00 00 00 12 34 00 00 08 00"),
            "I/O error, dev sda, sector 4660 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2".to_string(),
        ]
    );
    let medium = run(&[&cc(0x3, 0x11, 0x00)]);
    assert_eq!(
        medium.log_lines[1],
        format!("sd 0:0:0:0: [sda] tag#{tag} Sense Key : Medium Error [current] ")
    );
    assert_eq!(
        medium.log_lines[2],
        format!("sd 0:0:0:0: [sda] tag#{tag} Add. Sense: Unrecovered read error")
    );
    assert_eq!(
        medium.log_lines[4],
        "critical medium error, dev sda, sector 4660 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2"
    );
}

#[test]
fn runtime_cap_line_for_allowed_5_and_timeout_3s_is_waited_18s() {
    // BUSY is never counted: only the runtime cap ends it.
    let explanation = run_with(&["status=BUSY"], |c| c.timeout = secs(3));
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    let tag = explanation.completion.unwrap().tag_number;
    let cap_line = format!("sd 0:0:0:0: [sda] tag#{tag} timing out command, waited 18s");
    assert!(
        explanation.log_lines.contains(&cap_line),
        "{:?}",
        explanation.log_lines
    );
    assert!(explanation.elapsed > secs(18) && explanation.elapsed < secs(19));
    assert!(
        explanation.attempts > 100,
        "BUSY was requeued until the cap"
    );
}

#[test]
fn kernel_loop_not_copied_no_sense_with_host_error_ends_at_the_runtime_cap() {
    // DID_ERROR with a valid NO SENSE buffer: sd clears the result as a "false check
    // condition" and the kernel re-prepares the request forever. unjam stops at the cap.
    let no_sense = "host=DID_ERROR sense=70 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 00 00 00";
    let explanation = run_with(&[no_sense], |c| c.timeout = secs(3));
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    assert!(
        explanation.elapsed >= secs(18) && explanation.elapsed < secs(19),
        "{:?}",
        explanation.elapsed
    );
    assert!(
        explanation.attempts > 6,
        "the kernel's decision (re-prepare) was followed"
    );
    let busy_no_sense = "status=BUSY sense=70 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 00 00 00";
    let busy = run_with(&[busy_no_sense], |c| c.timeout = secs(3));
    assert_eq!(busy.blk_status, Some(BlkStatus::IoErr));
}

#[test]
fn one_timeout_then_ok_is_two_sends_success_after_async_abort() {
    let explanation = run_with(&["timeout", "status=GOOD"], |c| c.timeout = secs(3));
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (2, Some(BlkStatus::Ok))
    );
    assert_eq!(explanation.dispositions, vec!["TIMEOUT_ERROR", "SUCCESS"]);
    assert_eq!(explanation.stats.aborts_sent, 1);
    assert_eq!(explanation.stats.eh_runs, 0);
}

#[test]
fn every_read_times_out_resets_ok_three_sends_then_offlined_by_sd_rule() {
    let explanation = run_with(&["timeout"], |c| {
        c.timeout = secs(3);
        c.eh_timeout = secs(2);
    });
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (3, Some(BlkStatus::IoErr))
    );
    assert_eq!(explanation.stats.eh_runs, 2);
    let tag = explanation.completion.unwrap().tag_number;
    let lines = &explanation.log_lines;
    let offline =
        format!("sd 0:0:0:0: [sda] tag#{tag} Medium access timeout failure. Offlining disk!");
    let position = lines
        .iter()
        .position(|l| *l == offline)
        .expect("sd's offline line");
    assert!(lines[position + 1]
        .contains("FAILED Result: hostbyte=DID_TIME_OUT driverbyte=DRIVER_OK cmd_age=9s"));
    assert!(lines[position + 2].ends_with("CDB: Read(10) 28 00 00 00 12 34 00 00 08 00"));
    assert_eq!(
        lines[position + 3],
        "I/O error, dev sda, sector 4660 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2"
    );
}
