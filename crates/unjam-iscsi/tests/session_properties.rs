//! Random target behaviour against the sans-I/O session: whatever PDUs arrive, the session
//! never panics, every task ends exactly once, a read reported GOOD carries exactly the bytes
//! the target sent at their offsets and its residual covers the rest, and a write reported
//! GOOD had every byte its status claims handed to the wire first.

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use unjam_iscsi::login::LoginOutcome;
use unjam_iscsi::params::OperationalParams;
use unjam_iscsi::pdu::*;
use unjam_iscsi::session::*;

fn pattern(offset: u32) -> u8 {
    (offset % 253) as u8
}

/// One thing the target does; `task` picks a submitted task (or, out of range, no task).
#[derive(Debug, Clone)]
enum Action {
    DataIn {
        task: usize,
        data_sn: u32,
        offset: u32,
        length: u32,
        final_pdu: bool,
        status: Option<(u8, Residual)>,
    },
    Response {
        task: usize,
        status: u8,
        residual: Residual,
    },
    R2t {
        task: usize,
        r2t_sn: u32,
        offset: u32,
        length: u32,
    },
    /// The next in-order Data-In of `task` (as a correct target would send it); `length`
    /// `None` is the rest of the read, `honest` makes the status's residual match.
    NextDataIn {
        task: usize,
        length: Option<u32>,
        status: Option<u8>,
        honest: bool,
    },
    /// The next in-order R2T of `task` (`None`: the rest of the write).
    NextR2t {
        task: usize,
        length: Option<u32>,
    },
    /// A SCSI Response whose residual matches what the target got.
    HonestResponse {
        task: usize,
        status: u8,
    },
    Transmit,
    Management {
        task: usize,
    },
}

fn residual() -> impl Strategy<Value = Residual> {
    prop_oneof![
        Just(Residual::None),
        (0u32..20_000).prop_map(Residual::Underflow),
        (0u32..20_000).prop_map(Residual::Overflow),
    ]
}

fn status() -> impl Strategy<Value = u8> {
    prop_oneof![4 => Just(0u8), 1 => Just(2u8), 1 => Just(8u8), 1 => Just(4u8)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => (0usize..4, 0u32..4, 0u32..20_000, 0u32..9000, any::<bool>(),
            proptest::option::of((status(), residual())))
            .prop_map(|(task, data_sn, offset, length, final_pdu, status)| Action::DataIn {
                task, data_sn, offset, length, final_pdu, status,
            }),
        1 => (0usize..4, status(), residual())
            .prop_map(|(task, status, residual)| Action::Response { task, status, residual }),
        1 => (0usize..4, 0u32..3, 0u32..20_000, 0u32..20_000)
            .prop_map(|(task, r2t_sn, offset, length)| Action::R2t { task, r2t_sn, offset, length }),
        6 => (0usize..4, proptest::option::of(0u32..9000), proptest::option::of(status()), any::<bool>())
            .prop_map(|(task, length, status, honest)| Action::NextDataIn { task, length, status, honest }),
        4 => (0usize..4, proptest::option::of(1u32..20_000))
            .prop_map(|(task, length)| Action::NextR2t { task, length }),
        3 => (0usize..4, status()).prop_map(|(task, status)| Action::HonestResponse { task, status }),
        4 => Just(Action::Transmit),
        1 => (0usize..5).prop_map(|task| Action::Management { task }),
    ]
}

fn direction() -> impl Strategy<Value = DataDirection> {
    prop_oneof![
        (0u32..20_000).prop_map(|length| DataDirection::Read { length }),
        (1usize..20_000).prop_map(|length| DataDirection::Write {
            data: Bytes::from(vec![0x77; length])
        }),
        Just(DataDirection::None),
    ]
}

/// What the test knows about each submitted task.
struct Submitted {
    tag: u32,
    direction: DataDirection,
    /// End of the contiguous write data seen on the wire.
    sent_end: u32,
    /// What a correct target would send next: DataSN and offset of Data-In, R2TSN and
    /// offset of R2T.
    next_data_sn: u32,
    next_offset: u32,
    next_r2t_sn: u32,
}

struct Harness {
    session: Session,
    tasks: Vec<Submitted>,
    done: HashMap<u32, usize>,
    management_tags: Vec<u32>,
}

