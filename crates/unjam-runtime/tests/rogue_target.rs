//! The core over a misbehaving target (`unjam-iscsi/tests/support/rogue.rs`): a protocol
//! violation reaches the core as `DID_ERROR` with its typed reason and is retried within
//! `retries`; BUSY forever, wrong task tags and a window that never opens end in errors
//! within the core's bounds; READ CAPACITY with a block length of 0 is a device error; a
//! write the target answers before its data arrived never succeeds; a NOP-In storm does
//! not stop commands; an ignored Logout does not hold the initiator; a target that hangs up
//! after every login is not hammered. No completion ever carries data that did not arrive.

#[path = "../../unjam-iscsi/tests/support/rogue.rs"]
mod rogue;

use std::time::{Duration, Instant};

use rogue::{Misbehaviour, Rogue};
use unjam_core::buffers::Cdb;
use unjam_core::request::{BlockInfo, BlockOp};
use unjam_iscsi::url::{IscsiUrl, TargetUrl};
use unjam_runtime::{
    CapacityError, Command, CommandOutcome, Disk, Initiator, InitiatorConfig, Knobs, Transfer,
};
use unjam_scsi::{BlkStatus, HostByte};

/// Longest any one request may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(30);

fn config() -> InitiatorConfig {
    let mut knobs = Knobs::default();
    for setting in [
        "queue_depth=4",
        "command_timeout=300ms",
        "retries=2",
        "eh_timeout=300ms",
        "skip_settle_delay=1",
        "login_timeout=1s",
        "replacement_timeout=2s",
        "abort_timeout=300ms",
        "lu_reset_timeout=300ms",
        "tgt_reset_timeout=300ms",
    ] {
        knobs.set(setting).unwrap_or_else(|error| panic!("{error}"));
    }
    InitiatorConfig {
        knobs,
        ..InitiatorConfig::default()
    }
}

/// LUN 0 without the probe: the rogue answers every read its own way, INQUIRY included.
async fn attach(rogue: &Rogue) -> (Initiator, Disk) {
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let target =
        TargetUrl::parse(&url.target_url().to_string()).unwrap_or_else(|error| panic!("{error}"));
    let mut initiator = Initiator::login(&[target], config())
        .await
        .unwrap_or_else(|error| panic!("login: {error}"));
    let disk = initiator
        .attach_lun(0, 0)
        .await
        .unwrap_or_else(|error| panic!("attach: {error}"));
    (initiator, disk)
}

async fn read(disk: &Disk, length: u32) -> CommandOutcome {
    rw(disk, 0x88, length).await
}

/// WRITE(16) of `length` bytes of the rogue's pattern at LBA 0.
async fn write(disk: &Disk, length: u32) -> CommandOutcome {
    rw(disk, 0x8a, length).await
}

