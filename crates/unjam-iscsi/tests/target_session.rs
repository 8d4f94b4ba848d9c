//! The target's full-feature session against the initiator's, without sockets: bytes from one
//! are decoded and fed to the other; the target's commands run on a RAM disk in the test.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use unjam_iscsi::login::LoginOutcome;
use unjam_iscsi::params::OperationalParams;
use unjam_iscsi::pdu::*;
use unjam_iscsi::session::*;
use unjam_iscsi::target::*;

const BLOCK: usize = 512;

struct Pair {
    initiator: Session,
    target: TargetSession,
    disk: Vec<u8>,
    now: Instant,
    /// Commands the target keeps without answering (to be aborted).
    hold: bool,
    held: Vec<u32>,
}

fn params(
    initial_r2t: bool,
    immediate: bool,
    digests: bool,
) -> (OperationalParams, OperationalParams) {
    let common = OperationalParams {
        header_digest: digests,
        data_digest: digests,
        initial_r2t,
        immediate_data: immediate,
        max_burst_length: 65_536,
        first_burst_length: 16_384,
        max_outstanding_r2t: 2,
        ..OperationalParams::default()
    };
    let initiator = OperationalParams {
        max_recv_data_segment_length: 8192,
        max_send_data_segment_length: 4096,
        ..common
    };
    let target = OperationalParams {
        max_recv_data_segment_length: 4096,
        max_send_data_segment_length: 8192,
        ..common
    };
    (initiator, target)
}

