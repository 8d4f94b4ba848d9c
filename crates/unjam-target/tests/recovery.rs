//! unjam's own initiator recovering live against the target, through the core's error
//! handler (`unjam_runtime::Disk`): a swallowed command is aborted; a failed abort escalates
//! to LOGICAL UNIT RESET, a failed LUN reset to TARGET WARM RESET, a failed target reset to
//! session re-login; a portal that goes down is logged into again, or the I/O fails fast
//! once the replacement timeout has passed. Under a write load, every write the initiator
//! acknowledged reads back afterwards. Faults are added through the control socket at the
//! moment the test chooses.
//!
//! The initiator side is `unjam_runtime`'s `Initiator` and `Disk` (the same code the CLI's
//! device commands and `bench` run).

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use support::Running;
use unjam_iscsi::url::IscsiUrl;
use unjam_runtime::{Disk, Initiator, InitiatorConfig, IoError, Knobs};
use unjam_scsi::BlkStatus;

const TARGET: &str = r#"
[target]
tmf_latency_us = 0
[[host]]
personality = "iscsi_tcp"
luns = 1
capacity_mib = 64
latency = { model = "fixed", us = 0 }
"#;

/// A short command timeout, no settle delay, quick pings.
fn config(replacement_timeout: Duration) -> Knobs {
    Knobs {
        command_timeout: Duration::from_millis(800),
        eh_timeout: Duration::from_millis(800),
        skip_settle_delay: true,
        noop_out_interval: Duration::from_millis(300),
        noop_out_timeout: Duration::from_millis(600),
        login_timeout: Duration::from_millis(800),
        abort_timeout: Duration::from_millis(800),
        lu_reset_timeout: Duration::from_millis(800),
        tgt_reset_timeout: Duration::from_millis(800),
        replacement_timeout,
        ..Knobs::default()
    }
}

/// A `Disk` for LUN 0; the engine runs as long as a clone of it lives.
async fn open_disk(target: &Running, knobs: Knobs) -> Disk {
    let url = IscsiUrl::parse(target.url(0)).unwrap_or_else(|e| panic!("{e}"));
    let config = InitiatorConfig {
        knobs,
        ..InitiatorConfig::default()
    };
    let (_initiator, disk) = Initiator::open(&url, config)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"));
    disk
}

fn pattern(seed: u64) -> Vec<u8> {
    (0..4096u64)
        .map(|i| (i.wrapping_mul(seed | 1) >> 2) as u8 ^ seed as u8)
        .collect()
}

/// Writes (with `Some(seed)`) or reads 8 blocks at `lba` through the core: the final
/// status and the data read.
async fn io(disk: &Disk, lba: u64, seed: Option<u64>) -> (BlkStatus, Bytes) {
    let result = match seed {
        Some(seed) => disk
            .write(lba, Bytes::from(pattern(seed)))
            .await
            .map(|()| Bytes::new()),
        None => disk.read(lba, 8, BytesMut::new()).await,
    };
    match result {
        Ok(data) => (BlkStatus::Ok, data),
        Err(IoError::Failed(outcome)) => (outcome.status, Bytes::new()),
        Err(error) => panic!("I/O at LBA {lba}: {error}"),
    }
}

