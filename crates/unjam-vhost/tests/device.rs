//! The device without QEMU: requests as bytes in, completions out, on a clock the test
//! moves. Every virtio response, SCSI faults, lost notifications, task management, bounds
//! and malformed requests.

use unjam_scsi::virtio::Response;
use unjam_sim::scenario::Scenario;
use unjam_vhost::device::{Completion, Device, Incoming};
use unjam_vhost::wire::{COMMAND_HEADER_LEN, RESPONSE_HEADER_LEN, TMF_REQUEST_LEN};

const BASE: &str = "[target]\npower_on_unit_attention = false\ntmf_latency_us = 100\n\
                    [[host]]\npersonality = \"virtio_scsi\"\nluns = 2\nblock_size = 512\n\
                    latency = { model = \"fixed\", us = 200 }\n";

fn device(faults: &str) -> Device<u32> {
    let text = format!("{BASE}{faults}");
    let scenario = Scenario::from_toml(&text, "t.toml").unwrap_or_else(|e| panic!("{e}"));
    Device::new(&scenario, None).unwrap_or_else(|e| panic!("{e}"))
}

fn lun_field(target: u8, lun: u16) -> [u8; 8] {
    [1, target, 0x40 | (lun >> 8) as u8, lun as u8, 0, 0, 0, 0]
}

/// A READ(10) of `blocks` at `lba` with tag `tag`.
fn read(token: u32, tag: u64, lun: u16, lba: u32, blocks: u16) -> Incoming<u32> {
    let mut bytes = vec![0u8; COMMAND_HEADER_LEN];
    bytes[..8].copy_from_slice(&lun_field(0, lun));
    bytes[8..16].copy_from_slice(&tag.to_le_bytes());
    let cdb = &mut bytes[19..29];
    cdb[0] = 0x28;
    cdb[2..6].copy_from_slice(&lba.to_be_bytes());
    cdb[7..9].copy_from_slice(&blocks.to_be_bytes());
    Incoming {
        token,
        readable: bytes,
        writable_len: RESPONSE_HEADER_LEN + usize::from(blocks) * 512,
    }
}

fn tmf(token: u32, subtype: u32, lun: u16, tag: u64) -> Incoming<u32> {
    let mut bytes = vec![0u8; TMF_REQUEST_LEN];
    bytes[4..8].copy_from_slice(&subtype.to_le_bytes());
    bytes[8..16].copy_from_slice(&lun_field(0, lun));
    bytes[16..24].copy_from_slice(&tag.to_le_bytes());
    Incoming {
        token,
        readable: bytes,
        writable_len: 1,
    }
}

fn response(completion: &Completion<u32>) -> (Response, u8) {
    (Response(completion.bytes[11]), completion.bytes[10])
}

fn sense_key(completion: &Completion<u32>) -> u8 {
    completion.bytes[12 + 2] & 0x0f
}

/// Runs the device until nothing is due before `until_us`.
fn settle(device: &mut Device<u32>, until_us: u64) -> Vec<Completion<u32>> {
    let mut done = Vec::new();
    while let Some(due) = device.next_due_us().filter(|due| *due <= until_us) {
        device.tick(due, &mut done);
    }
    done
}

#[test]
fn a_good_read_answers_ok_with_data_after_its_latency() {
    let mut device = device("");
    assert!(device.command(0, read(1, 7, 0, 0, 8)).is_empty());
    assert_eq!(device.next_due_us(), Some(200));
    let done = settle(&mut device, 1000);
    assert_eq!(done.len(), 1);
    assert_eq!(response(&done[0]), (Response::OK, 0));
    assert_eq!(done[0].bytes.len(), RESPONSE_HEADER_LEN + 4096);
    assert!(done[0].notify);
}

