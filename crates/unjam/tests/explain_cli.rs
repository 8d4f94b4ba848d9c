//! `unjam explain` and `unjam bench` as a user runs them: seed 000 in human and JSON form,
//! a malformed outcome, and a small null-transport bench.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::unjam;

use std::process::Output;

const SEED_000_SENSE: &str =
    "status=CHECK_CONDITION sense=70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00";

fn seed_000(extra: &[&str]) -> Output {
    let mut args = vec![
        "explain",
        "--cdb",
        "28 00 00 05 58 70 00 00 10 00",
        "--personality",
        "virtio_scsi",
        "--outcome",
        "virtio=FAILURE",
        "--outcome",
        SEED_000_SENSE,
        "--phys-seg",
        "2",
    ];
    args.extend_from_slice(extra);
    unjam(&args)
}

#[test]
fn explain_seed_000_prints_the_path_status_and_log_lines() {
    let output = seed_000(&[]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("Final status: BLK_STS_IOERR (-5, \"I/O error\") after 6 attempt(s)"),
        "{text}"
    );
    assert!(text.contains("Dispositions per attempt: NEEDS_RETRY NEEDS_RETRY NEEDS_RETRY NEEDS_RETRY NEEDS_RETRY SUCCESS"));
    assert!(
        text.contains("hostbyte=DID_ERROR status=GOOD"),
        "the virtio FAILURE attempt: {text}"
    );
    let log: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Kernel log:")
        .skip(1)
        .map(str::trim_start)
        .collect();
    assert_eq!(log.len(), 5, "{text}");
    assert!(log[0].ends_with("FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s"));
    assert!(
        log[1].ends_with("Sense Key : Aborted Command [current] "),
        "with its trailing space: {:?}",
        log[1]
    );
    assert!(log[2].ends_with("Add. Sense: I/O process terminated"));
    assert!(log[3].ends_with("CDB: Read(10) 28 00 00 05 58 70 00 00 10 00"));
    assert_eq!(
        log[4],
        "I/O error, dev sda, sector 350320 op 0x0:(READ) flags 0x0 phys_seg 2 prio class 0"
    );
}

#[test]
fn explain_json_has_attempts_status_dispositions_log_lines_and_events() {
    let output = seed_000(&["--json"]);
    assert!(output.status.success(), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(value["attempts"], 6);
    assert_eq!(value["blk_status"], "BLK_STS_IOERR");
    let dispositions: Vec<&str> = value["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        dispositions,
        [
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "SUCCESS"
        ]
    );
    let lines = value["log_lines"].as_array().unwrap();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[1].as_str().unwrap().chars().last(),
        Some(' '),
        "the sense key line keeps its trailing space"
    );
    let events = value["events"].as_array().unwrap();
    assert!(events.iter().filter(|e| e["kind"] == "dispatched").count() == 6);
    assert!(events.iter().any(|e| e["kind"] == "completed"));
}

#[test]
fn explain_timeout_with_poll_before_abort_and_failfast() {
    let output = unjam(&[
        "explain",
        "--cdb",
        "28 00 00 00 00 10 00 00 08 00",
        "--outcome",
        "lost",
        "--poll-before-abort",
        "--timeout-s",
        "3",
        "--failfast",
        "dev",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["blk_status"], "BLK_STS_OK");
    assert_eq!(value["attempts"], 1);
    assert_eq!(value["stats"]["aborts_sent"], 0);
    assert_eq!(value["stats"]["polls"], 1);
}

#[test]
fn explain_malformed_outcome_names_the_token_and_fails() {
    let output = unjam(&[
        "explain",
        "--cdb",
        "28 00 00 00 00 10 00 00 08 00",
        "--outcome",
        "status=GOOD resid=lots",
    ]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("resid=lots"), "{error}");
    let output = unjam(&["explain", "--cdb", "28 zz", "--outcome", "status=GOOD"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("zz"));
    let output = unjam(&[
        "explain",
        "--cdb",
        "28",
        "--outcome",
        "status=GOOD",
        "--personality",
        "lsi",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("lsi"));
}

#[test]
fn explain_help_documents_the_grammar() {
    let output = unjam(&["explain", "--help"]);
    let text = String::from_utf8_lossy(&output.stdout);
    for token in [
        "host=DID_ERROR",
        "virtio=FAILURE",
        "abort=ok|fail",
        "resid=N",
        "lost",
        "timeout",
    ] {
        assert!(text.contains(token), "--help lacks {token}");
    }
}

#[test]
fn bench_null_completes_every_command_without_steady_state_allocation() {
    let output = unjam(&[
        "bench",
        "--transport",
        "null",
        "--commands",
        "20000",
        "--qd",
        "8",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["commands"], 20000);
    assert_eq!(value["failed"], 0);
    assert_eq!(value["allocations"], 0, "steady state allocates nothing");
    assert!(
        value["warmup_allocations"].as_u64().unwrap() > 0,
        "the counting allocator sees the setup"
    );
}

#[test]
fn explain_refuses_a_retry_count_below_no_limit() {
    let output = unjam(&[
        "explain",
        "--cdb",
        "28 00 00 00 12 34 00 00 08 00",
        "--outcome",
        "host=DID_ERROR",
        "--allowed",
        "-7",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("--allowed: -7"), "{text}");
}

#[test]
fn explain_of_the_false_check_condition_loop_ends_with_an_error() {
    // kernel-observed.md's unbounded loop: DID_NO_CONNECT with NO SENSE. unjam ends it after
    // 1000 re-preparations with BLK_STS_IOERR.
    let output = unjam(&[
        "explain",
        "--cdb",
        "28 00 00 00 12 34 00 00 08 00",
        "--outcome",
        "host=DID_NO_CONNECT sense=70 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 00 00 00",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["blk_status"], "BLK_STS_IOERR");
    assert_eq!(value["attempts"], 1001);
}

#[test]
fn bench_refuses_a_command_count_it_could_never_finish() {
    let output = unjam(&[
        "bench",
        "--transport",
        "null",
        "--commands",
        "18446744073709551615",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("--commands must lie in 1..=1000000000"),
        "{text}"
    );
}