impl Harness {
    fn new(directions: Vec<DataDirection>) -> Harness {
        let params = OperationalParams {
            max_outstanding_r2t: 2,
            ..OperationalParams::default()
        };
        let login = LoginOutcome {
            params,
            tsih: 1,
            next_stat_sn: 1,
            cmd_sn: 1,
            exp_cmd_sn: 1,
            max_cmd_sn: 64,
            target_alias: None,
            target_portal_group_tag: None,
        };
        let config = SessionConfig {
            max_stray_pdus: 1000,
            ..SessionConfig::default()
        };
        let mut session = Session::new(&login, config, Instant::now());
        let tasks = directions
            .into_iter()
            .map(|direction| {
                let request = TaskRequest {
                    lun: 0,
                    cdb: Bytes::from_static(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
                    direction: direction.clone(),
                    attribute: TaskAttribute::Simple,
                };
                let tag = session.submit(request).map(|id| id.0).unwrap_or(0);
                let first_burst = match &direction {
                    DataDirection::Write { data } => (data.len() as u32).min(8192),
                    _ => 0,
                };
                Submitted {
                    tag,
                    direction,
                    sent_end: 0,
                    next_data_sn: 0,
                    next_offset: first_burst,
                    next_r2t_sn: 0,
                }
            })
            .collect();
        Harness {
            session,
            tasks,
            done: HashMap::new(),
            management_tags: Vec::new(),
        }
    }

    fn tag(&self, task: usize) -> u32 {
        self.tasks.get(task).map_or(0x7777, |t| t.tag)
    }

    /// Encodes what the session wants to send and records write data on the wire.
    fn transmit(&mut self) {
        let mut bytes = Vec::new();
        while self.session.poll_transmit(&mut bytes).unwrap_or(false) {}
        let decoder = PduDecoder::new(1 << 24, Digests::default());
        let mut buffer = BytesMut::from(&bytes[..]);
        while let Ok(Some(pdu)) = decoder.decode(&mut buffer) {
            let (tag, offset, length) = match &pdu {
                Pdu::ScsiCommand(c) => (c.initiator_task_tag, 0, c.data.len()),
                Pdu::DataOut(d) => (d.initiator_task_tag, d.buffer_offset, d.data.len()),
                _ => continue,
            };
            let length = length as u32;
            if let Some(task) = self.tasks.iter_mut().find(|t| t.tag == tag) {
                if length > 0 {
                    assert_eq!(offset, task.sent_end, "write data leaves in order");
                    task.sent_end += length;
                }
            }
        }
    }

    fn apply(&mut self, action: &Action) -> Result<(), SessionError> {
        let now = Instant::now();
        let sequence = TargetSequence {
            stat_sn: 1,
            exp_cmd_sn: 1,
            max_cmd_sn: 64,
        };
        let pdu = match action.clone() {
            Action::Transmit => {
                self.transmit();
                return Ok(());
            }
            Action::Management { task } => {
                let id = TaskId(self.tag(task));
                let function = TaskManagementFunction::AbortTask;
                if let Ok(tmf) = self.session.task_management(function, 0, Some(id)) {
                    self.management_tags.push(tmf.0);
                    Pdu::TaskManagementResponse(TaskManagementResponse {
                        response: 0,
                        initiator_task_tag: tmf.0,
                        sequence,
                    })
                } else {
                    return Ok(());
                }
            }
            Action::NextDataIn {
                task,
                length,
                status,
                honest,
            } => {
                let Some(submitted) = self.tasks.get_mut(task) else {
                    return Ok(());
                };
                if !matches!(submitted.direction, DataDirection::Read { .. }) {
                    return Ok(());
                }
                let expected = submitted.direction.length();
                let (data_sn, offset) = (submitted.next_data_sn, submitted.next_offset);
                let length = length.unwrap_or(expected.saturating_sub(offset));
                submitted.next_data_sn += 1;
                submitted.next_offset += length;
                let end = submitted.next_offset;
                let residual = match (honest, end < expected) {
                    (true, true) => Residual::Underflow(expected - end),
                    _ => Residual::None,
                };
                let action = Action::DataIn {
                    task,
                    data_sn,
                    offset,
                    length,
                    final_pdu: false,
                    status: status.map(|status| (status, residual)),
                };
                return self.apply(&action);
            }
            Action::NextR2t { task, length } => {
                let Some(submitted) = self.tasks.get_mut(task) else {
                    return Ok(());
                };
                if !matches!(submitted.direction, DataDirection::Write { .. }) {
                    return Ok(());
                }
                let expected = submitted.direction.length();
                let (r2t_sn, offset) = (submitted.next_r2t_sn, submitted.next_offset);
                let length = length.unwrap_or(expected.saturating_sub(offset));
                if length == 0 {
                    return Ok(());
                }
                submitted.next_r2t_sn += 1;
                submitted.next_offset += length;
                let action = Action::R2t {
                    task,
                    r2t_sn,
                    offset,
                    length,
                };
                return self.apply(&action);
            }
            Action::HonestResponse { task, status } => {
                let Some(submitted) = self.tasks.get(task) else {
                    return Ok(());
                };
                let expected = submitted.direction.length();
                let got = match submitted.direction {
                    DataDirection::Write { .. } => submitted.sent_end,
                    _ => submitted.next_offset,
                };
                let residual = match got < expected {
                    true => Residual::Underflow(expected - got),
                    false => Residual::None,
                };
                let action = Action::Response {
                    task,
                    status,
                    residual,
                };
                return self.apply(&action);
            }
            Action::DataIn {
                task,
                data_sn,
                offset,
                length,
                final_pdu,
                status,
            } => Pdu::DataIn(DataIn {
                final_pdu: final_pdu || status.is_some(),
                acknowledge: false,
                status: status.map(|(status, residual)| DataInStatus {
                    status,
                    stat_sn: 1,
                    residual,
                }),
                lun: 0,
                initiator_task_tag: self.tag(task),
                target_transfer_tag: RESERVED_TAG,
                exp_cmd_sn: 1,
                max_cmd_sn: 64,
                data_sn,
                buffer_offset: offset,
                data: (offset..offset + length)
                    .map(pattern)
                    .collect::<Vec<_>>()
                    .into(),
            }),
            Action::Response {
                task,
                status,
                residual,
            } => Pdu::ScsiResponse(ScsiResponse {
                bidirectional_residual: Residual::None,
                residual,
                response: 0,
                status,
                initiator_task_tag: self.tag(task),
                snack_tag: 0,
                sequence,
                exp_data_sn: 0,
                data: Bytes::new(),
            }),
            Action::R2t {
                task,
                r2t_sn,
                offset,
                length,
            } => Pdu::ReadyToTransfer(ReadyToTransfer {
                lun: 0,
                initiator_task_tag: self.tag(task),
                target_transfer_tag: 0x100 + r2t_sn,
                sequence,
                r2t_sn,
                buffer_offset: offset,
                desired_data_transfer_length: length,
            }),
        };
        self.session.handle_pdu(now, pdu)
    }

    /// Checks every event against what the target sent and the wire carried.
    fn check_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            let SessionEvent::TaskDone { id, result } = event else {
                continue;
            };
            *self.done.entry(id.0).or_default() += 1;
            let Some(task) = self.tasks.iter().find(|t| t.tag == id.0) else {
                panic!("completion for a tag never submitted: {id:?}");
            };
            let Ok(outcome) = result else { continue };
            check_outcome(task, &outcome);
        }
    }
}

