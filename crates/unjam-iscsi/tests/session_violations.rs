//! A misbehaving target against the sans-I/O session: every violation ends its task with a
//! typed error (never good data), mid-stream ones end the connection, queues stay bounded,
//! and strays are tolerated only up to the configured bound. Time is an argument.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use unjam_iscsi::login::LoginOutcome;
use unjam_iscsi::params::OperationalParams;
use unjam_iscsi::pdu::*;
use unjam_iscsi::session::*;

fn session_with(params: OperationalParams, config: SessionConfig) -> Session {
    let login = LoginOutcome {
        params,
        tsih: 1,
        next_stat_sn: 10,
        cmd_sn: 1,
        exp_cmd_sn: 1,
        max_cmd_sn: 64,
        target_alias: None,
        target_portal_group_tag: None,
    };
    Session::new(&login, config, Instant::now())
}

fn session() -> Session {
    session_with(OperationalParams::default(), SessionConfig::default())
}

fn sent(session: &mut Session) -> Vec<Pdu> {
    let mut bytes = Vec::new();
    while session.poll_transmit(&mut bytes).unwrap_or(false) {}
    let decoder = PduDecoder::new(1 << 24, session.digests());
    let mut buffer = BytesMut::from(&bytes[..]);
    std::iter::from_fn(|| decoder.decode(&mut buffer).ok().flatten()).collect()
}

