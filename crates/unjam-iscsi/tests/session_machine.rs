//! The full-feature-phase session without sockets: bytes out are decoded and checked, PDUs in
//! are built by hand, time is an argument.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use unjam_iscsi::login::LoginOutcome;
use unjam_iscsi::params::OperationalParams;
use unjam_iscsi::pdu::*;
use unjam_iscsi::session::*;

fn login(cmd_sn: u32, max_cmd_sn: u32, params: OperationalParams) -> LoginOutcome {
    LoginOutcome {
        params,
        tsih: 1,
        next_stat_sn: 10,
        cmd_sn,
        exp_cmd_sn: cmd_sn,
        max_cmd_sn,
        target_alias: None,
        target_portal_group_tag: None,
    }
}

fn sent(session: &mut Session) -> Vec<Pdu> {
    let mut bytes = Vec::new();
    while session.poll_transmit(&mut bytes).unwrap_or(false) {}
    let decoder = PduDecoder::new(1 << 24, session.digests());
    let mut buffer = BytesMut::from(&bytes[..]);
    let mut pdus = Vec::new();
    while let Ok(Some(pdu)) = decoder.decode(&mut buffer) {
        pdus.push(pdu);
    }
    assert!(buffer.is_empty(), "trailing bytes");
    pdus
}