/// Writes distinct patterns to distinct LBAs, four at a time, for `duration`; returns the
/// acknowledged (lba, seed) pairs and the failures.
async fn write_load(
    disk: Disk,
    first_seed: u64,
    duration: Duration,
) -> (Vec<(u64, u64)>, Vec<BlkStatus>) {
    let deadline = tokio::time::Instant::now() + duration;
    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    let mut next = 0u64;
    while tokio::time::Instant::now() < deadline && next < 2000 {
        let mut batch = Vec::new();
        for _ in 0..4 {
            let (lba, seed) = ((first_seed + next) * 8 % 100_000, first_seed + next);
            let disk = disk.clone();
            batch.push(tokio::spawn(async move {
                (lba, seed, io(&disk, lba, Some(seed)).await.0)
            }));
            next += 1;
        }
        for handle in batch {
            let (lba, seed, status) = handle.await.unwrap_or_else(|e| panic!("{e}"));
            if status == BlkStatus::Ok {
                acknowledged.push((lba, seed));
            } else {
                failed.push(status);
            }
        }
        // Spread the writes over the whole load, across the fault.
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    (acknowledged, failed)
}

async fn verify(disk: &Disk, acknowledged: &[(u64, u64)]) {
    assert!(!acknowledged.is_empty(), "nothing was acknowledged");
    for (lba, seed) in acknowledged {
        let (status, data) = io(disk, *lba, None).await;
        assert_eq!(status, BlkStatus::Ok);
        assert!(
            data == pattern(*seed),
            "acknowledged write at LBA {lba} lost"
        );
    }
}

/// One read swallowed under a write load, with the given task management faults; the read
/// must end good and every acknowledged write must read back.
async fn recover(target: &Running, faults: &[&str]) {
    let disk = open_disk(target, config(Duration::from_secs(10))).await;
    let (status, _) = io(&disk, 0, None).await;
    assert_eq!(status, BlkStatus::Ok, "clean read before the faults");
    for fault in faults {
        target.fault(fault);
    }
    target.fault("kind=timeout commands=reads times=1");
    let load = tokio::spawn(write_load(disk.clone(), 1, Duration::from_millis(1500)));
    let (status, data) = io(&disk, 0, None).await;
    assert_eq!(status, BlkStatus::Ok, "the swallowed read is recovered");
    assert_eq!(data.len(), 4096);
    let (acknowledged, _) = load.await.unwrap_or_else(|e| panic!("{e}"));
    verify(&disk, &acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_command_is_aborted() {
    let target = Running::start(TARGET);
    recover(&target, &[]).await;
    let stats = target.stats();
    assert!(stats["aborts"] >= 1, "{stats:?}");
    assert_eq!(
        (stats["lun_resets"], stats["target_resets"]),
        (0, 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_abort_escalates_to_a_lun_reset() {
    let target = Running::start(TARGET);
    recover(&target, &["kind=abort_fails times=1"]).await;
    let stats = target.stats();
    assert!(
        stats["aborts"] >= 1 && stats["lun_resets"] >= 1,
        "{stats:?}"
    );
    assert_eq!(stats["target_resets"], 0, "{stats:?}");
    assert_eq!(stats["logins"], 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lun_reset_escalates_to_a_target_reset() {
    let target = Running::start(TARGET);
    recover(
        &target,
        &[
            "kind=abort_fails times=1",
            "kind=reset_fails scope=lun times=1",
        ],
    )
    .await;
    let stats = target.stats();
    assert!(
        stats["lun_resets"] >= 1 && stats["target_resets"] >= 1,
        "{stats:?}"
    );
    assert_eq!(stats["logins"], 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_target_reset_escalates_to_a_session_relogin() {
    let target = Running::start(TARGET);
    recover(
        &target,
        &[
            "kind=abort_fails times=1",
            "kind=reset_fails scope=lun times=1",
            "kind=reset_fails scope=target times=1",
        ],
    )
    .await;
    let stats = target.stats();
    assert!(stats["target_resets"] >= 1, "{stats:?}");
    assert!(stats["logins"] >= 2, "host reset logs in again: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_down_shorter_than_the_replacement_timeout_is_ridden_out() {
    let target = Running::start(TARGET);
    let disk = open_disk(&target, config(Duration::from_secs(10))).await;
    let load = tokio::spawn(write_load(
        disk.clone(),
        10_000,
        Duration::from_millis(2500),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    target.fault("kind=portal_down duration_ms=1000");
    let (acknowledged, failed) = load.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(failed.is_empty(), "writes failed: {failed:?}");
    assert!(target.stats()["logins"] >= 2, "{:?}", target.stats());
    verify(&disk, &acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_replacement_timeout_io_fails_fast_and_nothing_acknowledged_is_lost() {
    let target = Running::start(TARGET);
    let mut fail_fast = config(Duration::from_millis(600));
    // The replacement timeout, not the command timeout, must end the held commands.
    fail_fast.command_timeout = Duration::from_secs(10);
    let disk = open_disk(&target, fail_fast).await;
    let load = tokio::spawn(write_load(
        disk.clone(),
        20_000,
        Duration::from_millis(2500),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    target.fault("kind=portal_down duration_ms=2000");
    let (acknowledged, failed) = load.await.unwrap_or_else(|e| panic!("{e}"));
    // Past the replacement timeout the devices are transport-offline: Linux rejects their
    // I/O with BLK_STS_IOERR ("rejecting I/O to offline device"); a command the transport
    // fails fast ends BLK_STS_TRANSPORT.
    assert!(
        !failed.is_empty()
            && failed
                .iter()
                .all(|status| matches!(status, BlkStatus::IoErr | BlkStatus::Transport)),
        "writes while the portal is down fail fast: {failed:?}"
    );
    for _ in 0..50 {
        if target.control("status")[0].ends_with("/up") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fresh = open_disk(&target, config(Duration::from_secs(10))).await;
    verify(&fresh, &acknowledged).await;
}
