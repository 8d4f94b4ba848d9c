//! The target's login machine against the initiator's, without sockets: both sides of one
//! conversation, none, CHAP and mutual CHAP, and every refusal with its status class.

use unjam_iscsi::chap::ChapCredentials;
use unjam_iscsi::login::*;
use unjam_iscsi::params::OperationalProposal;
use unjam_iscsi::target::*;

const TARGET: &str = "iqn.2024-11.dev.unjam:target";

fn credentials(user: &str, secret: &str) -> ChapCredentials {
    ChapCredentials {
        user: user.into(),
        secret: secret.as_bytes().to_vec(),
    }
}

fn initiator(session_type: SessionType, authentication: Authentication) -> Login {
    Login::new(LoginConfig {
        initiator_name: "iqn.2024-11.dev.unjam:test".into(),
        session_type,
        authentication,
        isid: [0x80, 1, 2, 3, 4, 5],
        tsih: 0,
        cid: 0,
        initiator_task_tag: 3,
        initial_cmd_sn: 40,
        proposal: OperationalProposal {
            max_burst_length: 65_536,
            first_burst_length: 16_384,
            header_digest: true,
            ..OperationalProposal::default()
        },
    })
}

fn target(auth: AuthPolicy) -> TargetLogin {
    TargetLogin::new(TargetLoginConfig {
        targets: vec![TargetEntry {
            name: TARGET.into(),
            alias: None,
            auth,
        }],
        discovery_auth: AuthPolicy::None,
        portal_group_tag: 2,
        proposal: OperationalProposal {
            max_recv_data_segment_length: 65_536,
            max_burst_length: 1 << 20,
            first_burst_length: 65_536,
            max_outstanding_r2t: 4,
            header_digest: true,
            data_digest: true,
            initial_r2t: false,
            immediate_data: true,
        },
        initial_stat_sn: 1000,
        command_window: 64,
    })
}

/// Runs the conversation; `Ok` with both outcomes, or the refusal and the initiator's error.
fn converse(
    mut initiator: Login,
    mut target: TargetLogin,
) -> Result<(LoginOutcome, TargetLoginOutcome), (LoginRefusal, LoginError)> {
    let mut admitted = None;
    for _ in 0..MAX_LOGIN_EXCHANGES {
        let request = initiator
            .poll_request()
            .unwrap_or_else(|| panic!("initiator stalled"));
        let response = match target.handle_request(&request) {
            TargetLoginStep::Continue(response) => response,
            TargetLoginStep::Refuse(response, refusal) => {
                let error = initiator
                    .handle_response(&response)
                    .expect_err("a refusal must fail the initiator");
                return Err((refusal, error));
            }
            TargetLoginStep::Admit(outcome) => {
                admitted = Some(outcome);
                target.accept(0x1234)
            }
        };
        match initiator.handle_response(&response) {
            Ok(LoginProgress::Continue) => {}
            Ok(LoginProgress::Complete(outcome)) => {
                let admitted = admitted.unwrap_or_else(|| panic!("completed without admission"));
                return Ok((outcome, admitted));
            }
            Err(error) => panic!("initiator failed: {error}"),
        }
    }
    panic!("login did not finish");
}

fn normal() -> SessionType {
    SessionType::Normal {
        target_name: TARGET.into(),
    }
}

#[test]
fn login_without_authentication_negotiates_both_sides_alike() {
    let (initiator_side, target_side) = converse(
        initiator(normal(), Authentication::None),
        target(AuthPolicy::None),
    )
    .unwrap_or_else(|(refusal, _)| panic!("{refusal}"));
    assert_eq!(initiator_side.tsih, 0x1234);
    assert_eq!(initiator_side.target_portal_group_tag, Some(2));
    assert_eq!(target_side.exp_cmd_sn, 40);
    assert_eq!(initiator_side.next_stat_sn, target_side.next_stat_sn);
    assert_eq!(target_side.initiator_name, "iqn.2024-11.dev.unjam:test");
    let (ours, theirs) = (initiator_side.params, target_side.params);
    assert_eq!(ours.max_burst_length, 65_536);
    assert_eq!(theirs.max_burst_length, 65_536);
    assert_eq!(theirs.first_burst_length, 16_384);
    assert!(ours.header_digest && theirs.header_digest);
    assert!(!ours.data_digest && !theirs.data_digest);
    assert_eq!(ours.max_send_data_segment_length, 65_536);
    assert_eq!(theirs.max_send_data_segment_length, 262_144);
    assert!(!theirs.initial_r2t && theirs.immediate_data);
    assert_eq!(theirs.max_outstanding_r2t, 1);
}