fn events(session: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn read_request(length: u32) -> TaskRequest {
    TaskRequest {
        lun: 0,
        cdb: Bytes::from_static(&[0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
        direction: DataDirection::Read { length },
        attribute: TaskAttribute::Simple,
    }
}

fn tur_request() -> TaskRequest {
    TaskRequest {
        lun: 0,
        cdb: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        direction: DataDirection::None,
        attribute: TaskAttribute::Simple,
    }
}

fn response(tag: u32, stat_sn: u32, max_cmd_sn: u32, status: u8) -> Pdu {
    Pdu::ScsiResponse(ScsiResponse {
        bidirectional_residual: Residual::None,
        residual: Residual::None,
        response: 0,
        status,
        initiator_task_tag: tag,
        snack_tag: 0,
        sequence: TargetSequence {
            stat_sn,
            exp_cmd_sn: 0,
            max_cmd_sn,
        },
        exp_data_sn: 0,
        data: Bytes::new(),
    })
}

#[test]
fn commands_wait_for_the_window_and_go_when_it_opens() {
    let now = Instant::now();
    let mut session = Session::new(
        &login(5, 5, OperationalParams::default()),
        SessionConfig::default(),
        now,
    );
    let ids: Vec<TaskId> = (0..3)
        .map(|_| session.submit(tur_request()))
        .map(|r| r.unwrap_or(TaskId(0)))
        .collect();
    let first = sent(&mut session);
    assert_eq!(first.len(), 1, "window of one command");
    assert_eq!(session.waiting_count(), 2);
    let Some(Pdu::ScsiCommand(command)) = first.first() else {
        panic!("{first:?}")
    };
    assert_eq!(command.cmd_sn, 5);
    assert_eq!(command.exp_stat_sn, 10);
    // The response opens the window by two.
    assert!(session
        .handle_pdu(now, response(ids[0].0, 10, 7, 0))
        .is_ok());
    let next = sent(&mut session);
    let cmd_sns: Vec<u32> = next
        .iter()
        .filter_map(|pdu| match pdu {
            Pdu::ScsiCommand(c) => Some(c.cmd_sn),
            _ => None,
        })
        .collect();
    assert_eq!(cmd_sns, vec![6, 7]);
    assert_eq!(session.window().exp_stat_sn, 11);
    let done = events(&mut session);
    assert!(
        matches!(&done[..], [SessionEvent::TaskDone { id, result: Ok(outcome) }] if *id == ids[0] && outcome.status == 0)
    );
}

#[test]
fn writes_answer_r2ts_in_bursts_split_by_the_target_segment_limit() {
    let now = Instant::now();
    let params = OperationalParams {
        initial_r2t: true,
        immediate_data: false,
        max_send_data_segment_length: 4096,
        max_burst_length: 8192,
        max_outstanding_r2t: 2,
        ..OperationalParams::default()
    };
    let mut session = Session::new(&login(1, 100, params), SessionConfig::default(), now);
    let data = Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<_>>());
    let request = TaskRequest {
        lun: 0,
        cdb: Bytes::from_static(&[0x2a, 0, 0, 0, 0, 0, 0, 0, 20, 0]),
        direction: DataDirection::Write { data: data.clone() },
        attribute: TaskAttribute::Simple,
    };
    let id = session.submit(request).unwrap_or(TaskId(0));
    let first = sent(&mut session);
    assert!(
        matches!(&first[..], [Pdu::ScsiCommand(c)] if c.final_pdu && c.data.is_empty() && c.expected_data_transfer_length == 10_000)
    );
    let r2t = |offset: u32, length: u32, sn: u32| {
        Pdu::ReadyToTransfer(ReadyToTransfer {
            lun: 0,
            initiator_task_tag: id.0,
            target_transfer_tag: 0x77,
            sequence: TargetSequence::default(),
            r2t_sn: sn,
            buffer_offset: offset,
            desired_data_transfer_length: length,
        })
    };
    assert!(session.handle_pdu(now, r2t(0, 8192, 0)).is_ok());
    assert!(session.handle_pdu(now, r2t(8192, 1808, 1)).is_ok());
    let out = sent(&mut session);
    let shape: Vec<(u32, u32, usize, bool)> = out
        .iter()
        .filter_map(|pdu| match pdu {
            Pdu::DataOut(d) => Some((d.data_sn, d.buffer_offset, d.data.len(), d.final_pdu)),
            _ => None,
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (0, 0, 4096, false),
            (1, 4096, 4096, true),
            (0, 8192, 1808, true)
        ]
    );
    let mut joined = Vec::new();
    for pdu in &out {
        if let Pdu::DataOut(d) = pdu {
            assert_eq!(d.target_transfer_tag, 0x77);
            joined.extend_from_slice(&d.data);
        }
    }
    assert_eq!(joined, data.to_vec());
    // An R2T beyond the write is a protocol violation: the write fails, the connection ends.
    assert!(matches!(
        session.handle_pdu(now, r2t(8192, 4096, 2)),
        Err(SessionError::Violation {
            violation: ProtocolViolation::R2tOutOfRange { .. },
            ..
        })
    ));
    assert!(matches!(
        &events(&mut session)[..],
        [SessionEvent::TaskDone {
            result: Err(TaskFailure::Protocol(
                ProtocolViolation::R2tOutOfRange { .. }
            )),
            ..
        }]
    ));
}

fn data_in(tag: u32, data_sn: u32, offset: u32, data: &'static [u8], status: Option<u8>) -> Pdu {
    Pdu::DataIn(DataIn {
        final_pdu: status.is_some(),
        acknowledge: false,
        status: status.map(|status| DataInStatus {
            status,
            stat_sn: 10,
            residual: Residual::None,
        }),
        lun: 0,
        initiator_task_tag: tag,
        target_transfer_tag: RESERVED_TAG,
        exp_cmd_sn: 2,
        max_cmd_sn: 40,
        data_sn,
        buffer_offset: offset,
        data: Bytes::from_static(data),
    })
}

#[test]
fn data_in_fills_the_buffer_in_order_and_status_in_the_last_pdu_completes() {
    let now = Instant::now();
    let mut session = Session::new(
        &login(1, 10, OperationalParams::default()),
        SessionConfig::default(),
        now,
    );
    let id = session.submit(read_request(8)).unwrap_or(TaskId(0));
    let _ = sent(&mut session);
    assert!(session
        .handle_pdu(now, data_in(id.0, 0, 0, b"abcd", None))
        .is_ok());
    assert!(session
        .handle_pdu(now, data_in(id.0, 1, 4, b"efgh", Some(0)))
        .is_ok());
    let done = events(&mut session);
    assert!(
        matches!(&done[..], [SessionEvent::TaskDone { result: Ok(o), .. }] if &o.data[..] == b"abcdefgh")
    );

    let id = session.submit(read_request(8)).unwrap_or(TaskId(0));
    let _ = sent(&mut session);
    let skipped = session.handle_pdu(now, data_in(id.0, 1, 0, b"abcd", None));
    assert_eq!(
        skipped,
        Err(SessionError::Violation {
            tag: id.0,
            violation: ProtocolViolation::DataSnOutOfOrder {
                expected: 0,
                received: 1
            }
        })
    );
    let id = session.submit(read_request(8)).unwrap_or(TaskId(0));
    let _ = sent(&mut session);
    let overflow = session.handle_pdu(now, data_in(id.0, 0, 6, b"abcd", None));
    assert!(matches!(
        overflow,
        Err(SessionError::Violation {
            violation: ProtocolViolation::DataGap { .. },
            ..
        })
    ));
}

#[test]
fn abort_task_success_ends_the_task_once_and_late_answers_are_dropped() {
    let now = Instant::now();
    let mut session = Session::new(
        &login(1, 10, OperationalParams::default()),
        SessionConfig::default(),
        now,
    );
    let id = session.submit(read_request(512)).unwrap_or(TaskId(0));
    let _ = sent(&mut session);
    let tmf = session.task_management(TaskManagementFunction::AbortTask, 0, Some(id));
    let tmf = tmf.unwrap_or(TaskId(0));
    let out = sent(&mut session);
    assert!(
        matches!(&out[..], [Pdu::TaskManagementRequest(r)] if r.immediate && r.referenced_task_tag == id.0 && r.ref_cmd_sn == 1)
    );
    let answer = Pdu::TaskManagementResponse(TaskManagementResponse {
        response: 0,
        initiator_task_tag: tmf.0,
        sequence: TargetSequence {
            stat_sn: 10,
            exp_cmd_sn: 2,
            max_cmd_sn: 10,
        },
    });
    assert!(session.handle_pdu(now, answer).is_ok());
    // A response that crossed the TMF on the wire is ignored.
    assert!(session.handle_pdu(now, response(id.0, 11, 10, 0)).is_ok());
    let done = events(&mut session);
    assert_eq!(
        done,
        vec![
            SessionEvent::TaskDone {
                id,
                result: Err(TaskFailure::Aborted)
            },
            SessionEvent::ManagementDone {
                id: tmf,
                response: Ok(0)
            },
        ]
    );
}

#[test]
fn unanswered_ping_fails_the_connection_in_virtual_time() {
    let start = Instant::now();
    let config = SessionConfig::default();
    let mut session = Session::new(&login(1, 10, OperationalParams::default()), config, start);
    let interval = Duration::from_secs(5);
    assert_eq!(session.poll_timeout(), Some(start + interval));
    assert!(session.handle_timeout(start + interval).is_ok());
    let ping = sent(&mut session);
    let Some(Pdu::NopOut(nop)) = ping.first() else {
        panic!("{ping:?}")
    };
    assert!(nop.immediate && nop.initiator_task_tag != RESERVED_TAG);
    let deadline = session.poll_timeout().unwrap_or(start);
    assert_eq!(deadline, start + interval + Duration::from_secs(5));
    assert_eq!(
        session.handle_timeout(deadline),
        Err(SessionError::PingTimeout)
    );
}

#[test]
fn connection_loss_ends_every_task_with_whether_it_was_sent() {
    let now = Instant::now();
    let mut session = Session::new(
        &login(1, 1, OperationalParams::default()),
        SessionConfig::default(),
        now,
    );
    let sent_id = session.submit(read_request(512)).unwrap_or(TaskId(0));
    let waiting_id = session.submit(read_request(512)).unwrap_or(TaskId(0));
    session.fail_all();
    assert_eq!(
        events(&mut session),
        vec![
            SessionEvent::TaskDone {
                id: sent_id,
                result: Err(TaskFailure::ConnectionLost { sent: true })
            },
            SessionEvent::TaskDone {
                id: waiting_id,
                result: Err(TaskFailure::ConnectionLost { sent: false })
            },
        ]
    );
    assert_eq!(session.task_count(), 0);
}

#[test]
fn submissions_are_bounded_and_checked() {
    let now = Instant::now();
    let config = SessionConfig {
        max_tasks: 2,
        ..SessionConfig::default()
    };
    let mut session = Session::new(&login(1, 0, OperationalParams::default()), config, now);
    assert!(session.submit(read_request(512)).is_ok());
    assert!(session.submit(read_request(512)).is_ok());
    assert_eq!(
        session.submit(read_request(512)),
        Err(SubmitError::QueueFull(2))
    );
    let mut fresh = Session::new(&login(1, 0, OperationalParams::default()), config, now);
    let mut long = read_request(512);
    long.cdb = Bytes::from(vec![0u8; 17]);
    assert_eq!(fresh.submit(long), Err(SubmitError::BadCdbLength(17)));
    let huge = read_request(config.max_transfer_length + 1);
    assert!(matches!(
        fresh.submit(huge),
        Err(SubmitError::TransferTooLong { .. })
    ));
}

#[test]
fn target_nop_in_is_answered_and_logout_request_is_reported() {
    let now = Instant::now();
    let mut session = Session::new(
        &login(1, 10, OperationalParams::default()),
        SessionConfig::default(),
        now,
    );
    let nop = Pdu::NopIn(NopIn {
        lun: 0,
        initiator_task_tag: RESERVED_TAG,
        target_transfer_tag: 0x1234,
        sequence: TargetSequence {
            stat_sn: 10,
            exp_cmd_sn: 1,
            max_cmd_sn: 10,
        },
        data: Bytes::new(),
    });
    assert!(session.handle_pdu(now, nop).is_ok());
    let out = sent(&mut session);
    assert!(
        matches!(&out[..], [Pdu::NopOut(n)] if n.target_transfer_tag == 0x1234 && n.initiator_task_tag == RESERVED_TAG)
    );
    let message = Pdu::AsyncMessage(AsyncMessage {
        lun: 0,
        sequence: TargetSequence {
            stat_sn: 10,
            exp_cmd_sn: 1,
            max_cmd_sn: 10,
        },
        event: 1,
        vendor_code: 0,
        parameter1: 0,
        parameter2: 0,
        parameter3: 3,
        data: Bytes::new(),
    });
    assert!(session.handle_pdu(now, message).is_ok());
    assert_eq!(
        events(&mut session),
        vec![SessionEvent::LogoutRequested { within_s: 3 }]
    );
}
