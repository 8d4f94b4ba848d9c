//! The initiator runtime against a real tgtd: LUN discovery, data round trips, and the
//! core's recovery running live — a hung target (SIGSTOP) walked through abort, LUN reset,
//! target reset and session re-login; a target restarted under load; a target hung past
//! the replacement timeout.

#[path = "../../unjam-iscsi/tests/support/tgtd.rs"]
#[allow(dead_code)]
mod tgtd;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tgtd::{Tgtd, TgtdOptions};
use unjam_iscsi::url::{IscsiUrl, TargetUrl};
use unjam_runtime::{Disk, Initiator, InitiatorConfig, IoError, Knobs, Transfer};
use unjam_scsi::BlkStatus;

/// A trace sink the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.0.lock().map_err(|_| std::io::ErrorKind::Other)?;
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into()
    }
}

fn pattern(seed: u64) -> Bytes {
    let bytes: Vec<u8> = (0..4096u64)
        .map(|i| (i.wrapping_mul(seed | 1) >> 3) as u8 ^ seed as u8)
        .collect();
    Bytes::from(bytes)
}

fn url(tgtd: &Tgtd, lun: u16) -> IscsiUrl {
    IscsiUrl::parse(&tgtd.url(lun)).unwrap_or_else(|e| panic!("{e}"))
}

async fn open(tgtd: &Tgtd, config: InitiatorConfig) -> (Initiator, Disk) {
    Initiator::open(&url(tgtd, 1), config)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"))
}

async fn verify(disk: &Disk, written: &[(u64, u64)]) {
    for (lba, seed) in written {
        let data = disk
            .read(*lba, 8, BytesMut::new())
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(
            data == pattern(*seed),
            "acknowledged write at LBA {lba} lost"
        );
    }
}

/// Knobs for fault tests: short timeouts everywhere.
fn fast_knobs(replacement_timeout_ms: u64) -> Knobs {
    let mut knobs = Knobs::default();
    for setting in [
        "noop_out_interval=500ms",
        "noop_out_timeout=500ms",
        "login_timeout=500ms",
        "logout_timeout=1s",
    ] {
        knobs.set(setting).unwrap_or_else(|e| panic!("{e}"));
    }
    knobs.replacement_timeout = Duration::from_millis(replacement_timeout_ms);
    knobs
}

/// Writes 4 KiB to distinct LBAs, four at a time, for `duration`.
async fn write_load(disk: Disk, duration: Duration) -> (Vec<(u64, u64)>, Vec<IoError>) {
    let deadline = tokio::time::Instant::now() + duration;
    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    let mut next = 0u64;
    while tokio::time::Instant::now() < deadline && next < 4000 {
        let mut batch = Vec::new();
        for _ in 0..4 {
            let (lba, seed) = (next * 8, 50_000 + next);
            let disk = disk.clone();
            batch.push(tokio::spawn(async move {
                (lba, seed, disk.write(lba, pattern(seed)).await)
            }));
            next += 1;
        }
        for handle in batch {
            match handle.await.unwrap_or_else(|e| panic!("{e}")) {
                (lba, seed, Ok(())) => acknowledged.push((lba, seed)),
                (_, _, Err(error)) => failed.push(error),
            }
        }
    }
    (acknowledged, failed)
}