async fn rw(disk: &Disk, opcode: u8, length: u32) -> CommandOutcome {
    let mut cdb = [0u8; 16];
    cdb[0] = opcode;
    cdb[10..14].copy_from_slice(&(length / 512).to_be_bytes());
    let (transfer, op) = if opcode == 0x8a {
        let data: Vec<u8> = (0..length as usize).map(rogue::pattern).collect();
        (Transfer::Out(bytes::Bytes::from(data)), BlockOp::Write)
    } else {
        (Transfer::read(length), BlockOp::Read)
    };
    let command = Command {
        cdb: Cdb::from_slice(&cdb).unwrap_or_else(|error| panic!("{error}")),
        transfer,
        block: BlockInfo {
            op,
            ..BlockInfo::default()
        },
        timeout: None,
        retries: None,
    };
    match tokio::time::timeout(HANG, disk.execute(command)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => panic!("read: {error}"),
        Err(_) => panic!("read hung"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_violation_is_did_error_retried_within_allowed_and_never_good_data() {
    for (misbehaviour, reason) in [
        (Misbehaviour::DataGap, "leaves a gap"),
        (Misbehaviour::ShortRead, "data missing"),
        (Misbehaviour::LyingUnderflow, "does not match"),
    ] {
        let rogue = Rogue::start(misbehaviour).await;
        let (initiator, disk) = attach(&rogue).await;
        let outcome = read(&disk, 8192).await;
        assert_ne!(outcome.status, BlkStatus::Ok, "{misbehaviour:?}");
        assert!(outcome.data.is_empty(), "{misbehaviour:?}");
        assert_eq!(
            outcome.result.host(),
            HostByte::DID_ERROR,
            "{misbehaviour:?}"
        );
        assert_eq!(outcome.attempts, 3, "{misbehaviour:?}: 1 + allowed retries");
        let error = outcome.transport_error.unwrap_or_default();
        assert!(error.contains(reason), "{misbehaviour:?}: {error}");
        initiator.logout().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_mid_stream_violation_costs_a_connection_per_attempt() {
    let rogue = Rogue::start(Misbehaviour::DataGap).await;
    let (initiator, disk) = attach(&rogue).await;
    let outcome = read(&disk, 8192).await;
    let error = outcome.transport_error.clone().unwrap_or_default();
    assert!(error.contains("offset 4608"), "{error}");
    // Each attempt after the first re-logged in after the connection the violation ended.
    assert_eq!(rogue.counters().logins, outcome.attempts, "{outcome}");
    initiator.logout().await;
}

#[tokio::test(flavor = "current_thread")]
async fn busy_forever_ends_within_the_core_bounds() {
    let rogue = Rogue::start(Misbehaviour::BusyForever).await;
    let (initiator, disk) = attach(&rogue).await;
    let started = Instant::now();
    let outcome = read(&disk, 4096).await;
    assert_ne!(outcome.status, BlkStatus::Ok);
    assert!(outcome.data.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(rogue.counters().commands >= 2, "BUSY was retried");
    initiator.logout().await;
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_tags_and_a_closed_window_end_in_errors() {
    for misbehaviour in [Misbehaviour::WrongItt, Misbehaviour::WindowNeverOpens] {
        let rogue = Rogue::start(misbehaviour).await;
        let (initiator, disk) = attach(&rogue).await;
        let outcome = read(&disk, 4096).await;
        assert_ne!(outcome.status, BlkStatus::Ok, "{misbehaviour:?}");
        assert!(outcome.data.is_empty(), "{misbehaviour:?}");
        initiator.logout().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn read_capacity_with_block_length_zero_is_a_device_error() {
    let rogue = Rogue::start(Misbehaviour::None).await;
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let (initiator, disk) = Initiator::open(&url, config())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let capacity = disk.capacity().unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((capacity.blocks(), capacity.block_length), (2048, 512));
    initiator.logout().await;

    let rogue = Rogue::start(Misbehaviour::ZeroBlockLength).await;
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let (initiator, disk) = Initiator::open(&url, config())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let capacity = disk.info().capacity.clone();
    assert_eq!(capacity, Err(CapacityError::BadBlockLength(0)));
    let read = disk.read(0, 1, bytes::BytesMut::new()).await;
    assert!(
        read.is_err(),
        "a read needs a usable block length: {read:?}"
    );
    initiator.logout().await;
}

#[tokio::test(flavor = "current_thread")]
async fn every_broken_read_fails_with_its_violation_and_never_delivers_data() {
    for misbehaviour in [
        Misbehaviour::DataOverlap,
        Misbehaviour::NoData,
        Misbehaviour::StatusBeforeData,
        Misbehaviour::DataBeyondLength,
        Misbehaviour::DataSnSkip,
        Misbehaviour::SenseOnDataIn,
        Misbehaviour::R2tForRead,
        Misbehaviour::TmfResponseWithScsiItt,
        Misbehaviour::LogoutResponseWithScsiItt,
    ] {
        let rogue = Rogue::start(misbehaviour).await;
        let (initiator, disk) = attach(&rogue).await;
        let outcome = read(&disk, 16_384).await;
        assert_ne!(outcome.status, BlkStatus::Ok, "{misbehaviour:?}: {outcome}");
        assert!(outcome.data.is_empty(), "{misbehaviour:?}");
        assert_eq!(
            outcome.result.host(),
            HostByte::DID_ERROR,
            "{misbehaviour:?}: {outcome}"
        );
        assert!(
            outcome.transport_error.is_some(),
            "{misbehaviour:?}: the violation is named: {outcome}"
        );
        assert!(outcome.attempts <= 3, "{misbehaviour:?}: {outcome}");
        initiator.logout().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_write_answered_before_its_data_or_with_endless_r2ts_never_succeeds() {
    for misbehaviour in [
        Misbehaviour::GoodBeforeWriteData,
        Misbehaviour::GoodAfterHalfWrite,
        Misbehaviour::EndlessR2ts,
        Misbehaviour::RepeatedR2tRange,
    ] {
        let rogue = Rogue::start(misbehaviour).await;
        let (initiator, disk) = attach(&rogue).await;
        let outcome = write(&disk, 65_536).await;
        assert_ne!(outcome.status, BlkStatus::Ok, "{misbehaviour:?}: {outcome}");
        assert!(
            outcome.transport_error.is_some(),
            "{misbehaviour:?}: {outcome}"
        );
        assert!(outcome.attempts <= 3, "{misbehaviour:?}: {outcome}");
        // No attempt sent more than the write.
        let sent = rogue.counters().data_out_bytes;
        assert!(
            sent <= 65_536 * u64::from(outcome.attempts),
            "{misbehaviour:?}: {sent} bytes sent"
        );
        initiator.logout().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_nop_in_storm_does_not_stop_commands() {
    let rogue = Rogue::start(Misbehaviour::NopInStorm).await;
    let (initiator, disk) = attach(&rogue).await;
    let mut reads = 0;
    while rogue.counters().nop_ins_sent < 5_000 && reads < 1000 {
        let outcome = read(&disk, 4096).await;
        assert_eq!(outcome.status, BlkStatus::Ok, "{outcome}");
        assert!(outcome
            .data
            .iter()
            .enumerate()
            .all(|(offset, byte)| *byte == rogue::pattern(offset)));
        reads += 1;
    }
    assert!(rogue.counters().nop_outs > 0, "the pings were answered");
    initiator.logout().await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_ignored_logout_ends_within_the_logout_timeout() {
    let rogue = Rogue::start(Misbehaviour::IgnoreLogout).await;
    let mut config = config();
    config
        .knobs
        .set("logout_timeout=300ms")
        .unwrap_or_else(|error| panic!("{error}"));
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let (initiator, disk) = Initiator::open(&url, config)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(disk.read(0, 1, bytes::BytesMut::new()).await.is_ok());
    tokio::time::timeout(HANG, initiator.logout())
        .await
        .unwrap_or_else(|_| panic!("logout hung"));
    assert_eq!(rogue.counters().logouts, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_target_that_hangs_up_after_every_login_fails_the_read_and_is_not_hammered() {
    let rogue = Rogue::start(Misbehaviour::HangUpAfterLogin).await;
    let (initiator, disk) = attach(&rogue).await;
    let outcome = read(&disk, 4096).await;
    assert_ne!(outcome.status, BlkStatus::Ok, "{outcome}");
    assert!(outcome.data.is_empty());
    // Quick failures double the re-login backoff (250 ms, 500 ms, ... within the 2 s
    // replacement timeout).
    let logins = rogue.counters().logins;
    assert!((2..=10).contains(&logins), "{logins} logins");
    initiator.logout().await;
}
