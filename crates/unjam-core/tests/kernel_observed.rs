//! kernel-observed.md, "Attempts and final status, per outcome": every row of the table
//! (6.12, READ(10), sd retries = 5) as a test of sends and final BlkStatus; the verbatim
//! log lines; the runtime cap line; the persistent-timeout path with sd's medium-access
//! rule; and the "kernel loop unjam must not copy".

mod common;

use std::time::Duration;

use common::{cc, run, run_with, secs};
use unjam_core::config::{DeviceConfig, HostConfig, Personality, TimerModel};
use unjam_core::harness::{parse_outcome, Driver, RunLimit, RunOutcome, ScriptedTransport};
use unjam_core::topology::DeviceId;
use unjam_core::trace::TraceEvent;
use unjam_core::{Instant, MidLayer, Request};
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
    // The kernel printed cmd_age=11s: its first timeout came exactly 3 s after the send
    // (a busy queue's timer rolls from deadline to deadline), the later two at the next
    // whole second after 3 s. Alone on an idle queue all three round up: 4 + 4 + 4 s.
    assert!(
        lines[position + 1]
            .contains("FAILED Result: hostbyte=DID_TIME_OUT driverbyte=DRIVER_OK cmd_age=12s"),
        "{}\n{}",
        lines.join("\n"),
        explanation.path.join("\n")
    );
    assert!(lines[position + 2].ends_with("CDB: Read(10) 28 00 00 00 12 34 00 00 08 00"));
    assert_eq!(
        lines[position + 3],
        "I/O error, dev sda, sector 4660 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2"
    );
}

// ---- Issue 9, "Why" items 1-5 and 12: each test states the kernel behaviour it reproduces.

fn lines_in_order(lines: &[String], needles: &[&str]) {
    let text = lines.join("\n");
    let mut at = 0;
    for needle in needles {
        let found = text[at..]
            .find(needle)
            .unwrap_or_else(|| panic!("`{needle}` missing (in this order):\n{text}"));
        at += found + needle.len();
    }
}

#[test]
fn after_a_host_reset_start_unit_is_retried_while_it_says_needs_retry_and_the_disk_stays_online() {
    // §6.4 scsi_eh_test_devices(try_stu = 1): START UNIT is sent up to twice while it
    // answers NEEDS_RETRY (the UNIT ATTENTION every device reports after a reset clears
    // expecting_cc_ua and asks for a retry), then TUR. The disk is not offlined.
    let explanation = run_with(
        &[
            "timeout abort=fail lun_reset=fail target_reset=fail bus_reset=fail host_reset=ok reset_ua",
            "status=GOOD",
        ],
        |c| c.eh_logging = true,
    );
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (2, Some(BlkStatus::Ok))
    );
    let path = explanation.path.join("\n");
    assert_eq!(path.matches("START UNIT sent").count(), 2, "{path}");
    assert!(path.contains("START UNIT answered") && path.contains("NEEDS_RETRY"));
    assert!(!path.contains("offline"), "{path}");
    lines_in_order(
        &explanation.log_lines,
        &[
            "Sending HRST",
            "sd 0:0:0:0: Power-on or device reset occurred",
            "scsi_eh_tur return: 2002",
            "flush retry cmd",
        ],
    );
}

#[test]
fn a_scsi_debug_disk_has_no_allow_restart_so_a_host_reset_tests_with_tur_alone() {
    // scsi_eh_try_stu does nothing without sdev->allow_restart (scsi_debug's disks): after
    // the host reset only TUR is sent; its UNIT ATTENTION is retried once and passes.
    let explanation = run_with(
        &[
            "timeout abort=fail lun_reset=fail target_reset=fail bus_reset=fail host_reset=ok reset_ua",
            "status=GOOD",
        ],
        |c| c.personality = Personality::ScsiDebug,
    );
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (2, Some(BlkStatus::Ok))
    );
    let path = explanation.path.join("\n");
    assert!(!path.contains("START UNIT sent"), "{path}");
    assert_eq!(path.matches("TEST UNIT READY sent").count(), 2, "{path}");
}