#[tokio::test(flavor = "current_thread")]
async fn open_probes_the_lun_and_data_round_trips() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let trace = Captured::default();
    let config = InitiatorConfig {
        trace: Some(Box::new(trace.clone())),
        ..InitiatorConfig::default()
    };
    let (initiator, disk) = open(&tgtd, config).await;
    let info = disk.info().clone();
    assert_eq!((info.lun, info.device_type), (1, 0));
    assert_eq!(info.vendor.trim_end(), "IET");
    let capacity = info.capacity.clone().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(capacity.bytes(), 16 * 1024 * 1024);
    assert!(
        info.serial.is_some() && info.identifier.is_some(),
        "{info:?}"
    );
    // The probe's READ CAPACITY met the unit attention of the new session and was sent
    // again, so a passthrough TEST UNIT READY now finds the LUN ready.
    let unit_attention = trace.lines().iter().any(|line| {
        line["kind"] == "transport_done"
            && line["text"]
                .as_str()
                .is_some_and(|text| text.contains("UNIT ATTENTION 29/00"))
    });
    assert!(
        unit_attention,
        "no unit attention in the probe:\n{}",
        trace.text()
    );
    let tur = disk
        .passthrough(&[0, 0, 0, 0, 0, 0], Transfer::None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tur.status, BlkStatus::Ok, "{tur}");
    disk.write(16, pattern(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    verify(&disk, &[(16, 1)]).await;
    disk.flush().await.unwrap_or_else(|e| panic!("{e}"));
    // A read beyond the end never reaches the target.
    let beyond = disk.read(capacity.last_lba, 8, BytesMut::new()).await;
    assert!(matches!(beyond, Err(IoError::Invalid(_))), "{beyond:?}");
    initiator.logout().await;
    let after = disk.read(0, 1, BytesMut::new()).await;
    assert!(matches!(after, Err(IoError::Stopped)), "{after:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn scan_finds_every_lun_of_the_target() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let target = TargetUrl::parse(&format!("iscsi://127.0.0.1:{}/{}", tgtd.port, tgtd.target))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut initiator = Initiator::login(&[target], InitiatorConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let luns = initiator
        .scan()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .to_vec();
    let shape: Vec<_> = luns
        .iter()
        .map(|lun| {
            (
                lun.lun,
                lun.device_type,
                lun.capacity.as_ref().map(|c| c.bytes()).ok(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (0, 0x0c, None),
            (1, 0, Some(16 * 1024 * 1024)),
            (2, 0, Some(8 * 1024 * 1024))
        ]
    );
    let names: Vec<_> = luns.iter().map(|lun| lun.hctl.to_string()).collect();
    assert_eq!(names, ["0:0:0:0", "0:0:0:1", "0:0:0:2"]);
    let disk = initiator.disk(&luns[2]);
    disk.write(0, pattern(9))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    verify(&disk, &[(0, 9)]).await;
    initiator.logout().await;
}

#[tokio::test(flavor = "current_thread")]
async fn hung_target_walks_abort_lun_reset_and_relogin_then_the_read_completes() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let mut knobs = fast_knobs(30_000);
    for setting in [
        "noop_out_interval=0",
        "command_timeout=1s",
        "abort_timeout=700ms",
        "lu_reset_timeout=700ms",
        "tgt_reset_timeout=700ms",
    ] {
        knobs.set(setting).unwrap_or_else(|e| panic!("{e}"));
    }
    let trace = Captured::default();
    let kernel = Captured::default();
    let config = InitiatorConfig {
        knobs,
        trace: Some(Box::new(trace.clone())),
        kernel_log: Some(Box::new(kernel.clone())),
        eh_logging: true,
        ..InitiatorConfig::default()
    };
    let (initiator, disk) = open(&tgtd, config).await;
    disk.write(64, pattern(3))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tgtd.pause();
    let reader = disk.clone();
    let read = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let data = reader.read(64, 8, BytesMut::new()).await;
        (data, started.elapsed())
    });
    // Longer than the command timeout plus every TMF timeout: the ladder reaches the host
    // reset, whose re-login waits for the target.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    tgtd.resume();
    let (data, elapsed) = read.await.unwrap_or_else(|e| panic!("{e}"));
    let data = data.unwrap_or_else(|e| panic!("read after recovery: {e}\n{}", kernel.text()));
    assert!(data == pattern(3), "the data read after recovery is wrong");
    assert!(elapsed >= Duration::from_millis(4000), "{elapsed:?}");
    let lines = trace.lines();
    let position = |wanted: &dyn Fn(&serde_json::Value) -> bool| {
        lines
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("missing step in the trace:\n{}", trace.text()))
    };
    let kind = |name: &'static str| move |line: &serde_json::Value| line["kind"] == name;
    let tmf = |function: &'static str| {
        move |line: &serde_json::Value| {
            line["kind"] == "tmf_sent" && line["detail"]["function"] == function
        }
    };
    let timed_out = position(&kind("timed_out"));
    let abort = position(&tmf("ABORT TASK"));
    let lun_reset = position(&tmf("LOGICAL UNIT RESET"));
    let target_reset = position(&tmf("TARGET WARM RESET"));
    let session_reset = position(&|line: &serde_json::Value| {
        line["kind"] == "conn_error" && line["detail"]["code"] == 1021
    });
    let relogin = position(&kind("relogin"));
    assert!(timed_out < abort && abort < lun_reset && lun_reset < target_reset);
    assert!(target_reset < session_reset && session_reset < relogin);
    let log = kernel.text();
    assert!(
        log.contains("connection1:0: detected conn error (1021)"),
        "{log}"
    );
    initiator.logout().await;
}

