//! The client against a misbehaving target of our own (`support/rogue.rs`): every broken rule
//! ends in a typed error or a bounded recovery, never in good data that did not arrive, and
//! every queue stays within its bound (asserted on the counters the client exposes).

#[path = "support/cdb.rs"]
#[allow(dead_code)]
mod cdb;
#[path = "support/rogue.rs"]
mod rogue;

use std::time::{Duration, Instant};

use bytes::Bytes;
use rogue::{pattern, Misbehaviour, Rogue};
use unjam_iscsi::client::{ClientConfig, ClientError, CommandError, IscsiClient};
use unjam_iscsi::login::LoginError;
use unjam_iscsi::pdu::TaskAttribute;
use unjam_iscsi::session::{DataDirection, ProtocolViolation, ScsiOutcome, TaskRequest};
use unjam_iscsi::url::IscsiUrl;

/// Longest any one step may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(20);

fn config() -> ClientConfig {
    let mut config = ClientConfig {
        login_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    config.recovery.enabled = false;
    config.session.logout_timeout = Duration::from_millis(500);
    config
}

async fn connect(rogue: &Rogue) -> IscsiClient {
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let client = tokio::time::timeout(HANG, IscsiClient::connect(&url, config())).await;
    match client {
        Ok(Ok(client)) => client,
        Ok(Err(error)) => panic!("login to the rogue target: {error}"),
        Err(_) => panic!("login hung"),
    }
}

fn request(direction: DataDirection, cdb: Bytes) -> TaskRequest {
    TaskRequest {
        lun: 0,
        cdb,
        direction,
        attribute: TaskAttribute::Simple,
    }
}

async fn execute(client: &IscsiClient, request: TaskRequest) -> Result<ScsiOutcome, CommandError> {
    match tokio::time::timeout(HANG, client.execute(request)).await {
        Ok(result) => result,
        Err(_) => panic!("command hung"),
    }
}

async fn read(client: &IscsiClient, length: u32) -> Result<ScsiOutcome, CommandError> {
    let direction = DataDirection::Read { length };
    execute(client, request(direction, cdb::read_16(0, length / 512))).await
}

async fn write(client: &IscsiClient, length: usize) -> Result<ScsiOutcome, CommandError> {
    let data = Bytes::from(vec![0xa5; length]);
    let blocks = (length / 512) as u32;
    execute(
        client,
        request(DataDirection::Write { data }, cdb::write_16(0, blocks)),
    )
    .await
}

fn violation(result: &Result<ScsiOutcome, CommandError>) -> Option<&'static str> {
    match result {
        Err(CommandError::Protocol(violation)) => Some(violation.reason()),
        _ => None,
    }
}

fn is_pattern(data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .all(|(offset, byte)| *byte == pattern(offset))
}

#[tokio::test(flavor = "current_thread")]
async fn a_well_behaved_rogue_reads_and_writes() {
    let rogue = Rogue::start(Misbehaviour::None).await;
    let client = connect(&rogue).await;
    let outcome = read(&client, 65_536).await;
    let outcome = outcome.unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(outcome.status, 0);
    assert_eq!(outcome.data.len(), 65_536);
    assert!(is_pattern(&outcome.data));
    let written = write(&client, 100 * 1024).await;
    assert_eq!(written.map(|o| o.status), Ok(0));
    assert_eq!(rogue.counters().data_out_bytes, 100 * 1024);
    assert_eq!(client.logout().await, Ok(()));
}