#[test]
fn every_virtio_response_reaches_the_guest_as_named() {
    for name in [
        "FAILURE",
        "BAD_TARGET",
        "BUSY",
        "TRANSPORT_FAILURE",
        "TARGET_FAILURE",
        "NEXUS_FAILURE",
        "RESET",
        "ABORTED",
        "OVERRUN",
        "INCORRECT_LUN",
    ] {
        let mut device = device(&format!(
            "[[fault]]\nkind = \"virtio\"\nresponse = \"{name}\"\ncommands = \"reads\"\n"
        ));
        device.command(0, read(1, 1, 0, 0, 1));
        let done = settle(&mut device, 1000);
        let expected = Response::parse(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(response(&done[0]).0, expected, "{name}");
        assert_eq!(done[0].bytes.len(), RESPONSE_HEADER_LEN, "{name}: no data");
    }
}

#[test]
fn seed000_failure_then_aborted_command_sense() {
    let mut device = device(
        "[[fault]]\nkind = \"virtio\"\nresponse = \"FAILURE\"\ncommands = \"reads\"\ntimes = 1\n\
         [[fault]]\nkind = \"fail\"\ncommands = \"reads\"\n\
         sense = \"70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00\"\n",
    );
    device.command(0, read(1, 1, 0, 0x55870, 16));
    let first = settle(&mut device, 1000);
    assert_eq!(response(&first[0]), (Response::FAILURE, 0));
    device.command(2000, read(2, 1, 0, 0x55870, 16));
    let second = settle(&mut device, 3000);
    assert_eq!(response(&second[0]), (Response::OK, 2), "CHECK CONDITION");
    assert_eq!(sense_key(&second[0]), 0x0b);
    assert_eq!(&second[0].bytes[0..4], &18u32.to_le_bytes(), "sense_len");
}

#[test]
fn scsi_faults_medium_error_and_host_bytes() {
    let mut device = device(
        "[[fault]]\ndevice = \"0:0:0:0\"\nkind = \"medium_error\"\ncommands = \"reads\"\nlba_first = 0\nlba_last = 1000\n\
         [[fault]]\ndevice = \"0:0:0:1\"\nkind = \"fail\"\nhost_byte = \"DID_BUS_BUSY\"\n",
    );
    device.command(0, read(1, 1, 0, 100, 1));
    device.command(0, read(2, 2, 1, 100, 1));
    let mut done = settle(&mut device, 1000);
    done.sort_by_key(|c| c.token);
    assert_eq!(response(&done[0]), (Response::OK, 2));
    assert_eq!(sense_key(&done[0]), 0x03);
    assert_eq!(response(&done[1]).0, Response::BUSY, "DID_BUS_BUSY → BUSY");
}

#[test]
fn a_lost_notification_completes_without_a_signal_for_n_requests() {
    let mut device =
        device("[[fault]]\nkind = \"lost_completion\"\ncommands = \"reads\"\ntimes = 2\n");
    let mut notified = Vec::new();
    for token in 0..3 {
        device.command(
            u64::from(token) * 1000,
            read(token, u64::from(token), 0, 0, 1),
        );
        let done = settle(&mut device, u64::from(token) * 1000 + 999);
        assert_eq!(response(&done[0]), (Response::OK, 0), "completed with data");
        notified.push(done[0].notify);
    }
    assert_eq!(notified, [false, false, true]);
    assert_eq!(device.counters().lost_notifications, 2);
}

#[test]
fn lost_notifications_in_a_time_window() {
    let mut device = device(
        "[[fault]]\nkind = \"lost_completion\"\ncommands = \"reads\"\nfrom_ms = 10\nuntil_ms = 20\n",
    );
    let mut notified = Vec::new();
    for at_ms in [5u64, 15, 25] {
        device.command(at_ms * 1000, read(at_ms as u32, at_ms, 0, 0, 1));
        let done = settle(&mut device, at_ms * 1000 + 999);
        notified.push(done[0].notify);
    }
    assert_eq!(notified, [true, false, true]);
}

#[test]
fn abort_of_a_swallowed_command_completes_it_aborted_before_the_tmf_answer() {
    let mut device = device("[[fault]]\nkind = \"timeout\"\ncommands = \"reads\"\ntimes = 1\n");
    device.command(0, read(1, 42, 0, 0, 1));
    assert!(settle(&mut device, 10_000_000).is_empty(), "swallowed");
    assert!(device.control(20_000_000, tmf(2, 0, 0, 42)).is_empty());
    let done = settle(&mut device, 30_000_000);
    let tokens: Vec<u32> = done.iter().map(|c| c.token).collect();
    assert_eq!(tokens, [1, 2], "the aborted command first, then the TMF");
    assert_eq!(response(&done[0]).0, Response::ABORTED);
    assert_eq!(done[1].bytes, [Response::OK.0]);
}

#[test]
fn task_management_faults_fail_or_hang_the_function() {
    let mut device = device(
        "[[fault]]\nkind = \"timeout\"\ncommands = \"reads\"\n\
         [[fault]]\nkind = \"abort_fails\"\n[[fault]]\nkind = \"reset_hangs\"\nscope = \"lun\"\n",
    );
    device.command(0, read(1, 5, 0, 0, 1));
    device.control(1000, tmf(2, 0, 0, 5));
    let done = settle(&mut device, 10_000);
    assert_eq!(done.len(), 1, "the command stays held");
    assert_eq!(done[0].bytes, [Response::FAILURE.0]);
    device.control(20_000, tmf(3, 5, 0, 0));
    assert!(
        settle(&mut device, 100_000_000).is_empty(),
        "the LUN reset never answers"
    );
    assert_eq!(device.next_due_us(), None);
}

#[test]
fn a_lun_reset_ends_the_lun_s_commands_with_reset() {
    let mut device = device("[[fault]]\nkind = \"timeout\"\ncommands = \"reads\"\n");
    device.command(0, read(1, 1, 0, 0, 1));
    device.command(0, read(2, 2, 1, 0, 1));
    device.control(1000, tmf(3, 5, 0, 0));
    let done = settle(&mut device, 10_000);
    let tokens: Vec<u32> = done.iter().map(|c| c.token).collect();
    assert_eq!(tokens, [1, 3], "only LUN 0's command, then the TMF");
    assert_eq!(response(&done[0]).0, Response::RESET);
    assert_eq!(done[1].bytes, [Response::OK.0]);
}

#[test]
fn query_task_and_unsupported_functions() {
    let mut device = device("[[fault]]\nkind = \"timeout\"\ncommands = \"reads\"\n");
    device.command(0, read(1, 9, 0, 0, 1));
    assert_eq!(
        device.control(10, tmf(2, 6, 0, 9))[0].bytes,
        [Response::FUNCTION_SUCCEEDED.0]
    );
    assert_eq!(
        device.control(10, tmf(3, 6, 0, 8))[0].bytes,
        [Response::OK.0]
    );
    assert_eq!(
        device.control(10, tmf(4, 4, 0, 0))[0].bytes,
        [Response::FUNCTION_REJECTED.0]
    );
}

#[test]
fn malformed_requests_are_errors_for_that_request_only() {
    let mut device = device("");
    let short = Incoming {
        token: 1,
        readable: vec![1, 0, 0, 0],
        writable_len: RESPONSE_HEADER_LEN,
    };
    let done = device.command(0, short);
    assert_eq!(response(&done[0]).0, Response::FAILURE);
    let no_room = Incoming {
        writable_len: 10,
        ..read(2, 2, 0, 0, 1)
    };
    let done = device.command(0, no_room);
    assert!(done[0].bytes.is_empty(), "nothing can be written back");
    let bad_control = Incoming {
        token: 3,
        readable: vec![9, 0, 0, 0],
        writable_len: 1,
    };
    assert_eq!(
        device.control(0, bad_control)[0].bytes,
        [Response::FAILURE.0]
    );
    let mut bad_target = read(4, 4, 0, 0, 1);
    bad_target.readable[1] = 7;
    assert_eq!(
        response(&device.command(0, bad_target)[0]).0,
        Response::BAD_TARGET
    );
    assert_eq!(device.counters().malformed, 3);
    device.command(0, read(5, 5, 0, 0, 1));
    assert_eq!(
        response(&settle(&mut device, 1000)[0]),
        (Response::OK, 0),
        "still serving"
    );
}

#[test]
fn held_commands_are_bounded() {
    let mut device = device("[[fault]]\nkind = \"timeout\"\ncommands = \"reads\"\n");
    let limit = unjam_vhost::device::MAX_HELD_COMMANDS as u32;
    for token in 0..limit {
        assert!(device
            .command(0, read(token, u64::from(token), 0, 0, 1))
            .is_empty());
    }
    let done = device.command(0, read(limit, 0, 0, 0, 1));
    assert_eq!(response(&done[0]).0, Response::BUSY);
    device.reset();
    assert_eq!(device.next_due_us(), None);
}

#[test]
fn writes_land_and_read_back() {
    let mut device = device("");
    let mut write = read(1, 1, 0, 10, 1);
    write.readable[19] = 0x2a;
    write.readable.extend(std::iter::repeat_n(0xab, 512));
    write.writable_len = RESPONSE_HEADER_LEN;
    device.command(0, write);
    assert_eq!(response(&settle(&mut device, 1000)[0]), (Response::OK, 0));
    device.command(2000, read(2, 2, 0, 10, 1));
    let done = settle(&mut device, 3000);
    assert!(done[0].bytes[RESPONSE_HEADER_LEN..]
        .iter()
        .all(|b| *b == 0xab));
}