fn events(session: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn submit(session: &mut Session, direction: DataDirection) -> u32 {
    let request = TaskRequest {
        lun: 0,
        cdb: Bytes::from_static(&[0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
        direction,
        attribute: TaskAttribute::Simple,
    };
    let id = session.submit(request);
    id.map(|id| id.0).unwrap_or_else(|error| panic!("{error}"))
}

fn read(session: &mut Session, length: u32) -> u32 {
    submit(session, DataDirection::Read { length })
}

fn write(session: &mut Session, length: usize) -> u32 {
    let data = Bytes::from(vec![0xa5; length]);
    submit(session, DataDirection::Write { data })
}

fn sequence() -> TargetSequence {
    TargetSequence {
        stat_sn: 10,
        exp_cmd_sn: 2,
        max_cmd_sn: 64,
    }
}

fn data_in(
    tag: u32,
    data_sn: u32,
    offset: u32,
    length: usize,
    status: Option<(u8, Residual)>,
) -> Pdu {
    Pdu::DataIn(DataIn {
        final_pdu: status.is_some(),
        acknowledge: false,
        status: status.map(|(status, residual)| DataInStatus {
            status,
            stat_sn: 10,
            residual,
        }),
        lun: 0,
        initiator_task_tag: tag,
        target_transfer_tag: RESERVED_TAG,
        exp_cmd_sn: 2,
        max_cmd_sn: 64,
        data_sn,
        buffer_offset: offset,
        data: Bytes::from(vec![0x11; length]),
    })
}

fn scsi_response(tag: u32, status: u8, residual: Residual) -> Pdu {
    Pdu::ScsiResponse(ScsiResponse {
        bidirectional_residual: Residual::None,
        residual,
        response: 0,
        status,
        initiator_task_tag: tag,
        snack_tag: 0,
        sequence: sequence(),
        exp_data_sn: 0,
        data: Bytes::new(),
    })
}

fn r2t(tag: u32, r2t_sn: u32, offset: u32, length: u32) -> Pdu {
    Pdu::ReadyToTransfer(ReadyToTransfer {
        lun: 0,
        initiator_task_tag: tag,
        target_transfer_tag: 0x100 + r2t_sn,
        sequence: sequence(),
        r2t_sn,
        buffer_offset: offset,
        desired_data_transfer_length: length,
    })
}

fn target_ping(ttt: u32, data: usize) -> Pdu {
    Pdu::NopIn(NopIn {
        lun: 0,
        initiator_task_tag: RESERVED_TAG,
        target_transfer_tag: ttt,
        sequence: sequence(),
        data: Bytes::from(vec![0u8; data]),
    })
}

fn protocol_failure(events: &[SessionEvent], tag: u32) -> Option<ProtocolViolation> {
    events.iter().find_map(|event| match event {
        SessionEvent::TaskDone {
            id,
            result: Err(TaskFailure::Protocol(violation)),
        } if id.0 == tag => Some(*violation),
        _ => None,
    })
}

fn good_outcome(events: &[SessionEvent], tag: u32) -> Option<ScsiOutcome> {
    events.iter().find_map(|event| match event {
        SessionEvent::TaskDone {
            id,
            result: Ok(outcome),
        } if id.0 == tag => Some(outcome.clone()),
        _ => None,
    })
}

#[test]
fn a_gap_in_data_in_fails_the_read_and_the_connection() {
    let now = Instant::now();
    let mut session = session();
    let tag = read(&mut session, 8192);
    let _ = sent(&mut session);
    assert_eq!(
        session.handle_pdu(now, data_in(tag, 0, 0, 4096, None)),
        Ok(())
    );
    let result = session.handle_pdu(now, data_in(tag, 1, 6144, 2048, Some((0, Residual::None))));
    assert!(
        matches!(result, Err(SessionError::Violation { .. })),
        "{result:?}"
    );
    let done = events(&mut session);
    assert_eq!(
        protocol_failure(&done, tag),
        Some(ProtocolViolation::DataGap {
            expected: 4096,
            offset: 6144
        })
    );
    assert_eq!(session.stats().violations, 1);
}

#[test]
fn an_overlap_fails_the_read() {
    let now = Instant::now();
    let mut session = session();
    let tag = read(&mut session, 8192);
    let _ = sent(&mut session);
    assert_eq!(
        session.handle_pdu(now, data_in(tag, 0, 0, 4096, None)),
        Ok(())
    );
    let result = session.handle_pdu(now, data_in(tag, 1, 2048, 6144, Some((0, Residual::None))));
    assert!(result.is_err());
    assert!(matches!(
        protocol_failure(&events(&mut session), tag),
        Some(ProtocolViolation::DataOverlap { .. })
    ));
}

#[test]
fn status_before_the_data_or_without_it_is_never_good_data() {
    let now = Instant::now();
    let mut session = session();
    // Status with no data at all.
    let none = read(&mut session, 4096);
    // Status after half the data.
    let half = read(&mut session, 4096);
    let _ = sent(&mut session);
    assert_eq!(
        session.handle_pdu(now, scsi_response(none, 0, Residual::None)),
        Ok(())
    );
    assert_eq!(
        session.handle_pdu(now, data_in(half, 0, 0, 2048, None)),
        Ok(())
    );
    assert_eq!(
        session.handle_pdu(now, scsi_response(half, 0, Residual::None)),
        Ok(())
    );
    let done = events(&mut session);
    assert!(matches!(
        protocol_failure(&done, none),
        Some(ProtocolViolation::ReadShort { received: 0, .. })
    ));
    assert!(matches!(
        protocol_failure(&done, half),
        Some(ProtocolViolation::ReadShort { received: 2048, .. })
    ));
    assert!(good_outcome(&done, none).is_none() && good_outcome(&done, half).is_none());
    // Status-time violations keep the connection: the target considers the tasks done. The
    // data that arrives after the status is a stray.
    assert_eq!(
        session.handle_pdu(now, data_in(half, 1, 2048, 2048, None)),
        Ok(())
    );
    assert_eq!(session.stats().stray_pdus, 1);
}

#[test]
fn lying_residuals_are_violations_and_honest_ones_pass() {
    let now = Instant::now();
    let mut session = session();
    let lie = read(&mut session, 4096);
    let honest = read(&mut session, 4096);
    let _ = sent(&mut session);
    // Underflow of 1024 claims 3072 bytes; only 2048 arrived.
    assert_eq!(
        session.handle_pdu(now, data_in(lie, 0, 0, 2048, None)),
        Ok(())
    );
    assert_eq!(
        session.handle_pdu(now, scsi_response(lie, 0, Residual::Underflow(1024))),
        Ok(())
    );
    let status = Some((0, Residual::Underflow(2048)));
    assert_eq!(
        session.handle_pdu(now, data_in(honest, 0, 0, 2048, status)),
        Ok(())
    );
    let done = events(&mut session);
    assert!(matches!(
        protocol_failure(&done, lie),
        Some(ProtocolViolation::ResidualMismatch { .. })
    ));
    let outcome = good_outcome(&done, honest).unwrap_or_else(|| panic!("{done:?}"));
    assert_eq!(
        (outcome.data.len(), outcome.residual),
        (2048, Residual::Underflow(2048))
    );
}

#[test]
fn check_condition_reports_only_the_bytes_that_arrived() {
    let now = Instant::now();
    let mut session = session();
    let tag = read(&mut session, 4096);
    let _ = sent(&mut session);
    assert_eq!(
        session.handle_pdu(now, data_in(tag, 0, 0, 1024, None)),
        Ok(())
    );
    assert_eq!(
        session.handle_pdu(now, scsi_response(tag, 2, Residual::None)),
        Ok(())
    );
    let outcome = good_outcome(&events(&mut session), tag).unwrap_or_else(|| panic!());
    assert_eq!(outcome.status, 2);
    assert_eq!(
        (outcome.data.len(), outcome.residual),
        (1024, Residual::Underflow(3072))
    );
}

#[test]
fn sense_status_on_a_data_in_is_refused() {
    let now = Instant::now();
    let mut session = session();
    let tag = read(&mut session, 512);
    let _ = sent(&mut session);
    let result = session.handle_pdu(now, data_in(tag, 0, 0, 512, Some((2, Residual::None))));
    assert_eq!(result, Ok(()));
    assert_eq!(
        protocol_failure(&events(&mut session), tag),
        Some(ProtocolViolation::StatusInDataIn { status: 2 })
    );
}

#[test]
fn good_before_the_write_data_was_sent_is_an_error() {
    let now = Instant::now();
    let params = OperationalParams {
        immediate_data: true,
        initial_r2t: true,
        max_send_data_segment_length: 8192,
        ..OperationalParams::default()
    };
    let mut session = session_with(params, SessionConfig::default());
    // GOOD with no R2T at all: only the immediate 8 KiB of 64 KiB went out.
    let early = write(&mut session, 65_536);
    let _ = sent(&mut session);
    assert_eq!(
        session.handle_pdu(now, scsi_response(early, 0, Residual::None)),
        Ok(())
    );
    assert_eq!(
        protocol_failure(&events(&mut session), early),
        Some(ProtocolViolation::WriteStatusBeforeData {
            status: 0,
            sent: 8192,
            claimed: 65_536,
            expected: 65_536
        })
    );
    // GOOD right after the R2T for the rest, before its Data-Out left.
    let half = write(&mut session, 16_384);
    let _ = sent(&mut session);
    assert_eq!(session.handle_pdu(now, r2t(half, 0, 8192, 8192)), Ok(()));
    assert_eq!(
        session.handle_pdu(now, scsi_response(half, 0, Residual::None)),
        Ok(())
    );
    assert!(matches!(
        protocol_failure(&events(&mut session), half),
        Some(ProtocolViolation::WriteStatusBeforeData { sent: 8192, .. })
    ));
    // The queued Data-Out of the failed write is never sent.
    let out = sent(&mut session);
    assert!(
        out.iter().all(|pdu| !matches!(pdu, Pdu::DataOut(_))),
        "{out:?}"
    );
    // Sent in full, GOOD is good.
    let full = write(&mut session, 16_384);
    let _ = sent(&mut session);
    assert_eq!(session.handle_pdu(now, r2t(full, 0, 8192, 8192)), Ok(()));
    assert_eq!(sent(&mut session).len(), 1);
    assert_eq!(
        session.handle_pdu(now, scsi_response(full, 0, Residual::None)),
        Ok(())
    );
    assert!(good_outcome(&events(&mut session), full).is_some());
}

/// An 8 KiB write sent and its first R2T (R2TSN 0, the whole range) taken.
fn write_with_first_r2t(session: &mut Session, now: Instant) -> u32 {
    let tag = write(session, 8192);
    let _ = sent(session);
    assert_eq!(session.handle_pdu(now, r2t(tag, 0, 0, 8192)), Ok(()));
    tag
}

/// The protocol violation `result` must be.
fn violation(result: Result<(), SessionError>) -> ProtocolViolation {
    match result {
        Err(SessionError::Violation { violation, .. }) => violation,
        other => panic!("expected a protocol violation, got {other:?}"),
    }
}

#[test]
fn endless_r2ts_cannot_queue_more_than_the_write() {
    let now = Instant::now();
    let params = OperationalParams {
        immediate_data: false,
        initial_r2t: true,
        max_outstanding_r2t: 1,
        ..OperationalParams::default()
    };
    let mut session = session_with(params, SessionConfig::default());
    // A second R2T before the first one's Data-Out went out: MaxOutstandingR2T is 1.
    let tag = write_with_first_r2t(&mut session, now);
    let result = session.handle_pdu(now, r2t(tag, 1, 0, 8192));
    assert!(matches!(
        violation(result),
        ProtocolViolation::TooManyR2ts { .. }
    ));
    // The same R2T again after its data went out: the range was already requested.
    let tag = write_with_first_r2t(&mut session, now);
    let _ = sent(&mut session);
    let repeated = session.handle_pdu(now, r2t(tag, 0, 0, 8192));
    assert!(matches!(
        violation(repeated),
        ProtocolViolation::R2tSnOutOfOrder { .. }
    ));
    let tag = write_with_first_r2t(&mut session, now);
    let _ = sent(&mut session);
    let again = session.handle_pdu(now, r2t(tag, 1, 0, 8192));
    assert!(matches!(
        violation(again),
        ProtocolViolation::R2tOutOfRange { .. }
    ));
    assert!(session.stats().outgoing_high_water <= 2);
}

#[test]
fn r2t_for_a_read_and_data_in_for_a_write_are_wrong_pdus() {
    let now = Instant::now();
    let mut session = session();
    let reading = read(&mut session, 512);
    let writing = write(&mut session, 65_536);
    let _ = sent(&mut session);
    let result = session.handle_pdu(now, r2t(reading, 0, 0, 512));
    assert!(matches!(result, Err(SessionError::Violation { .. })));
    let result = session.handle_pdu(now, data_in(writing, 0, 0, 512, None));
    assert!(matches!(result, Err(SessionError::Violation { .. })));
    let done = events(&mut session);
    assert_eq!(
        protocol_failure(&done, reading),
        Some(ProtocolViolation::WrongPduForTask {
            pdu: "R2T",
            task: "read"
        })
    );
    assert_eq!(
        protocol_failure(&done, writing),
        Some(ProtocolViolation::WrongPduForTask {
            pdu: "Data-In",
            task: "write"
        })
    );
}

#[test]
fn a_tmf_or_logout_response_with_a_scsi_tag_fails_that_task_instead_of_dropping_it() {
    let now = Instant::now();
    let mut session = session();
    let first = read(&mut session, 512);
    let second = read(&mut session, 512);
    let _ = sent(&mut session);
    let tmf = Pdu::TaskManagementResponse(TaskManagementResponse {
        response: 0,
        initiator_task_tag: first,
        sequence: sequence(),
    });
    assert!(session.handle_pdu(now, tmf).is_err());
    let logout = Pdu::LogoutResponse(LogoutResponse {
        response: 0,
        initiator_task_tag: second,
        sequence: sequence(),
        time_to_wait_s: 0,
        time_to_retain_s: 0,
    });
    assert!(session.handle_pdu(now, logout).is_err());
    let done = events(&mut session);
    assert_eq!(
        protocol_failure(&done, first),
        Some(ProtocolViolation::WrongPduForTask {
            pdu: "Task Management Response",
            task: "read"
        })
    );
    assert!(protocol_failure(&done, second).is_some());
    assert_eq!(
        session.task_count(),
        0,
        "no task is silently dropped or left behind"
    );
}

#[test]
fn unknown_tags_are_tolerated_up_to_the_bound() {
    let now = Instant::now();
    let config = SessionConfig {
        max_stray_pdus: 3,
        ..SessionConfig::default()
    };
    let mut session = session_with(OperationalParams::default(), config);
    for tag in 0..3 {
        assert_eq!(
            session.handle_pdu(now, scsi_response(0x5000 + tag, 0, Residual::None)),
            Ok(())
        );
    }
    assert_eq!(session.stats().stray_pdus, 3);
    assert_eq!(
        session.handle_pdu(now, data_in(0x6000, 0, 0, 512, None)),
        Err(SessionError::TooManyStrayPdus { limit: 3 })
    );
}

#[test]
fn answers_that_crossed_a_successful_abort_are_not_strays() {
    let now = Instant::now();
    let mut session = session();
    let tag = read(&mut session, 512);
    let _ = sent(&mut session);
    let tmf = session.task_management(TaskManagementFunction::AbortTask, 0, Some(TaskId(tag)));
    let tmf = tmf.unwrap_or_else(|error| panic!("{error}"));
    let _ = sent(&mut session);
    let answer = Pdu::TaskManagementResponse(TaskManagementResponse {
        response: 0,
        initiator_task_tag: tmf.0,
        sequence: sequence(),
    });
    assert_eq!(session.handle_pdu(now, answer), Ok(()));
    assert_eq!(
        session.handle_pdu(now, data_in(tag, 0, 0, 512, Some((0, Residual::None)))),
        Ok(())
    );
    assert_eq!(session.stats().stray_pdus, 0);
}

#[test]
fn a_nop_in_storm_leaves_the_send_queue_bounded() {
    let now = Instant::now();
    let mut session = session();
    for ttt in 0..10_000u32 {
        assert_eq!(session.handle_pdu(now, target_ping(ttt, 4096)), Ok(()));
    }
    let stats = session.stats();
    let limit = SessionConfig::default().max_queued_nop_replies;
    assert_eq!(stats.queued_nop_replies, limit);
    assert!(stats.outgoing_high_water <= limit, "{stats:?}");
    assert_eq!(stats.nop_replies_dropped, 10_000 - limit as u64);
    // Once the answers go out, new pings are answered again.
    assert_eq!(sent(&mut session).len(), limit);
    assert_eq!(session.handle_pdu(now, target_ping(1, 0)), Ok(()));
    assert_eq!(session.stats().queued_nop_replies, 1);
}

#[test]
fn task_management_functions_are_bounded() {
    let config = SessionConfig {
        max_management_tasks: 2,
        ..SessionConfig::default()
    };
    let mut session = session_with(OperationalParams::default(), config);
    let reset = TaskManagementFunction::LogicalUnitReset;
    assert!(session.task_management(reset, 0, None).is_ok());
    assert!(session.task_management(reset, 0, None).is_ok());
    assert_eq!(
        session.task_management(reset, 0, None),
        Err(SubmitError::ManagementQueueFull(2))
    );
    assert_eq!(session.stats().management, 2);
}

#[test]
fn an_ignored_logout_times_out_in_virtual_time() {
    let start = Instant::now();
    let config = SessionConfig {
        ping: PingConfig {
            interval: None,
            timeout: Duration::from_secs(5),
        },
        logout_timeout: Duration::from_secs(3),
        ..SessionConfig::default()
    };
    let mut session = session_with(OperationalParams::default(), config);
    let logout = session.logout(start);
    assert_eq!(
        session.logout(start),
        logout,
        "a second logout is the same one"
    );
    assert!(matches!(&sent(&mut session)[..], [Pdu::LogoutRequest(_)]));
    assert_eq!(session.poll_timeout(), Some(start + Duration::from_secs(3)));
    assert_eq!(
        session.handle_timeout(start + Duration::from_secs(2)),
        Ok(())
    );
    assert_eq!(
        session.handle_timeout(start + Duration::from_secs(3)),
        Err(SessionError::LogoutTimeout)
    );
}

#[test]
fn a_lun_reset_also_ends_that_luns_commands_waiting_for_the_window() {
    let now = Instant::now();
    let login = LoginOutcome {
        params: OperationalParams::default(),
        tsih: 1,
        next_stat_sn: 10,
        cmd_sn: 1,
        exp_cmd_sn: 1,
        max_cmd_sn: 0,
        target_alias: None,
        target_portal_group_tag: None,
    };
    let mut session = Session::new(&login, SessionConfig::default(), now);
    let waiting = read(&mut session, 512);
    let other_lun = session.submit(TaskRequest {
        lun: 1 << 48,
        cdb: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        direction: DataDirection::None,
        attribute: TaskAttribute::Simple,
    });
    let other_lun = other_lun
        .map(|id| id.0)
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(session.stats().waiting, 2);
    let reset = session.task_management(TaskManagementFunction::LogicalUnitReset, 0, None);
    let reset = reset.unwrap_or_else(|error| panic!("{error}"));
    let answer = Pdu::TaskManagementResponse(TaskManagementResponse {
        response: 0,
        initiator_task_tag: reset.0,
        sequence: TargetSequence {
            stat_sn: 10,
            exp_cmd_sn: 1,
            max_cmd_sn: 0,
        },
    });
    assert_eq!(session.handle_pdu(now, answer), Ok(()));
    let done = events(&mut session);
    assert!(done.contains(&SessionEvent::TaskDone {
        id: TaskId(waiting),
        result: Err(TaskFailure::Aborted)
    }));
    assert_eq!(session.stats().waiting, 1, "LUN 1's command still waits");
    assert!(!done
        .iter()
        .any(|event| matches!(event, SessionEvent::TaskDone { id, .. } if id.0 == other_lun)));
}