#[test]
fn a_unit_attention_to_the_eh_tur_clears_expecting_cc_ua_and_is_reported() {
    // §3.2 key 2/6 (a) applies to the handler's own TUR: the UA a LUN reset raises clears
    // expecting_cc_ua and "Power-on or device reset occurred" is printed (default logging,
    // kernel-observed.md). A later, unrelated UA is then passed up (an uncounted RETRY),
    // not counted as the expected one.
    let mode_changed = cc(0x6, 0x2a, 0x01);
    let explanation = run(&["timeout abort=fail reset_ua", &mode_changed, "status=GOOD"]);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (3, Some(BlkStatus::Ok))
    );
    let completion = explanation.completion.unwrap();
    assert_eq!(completion.counted_retries, 1, "only the flush retry counts");
    assert!(explanation
        .log_lines
        .contains(&"sd 0:0:0:0: Power-on or device reset occurred".to_string()));
    assert!(explanation
        .log_lines
        .contains(&"sd 0:0:0:0: Mode parameters changed".to_string()));
}

#[test]
fn the_eh_turs_sense_stays_in_the_failed_command_and_changes_the_final_lines() {
    // scsi_send_eh_cmnd hijacks the failed command and does not restore its sense buffer:
    // after sd offlines the disk (two medium-access timeouts whose TUR passed with a
    // UNIT ATTENTION), the finished command carries that UA, so scsi_io_completion retries
    // it and the offline device rejects it ("rejecting I/O to offline device").
    let explanation = run_with(&["timeout tur=ua"], |c| {
        c.timeout = secs(3);
        c.eh_timeout = secs(2);
    });
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    lines_in_order(
        &explanation.log_lines,
        &[
            "Medium access timeout failure. Offlining disk!",
            "sd 0:0:0:0: rejecting I/O to offline device",
            "I/O error, dev sda, sector 4660",
        ],
    );
    assert!(
        !explanation
            .log_lines
            .iter()
            .any(|l| l.contains("FAILED Result")),
        "{:?}",
        explanation.log_lines
    );
}

#[test]
fn error_recovery_lines_the_kernel_prints() {
    // scmd_eh_abort_handler: "cmd abort failed"; the ladder's failures "BDR failed",
    // "Target reset failed target: N", "BRST failed chan: N"; scsi_try_bus_reset and
    // scsi_try_host_reset print "Snd Bus RST" / "Snd Host RST"; TUR lines carry the failed
    // command's tag (the handler borrows it), here tag#0 while the TUR has its own slot.
    let explanation = run_with(
        &["timeout abort=fail reset=fail host_reset=ok", "status=GOOD"],
        |c| c.eh_logging = true,
    );
    assert_eq!(explanation.blk_status, Some(BlkStatus::Ok));
    lines_in_order(
        &explanation.log_lines,
        &[
            "sd 0:0:0:0: [sda] tag#0 cmd abort failed",
            "sd 0:0:0:0: scsi_eh_0: Sending BDR",
            "sd 0:0:0:0: scsi_eh_0: BDR failed",
            "scsi host0: scsi_eh_0: Sending target reset to target 0",
            "scsi host0: scsi_eh_0: Target reset failed target: 0",
            "scsi host0: scsi_eh_0: Sending BRST chan: 0",
            "sd 0:0:0:0: [sda] tag#0 scsi_try_bus_reset: Snd Bus RST",
            "scsi host0: scsi_eh_0: BRST failed chan: 0",
            "scsi host0: scsi_eh_0: Sending HRST",
            "scsi host0: Snd Host RST",
            "sd 0:0:0:0: [sda] tag#0 scsi_eh_tur return: 2002",
        ],
    );
}

#[test]
fn a_timed_out_eh_tur_is_aborted_without_an_aborting_command_line() {
    // scsi_abort_eh_cmnd calls the abort handler directly: the kernel's full-ladder run
    // shows "scsi_eh_tur return: 2003" with no "aborting command" for the TUR.
    let explanation = run_with(&["timeout abort=fail tur=timeout"], |c| {
        c.eh_logging = true;
        c.timeout = secs(3);
        c.eh_timeout = secs(2);
    });
    let aborting = explanation
        .log_lines
        .iter()
        .filter(|l| l.ends_with("aborting command"))
        .count();
    assert_eq!(
        aborting, 1,
        "only the READ's async abort: {:?}",
        explanation.log_lines
    );
    assert!(explanation
        .log_lines
        .iter()
        .any(|l| l.ends_with("tag#0 scsi_eh_tur return: 2003")));
}

