//! The iSCSI subcommands against a misbehaving target (`unjam-iscsi/tests/support/rogue.rs`):
//! data that did not arrive is never printed or written, a write the target answered too
//! early fails, and a target that ignores the Logout does not keep a finished command alive.

#[path = "../../unjam-iscsi/tests/support/rogue.rs"]
mod rogue;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rogue::{Misbehaviour, Rogue};

async fn unjam(args: Vec<String>) -> Output {
    let run = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_unjam"))
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("run unjam: {e}"))
    });
    run.await.unwrap_or_else(|e| panic!("{e}"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| arg.to_string()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn reads_that_do_not_add_up_print_nothing_and_fail() {
    for (misbehaviour, expected) in [
        (Misbehaviour::DataGap, "gap"),
        (Misbehaviour::NoData, "data missing"),
        (Misbehaviour::StatusBeforeData, "data missing"),
        (Misbehaviour::LyingUnderflow, "does not match"),
    ] {
        let rogue = Rogue::start(misbehaviour).await;
        let url = rogue.url(0);
        let output = unjam(args(&["read", &url, "--lba", "0", "--blocks", "16"])).await;
        assert!(!output.status.success(), "{misbehaviour:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{misbehaviour:?}: printed data");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{misbehaviour:?}: {stderr}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_write_answered_before_its_data_fails() {
    let rogue = Rogue::start(Misbehaviour::GoodAfterHalfWrite).await;
    let url = rogue.url(0);
    let output = unjam(args(&[
        "write",
        &url,
        "--lba",
        "0",
        "--blocks",
        "128",
        "--pattern",
        "0xa5",
    ]))
    .await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only"), "{stderr}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_block_length_of_zero_stops_before_any_read() {
    let rogue = Rogue::start(Misbehaviour::ZeroBlockLength).await;
    let url = rogue.url(0);
    let output = unjam(args(&["read", &url, "--lba", "0", "--blocks", "1"])).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("block length of 0"), "{stderr}");
    let opcodes = rogue.counters().opcodes;
    assert!(
        opcodes.contains(&0x9e),
        "READ CAPACITY was sent: {opcodes:x?}"
    );
    assert!(
        !opcodes.iter().any(|op| matches!(op, 0x08 | 0x28 | 0x88)),
        "no READ was sent: {opcodes:x?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_ignored_logout_does_not_hold_a_finished_command() {
    let rogue = Rogue::start(Misbehaviour::IgnoreLogout).await;
    let url = rogue.url(0);
    let started = Instant::now();
    let output = unjam(args(&["tur", &url])).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ready");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(rogue.counters().logouts, 1);
}
