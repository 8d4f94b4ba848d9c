//! Every kind of wire fault, added through the control socket or scheduled in the scenario,
//! as unjam's iSCSI client sees it: dropped, duplicated and digest-corrupted responses,
//! connection resets, Reject PDUs, delayed PDUs, a stalled CmdSN window, unanswered
//! NOP-Outs, refused logins of each status class, target-requested logouts, portals going
//! down and up on the scenario's timeline, and a transport down.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use support::{Running, ONE_LUN};
use unjam_iscsi::client::{ClientConfig, ClientError, CommandError, IscsiClient};
use unjam_iscsi::login::LoginError;
use unjam_iscsi::params::OperationalProposal;
use unjam_iscsi::pdu::TaskAttribute;
use unjam_iscsi::session::{DataDirection, ScsiOutcome, TaskRequest};
use unjam_iscsi::url::IscsiUrl;

fn quick() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.session.ping.interval = Some(Duration::from_millis(200));
    config.session.ping.timeout = Duration::from_millis(300);
    config.login_timeout = Duration::from_millis(800);
    config.recovery.initial_backoff = Duration::from_millis(50);
    config.recovery.max_backoff = Duration::from_millis(200);
    config
}

async fn connect(target: &Running, config: ClientConfig) -> Result<IscsiClient, ClientError> {
    let url = IscsiUrl::parse(target.url(0)).unwrap_or_else(|e| panic!("{e}"));
    IscsiClient::connect(&url, config).await
}

async fn client(target: &Running, config: ClientConfig) -> IscsiClient {
    connect(target, config)
        .await
        .unwrap_or_else(|e| panic!("login: {e}"))
}

fn request(client: &IscsiClient, opcode: u8, lba: u64, data: Option<Bytes>) -> TaskRequest {
    let mut cdb = [0u8; 16];
    cdb[0] = opcode;
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    cdb[13] = 8;
    TaskRequest {
        lun: client.lun(),
        cdb: Bytes::copy_from_slice(&cdb),
        direction: match data {
            Some(data) => DataDirection::Write { data },
            None => DataDirection::Read { length: 4096 },
        },
        attribute: TaskAttribute::Simple,
    }
}

async fn read(client: &IscsiClient, lba: u64) -> Result<ScsiOutcome, CommandError> {
    client.execute(request(client, 0x88, lba, None)).await
}