#[test]
fn chap_and_mutual_chap_succeed_with_the_right_secrets() {
    let policy = AuthPolicy::Chap {
        initiator: credentials("alice", "alice-secret"),
        target: Some(credentials("tgt", "target-secret")),
    };
    let one_way = Authentication::Chap {
        initiator: credentials("alice", "alice-secret"),
        target: None,
    };
    assert!(converse(initiator(normal(), one_way), target(policy.clone())).is_ok());
    let mutual = Authentication::Chap {
        initiator: credentials("alice", "alice-secret"),
        target: Some(credentials("tgt", "target-secret")),
    };
    assert!(converse(initiator(normal(), mutual), target(policy)).is_ok());
}

#[test]
fn wrong_secrets_and_missing_authentication_are_refused_with_2_01() {
    let policy = AuthPolicy::Chap {
        initiator: credentials("alice", "alice-secret"),
        target: Some(credentials("tgt", "target-secret")),
    };
    let wrong = Authentication::Chap {
        initiator: credentials("alice", "guess"),
        target: None,
    };
    let (refusal, error) = converse(initiator(normal(), wrong), target(policy.clone()))
        .err()
        .unwrap_or_else(|| panic!("wrong secret accepted"));
    assert_eq!((refusal.class, refusal.detail), (2, 1));
    assert!(matches!(
        error,
        LoginError::Refused {
            class: 2,
            detail: 1
        }
    ));
    let none = converse(
        initiator(normal(), Authentication::None),
        target(policy.clone()),
    );
    assert!(none.is_err(), "no authentication accepted by a CHAP target");
    let wrong_target = Authentication::Chap {
        initiator: credentials("alice", "alice-secret"),
        target: Some(credentials("tgt", "other")),
    };
    let mut login = initiator(normal(), wrong_target);
    let mut machine = target(policy);
    let mut failed = false;
    for _ in 0..8 {
        let Some(request) = login.poll_request() else {
            break;
        };
        let response = match machine.handle_request(&request) {
            TargetLoginStep::Continue(response) => response,
            other => panic!("unexpected {other:?}"),
        };
        if login.handle_response(&response).is_err() {
            failed = true;
            break;
        }
    }
    assert!(
        failed,
        "the initiator must refuse a target that does not know its secret"
    );
}

#[test]
fn unknown_target_is_2_03_and_missing_names_are_2_07() {
    let unknown = SessionType::Normal {
        target_name: "iqn.nope".into(),
    };
    let (refusal, _) = converse(
        initiator(unknown, Authentication::None),
        target(AuthPolicy::None),
    )
    .err()
    .unwrap_or_else(|| panic!("unknown target accepted"));
    assert_eq!((refusal.class, refusal.detail), (2, 3));
    let mut machine = target(AuthPolicy::None);
    let mut request = initiator(normal(), Authentication::None)
        .poll_request()
        .unwrap_or_else(|| panic!("no request"));
    request.data = bytes::Bytes::from_static(b"SessionType=Normal\0");
    match machine.handle_request(&request) {
        TargetLoginStep::Refuse(response, refusal) => {
            assert_eq!((refusal.class, refusal.detail), (2, 7));
            assert_eq!((response.status_class, response.status_detail), (2, 7));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn discovery_sessions_log_in_without_a_target_name() {
    let (_, target_side) = converse(
        initiator(SessionType::Discovery, Authentication::None),
        target(AuthPolicy::None),
    )
    .unwrap_or_else(|(refusal, _)| panic!("{refusal}"));
    assert_eq!(target_side.session_type, SessionType::Discovery);
}

#[test]
fn a_fault_refuses_with_any_class_and_redirects_with_an_address() {
    let mut machine = target(AuthPolicy::None);
    let mut login = initiator(normal(), Authentication::None);
    let request = login.poll_request().unwrap_or_else(|| panic!("no request"));
    let response = machine.refuse(&request, 1, 1, Some("127.0.0.1:3261,1"));
    match login.handle_response(&response) {
        Err(LoginError::Redirected { address }) => {
            assert_eq!(address.as_deref(), Some("127.0.0.1:3261,1"))
        }
        other => panic!("expected a redirection, got {other:?}"),
    }
    let response = machine.refuse(&request, 3, 1, None);
    assert_eq!((response.status_class, response.status_detail), (3, 1));
}
