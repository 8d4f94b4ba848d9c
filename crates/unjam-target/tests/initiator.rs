//! unjam's own iSCSI initiator against the target: logins (none, CHAP, mutual CHAP, refused),
//! SendTargets over several portals, write-then-read across sizes and digests, and ALUA
//! states with their sense and unit attention.

mod support;

use bytes::Bytes;
use support::{Running, ONE_LUN};
use unjam_iscsi::chap::ChapCredentials;
use unjam_iscsi::client::{discover, ClientConfig, ClientError, IscsiClient};
use unjam_iscsi::login::LoginError;
use unjam_iscsi::params::OperationalProposal;
use unjam_iscsi::pdu::TaskAttribute;
use unjam_iscsi::session::{DataDirection, ScsiOutcome, TaskRequest};
use unjam_iscsi::url::{IscsiUrl, PortalUrl};

async fn connect(url: &str, config: ClientConfig) -> Result<IscsiClient, ClientError> {
    let url = IscsiUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    IscsiClient::connect(&url, config).await
}

async fn run(client: &IscsiClient, cdb: &[u8], direction: DataDirection) -> ScsiOutcome {
    let request = TaskRequest {
        lun: client.lun(),
        cdb: Bytes::copy_from_slice(cdb),
        direction,
        attribute: TaskAttribute::Simple,
    };
    client
        .execute(request)
        .await
        .unwrap_or_else(|e| panic!("command: {e}"))
}

fn rw16(opcode: u8, lba: u64, blocks: u32) -> [u8; 16] {
    let mut cdb = [0u8; 16];
    cdb[0] = opcode;
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    cdb
}

fn pattern(seed: u8, length: usize) -> Vec<u8> {
    (0..length).map(|i| (i % 253) as u8 ^ seed).collect()
}

fn sense(outcome: &ScsiOutcome) -> (u8, u8, u8) {
    let s = &outcome.sense;
    (s[2] & 0x0f, s[12], s[13])
}

const CHAP: &str = r#"
[iscsi]
chap = { user = "alice", secret = "alice-secret" }
mutual_chap = { user = "tgt", secret = "target-secret" }
"#;