#[test]
fn the_completion_path_prints_timing_out_command_when_the_cap_ends_a_retry() {
    // scsi_io_completion_action turns a RETRY past the runtime cap into FAIL through
    // scsi_cmd_runtime_exceeced, which prints "timing out command, waited 18s".
    let unit_attention = cc(0x6, 0x2a, 0x01);
    let explanation = run_with(&[&unit_attention], |c| c.timeout = secs(3));
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    let tag = explanation.completion.unwrap().tag_number;
    lines_in_order(
        &explanation.log_lines,
        &[
            &format!("tag#{tag} timing out command, waited 18s"),
            &format!("tag#{tag} FAILED Result: hostbyte=DID_OK"),
            "Sense Key : Unit Attention [current]",
        ],
    );
}

#[test]
fn no_sense_with_a_host_error_loops_at_the_kernels_rate_until_unjams_bound() {
    // kernel-observed.md: sd clears such a result as a "false check condition" and the
    // block layer re-prepares the request 7,000-15,000 times a second, without a bound.
    // Policy linux keeps that rate (kblockd's requeue work) and stops after
    // max_repreps_without_progress (1000) re-preparations with BLK_STS_IOERR.
    let no_sense = "host=DID_NO_CONNECT latency=0.01 sense=70 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 00 00 00";
    let explanation = run(&[no_sense]);
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    assert_eq!(explanation.attempts, 1001);
    let rate = f64::from(explanation.attempts) / explanation.elapsed.as_secs_f64();
    assert!((7_000.0..=15_000.0).contains(&rate), "{rate} sends/s");
    assert!(explanation
        .path
        .join("\n")
        .contains("prepared again 1001 times without a good byte"));
}

#[test]
fn allowed_no_limit_is_bounded_by_six_timeouts() {
    // The kernel never caps a request with allowed = -1; unjam ends it after 6 × timeout
    // (a deliberate difference, docs/core.md), so memory and output stay bounded.
    let explanation = run_with(&["host=DID_ERROR"], |c| {
        c.allowed = -1;
        c.timeout = secs(3);
    });
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    assert!(
        explanation.elapsed > secs(18) && explanation.elapsed < secs(19),
        "{:?}",
        explanation.elapsed
    );
    assert!(explanation.attempts < 2_000, "{}", explanation.attempts);
}

#[test]
fn allowed_no_limit_is_not_retried_from_the_error_handler_past_six_timeouts() {
    // The kernel's flush retries a command with allowed = -1 whatever its age. Here the
    // read times out at 2 s (a 1 s timeout on an idle queue rounds up to the next whole
    // second), the error handler needs a bus reset and its 10 s settle, so the flush comes
    // at about 12 s, past the 6 × 1 s lifetime: unjam finishes the command (the uncounted
    // retry would outlive its bound; this once tripped the always-on assertion
    // "uncounted requeue past the runtime cap").
    let explanation = run_with(
        &["timeout abort=fail lun_reset=fail target_reset=fail bus_reset=ok tur=ok"],
        |c| {
            c.allowed = -1;
            c.timeout = secs(1);
        },
    );
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    assert_eq!(explanation.attempts, 1);
    assert!(
        explanation.elapsed > secs(12) && explanation.elapsed < secs(13),
        "{:?}",
        explanation.elapsed
    );
}

#[test]
fn allowed_no_limit_is_not_retried_after_an_abort_past_six_timeouts() {
    // Six BUSY answers of 0.9 s each (uncounted requeues) take the request to about
    // 5.4 s; the seventh attempt times out at about 6.4 s and its abort succeeds past the
    // 6 × 1 s lifetime. The kernel would retry it (allowed = -1); unjam finishes it.
    let busy = "status=BUSY latency=900";
    let explanation = run_with(
        &[
            busy,
            busy,
            busy,
            busy,
            busy,
            busy,
            "timeout abort=ok",
            "status=GOOD",
        ],
        |c| {
            c.allowed = -1;
            c.timeout = secs(1);
        },
    );
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    assert_eq!(explanation.attempts, 7);
}

fn disk_host(model: TimerModel) -> (MidLayer, DeviceId, DeviceId) {
    let mut mid = MidLayer::new();
    let mut host = HostConfig::new(0, Personality::Generic);
    host.timer_model = model;
    let host = mid.add_host(host);
    let mut sick = DeviceConfig::disk(0, 0, 0);
    sick.timeout = secs(3);
    sick.eh_timeout = secs(2);
    let sick = mid.add_device(host, sick).unwrap();
    let healthy = mid.add_device(host, DeviceConfig::disk(0, 0, 1)).unwrap();
    (mid, sick, healthy)
}