#[tokio::test(flavor = "current_thread")]
async fn target_restart_under_load_loses_no_acknowledged_write_and_fails_none() {
    let mut tgtd = Tgtd::start(TgtdOptions::default()).await;
    let config = InitiatorConfig {
        knobs: fast_knobs(30_000),
        ..InitiatorConfig::default()
    };
    let (initiator, disk) = open(&tgtd, config).await;
    let load = tokio::spawn(write_load(disk.clone(), Duration::from_millis(2500)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    tgtd.kill_and_restart().await;
    let (acknowledged, failed) = load.await.unwrap_or_else(|e| panic!("{e}"));
    // DID_TRANSPORT_DISRUPTED is requeued by the core while the devices are blocked; the
    // session comes back within the replacement timeout, so every write succeeds.
    assert!(failed.is_empty(), "failed writes: {failed:?}");
    assert!(acknowledged.len() > 8);
    verify(&disk, &acknowledged).await;
    initiator.logout().await;
}

#[tokio::test(flavor = "current_thread")]
async fn hung_target_beyond_replacement_timeout_fails_writes_and_loses_none() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let config = InitiatorConfig {
        knobs: fast_knobs(1500),
        ..InitiatorConfig::default()
    };
    let (initiator, disk) = open(&tgtd, config).await;
    let load = tokio::spawn(write_load(disk.clone(), Duration::from_millis(4000)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    tgtd.pause();
    let (acknowledged, failed) = load.await.unwrap_or_else(|e| panic!("{e}"));
    tgtd.resume();
    assert!(
        !failed.is_empty(),
        "writes must fail once the replacement timeout expires"
    );
    for error in &failed {
        let outcome = error.outcome().unwrap_or_else(|| panic!("{error}"));
        assert_ne!(outcome.status, BlkStatus::Ok, "{outcome}");
    }
    initiator.logout().await;
    // Every acknowledged write is on the target.
    let (fresh, disk) = open(&tgtd, InitiatorConfig::default()).await;
    verify(&disk, &acknowledged).await;
    fresh.logout().await;
}

/// The example of the crate's documentation (`cargo run --example write_read_verify`),
/// built by `cargo test` next to this test, against tgtd.
#[tokio::test(flavor = "current_thread")]
async fn the_write_read_verify_example_verifies() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let example = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join("examples/write_read_verify")))
        .unwrap_or_else(|| panic!("no test binary path"));
    assert!(example.exists(), "{} not built", example.display());
    // tgtd is another process: blocking this test's thread holds nothing up.
    let output = std::process::Command::new(&example)
        .arg(tgtd.url(1))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", example.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("wrote and read 65536 bytes at LBA 0: verified"),
        "{stdout}"
    );
}