#[tokio::test(flavor = "current_thread")]
async fn broken_reads_fail_with_the_violation_and_never_deliver_data() {
    let cases = [
        (Misbehaviour::DataGap, "data_gap"),
        (Misbehaviour::DataOverlap, "data_overlap"),
        (Misbehaviour::ShortRead, "read_short"),
        (Misbehaviour::NoData, "read_short"),
        (Misbehaviour::StatusBeforeData, "read_short"),
        (Misbehaviour::LyingUnderflow, "residual_mismatch"),
        (Misbehaviour::DataBeyondLength, "data_beyond_length"),
        (Misbehaviour::DataSnSkip, "data_sn_out_of_order"),
        (Misbehaviour::SenseOnDataIn, "status_in_data_in"),
        (Misbehaviour::R2tForRead, "wrong_pdu_for_task"),
        (Misbehaviour::TmfResponseWithScsiItt, "wrong_pdu_for_task"),
        (
            Misbehaviour::LogoutResponseWithScsiItt,
            "wrong_pdu_for_task",
        ),
    ];
    for (misbehaviour, reason) in cases {
        let rogue = Rogue::start(misbehaviour).await;
        let client = connect(&rogue).await;
        let result = read(&client, 16_384).await;
        assert_eq!(
            violation(&result),
            Some(reason),
            "{misbehaviour:?}: {result:?}"
        );
        let stats = client.stats().await.unwrap_or_default();
        assert_eq!(stats.session.violations, 1, "{misbehaviour:?}: {stats:?}");
        assert_eq!(
            stats.session.in_flight, 0,
            "{misbehaviour:?}: nothing left behind"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_status_time_violation_keeps_the_connection() {
    let rogue = Rogue::start(Misbehaviour::ShortRead).await;
    let client = connect(&rogue).await;
    for _ in 0..3 {
        assert_eq!(violation(&read(&client, 8192).await), Some("read_short"));
    }
    // A command without data is unaffected, on the same connection.
    let tur = execute(
        &client,
        request(DataDirection::None, cdb::test_unit_ready()),
    )
    .await;
    assert_eq!(tur.map(|o| o.status), Ok(0));
    assert_eq!(rogue.counters().connections, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_write_is_good_only_when_every_byte_was_sent_first() {
    for misbehaviour in [
        Misbehaviour::GoodBeforeWriteData,
        Misbehaviour::GoodAfterHalfWrite,
    ] {
        let rogue = Rogue::start(misbehaviour).await;
        let client = connect(&rogue).await;
        let result = write(&client, 65_536).await;
        assert_eq!(
            violation(&result),
            Some("write_status_before_data"),
            "{misbehaviour:?}: {result:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn endless_r2ts_never_send_more_than_the_write() {
    for misbehaviour in [Misbehaviour::EndlessR2ts, Misbehaviour::RepeatedR2tRange] {
        let rogue = Rogue::start(misbehaviour).await;
        let client = connect(&rogue).await;
        let result = write(&client, 65_536).await;
        let reason = violation(&result);
        assert!(
            matches!(
                reason,
                Some("r2t_sn_out_of_order" | "too_many_r2ts" | "r2t_out_of_range")
            ),
            "{misbehaviour:?}: {result:?}"
        );
        // Give the target time to receive whatever was sent, then count it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rogue.counters().data_out_bytes <= 65_536);
        let stats = client.stats().await.unwrap_or_default();
        assert!(stats.session.outgoing_high_water <= 4, "{stats:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_nop_in_storm_keeps_memory_bounded_and_commands_completing() {
    let rogue = Rogue::start(Misbehaviour::NopInStorm).await;
    let client = connect(&rogue).await;
    let mut reads = 0;
    while rogue.counters().nop_ins_sent < 20_000 && reads < 2000 {
        let outcome = read(&client, 4096).await;
        let outcome = outcome.unwrap_or_else(|error| panic!("read during the storm: {error}"));
        assert!(is_pattern(&outcome.data));
        reads += 1;
    }
    let stats = client.stats().await.unwrap_or_default();
    let limit = ClientConfig::default().session.max_queued_nop_replies;
    assert!(stats.session.queued_nop_replies <= limit, "{stats:?}");
    assert!(stats.session.outgoing_high_water <= limit + 2, "{stats:?}");
    // One transmit chunk plus one PDU, one PDU plus one read.
    assert!(
        stats.write_buffer_high_water <= 1024 * 1024 + 300 * 1024,
        "{stats:?}"
    );
    assert!(stats.read_buffer_high_water <= 1024 * 1024, "{stats:?}");
    assert!(rogue.counters().nop_outs > 0, "the writer was not starved");
    assert_eq!(stats.session.violations, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn answers_with_wrong_tags_end_the_connection_after_the_bound() {
    let rogue = Rogue::start(Misbehaviour::WrongItt).await;
    let client = connect(&rogue).await;
    let limit = ClientConfig::default().session.max_stray_pdus as usize;
    let mut pending = Vec::new();
    for _ in 0..=limit {
        let submitted = client.submit(request(DataDirection::None, cdb::test_unit_ready()));
        pending.push(submitted.await.unwrap_or_else(|error| panic!("{error}")));
    }
    for command in pending {
        let result = tokio::time::timeout(HANG, command.wait()).await;
        assert_eq!(result, Ok(Err(CommandError::TransportDisrupted)));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_window_that_never_opens_holds_commands_until_aborted() {
    let rogue = Rogue::start(Misbehaviour::WindowNeverOpens).await;
    let client = connect(&rogue).await;
    let submitted = client.submit(request(DataDirection::None, cdb::test_unit_ready()));
    let command = submitted.await.unwrap_or_else(|error| panic!("{error}"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = client.stats().await.unwrap_or_default();
    assert_eq!((stats.session.waiting, stats.session.in_flight), (1, 0));
    assert_eq!(
        rogue.counters().commands,
        0,
        "nothing was sent outside the window"
    );
    assert_eq!(client.abort(command.id).await, Ok(0));
    let result = tokio::time::timeout(HANG, command.wait()).await;
    assert_eq!(result, Ok(Err(CommandError::Aborted)));
}

#[tokio::test(flavor = "current_thread")]
async fn an_ignored_logout_times_out() {
    let rogue = Rogue::start(Misbehaviour::IgnoreLogout).await;
    let client = connect(&rogue).await;
    let started = Instant::now();
    let result = tokio::time::timeout(HANG, client.logout()).await;
    assert_eq!(result, Ok(Err(CommandError::LogoutTimeout)));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(rogue.counters().logouts, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_login_that_never_transits_ends_within_its_bounds() {
    let rogue = Rogue::start(Misbehaviour::LoginNeverTransits).await;
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let result = IscsiClient::connect(&url, config()).await;
    assert!(
        matches!(
            result,
            Err(ClientError::Login(LoginError::TooManyExchanges(32)))
        ),
        "{result:?}"
    );
    // Slow answers: the login timeout bounds the whole login, not each exchange.
    let rogue = Rogue::start(Misbehaviour::SlowLoginNeverTransits).await;
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let mut slow = config();
    slow.login_timeout = Duration::from_millis(700);
    let started = Instant::now();
    let result = IscsiClient::connect(&url, slow).await;
    assert!(
        matches!(result, Err(ClientError::LoginTimeout { timeout_ms: 700 })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "current_thread")]
async fn violations_name_what_the_target_did() {
    let rogue = Rogue::start(Misbehaviour::DataGap).await;
    let client = connect(&rogue).await;
    let result = read(&client, 8192).await;
    assert_eq!(
        result.as_ref().err().cloned(),
        Some(CommandError::Protocol(ProtocolViolation::DataGap {
            expected: 4096,
            offset: 4608
        }))
    );
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("gap"), "{message}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_target_that_hangs_up_after_every_login_is_not_hammered() {
    let rogue = Rogue::start(Misbehaviour::HangUpAfterLogin).await;
    let url = IscsiUrl::parse(&rogue.url(0)).unwrap_or_else(|error| panic!("{error}"));
    let mut config = config();
    config.recovery.enabled = true;
    config.recovery.initial_backoff = Duration::from_millis(20);
    config.recovery.max_backoff = Duration::from_millis(160);
    let client = IscsiClient::connect(&url, config).await;
    let client = client.unwrap_or_else(|error| panic!("{error}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Delays 20, 40, 80, then 160 ms: about 9 logins in a second; a tight loop would be
    // hundreds.
    let logins = rogue.counters().logins;
    assert!((3..=20).contains(&logins), "{logins} logins in one second");
    // The client counts the same logins (one may be in flight between the two counts).
    let stats = client.stats().await.unwrap_or_default();
    assert!(
        u64::from(logins).abs_diff(stats.logins) <= 1,
        "{logins} vs {stats:?}"
    );
}