async fn write(client: &IscsiClient, lba: u64, fill: u8) -> Result<ScsiOutcome, CommandError> {
    let data = Some(Bytes::from(vec![fill; 4096]));
    client.execute(request(client, 0x8a, lba, data)).await
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_response_leaves_the_command_executed_and_unanswered() {
    let target = Running::start(ONE_LUN);
    let client = client(&target, ClientConfig::default()).await;
    target.fault("kind=drop_response commands=writes times=1");
    let data = Some(Bytes::from(vec![0x5a; 4096]));
    let pending = client
        .submit(request(&client, 0x8a, 8, data))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = pending.id;
    let waited = tokio::time::timeout(Duration::from_millis(500), pending.wait()).await;
    assert!(waited.is_err(), "the answer was dropped, yet it came");
    let outcome = read(&client, 8).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.data == vec![0x5a; 4096], "the write ran");
    let answer = client.abort(id).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(answer <= 1, "ABORT TASK answered {answer}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_duplicated_response_does_not_confuse_the_session() {
    let target = Running::start(ONE_LUN);
    let client = client(&target, ClientConfig::default()).await;
    assert!(write(&client, 0, 7).await.is_ok());
    target.fault("kind=duplicate_response commands=reads times=1");
    for _ in 0..3 {
        let outcome = read(&client, 0).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(outcome.data == vec![7; 4096]);
    }
    assert_eq!(target.stats()["logins"], 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_corrupt_header_digest_costs_the_connection() {
    let target = Running::start(ONE_LUN);
    let config = ClientConfig {
        proposal: OperationalProposal {
            header_digest: true,
            ..OperationalProposal::default()
        },
        ..quick()
    };
    let client = client(&target, config).await;
    target.fault("kind=corrupt_digest commands=reads times=1");
    let result = read(&client, 0).await;
    assert_eq!(result.err(), Some(CommandError::TransportDisrupted));
    assert!(read(&client, 0).await.is_ok(), "the session comes back");
    assert_eq!(target.stats()["logins"], 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_reset_connection_drops_the_command_unrun() {
    let target = Running::start(ONE_LUN);
    let client = client(&target, quick()).await;
    target.fault("kind=reset_connection commands=writes times=1");
    assert_eq!(
        write(&client, 16, 9).await.err(),
        Some(CommandError::TransportDisrupted)
    );
    let outcome = read(&client, 16).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.data == vec![0; 4096], "the write never ran");
}

#[tokio::test(flavor = "current_thread")]
async fn a_reject_pdu_ends_the_command() {
    let target = Running::start(ONE_LUN);
    let client = client(&target, ClientConfig::default()).await;
    target.fault("kind=reject_pdu reject_reason=9 times=1");
    assert_eq!(
        read(&client, 0).await.err(),
        Some(CommandError::Rejected(9))
    );
    assert!(read(&client, 0).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn delayed_pdus_slow_every_answer_in_the_window() {
    let target = Running::start(ONE_LUN);
    let client = client(&target, ClientConfig::default()).await;
    target.fault("kind=delay_pdu delay_ms=300 duration_ms=1000");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    assert!(read(&client, 0).await.is_ok());
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let started = Instant::now();
    assert!(read(&client, 0).await.is_ok());
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_stalled_cmdsn_window_holds_commands_until_it_reopens() {
    let target = Running::start(&format!("{ONE_LUN}\n[iscsi]\ncommand_window = 4\n"));
    let client = client(&target, ClientConfig::default()).await;
    assert!(read(&client, 0).await.is_ok());
    target.fault("kind=stall_cmdsn duration_ms=800");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let reads: Vec<_> = (0..12u64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { read(&client, i * 8).await })
        })
        .collect();
    for handle in reads {
        let result = handle.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(result.is_ok(), "{result:?}");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "commands past the window waited: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn unanswered_nop_outs_make_the_initiator_log_in_again() {
    let target = Running::start(ONE_LUN);
    let client = client(&target, quick()).await;
    target.fault("kind=ignore_nop duration_ms=700");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(read(&client, 0).await.is_ok());
    assert!(target.stats()["logins"] >= 2, "{:?}", target.stats());
}

#[tokio::test(flavor = "current_thread")]
async fn logins_are_refused_with_each_status_class() {
    let target = Running::start(&format!(
        "{ONE_LUN}\n[[portal]]\naddress = \"127.0.0.1:0\"\n[[portal]]\naddress = \"127.0.0.1:0\"\n"
    ));
    target.fault("kind=reject_login status_class=1 status_detail=1 times=1");
    match connect(&target, ClientConfig::default()).await {
        Err(ClientError::Login(LoginError::Redirected { address })) => {
            assert_eq!(address, Some(format!("{},1", target.portals[1])));
        }
        other => panic!("expected a redirection, got {other:?}"),
    }
    for (class, detail) in [(2, 2), (3, 1)] {
        target.fault(&format!(
            "kind=reject_login status_class={class} status_detail={detail} times=1"
        ));
        match connect(&target, ClientConfig::default()).await {
            Err(ClientError::Login(LoginError::Refused {
                class: c,
                detail: d,
            })) => {
                assert_eq!((c, d), (class, detail));
            }
            other => panic!("expected {class}/{detail}, got {other:?}"),
        }
    }
    assert!(connect(&target, ClientConfig::default()).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn a_target_requested_logout_is_honoured() {
    let target = Running::start(ONE_LUN);
    let client = client(&target, quick()).await;
    target.fault("kind=logout_request within_s=0");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(read(&client, 0).await.is_ok());
    assert!(target.stats()["logins"] >= 2, "{:?}", target.stats());
}

#[tokio::test(flavor = "current_thread")]
async fn the_scenario_timeline_takes_a_portal_down_and_up() {
    let target = Running::start(&format!(
        "{ONE_LUN}\n[[fault]]\nkind = \"portal_down\"\nfrom_ms = 400\nduration_ms = 500\n"
    ));
    assert!(connect(&target, ClientConfig::default()).await.is_ok());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(target.control("status")[0].ends_with("/down"));
    match connect(&target, ClientConfig::default()).await {
        Err(ClientError::Connect { .. }) => {}
        other => panic!("the portal is down, yet: {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(connect(&target, ClientConfig::default()).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn a_transport_down_refuses_logins_in_its_window() {
    let target = Running::start(ONE_LUN);
    target.fault("kind=transport_down device=0:*:*:* from_ms=0 duration_ms=600");
    match connect(&target, ClientConfig::default()).await {
        Err(ClientError::Login(LoginError::Refused {
            class: 3,
            detail: 1,
        })) => {}
        other => panic!("expected 3/01, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(connect(&target, ClientConfig::default()).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn a_blackhole_silences_one_portal_without_a_reset_until_it_is_cleared() {
    let target = Running::start(&format!(
        "{ONE_LUN}\n[[portal]]\naddress = \"127.0.0.1:0\"\n[[portal]]\naddress = \"127.0.0.1:0\"\n"
    ));
    let url = |portal: usize| {
        let address = &target.portals[portal];
        let url = target
            .urls
            .iter()
            .find(|url| url.contains(address.as_str()))
            .unwrap_or_else(|| panic!("no URL through {address}: {:?}", target.urls));
        IscsiUrl::parse(url).unwrap_or_else(|e| panic!("{e}"))
    };
    let silenced = IscsiClient::connect(&url(0), ClientConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let other = IscsiClient::connect(&url(1), ClientConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    target.fault("kind=blackhole portal=0");
    let status = target.control("status");
    assert!(status[0].contains("/silent,"), "{status:?}");
    assert!(
        status[0].ends_with("/up"),
        "portal 1 is untouched: {status:?}"
    );

    let data = Some(Bytes::from(vec![0x6b; 4096]));
    let pending = silenced
        .submit(request(&silenced, 0x8a, 16, data))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = Box::pin(pending.wait());
    let waited = tokio::time::timeout(Duration::from_millis(400), &mut answer).await;
    assert!(waited.is_err(), "the portal is silent, yet an answer came");
    assert!(
        write(&other, 24, 0x6c).await.is_ok(),
        "the other portal answers"
    );
    let short = ClientConfig {
        login_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    match IscsiClient::connect(&url(0), short).await {
        Err(ClientError::LoginTimeout { .. } | ClientError::Timeout(_)) => {}
        other => panic!("a login through the silent portal: {other:?}"),
    }
    assert_eq!(target.stats()["logins"], 2, "no login was answered");

    // Cleared: what waited flows again on the same connection, nothing was reset.
    assert!(target
        .control("fault clear all")
        .last()
        .is_some_and(|l| l == "ok 1"));
    let answered = answer.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answered.status, 0, "{answered:?}");
    let outcome = read(&silenced, 16).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.data == vec![0x6b; 4096], "the held write ran");
    assert_eq!(target.stats()["logins"], 2, "the connection survived");
}
