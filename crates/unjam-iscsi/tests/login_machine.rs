//! The login state machine against a scripted target, without sockets.

use bytes::Bytes;
use unjam_iscsi::chap::{self, ChapCredentials};
use unjam_iscsi::login::*;
use unjam_iscsi::params::OperationalProposal;
use unjam_iscsi::pdu::{LoginRequest, LoginResponse, LoginStage, TargetSequence};
use unjam_iscsi::text::TextPairs;

fn config(authentication: Authentication) -> LoginConfig {
    LoginConfig {
        initiator_name: "iqn.2024-11.dev.unjam:test-initiator".into(),
        session_type: SessionType::Normal {
            target_name: "iqn.2024-11.dev.unjam:disk".into(),
        },
        authentication,
        isid: [0x80, 1, 2, 3, 4, 5],
        tsih: 0,
        cid: 0,
        initiator_task_tag: 7,
        initial_cmd_sn: 100,
        proposal: OperationalProposal::default(),
    }
}

fn keys(request: &LoginRequest) -> TextPairs {
    TextPairs::parse(&request.data).unwrap_or_else(|e| panic!("{e}"))
}

fn respond(
    request: &LoginRequest,
    transit: bool,
    next: LoginStage,
    pairs: &[(&str, &str)],
    stat_sn: u32,
) -> LoginResponse {
    let mut text = TextPairs::new();
    for (key, value) in pairs {
        text.push(key, *value);
    }
    LoginResponse {
        transit,
        cont: false,
        current_stage: request.current_stage,
        next_stage: next,
        version_max: 0,
        version_active: 0,
        isid: request.isid,
        tsih: if next == LoginStage::FullFeature {
            9
        } else {
            0
        },
        initiator_task_tag: request.initiator_task_tag,
        sequence: TargetSequence {
            stat_sn,
            exp_cmd_sn: 100,
            max_cmd_sn: 131,
        },
        status_class: 0,
        status_detail: 0,
        data: Bytes::from(text.encode()),
    }
}

fn next(login: &mut Login) -> LoginRequest {
    login
        .poll_request()
        .unwrap_or_else(|| panic!("no request queued"))
}