impl Pair {
    fn new(initial_r2t: bool, immediate: bool, digests: bool, window: u32) -> Pair {
        let (initiator_params, target_params) = params(initial_r2t, immediate, digests);
        let now = Instant::now();
        let outcome = LoginOutcome {
            params: initiator_params,
            tsih: 1,
            next_stat_sn: 500,
            cmd_sn: 20,
            exp_cmd_sn: 20,
            max_cmd_sn: 20 + window - 1,
            target_alias: None,
            target_portal_group_tag: Some(1),
        };
        let mut session_config = SessionConfig::default();
        session_config.ping.interval = Some(Duration::from_secs(5));
        session_config.ping.timeout = Duration::from_secs(5);
        let config = TargetSessionConfig {
            max_tasks: window,
            max_write_buffer_bytes: 128 * 1024,
            own_target: Some("iqn.t".into()),
            published: vec![PublishedTarget {
                name: "iqn.t".into(),
                addresses: vec!["127.0.0.1:3260,1".into()],
            }],
            ..TargetSessionConfig::default()
        };
        Pair {
            initiator: Session::new(&outcome, session_config, now),
            target: TargetSession::new(target_params, 20, 500, config),
            disk: vec![0; 4 << 20],
            now,
            hold: false,
            held: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            let mut bytes = Vec::new();
            while self.initiator.poll_transmit(&mut bytes).unwrap_or(false) {}
            for pdu in decode(
                &bytes,
                self.target.params().max_recv_data_segment_length,
                self.target.digests(),
            ) {
                moved = true;
                if let Err(error) = self.target.handle_pdu(pdu) {
                    panic!("target: {error}");
                }
            }
            while let Some(event) = self.target.poll_event() {
                moved = true;
                self.serve(event);
            }
            let mut bytes = Vec::new();
            self.target
                .poll_transmit(&mut bytes)
                .unwrap_or_else(|e| panic!("{e}"));
            for pdu in decode(&bytes, 8192, self.target.digests()) {
                moved = true;
                if let Err(error) = self.initiator.handle_pdu(self.now, pdu) {
                    panic!("initiator: {error}");
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    fn serve(&mut self, event: TargetEvent) {
        match event {
            TargetEvent::Command(command) if self.hold => self.held.push(command.itt),
            TargetEvent::Command(command) => {
                let result = execute(&mut self.disk, &command);
                self.target
                    .complete(command.itt, &result, ResponseFaults::default());
            }
            TargetEvent::TaskManagement(request) => {
                if let Some(itt) = request.referenced_itt {
                    self.target.discard(itt);
                    self.held.retain(|held| *held != itt);
                }
                self.target.complete_management(request.itt, 0);
            }
            TargetEvent::LoggedOut { .. } => {}
        }
    }

    fn events(&mut self) -> Vec<SessionEvent> {
        std::iter::from_fn(|| self.initiator.poll_event()).collect()
    }

    fn run(&mut self, request: TaskRequest) -> ScsiOutcome {
        let id = self
            .initiator
            .submit(request)
            .unwrap_or_else(|e| panic!("{e}"));
        self.pump();
        for event in self.events() {
            if let SessionEvent::TaskDone { id: done, result } = event {
                if done == id {
                    return result.unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
        panic!("task never finished");
    }
}

fn decode(bytes: &[u8], limit: u32, digests: Digests) -> Vec<Pdu> {
    let decoder = PduDecoder::new(limit, digests);
    let mut buffer = BytesMut::from(bytes);
    let mut pdus = Vec::new();
    loop {
        match decoder.decode(&mut buffer) {
            Ok(Some(pdu)) => pdus.push(pdu),
            Ok(None) => break,
            Err(error) => panic!("decode: {error}"),
        }
    }
    assert!(buffer.is_empty(), "trailing bytes");
    pdus
}

/// READ(10) and WRITE(10) on the RAM disk; anything else is GOOD without data.
fn execute(disk: &mut [u8], command: &CommandRequest) -> CommandResult {
    let lba = u32::from_be_bytes([
        command.cdb[2],
        command.cdb[3],
        command.cdb[4],
        command.cdb[5],
    ]);
    let blocks = u16::from_be_bytes([command.cdb[7], command.cdb[8]]) as usize;
    let range = lba as usize * BLOCK..(lba as usize + blocks) * BLOCK;
    match command.cdb[0] {
        0x28 => CommandResult {
            data_in: Bytes::copy_from_slice(&disk[range]),
            ..CommandResult::default()
        },
        0x2a => {
            let length = range.len();
            let take = length.min(command.data_out.len());
            disk[range.start..range.start + take].copy_from_slice(&command.data_out[..take]);
            CommandResult {
                write_length: Some(length as u32),
                ..CommandResult::default()
            }
        }
        0x03 => CommandResult {
            status: 2,
            sense: Bytes::from_static(&[
                0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0,
            ]),
            ..CommandResult::default()
        },
        _ => CommandResult::default(),
    }
}

fn cdb(opcode: u8, lba: u32, blocks: u16) -> Bytes {
    let mut cdb = [0u8; 10];
    cdb[0] = opcode;
    cdb[2..6].copy_from_slice(&lba.to_be_bytes());
    cdb[7..9].copy_from_slice(&blocks.to_be_bytes());
    Bytes::copy_from_slice(&cdb)
}

fn pattern(length: usize, seed: u8) -> Bytes {
    (0..length)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<_>>()
        .into()
}

fn write(lba: u32, data: Bytes) -> TaskRequest {
    TaskRequest {
        lun: 0,
        cdb: cdb(0x2a, lba, (data.len() / BLOCK) as u16),
        direction: DataDirection::Write { data },
        attribute: TaskAttribute::Simple,
    }
}

fn read(lba: u32, blocks: u16, length: u32) -> TaskRequest {
    TaskRequest {
        lun: 0,
        cdb: cdb(0x28, lba, blocks),
        direction: DataDirection::Read { length },
        attribute: TaskAttribute::Simple,
    }
}

fn round_trips(initial_r2t: bool, immediate: bool, digests: bool) {
    let mut pair = Pair::new(initial_r2t, immediate, digests, 16);
    for (index, blocks) in [1usize, 8, 31, 32, 33, 128, 129, 700, 2048]
        .into_iter()
        .enumerate()
    {
        let data = pattern(blocks * BLOCK, index as u8);
        let outcome = pair.run(write(100, data.clone()));
        assert_eq!((outcome.status, outcome.residual), (0, Residual::None));
        let outcome = pair.run(read(100, blocks as u16, data.len() as u32));
        assert_eq!(outcome.status, 0);
        assert!(outcome.data == data, "{blocks} blocks did not read back");
    }
}

#[test]
fn writes_read_back_with_immediate_and_unsolicited_data() {
    round_trips(false, true, false);
}

#[test]
fn writes_read_back_with_r2t_only_and_digests() {
    round_trips(true, false, true);
}

#[test]
fn many_writes_at_once_stay_within_the_window_and_the_write_budget() {
    let mut pair = Pair::new(true, false, false, 4);
    let ids: Vec<TaskId> = (0..12)
        .map(|i| {
            pair.initiator
                .submit(write(i * 256, pattern(128 * 1024, i as u8)))
        })
        .map(|id| id.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    pair.pump();
    let done = pair
        .events()
        .into_iter()
        .filter(|e| matches!(e, SessionEvent::TaskDone { result: Ok(outcome), .. } if outcome.status == 0))
        .count();
    assert_eq!(done, ids.len());
    for i in 0..12u32 {
        let outcome = pair.run(read(i * 256, 256, 128 * 1024));
        assert!(outcome.data == pattern(128 * 1024, i as u8));
    }
}

#[test]
fn residuals_and_sense_reach_the_initiator() {
    let mut pair = Pair::new(false, true, false, 8);
    let short = pair.run(read(0, 8, 1024));
    assert_eq!(short.residual, Residual::Overflow(3072));
    assert_eq!(short.data.len(), 1024);
    let long = pair.run(read(0, 2, 4096));
    assert_eq!(long.residual, Residual::Underflow(3072));
    let mut request = read(0, 0, 18);
    request.cdb = Bytes::from_static(&[0x03, 0, 0, 0, 18, 0]);
    let checked = pair.run(request);
    assert_eq!(checked.status, 2);
    assert_eq!(checked.sense.get(12), Some(&0x24));
    let mut overrun = write(0, pattern(2048, 1));
    if let DataDirection::Write { data } = &mut overrun.direction {
        *data = pattern(1024, 1);
    }
    overrun.cdb = cdb(0x2a, 0, 4);
    let outcome = pair.run(overrun);
    assert_eq!(outcome.residual, Residual::Overflow(1024));
}

#[test]
fn abort_task_ends_a_held_command() {
    let mut pair = Pair::new(false, true, false, 8);
    pair.hold = true;
    let id = pair
        .initiator
        .submit(read(0, 8, 4096))
        .unwrap_or_else(|e| panic!("{e}"));
    pair.pump();
    assert_eq!(pair.held.len(), 1);
    assert!(pair.target.has_task(pair.held[0]));
    pair.initiator
        .task_management(TaskManagementFunction::AbortTask, 0, Some(id))
        .unwrap_or_else(|e| panic!("{e}"));
    pair.pump();
    let events = pair.events();
    assert!(events.contains(&SessionEvent::TaskDone {
        id,
        result: Err(TaskFailure::Aborted)
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        SessionEvent::ManagementDone {
            response: Ok(0),
            ..
        }
    )));
    assert_eq!(pair.target.task_count(), 0);
}

#[test]
fn pings_are_answered_until_a_fault_stops_it() {
    let mut pair = Pair::new(false, true, false, 8);
    pair.now += Duration::from_secs(6);
    assert!(pair.initiator.handle_timeout(pair.now).is_ok());
    pair.pump();
    pair.now += Duration::from_secs(6);
    assert!(
        pair.initiator.handle_timeout(pair.now).is_ok(),
        "answered ping"
    );
    pair.target.set_answer_nops(false);
    pair.pump();
    pair.now += Duration::from_secs(6);
    assert_eq!(
        pair.initiator.handle_timeout(pair.now),
        Err(SessionError::PingTimeout)
    );
}

#[test]
fn logout_and_target_requested_logout() {
    let mut pair = Pair::new(false, true, false, 8);
    pair.target.request_logout(3);
    pair.pump();
    assert!(pair
        .events()
        .contains(&SessionEvent::LogoutRequested { within_s: 3 }));
    pair.initiator.logout(pair.now);
    pair.pump();
    assert!(pair
        .events()
        .contains(&SessionEvent::LogoutDone { response: Ok(0) }));
    assert!(pair.target.is_logged_out());
}

fn command_pdu(itt: u32, cmd_sn: u32, cdb: &[u8], edtl: u32, write: bool, data: Bytes) -> Pdu {
    let mut padded = [0u8; 16];
    padded[..cdb.len()].copy_from_slice(cdb);
    Pdu::ScsiCommand(ScsiCommand {
        immediate: false,
        final_pdu: true,
        read: !write,
        write,
        attribute: TaskAttribute::Simple,
        lun: 0,
        initiator_task_tag: itt,
        expected_data_transfer_length: edtl,
        cmd_sn,
        exp_stat_sn: 0,
        cdb: padded,
        data,
    })
}

fn target_pdus(target: &mut TargetSession) -> Vec<Pdu> {
    let mut bytes = Vec::new();
    target
        .poll_transmit(&mut bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    decode(&bytes, 1 << 20, target.digests())
}

#[test]
fn commands_outside_the_window_are_ignored_and_gaps_wait() {
    let mut target = Pair::new(false, true, false, 4).target;
    let read10 = cdb(0x28, 0, 1);
    assert!(target
        .handle_pdu(command_pdu(1, 30, &read10, 512, false, Bytes::new()))
        .is_ok());
    assert!(target
        .handle_pdu(command_pdu(2, 19, &read10, 512, false, Bytes::new()))
        .is_ok());
    assert!(target.poll_event().is_none(), "outside the window");
    assert!(target
        .handle_pdu(command_pdu(3, 21, &read10, 512, false, Bytes::new()))
        .is_ok());
    assert!(target.poll_event().is_none(), "waits for CmdSN 20");
    assert!(target
        .handle_pdu(command_pdu(4, 20, &read10, 512, false, Bytes::new()))
        .is_ok());
    let order: Vec<u32> = std::iter::from_fn(|| target.poll_event())
        .filter_map(|event| match event {
            TargetEvent::Command(command) => Some(command.itt),
            _ => None,
        })
        .collect();
    assert_eq!(order, [4, 3]);
}

#[test]
fn a_data_sn_out_of_sequence_fails_the_command_only() {
    let (_, params) = params(true, false, false);
    let mut target = TargetSession::new(
        params,
        0,
        0,
        TargetSessionConfig {
            own_target: Some("iqn.t".into()),
            ..TargetSessionConfig::default()
        },
    );
    let write10 = cdb(0x2a, 0, 16);
    assert!(target
        .handle_pdu(command_pdu(9, 0, &write10, 8192, true, Bytes::new()))
        .is_ok());
    let r2t = target_pdus(&mut target)
        .into_iter()
        .find_map(|pdu| match pdu {
            Pdu::ReadyToTransfer(r2t) => Some(r2t),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no R2T"));
    assert_eq!(r2t.desired_data_transfer_length, 8192);
    let data_out = Pdu::DataOut(DataOut {
        final_pdu: false,
        lun: 0,
        initiator_task_tag: 9,
        target_transfer_tag: r2t.target_transfer_tag,
        exp_stat_sn: 0,
        data_sn: 5,
        buffer_offset: 0,
        data: Bytes::from(vec![0u8; 4096]),
    });
    assert!(target.handle_pdu(data_out).is_ok());
    let response = target_pdus(&mut target)
        .into_iter()
        .find_map(|pdu| match pdu {
            Pdu::ScsiResponse(response) => Some(response),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no response"));
    assert_eq!(response.status, 2);
    assert_eq!(response.sense().map(|s| s[12]), Ok(0x4b));
    assert_eq!(target.task_count(), 0);
}
