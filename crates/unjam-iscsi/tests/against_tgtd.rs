//! The initiator against a real tgtd: login with and without CHAP, SCSI commands compared
//! with libiscsi's tools, write-then-read across transfer sizes, task management, and
//! connection faults. Each test starts its own tgtd on a free port and tears it down.

mod support;

use bytes::Bytes;
use support::cdb;
use support::tgtd::{ChapSetup, Tgtd, TgtdOptions};
use unjam_iscsi::client::{ClientConfig, ClientError, CommandError, IscsiClient};
use unjam_iscsi::login::LoginError;
use unjam_iscsi::pdu::{TaskAttribute, TaskManagementFunction};
use unjam_iscsi::session::{DataDirection, ScsiOutcome, TaskRequest};
use unjam_iscsi::url::IscsiUrl;

const BLOCK: usize = 512;

fn url(text: &str) -> IscsiUrl {
    IscsiUrl::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

async fn connect(text: &str) -> IscsiClient {
    connect_with(text, ClientConfig::default()).await
}

async fn connect_with(text: &str, config: ClientConfig) -> IscsiClient {
    IscsiClient::connect(&url(text), config)
        .await
        .unwrap_or_else(|error| panic!("login to {text}: {error}"))
}

fn request(client: &IscsiClient, cdb: Bytes, direction: DataDirection) -> TaskRequest {
    TaskRequest {
        lun: client.lun(),
        cdb,
        direction,
        attribute: TaskAttribute::Simple,
    }
}

async fn run(client: &IscsiClient, cdb: Bytes, direction: DataDirection) -> ScsiOutcome {
    let outcome = client.execute(request(client, cdb, direction)).await;
    outcome.unwrap_or_else(|error| panic!("command failed: {error}"))
}

async fn write_blocks(client: &IscsiClient, lba: u64, data: &[u8]) -> ScsiOutcome {
    let blocks = u32::try_from(data.len() / BLOCK).unwrap_or(0);
    let direction = DataDirection::Write {
        data: Bytes::copy_from_slice(data),
    };
    run(client, cdb::write_16(lba, blocks), direction).await
}

async fn read_blocks(client: &IscsiClient, lba: u64, bytes: usize) -> ScsiOutcome {
    let blocks = u32::try_from(bytes / BLOCK).unwrap_or(0);
    let length = u32::try_from(bytes).unwrap_or(0);
    run(
        client,
        cdb::read_16(lba, blocks),
        DataDirection::Read { length },
    )
    .await
}

/// Consumes the power-on unit attention so that later commands see GOOD.
async fn clear_unit_attention(client: &IscsiClient) {
    for _ in 0..3 {
        if run(client, cdb::test_unit_ready(), DataDirection::None)
            .await
            .status
            == 0
        {
            return;
        }
    }
    panic!("TEST UNIT READY never returned GOOD");
}

fn pattern(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..length)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn login_without_chap_and_inquiry() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let client = connect(&tgtd.url(1)).await;
    let outcome = run(
        &client,
        cdb::inquiry(96),
        DataDirection::Read { length: 96 },
    )
    .await;
    assert_eq!(outcome.status, 0);
    assert_eq!(
        outcome.data.first().map(|byte| byte & 0x1f),
        Some(0),
        "direct-access device"
    );
    let vendor = String::from_utf8_lossy(outcome.data.get(8..16).unwrap_or_default()).to_string();
    assert_eq!(vendor.trim(), "IET");
    // The first command after login that is not INQUIRY sees the power-on unit attention:
    // CHECK CONDITION with sense key UNIT ATTENTION in the response's sense data.
    let first = run(&client, cdb::test_unit_ready(), DataDirection::None).await;
    assert_eq!(first.status, 2);
    assert_eq!(
        first.sense.get(2).map(|key| key & 0x0f),
        Some(0x06),
        "sense {:02x?}",
        first.sense
    );
    let second = run(&client, cdb::test_unit_ready(), DataDirection::None).await;
    assert_eq!(second.status, 0);
    assert!(second.sense.is_empty());
    assert!(client.logout().await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn initiator_names_over_223_bytes_are_refused_before_connecting() {
    let config = ClientConfig {
        initiator_name: format!("iqn.2024-01.dev.unjam:{}", "i".repeat(210)),
        ..ClientConfig::default()
    };
    // Port 1 on loopback: nothing listens, so reaching the socket would fail differently.
    let result = IscsiClient::connect(&url("iscsi://127.0.0.1:1/iqn.x:y/0"), config).await;
    assert!(
        matches!(
            result,
            Err(ClientError::Name(unjam_iscsi::name::NameError::TooLong {
                length: 232,
                ..
            }))
        ),
        "{result:?}"
    );
}

fn chap_options(mutual: bool) -> TgtdOptions {
    TgtdOptions {
        chap: ChapSetup {
            initiator: Some(("alice".into(), "alice-secret-12".into())),
            target: mutual.then(|| ("tgt".into(), "target-secret-12".into())),
        },
        ..TgtdOptions::default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn one_way_chap_login_and_wrong_secret_is_refused() {
    let tgtd = Tgtd::start(chap_options(false)).await;
    let client = connect(&tgtd.url_with_chap("alice", "alice-secret-12", 1)).await;
    let outcome = run(
        &client,
        cdb::inquiry(36),
        DataDirection::Read { length: 36 },
    )
    .await;
    assert_eq!(outcome.status, 0);

    let wrong = IscsiClient::connect(
        &url(&tgtd.url_with_chap("alice", "wrong-secret-12", 1)),
        ClientConfig::default(),
    )
    .await;
    let error = wrong.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("authentication failure"), "{error}");

    let none = IscsiClient::connect(&url(&tgtd.url(1)), ClientConfig::default()).await;
    assert!(
        none.is_err(),
        "a target with a CHAP account refuses a login without one"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn mutual_chap_login_verifies_the_target() {
    let tgtd = Tgtd::start(chap_options(true)).await;
    let good = ClientConfig {
        target_chap: Some(unjam_iscsi::chap::ChapCredentials {
            user: "tgt".into(),
            secret: b"target-secret-12".to_vec(),
        }),
        ..ClientConfig::default()
    };
    let client = connect_with(&tgtd.url_with_chap("alice", "alice-secret-12", 1), good).await;
    let outcome = run(
        &client,
        cdb::inquiry(36),
        DataDirection::Read { length: 36 },
    )
    .await;
    assert_eq!(outcome.status, 0);

    let wrong = ClientConfig {
        target_chap: Some(unjam_iscsi::chap::ChapCredentials {
            user: "tgt".into(),
            secret: b"not-the-target-secret".to_vec(),
        }),
        ..ClientConfig::default()
    };
    let result = IscsiClient::connect(
        &url(&tgtd.url_with_chap("alice", "alice-secret-12", 1)),
        wrong,
    )
    .await;
    assert!(
        matches!(result, Err(ClientError::Login(LoginError::Chap(_)))),
        "{result:?}"
    );
}

/// libiscsi's URL arguments and environment variables: a password with '/' and '%'
/// (%-encoded), mutual CHAP from `target_user`/`target_password` or from
/// `LIBISCSI_CHAP_*`, and `header_digest=crc32c` refused by a target that offers none.
#[tokio::test(flavor = "current_thread")]
async fn mutual_chap_and_digests_from_url_arguments_and_environment() {
    let options = TgtdOptions {
        chap: ChapSetup {
            initiator: Some(("alice".into(), "pa/ss%word-12".into())),
            target: Some(("tgt".into(), "target-secret-12".into())),
        },
        ..TgtdOptions::default()
    };
    let tgtd = Tgtd::start(options).await;
    let port_and_target = tgtd.url(1).trim_start_matches("iscsi://").to_string();
    let text = format!(
        "iscsi://alice%pa%2Fss%25word-12@{port_and_target}?target_user=tgt&target_password=target-secret-12"
    );
    let client = connect(&text).await;
    let outcome = run(
        &client,
        cdb::inquiry(36),
        DataDirection::Read { length: 36 },
    )
    .await;
    assert_eq!(outcome.status, 0);
    assert!(client.logout().await.is_ok());

    let env = |name: &str| {
        let value = match name {
            "LIBISCSI_CHAP_USERNAME" => "alice",
            "LIBISCSI_CHAP_PASSWORD" => "pa/ss%word-12",
            "LIBISCSI_CHAP_TARGET_USERNAME" => "tgt",
            "LIBISCSI_CHAP_TARGET_PASSWORD" => "target-secret-12",
            _ => return None,
        };
        Some(value.to_string())
    };
    let from_env = IscsiUrl::parse_with_env(&tgtd.url(1), &env);
    let from_env = from_env.unwrap_or_else(|error| panic!("{error}"));
    let client = IscsiClient::connect(&from_env, ClientConfig::default()).await;
    let client = client.unwrap_or_else(|error| panic!("login with LIBISCSI_CHAP_*: {error}"));
    assert!(client.logout().await.is_ok());

    let wrong_target = format!(
        "iscsi://alice%pa%2Fss%25word-12@{port_and_target}?target_user=tgt&target_password=not-the-secret"
    );
    let result = IscsiClient::connect(&url(&wrong_target), ClientConfig::default()).await;
    assert!(
        matches!(result, Err(ClientError::Login(LoginError::Chap(_)))),
        "{result:?}"
    );

    // tgtd offers no digest unless configured to: a URL that requires one is refused.
    let digest = format!(
        "iscsi://alice%pa%2Fss%25word-12@{port_and_target}?header_digest=crc32c&target_user=tgt&target_password=target-secret-12"
    );
    let result = IscsiClient::connect(&url(&digest), ClientConfig::default()).await;
    assert!(
        matches!(result, Err(ClientError::DigestRefused("HeaderDigest"))),
        "{result:?}"
    );
}

fn small_burst_options() -> TgtdOptions {
    TgtdOptions {
        params: vec![
            ("MaxBurstLength".into(), "65536".into()),
            ("FirstBurstLength".into(), "16384".into()),
            ("MaxRecvDataSegmentLength".into(), "8192".into()),
        ],
        ..TgtdOptions::default()
    }
}

async fn write_read_sizes(config: ClientConfig) {
    let mut options = small_burst_options();
    let unsolicited = !config.proposal.initial_r2t;
    if unsolicited {
        // tgtd defaults to InitialR2T=Yes; allow unsolicited Data-Out.
        options.params.push(("InitialR2T".into(), "No".into()));
    }
    if config.proposal.header_digest {
        // tgtd offers only None unless told otherwise.
        options
            .params
            .push(("HeaderDigest".into(), "CRC32C,None".into()));
        options
            .params
            .push(("DataDigest".into(), "CRC32C,None".into()));
    }
    let tgtd = Tgtd::start(options).await;
    let digests = (config.proposal.header_digest, config.proposal.data_digest);
    let client = connect_with(&tgtd.url(1), config).await;
    let negotiated = (client.params().header_digest, client.params().data_digest);
    assert_eq!(negotiated, digests, "tgtd accepts CRC32C when offered");
    clear_unit_attention(&client).await;
    let params = *client.params();
    assert_eq!(params.max_burst_length, 65_536);
    assert_eq!(params.first_burst_length, 16_384);
    assert_eq!(
        params.initial_r2t, !unsolicited,
        "InitialR2T negotiated as configured"
    );
    let sizes = [
        512usize,
        4096,
        8192,
        16_384,
        20_480,
        65_536,
        65_536 + 512,
        200 * 1024,
        1024 * 1024,
    ];
    let mut lba = 0u64;
    for (index, size) in sizes.into_iter().enumerate() {
        let data = pattern(index as u64, size);
        let written = write_blocks(&client, lba, &data).await;
        assert_eq!(written.status, 0, "write of {size} bytes");
        let read = read_blocks(&client, lba, size).await;
        assert_eq!(read.status, 0, "read of {size} bytes");
        assert!(read.data == data, "data read back differs for {size} bytes");
        lba += (size / BLOCK) as u64;
    }
    // The large reads' data segments were received in place (and still checked).
    let stats = client
        .stats()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(stats.session.placed_data_in > 0, "{stats:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn write_then_read_across_sizes_with_immediate_and_unsolicited_data() {
    write_read_sizes(ClientConfig::default()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn write_then_read_across_sizes_with_r2t_only_and_digests() {
    let mut config = ClientConfig::default();
    config.proposal.immediate_data = false;
    config.proposal.initial_r2t = true;
    config.proposal.header_digest = true;
    config.proposal.data_digest = true;
    write_read_sizes(config).await;
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_commands_complete_and_residual_is_reported() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let client = connect(&tgtd.url(2)).await;
    clear_unit_attention(&client).await;
    let mut pending = Vec::new();
    for index in 0..64u64 {
        let data = pattern(1000 + index, 4096);
        let direction = DataDirection::Write {
            data: Bytes::from(data),
        };
        let request = request(&client, cdb::write_16(index * 8, 8), direction);
        pending.push(
            client
                .submit(request)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    for command in pending {
        let outcome = command.wait().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.status, 0);
    }
    for index in 0..64u64 {
        let read = read_blocks(&client, index * 8, 4096).await;
        assert!(
            read.data == pattern(1000 + index, 4096),
            "block group {index}"
        );
    }
    // INQUIRY with a larger allocation length than the target has: underflow residual.
    let inquiry = run(
        &client,
        cdb::inquiry(4096),
        DataDirection::Read { length: 4096 },
    )
    .await;
    match inquiry.residual {
        unjam_iscsi::pdu::Residual::Underflow(count) => {
            assert_eq!(count as usize + inquiry.data.len(), 4096);
        }
        other => panic!("expected underflow, got {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn abort_task_and_lun_reset_on_a_live_session() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let client = connect(&tgtd.url(1)).await;
    let _ = run(&client, cdb::test_unit_ready(), DataDirection::None).await;
    // Abort a large write; whichever wins, the command ends exactly once and the session
    // stays usable.
    let data = Bytes::from(pattern(7, 4 * 1024 * 1024));
    let big = request(
        &client,
        cdb::write_16(0, 8192),
        DataDirection::Write { data },
    );
    let pending = client.submit(big).await.unwrap_or_else(|e| panic!("{e}"));
    let response = client.abort(pending.id).await;
    let response = response.unwrap_or_else(|e| panic!("abort: {e}"));
    assert!(response == 0 || response == 1, "TMF response {response}");
    let outcome = pending.wait().await;
    match (&outcome, response) {
        (Err(CommandError::Aborted), 0) | (Ok(_), _) => {}
        other => panic!("unexpected abort result {other:?}"),
    }
    let reset = client
        .manage(TaskManagementFunction::LogicalUnitReset, client.lun(), None)
        .await;
    assert_eq!(reset, Ok(0), "LOGICAL UNIT RESET completes");
    // After the reset the LUN reports a unit attention, then works.
    let first = run(&client, cdb::test_unit_ready(), DataDirection::None).await;
    assert_eq!(first.status, 2, "unit attention after reset");
    let second = run(&client, cdb::test_unit_ready(), DataDirection::None).await;
    assert_eq!(second.status, 0);
}

fn tool_output(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new("timeout")
        .arg("20")
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install libiscsi-bin): {e}"));
    assert!(output.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
        })
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "current_thread")]
async fn inquiry_read_capacity_and_report_luns_agree_with_libiscsi() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let client = connect(&tgtd.url(1)).await;
    let inquiry = run(
        &client,
        cdb::inquiry(96),
        DataDirection::Read { length: 96 },
    )
    .await;
    let text = |range: std::ops::Range<usize>| {
        String::from_utf8_lossy(inquiry.data.get(range).unwrap_or_default()).to_string()
    };
    let oracle = tool_output("iscsi-inq", &[&tgtd.url(1)]);
    assert_eq!(text(8..16).trim_end(), field(&oracle, "Vendor").trim_end());
    assert_eq!(
        text(16..32).trim_end(),
        field(&oracle, "Product").trim_end()
    );
    assert_eq!(
        text(32..36).trim_end(),
        field(&oracle, "Revision").trim_end()
    );

    clear_unit_attention(&client).await;
    let capacity = run(
        &client,
        cdb::read_capacity_16(),
        DataDirection::Read { length: 32 },
    )
    .await;
    let bytes = capacity.data.as_ref();
    let last_lba = bytes.first_chunk::<8>().map(|b| u64::from_be_bytes(*b));
    let block = bytes
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes);
    let oracle = tool_output("iscsi-readcapacity16", &[&tgtd.url(1)]);
    assert_eq!(
        last_lba.map(|lba| lba.to_string()),
        Some(field(&oracle, "RETURNED LOGICAL BLOCK ADDRESS").to_string())
    );
    assert_eq!(
        block.map(|b| b.to_string()),
        Some(field(&oracle, "LOGICAL BLOCK LENGTH IN BYTES").to_string())
    );
    assert_eq!(last_lba, Some(16 * 1024 * 1024 / 512 - 1));

    let luns = run(
        &client,
        cdb::report_luns(),
        DataDirection::Read { length: 4096 },
    )
    .await;
    let list_length = luns
        .data
        .first_chunk::<4>()
        .map_or(0, |b| u32::from_be_bytes(*b)) as usize;
    let ours: Vec<u64> = luns
        .data
        .get(8..8 + list_length)
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|entry| u64::from(u16::from_be_bytes([entry[0] & 0x3f, entry[1]])))
        .collect();
    let listing = tool_output(
        "iscsi-ls",
        &["-s", &format!("iscsi://127.0.0.1:{}", tgtd.port)],
    );
    let theirs: Vec<u64> = listing
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Lun:"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours, vec![0, 1, 2]);
}

/// What a write load saw: acknowledged writes (LBA, seed) and failures by kind.
#[derive(Debug, Default)]
struct LoadReport {
    acknowledged: Vec<(u64, u64)>,
    disrupted: usize,
    failfast: usize,
    other_failures: Vec<String>,
}

/// Writes 4 KiB to distinct LBAs, four at a time, until `stop` is set or `limit` writes.
async fn write_load(
    client: IscsiClient,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    limit: u64,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut next = 0u64;
    while next < limit && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let mut batch = Vec::new();
        for _ in 0..4 {
            let seed = 10_000 + next;
            let direction = DataDirection::Write {
                data: Bytes::from(pattern(seed, 4096)),
            };
            let lba = next * 8;
            let command = client
                .submit(request(&client, cdb::write_16(lba, 8), direction))
                .await;
            batch.push((lba, seed, command));
            next += 1;
        }
        for (lba, seed, command) in batch {
            let result = match command {
                Ok(pending) => pending.wait().await,
                Err(error) => Err(error),
            };
            match result {
                Ok(outcome) if outcome.status == 0 => report.acknowledged.push((lba, seed)),
                // A unit attention after a target restart: the write was not done.
                Ok(outcome) => report
                    .other_failures
                    .push(format!("status {}", outcome.status)),
                Err(CommandError::TransportDisrupted) => report.disrupted += 1,
                Err(CommandError::TransportFailfast) => report.failfast += 1,
                Err(error) => report.other_failures.push(error.to_string()),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    report
}

async fn verify_acknowledged(client: &IscsiClient, report: &LoadReport) {
    for (lba, seed) in &report.acknowledged {
        let read = read_blocks(client, *lba, 4096).await;
        assert_eq!(read.status, 0);
        assert!(
            read.data == pattern(*seed, 4096),
            "acknowledged write at LBA {lba} lost"
        );
    }
}

fn fault_config(replacement_timeout_ms: u64) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.session.ping.interval = Some(std::time::Duration::from_millis(500));
    config.session.ping.timeout = std::time::Duration::from_millis(500);
    config.login_timeout = std::time::Duration::from_millis(500);
    config.recovery.replacement_timeout = std::time::Duration::from_millis(replacement_timeout_ms);
    config.recovery.initial_backoff = std::time::Duration::from_millis(50);
    config.recovery.max_backoff = std::time::Duration::from_millis(200);
    config
}

struct Load {
    client: IscsiClient,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<LoadReport>,
}

async fn start_load(tgtd: &Tgtd, config: ClientConfig) -> Load {
    let client = connect_with(&tgtd.url(1), config).await;
    clear_unit_attention(&client).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = tokio::spawn(write_load(client.clone(), stop.clone(), 2000));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Load { client, stop, task }
}

async fn finish_load(load: Load) -> (IscsiClient, LoadReport) {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    load.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let report = load.task.await.unwrap_or_else(|e| panic!("load task: {e}"));
    (load.client, report)
}

#[tokio::test(flavor = "current_thread")]
async fn paused_target_within_replacement_timeout_resumes_io() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let load = start_load(&tgtd, fault_config(30_000)).await;
    tgtd.pause();
    // Long enough for the ping timeout (≤ 1 s) to declare the connection dead.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    tgtd.resume();
    let (client, report) = finish_load(load).await;
    assert!(
        report.disrupted >= 1,
        "outstanding commands end DISRUPTED: {report:?}"
    );
    assert_eq!(report.failfast, 0, "{report:?}");
    assert!(
        report.other_failures.iter().all(|f| f == "status 2"),
        "{report:?}"
    );
    // I/O resumed after the pause: writes were acknowledged after the failures.
    assert!(report.acknowledged.len() > 8, "{report:?}");
    clear_unit_attention(&client).await;
    verify_acknowledged(&client, &report).await;
}

#[tokio::test(flavor = "current_thread")]
async fn paused_target_beyond_replacement_timeout_fails_fast_then_reconnects() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let load = start_load(&tgtd, fault_config(1500)).await;
    tgtd.pause();
    tokio::time::sleep(std::time::Duration::from_millis(4000)).await;
    let (client, report) = finish_load(load).await;
    assert!(report.disrupted >= 1, "{report:?}");
    assert!(
        report.failfast >= 1,
        "commands fail fast after the replacement timeout: {report:?}"
    );
    tgtd.resume();
    // Host reset: an explicit re-login brings the session back.
    assert_eq!(client.reconnect().await, Ok(()));
    clear_unit_attention(&client).await;
    verify_acknowledged(&client, &report).await;
}

#[tokio::test(flavor = "current_thread")]
async fn killed_and_restarted_target_keeps_every_acknowledged_write() {
    let mut tgtd = Tgtd::start(TgtdOptions::default()).await;
    let load = start_load(&tgtd, fault_config(30_000)).await;
    tgtd.kill_and_restart().await;
    let (client, report) = finish_load(load).await;
    assert_eq!(report.failfast, 0, "{report:?}");
    assert!(report.acknowledged.len() > 8, "{report:?}");
    clear_unit_attention(&client).await;
    verify_acknowledged(&client, &report).await;
}