fn read(token: u64) -> Request {
    let mut request = Request::new(common::read10(), token);
    request.data_len = 4096;
    request
}

fn script(outcomes: &[&str]) -> Vec<unjam_core::harness::ScriptEntry> {
    outcomes.iter().map(|o| parse_outcome(o).unwrap()).collect()
}

#[test]
fn a_request_that_only_waited_behind_recovery_does_not_fail_for_it() {
    // The runtime cap counts from the request's first preparation for dispatch: a request
    // that waited in its queue while the host recovered (here 9 s against a 1 s timeout,
    // cap 6 s) and then meets the reset's UNIT ATTENTION is retried, not failed with
    // "timing out command".
    let (mid, sick, healthy) = disk_host(TimerModel::Jiffies);
    let mut transport = ScriptedTransport::new(Vec::new());
    transport.set_script(
        1,
        script(&[
            "timeout abort=fail lun_reset=fail target_reset=fail reset_ua",
            "status=GOOD",
        ]),
    );
    let mut driver = Driver::new(mid, transport);
    driver.submit(healthy, read(3)).unwrap();
    driver.submit(sick, read(1)).unwrap();
    driver.run_until(Instant::ZERO + secs(5));
    assert_eq!(
        driver.mid.host_state(unjam_core::topology::HostId(0)),
        Some(unjam_core::state::HostState::Recovery)
    );
    let mut waiting = read(2);
    waiting.timeout = Some(secs(1));
    driver.submit(healthy, waiting).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    let done = driver.completions.iter().find(|c| c.token == 2).unwrap();
    assert_eq!((done.status, done.attempts), (BlkStatus::Ok, 2));
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
}

/// Sends of `token`'s reads: a reader sends 4 ms reads back to back on the sick disk until
/// 7.95 s, then `token` (timeout, timeout, good). Returns (dispatch, timeout) instants.
fn timeouts_after_a_busy_queue(model: TimerModel) -> Vec<(Instant, Instant)> {
    let (mid, sick, _) = disk_host(model);
    let mut transport = ScriptedTransport::new(script(&["latency=4"]));
    transport.set_script(1, script(&["timeout", "timeout", "status=GOOD"]));
    let mut driver = Driver::new(mid, transport);
    let mut token = 100;
    while driver.now < Instant::ZERO + Duration::from_millis(7_950) {
        let before = driver.completions.len();
        driver.submit(sick, read(token)).unwrap();
        token += 1;
        while driver.completions.len() == before && driver.step() {}
    }
    driver.submit(sick, read(1)).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    let tags: Vec<unjam_core::Tag> = driver
        .dispatches
        .iter()
        .filter(|(_, _, request)| request.token == 1)
        .map(|(_, tag, _)| *tag)
        .collect();
    let at = |wanted: &dyn Fn(&TraceEvent) -> bool| {
        driver.trace.iter().find(|r| wanted(&r.event)).unwrap().at
    };
    tags.iter()
        .take(2)
        .map(|tag| {
            let sent = at(&|e| matches!(e, TraceEvent::Dispatched { tag: t, .. } if t == tag));
            let fired = at(&|e| matches!(e, TraceEvent::TimedOut { tag: t, .. } if t == tag));
            (sent, fired)
        })
        .collect()
}

#[test]
fn the_request_timer_rolls_on_a_busy_queue_and_rounds_up_on_an_idle_one() {
    // kernel-observed.md: the first timeout fired 3.02 s after the send (the queue timer
    // of a busy queue is re-armed at exact deadlines), the later ones 4.05-4.19 s after
    // the retry (on an idle queue blk_add_timer rounds up to the next whole second).
    let jiffies = timeouts_after_a_busy_queue(TimerModel::Jiffies);
    let (sent, fired) = jiffies[0];
    assert_eq!(fired.saturating_duration_since(sent), secs(3));
    let (sent, fired) = jiffies[1];
    let rounded =
        Instant::from_nanos((sent + secs(3)).as_nanos() / 1_000_000_000 * 1_000_000_000) + secs(1);
    assert_eq!(fired, rounded, "sent at {sent:?}");
    assert!(fired.saturating_duration_since(sent) > secs(3));
    // Policy unjam: both exactly 3 s.
    for (sent, fired) in timeouts_after_a_busy_queue(TimerModel::Exact) {
        assert_eq!(fired.saturating_duration_since(sent), secs(3));
    }
}