#[tokio::test(flavor = "current_thread")]
async fn chap_and_mutual_chap_log_in_and_wrong_secrets_are_refused() {
    let target = Running::start(&format!("{ONE_LUN}{CHAP}"));
    let url = target
        .url(0)
        .replace("iscsi://", "iscsi://alice%alice-secret@");
    assert!(connect(&url, ClientConfig::default()).await.is_ok());
    let mutual = ClientConfig {
        target_chap: Some(ChapCredentials {
            user: "tgt".into(),
            secret: b"target-secret".to_vec(),
        }),
        ..ClientConfig::default()
    };
    assert!(connect(&url, mutual).await.is_ok());
    let wrong = target.url(0).replace("iscsi://", "iscsi://alice%guess@");
    match connect(&wrong, ClientConfig::default()).await {
        Err(ClientError::Login(LoginError::Refused {
            class: 2,
            detail: 1,
        })) => {}
        other => panic!("expected 2/01, got {other:?}"),
    }
    match connect(target.url(0), ClientConfig::default()).await {
        Err(ClientError::Login(_)) => {}
        other => panic!("no credentials must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn writes_read_back_across_sizes_with_and_without_digests() {
    let target = Running::start(ONE_LUN);
    let proposals = [
        OperationalProposal::default(),
        OperationalProposal {
            header_digest: true,
            data_digest: true,
            immediate_data: false,
            initial_r2t: true,
            max_burst_length: 65_536,
            first_burst_length: 16_384,
            ..OperationalProposal::default()
        },
    ];
    for (round, proposal) in proposals.into_iter().enumerate() {
        let config = ClientConfig {
            proposal,
            ..ClientConfig::default()
        };
        let client = connect(target.url(0), config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (index, blocks) in [1u32, 8, 65, 512, 2048].into_iter().enumerate() {
            let seed = (round * 16 + index) as u8;
            let data = pattern(seed, blocks as usize * 512);
            let lba = u64::from(index as u32) * 4096;
            let write = DataDirection::Write {
                data: Bytes::from(data.clone()),
            };
            assert_eq!(
                run(&client, &rw16(0x8a, lba, blocks), write).await.status,
                0
            );
            let read = DataDirection::Read {
                length: blocks * 512,
            };
            let outcome = run(&client, &rw16(0x88, lba, blocks), read).await;
            assert_eq!(outcome.status, 0);
            assert!(outcome.data == data, "{blocks} blocks, round {round}");
        }
    }
}

const TWO_PORTALS: &str = r#"
[target]
tmf_latency_us = 0
[[host]]
luns = 1
capacity_mib = 16
latency = { model = "fixed", us = 0 }
[[host]]
luns = 1
capacity_mib = 16
mirror_of = 0
[[portal]]
address = "127.0.0.1:0"
group = 1
[[portal]]
address = "127.0.0.1:0"
group = 2
host = 1
[[port_group]]
id = 1
state = "active_optimized"
preferred = true
[[port_group]]
id = 2
state = "standby"
"#;

#[tokio::test(flavor = "current_thread")]
async fn send_targets_lists_every_portal_with_its_group() {
    let target = Running::start(TWO_PORTALS);
    let portal = PortalUrl::parse(&format!("iscsi://{}", target.portals[1]))
        .unwrap_or_else(|e| panic!("{e}"));
    let found = discover(&portal, &ClientConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "iqn.2024-11.dev.unjam:target");
    assert_eq!(
        found[0].addresses,
        [
            format!("{},1", target.portals[0]),
            format!("{},2", target.portals[1])
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn alua_states_gate_io_and_a_change_raises_2a_06() {
    let target = Running::start(TWO_PORTALS);
    assert_eq!(target.urls.len(), 2);
    let active = connect(target.url(0), ClientConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let standby = connect(target.url(1), ClientConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let data = pattern(9, 4096);
    let write = DataDirection::Write {
        data: Bytes::from(data.clone()),
    };
    assert_eq!(run(&active, &rw16(0x8a, 0, 8), write).await.status, 0);
    let read = || DataDirection::Read { length: 4096 };
    let refused = run(&standby, &rw16(0x88, 0, 8), read()).await;
    assert_eq!((refused.status, sense(&refused)), (2, (0x02, 0x04, 0x0b)));
    let vpd = [0x12, 1, 0x83, 0, 255, 0];
    let one = run(&active, &vpd, DataDirection::Read { length: 255 }).await;
    let two = run(&standby, &vpd, DataDirection::Read { length: 255 }).await;
    assert_eq!(
        one.data[4..16],
        two.data[4..16],
        "one NAA identity on both paths"
    );
    assert_ne!(one.data, two.data, "relative ports differ");
    let rtpg = [0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    let groups = run(&active, &rtpg, DataDirection::Read { length: 256 }).await;
    assert_eq!((groups.data[4], groups.data[16]), (0x80, 0x02));
    let answer = target.control("fault add kind=alua_state group=2 state=active_non_optimized");
    assert!(
        answer.last().is_some_and(|l| l.starts_with("ok ")),
        "{answer:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let attention = run(&standby, &rw16(0x88, 0, 8), read()).await;
    assert_eq!(sense(&attention), (0x06, 0x2a, 0x06));
    let now_active = run(&standby, &rw16(0x88, 0, 8), read()).await;
    assert_eq!(now_active.status, 0);
    assert!(
        now_active.data == data,
        "the second path reaches the same media"
    );
    for (state, ascq) in [("unavailable", 0x0c), ("transitioning", 0x0a)] {
        target.control("fault clear");
        target.control(&format!("fault add kind=alua_state group=2 state={state}"));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let _attention = run(&standby, &[0; 6], DataDirection::None).await;
        let refused = run(&standby, &rw16(0x88, 0, 8), read()).await;
        assert_eq!(sense(&refused), (0x02, 0x04, ascq), "{state}");
    }
}
