//! The mid-layer driving a real tgtd through the iSCSI transport: unit attentions retried by
//! the core, and connection faults under write load ending exactly as the policy says.

#[path = "../../unjam-iscsi/tests/support/tgtd.rs"]
#[allow(dead_code)]
mod tgtd;

use std::time::Duration;

use bytes::Bytes;
use tgtd::{Tgtd, TgtdOptions};
use unjam_core::request::{BlockInfo, BlockOp};
use unjam_iscsi::session::DataDirection;
use unjam_iscsi::url::IscsiUrl;
use unjam_runtime::{Disk, DiskConfig};
use unjam_scsi::BlkStatus;

fn write_16(lba: u64, blocks: u32) -> [u8; 16] {
    let mut cdb = [0u8; 16];
    cdb[0] = 0x8a;
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    cdb
}

fn read_16(lba: u64, blocks: u32) -> [u8; 16] {
    let mut cdb = write_16(lba, blocks);
    cdb[0] = 0x88;
    cdb
}

fn pattern(seed: u64) -> Vec<u8> {
    (0..4096u64)
        .map(|i| (i.wrapping_mul(seed | 1) >> 3) as u8 ^ seed as u8)
        .collect()
}

fn block(op: BlockOp, lba: u64) -> BlockInfo {
    BlockInfo {
        op,
        start_sector: lba,
        ..BlockInfo::default()
    }
}

async fn open(tgtd: &Tgtd, config: DiskConfig) -> Disk {
    let url = IscsiUrl::parse(&tgtd.url(1)).unwrap_or_else(|e| panic!("{e}"));
    Disk::open(&url, config)
        .await
        .unwrap_or_else(|e| panic!("open: {e}"))
}

async fn write(disk: &Disk, lba: u64, seed: u64) -> BlkStatus {
    let direction = DataDirection::Write {
        data: Bytes::from(pattern(seed)),
    };
    let completion = disk
        .execute(&write_16(lba, 8), direction, block(BlockOp::Write, lba))
        .await;
    completion
        .map(|c| c.status)
        .unwrap_or_else(|e| panic!("write: {e}"))
}

async fn verify(disk: &Disk, written: &[(u64, u64)]) {
    for (lba, seed) in written {
        let direction = DataDirection::Read { length: 4096 };
        let completion = disk
            .execute(&read_16(*lba, 8), direction, block(BlockOp::Read, *lba))
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(completion.status, BlkStatus::Ok);
        assert!(
            completion.data == pattern(*seed),
            "acknowledged write at LBA {lba} lost"
        );
    }
}

fn fault_config(replacement_timeout_ms: u64) -> DiskConfig {
    let mut config = DiskConfig::default();
    let client = &mut config.client;
    client.session.ping.interval = Some(Duration::from_millis(500));
    client.session.ping.timeout = Duration::from_millis(500);
    client.login_timeout = Duration::from_millis(500);
    client.recovery.replacement_timeout = Duration::from_millis(replacement_timeout_ms);
    client.recovery.initial_backoff = Duration::from_millis(50);
    client.recovery.max_backoff = Duration::from_millis(200);
    config
}

/// Writes 4 KiB to distinct LBAs, four at a time, for `duration`.
async fn write_load(disk: Disk, duration: Duration) -> (Vec<(u64, u64)>, Vec<BlkStatus>) {
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
                (lba, seed, write(&disk, lba, seed).await)
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
    }
    (acknowledged, failed)
}

#[tokio::test(flavor = "current_thread")]
async fn core_retries_the_unit_attention_and_data_round_trips() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let disk = open(&tgtd, DiskConfig::default()).await;
    // The first medium access after login meets the power-on unit attention; the core
    // retries it and the caller sees one successful completion with two attempts.
    let first = disk
        .execute(
            &write_16(0, 8),
            DataDirection::Write {
                data: Bytes::from(pattern(1)),
            },
            block(BlockOp::Write, 0),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.status, BlkStatus::Ok);
    assert_eq!(first.attempts, 2, "{first:?}");
    verify(&disk, &[(0, 1)]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn target_restart_under_load_loses_no_acknowledged_write_and_fails_none() {
    let mut tgtd = Tgtd::start(TgtdOptions::default()).await;
    let disk = open(&tgtd, fault_config(30_000)).await;
    let load = tokio::spawn(write_load(disk.clone(), Duration::from_millis(2500)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    tgtd.kill_and_restart().await;
    let (acknowledged, failed) = load.await.unwrap_or_else(|e| panic!("{e}"));
    // DID_TRANSPORT_DISRUPTED is requeued by the core; the session comes back within the
    // replacement timeout, so every write succeeds.
    assert!(failed.is_empty(), "failed writes: {failed:?}");
    assert!(acknowledged.len() > 8);
    verify(&disk, &acknowledged).await;
}

#[tokio::test(flavor = "current_thread")]
async fn hung_target_beyond_replacement_timeout_fails_writes_with_transport_status() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let disk = open(&tgtd, fault_config(1500)).await;
    let load = tokio::spawn(write_load(disk.clone(), Duration::from_millis(4000)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    tgtd.pause();
    let (acknowledged, failed) = load.await.unwrap_or_else(|e| panic!("{e}"));
    tgtd.resume();
    assert!(
        !failed.is_empty(),
        "writes must fail once the replacement timeout expires"
    );
    assert!(
        failed.iter().all(|status| *status == BlkStatus::Transport),
        "{failed:?}"
    );
    // Host reset by re-login is the transport's recovery; a fresh disk sees the data.
    let fresh = open(&tgtd, DiskConfig::default()).await;
    verify(&fresh, &acknowledged).await;
}