fn progress(login: &mut Login, response: &LoginResponse) -> LoginProgress {
    login
        .handle_response(response)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn login_without_authentication_negotiates_and_completes() {
    let mut login = Login::new(config(Authentication::None));
    let first = next(&mut login);
    assert!(first.transit);
    assert_eq!(first.current_stage, LoginStage::SecurityNegotiation);
    assert_eq!(first.next_stage, LoginStage::OperationalNegotiation);
    assert_eq!(keys(&first).get("AuthMethod"), Some("None"));
    assert_eq!(
        keys(&first).get("TargetName"),
        Some("iqn.2024-11.dev.unjam:disk")
    );
    let response = respond(
        &first,
        true,
        LoginStage::OperationalNegotiation,
        &[("AuthMethod", "None")],
        5,
    );
    assert_eq!(progress(&mut login, &response), LoginProgress::Continue);

    let second = next(&mut login);
    assert_eq!(second.current_stage, LoginStage::OperationalNegotiation);
    assert_eq!(second.next_stage, LoginStage::FullFeature);
    assert_eq!(second.exp_stat_sn, 6, "acknowledges StatSN 5");
    assert_eq!(second.cmd_sn, 100, "login does not advance CmdSN");
    assert_eq!(keys(&second).get("ErrorRecoveryLevel"), Some("0"));
    let answer = respond(
        &second,
        true,
        LoginStage::FullFeature,
        &[
            ("MaxBurstLength", "65536"),
            ("FirstBurstLength", "16384"),
            ("InitialR2T", "Yes"),
            ("MaxRecvDataSegmentLength", "8192"),
        ],
        6,
    );
    let LoginProgress::Complete(outcome) = progress(&mut login, &answer) else {
        panic!("login should be complete");
    };
    assert_eq!(outcome.tsih, 9);
    assert_eq!(outcome.next_stat_sn, 7);
    assert_eq!(
        (outcome.cmd_sn, outcome.exp_cmd_sn, outcome.max_cmd_sn),
        (100, 100, 131)
    );
    assert_eq!(outcome.params.max_burst_length, 65_536);
    assert_eq!(outcome.params.first_burst_length, 16_384);
    assert!(outcome.params.initial_r2t);
    assert_eq!(outcome.params.max_send_data_segment_length, 8192);
}

#[test]
fn mutual_chap_computes_and_verifies_responses() {
    let initiator = ChapCredentials {
        user: "alice".into(),
        secret: b"alice-secret-1".to_vec(),
    };
    let target = ChapCredentials {
        user: "tgt".into(),
        secret: b"target-secret-1".to_vec(),
    };
    let mut login = Login::new(config(Authentication::Chap {
        initiator: initiator.clone(),
        target: Some(target.clone()),
    }));
    let first = next(&mut login);
    assert!(!first.transit);
    assert_eq!(keys(&first).get("AuthMethod"), Some("CHAP"));
    let response = respond(
        &first,
        false,
        LoginStage::SecurityNegotiation,
        &[("AuthMethod", "CHAP")],
        1,
    );
    assert_eq!(progress(&mut login, &response), LoginProgress::Continue);

    let algorithm = next(&mut login);
    assert_eq!(keys(&algorithm).get("CHAP_A"), Some("5"));
    let challenge = [9u8, 8, 7, 6, 5, 4, 3, 2];
    let response = respond(
        &algorithm,
        false,
        LoginStage::SecurityNegotiation,
        &[
            ("CHAP_A", "5"),
            ("CHAP_I", "42"),
            ("CHAP_C", &chap::encode_binary(&challenge)),
        ],
        2,
    );
    assert_eq!(progress(&mut login, &response), LoginProgress::Continue);

    let answer = next(&mut login);
    let pairs = keys(&answer);
    assert_eq!(pairs.get("CHAP_N"), Some("alice"));
    let expected = chap::encode_binary(&chap::response(42, &initiator.secret, &challenge));
    assert_eq!(pairs.get("CHAP_R"), Some(expected.as_str()));
    let our_id = chap::parse_identifier(pairs.get("CHAP_I").unwrap_or("x"))
        .unwrap_or_else(|e| panic!("{e}"));
    let our_challenge = chap::decode_binary(pairs.get("CHAP_C").unwrap_or("")).unwrap_or_default();
    assert_eq!(our_challenge.len(), chap::CHALLENGE_LENGTH);

    // A target that does not know its secret is refused.
    let wrong = chap::encode_binary(&chap::response(our_id, b"guess", &our_challenge));
    let bad = respond(
        &answer,
        true,
        LoginStage::OperationalNegotiation,
        &[("CHAP_N", "tgt"), ("CHAP_R", &wrong)],
        3,
    );
    assert!(matches!(
        login.handle_response(&bad),
        Err(LoginError::Chap(chap::ChapError::WrongTargetResponse))
    ));
}

#[test]
fn refused_login_names_the_reason() {
    let mut login = Login::new(config(Authentication::None));
    let first = next(&mut login);
    let mut response = respond(&first, false, LoginStage::SecurityNegotiation, &[], 0);
    response.status_class = 2;
    response.status_detail = 1;
    let error = login
        .handle_response(&response)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("authentication failure"), "{error}");
}

#[test]
fn continuation_is_requested_and_text_reassembled() {
    let mut login = Login::new(config(Authentication::None));
    let first = next(&mut login);
    let mut part = respond(&first, false, LoginStage::SecurityNegotiation, &[], 0);
    part.cont = true;
    part.data = Bytes::from_static(b"AuthMeth");
    assert_eq!(progress(&mut login, &part), LoginProgress::Continue);
    let empty = next(&mut login);
    assert!(empty.data.is_empty() && !empty.transit);
    let mut rest = respond(&empty, true, LoginStage::OperationalNegotiation, &[], 1);
    rest.data = Bytes::from_static(b"od=None\0");
    assert_eq!(progress(&mut login, &rest), LoginProgress::Continue);
    assert_eq!(
        next(&mut login).current_stage,
        LoginStage::OperationalNegotiation
    );
}

#[test]
fn a_target_that_never_finishes_is_abandoned() {
    let mut login = Login::new(config(Authentication::None));
    let mut result = Ok(LoginProgress::Continue);
    for stat_sn in 0..(MAX_LOGIN_EXCHANGES as u32 + 2) {
        let request = next(&mut login);
        let response = respond(&request, false, request.current_stage, &[], stat_sn);
        result = login.handle_response(&response);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(LoginError::TooManyExchanges(MAX_LOGIN_EXCHANGES))
    );
}
