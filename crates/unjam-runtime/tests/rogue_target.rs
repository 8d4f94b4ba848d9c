//! The core over a misbehaving target (`unjam-iscsi/tests/support/rogue.rs`): a protocol
//! violation reaches the core as `DID_ERROR` with its typed reason and is retried within
//! `allowed`; BUSY forever, wrong task tags and a window that never opens end in errors
//! within the core's bounds; READ CAPACITY with a block length of 0 is a device error. No
//! completion ever carries data that did not arrive.

#[path = "../../unjam-iscsi/tests/support/rogue.rs"]
mod rogue;

use std::time::{Duration, Instant};

use rogue::{Misbehaviour, Rogue};
use unjam_core::request::{BlockInfo, BlockOp};
use unjam_iscsi::client::CommandError;
use unjam_iscsi::session::{DataDirection, ProtocolViolation};
use unjam_iscsi::url::IscsiUrl;
use unjam_runtime::{read_capacity, CapacityError, Disk, DiskCompletion, DiskConfig};
use unjam_scsi::{BlkStatus, HostByte};

/// Longest any one request may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(30);

fn config() -> DiskConfig {
    let mut config = DiskConfig {
        queue_depth: 4,
        command_timeout: Duration::from_millis(300),
        allowed: 2,
        eh_timeout: Duration::from_millis(300),
        skip_settle_delay: true,
        ..DiskConfig::default()
    };
    let client = &mut config.client;
    client.login_timeout = Duration::from_secs(1);
    client.recovery.initial_backoff = Duration::from_millis(10);
    client.recovery.max_backoff = Duration::from_millis(50);
    client.recovery.replacement_timeout = Duration::from_secs(2);
    config
}

async fn open(rogue: &Rogue) -> Disk {
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    Disk::open(&url, config())
        .await
        .unwrap_or_else(|error| panic!("open: {error}"))
}

fn read_16(blocks: u32) -> [u8; 16] {
    let mut cdb = [0u8; 16];
    cdb[0] = 0x88;
    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    cdb
}

async fn read(disk: &Disk, length: u32) -> DiskCompletion {
    let block = BlockInfo {
        op: BlockOp::Read,
        ..BlockInfo::default()
    };
    let direction = DataDirection::Read { length };
    let cdb = read_16(length / 512);
    let completion = disk.execute(&cdb, direction, block);
    match tokio::time::timeout(HANG, completion).await {
        Ok(Ok(completion)) => completion,
        Ok(Err(error)) => panic!("read: {error}"),
        Err(_) => panic!("read hung"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_violation_is_did_error_retried_within_allowed_and_never_good_data() {
    for (misbehaviour, reason) in [
        (Misbehaviour::DataGap, "data_gap"),
        (Misbehaviour::ShortRead, "read_short"),
        (Misbehaviour::LyingUnderflow, "residual_mismatch"),
    ] {
        let rogue = Rogue::start(misbehaviour).await;
        let disk = open(&rogue).await;
        let completion = read(&disk, 8192).await;
        assert_ne!(completion.status, BlkStatus::Ok, "{misbehaviour:?}");
        assert!(completion.data.is_empty(), "{misbehaviour:?}");
        assert_eq!(
            completion.result.host(),
            HostByte::DID_ERROR,
            "{misbehaviour:?}"
        );
        assert_eq!(
            completion.attempts, 3,
            "{misbehaviour:?}: 1 + allowed retries"
        );
        let error = completion.transport_error;
        assert!(
            matches!(&error, Some(CommandError::Protocol(v)) if v.reason() == reason),
            "{misbehaviour:?}: {error:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_mid_stream_violation_costs_a_connection_per_attempt() {
    let rogue = Rogue::start(Misbehaviour::DataGap).await;
    let disk = open(&rogue).await;
    let completion = read(&disk, 8192).await;
    assert_eq!(
        completion.transport_error,
        Some(CommandError::Protocol(ProtocolViolation::DataGap {
            expected: 4096,
            offset: 4608
        }))
    );
    // Each attempt re-logged in after the connection the violation ended.
    assert_eq!(rogue.counters().logins, completion.attempts);
}

#[tokio::test(flavor = "current_thread")]
async fn busy_forever_ends_within_the_core_bounds() {
    let rogue = Rogue::start(Misbehaviour::BusyForever).await;
    let disk = open(&rogue).await;
    let started = Instant::now();
    let completion = read(&disk, 4096).await;
    assert_ne!(completion.status, BlkStatus::Ok);
    assert!(completion.data.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(rogue.counters().commands >= 2, "BUSY was retried");
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_tags_and_a_closed_window_end_in_errors() {
    for misbehaviour in [Misbehaviour::WrongItt, Misbehaviour::WindowNeverOpens] {
        let rogue = Rogue::start(misbehaviour).await;
        let disk = open(&rogue).await;
        let completion = read(&disk, 4096).await;
        assert_ne!(completion.status, BlkStatus::Ok, "{misbehaviour:?}");
        assert!(completion.data.is_empty(), "{misbehaviour:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn read_capacity_with_block_length_zero_is_a_device_error() {
    let rogue = Rogue::start(Misbehaviour::None).await;
    let disk = open(&rogue).await;
    let capacity = read_capacity(&disk).await;
    let capacity = capacity.unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((capacity.blocks(), capacity.block_length), (2048, 512));

    let rogue = Rogue::start(Misbehaviour::ZeroBlockLength).await;
    let disk = open(&rogue).await;
    let capacity = read_capacity(&disk).await;
    assert!(
        matches!(capacity, Err(CapacityError::BadBlockLength(0))),
        "{capacity:?}"
    );
}