fn check_outcome(task: &Submitted, outcome: &ScsiOutcome) {
    let expected = task.direction.length();
    let missing = match outcome.residual {
        Residual::Underflow(count) => count,
        Residual::None | Residual::Overflow(_) => 0,
    };
    assert!(missing <= expected, "{outcome:?}");
    match &task.direction {
        DataDirection::Read { .. } => {
            // Whatever the status: the data is the target's bytes at their offsets, and the
            // residual covers every byte that is not there.
            assert_eq!(outcome.data.len() as u32, expected - missing, "{outcome:?}");
            for (offset, byte) in outcome.data.iter().enumerate() {
                assert_eq!(*byte, pattern(offset as u32));
            }
        }
        DataDirection::Write { .. } => {
            assert!(outcome.data.is_empty());
            assert!(
                task.sent_end >= expected - missing,
                "write reported {} bytes done, {} sent",
                expected - missing,
                task.sent_end
            );
        }
        DataDirection::None => assert!(outcome.data.is_empty()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_target_behaviour_yields_data_that_did_not_arrive(
        directions in proptest::collection::vec(direction(), 1..4),
        actions in proptest::collection::vec(action(), 0..40),
    ) {
        let mut harness = Harness::new(directions);
        harness.transmit();
        for action in &actions {
            let result = harness.apply(action);
            harness.check_events();
            if result.is_err() {
                break;
            }
        }
        harness.session.fail_all();
        harness.check_events();
        for task in &harness.tasks {
            prop_assert_eq!(harness.done.get(&task.tag).copied(), Some(1), "task {} ends once", task.tag);
        }
        let stats = harness.session.stats();
        prop_assert_eq!(stats.in_flight + stats.waiting + stats.management, 0);
    }
}
