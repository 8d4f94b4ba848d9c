//! REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN, service action 0Ch; SPC-4 §6.35): every
//! command the executor serves, with the CDB usage data of each (which bits it evaluates),
//! in the all-commands or the one-command format, with command timeouts on request (RCTD).
//!
//! The table here must list what `execute` dispatches; a test walks it.

use super::{be32, byte, respond, PortView, Reply};

/// One supported command.
#[derive(Clone, Copy, Debug)]
pub(super) struct Supported {
    pub opcode: u8,
    pub service_action: Option<u8>,
    /// CDB USAGE DATA: byte 0 is the opcode, then the bits the executor evaluates.
    pub usage: &'static [u8],
}

const fn entry(opcode: u8, usage: &'static [u8]) -> Supported {
    Supported {
        opcode,
        service_action: None,
        usage,
    }
}

const fn with_action(opcode: u8, action: u8, usage: &'static [u8]) -> Supported {
    Supported {
        opcode,
        service_action: Some(action),
        usage,
    }
}

const RW10: [u8; 10] = [0, 0x18, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0];
const RW12: [u8; 12] = [
    0, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
];
const RW16: [u8; 16] = [
    0, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
];

const fn with_op<const N: usize>(mut usage: [u8; N], opcode: u8, flags: u8) -> [u8; N] {
    usage[0] = opcode;
    usage[1] = flags;
    usage
}

/// Commands every logical unit serves.
pub(super) const COMMANDS: &[Supported] = &[
    entry(0x00, &[0x00, 0, 0, 0, 0, 0]),
    entry(0x03, &[0x03, 0x01, 0, 0, 0xff, 0]),
    entry(0x08, &[0x08, 0x1f, 0xff, 0xff, 0xff, 0]),
    entry(0x0a, &[0x0a, 0x1f, 0xff, 0xff, 0xff, 0]),
    entry(0x12, &[0x12, 0x01, 0xff, 0xff, 0xff, 0]),
    entry(0x16, &[0x16, 0, 0, 0, 0, 0]),
    entry(0x17, &[0x17, 0, 0, 0, 0, 0]),
    entry(0x1a, &[0x1a, 0x08, 0xff, 0xff, 0xff, 0]),
    entry(0x1b, &[0x1b, 0x01, 0, 0x0f, 0xf7, 0]),
    entry(0x25, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    entry(0x28, &with_op(RW10, 0x28, 0x18)),
    entry(0x2a, &with_op(RW10, 0x2a, 0x18)),
    entry(0x2e, &with_op(RW10, 0x2e, 0x12)),
    entry(0x2f, &with_op(RW10, 0x2f, 0x16)),
    entry(0x34, &with_op(RW10, 0x34, 0x02)),
    entry(0x35, &with_op(RW10, 0x35, 0x02)),
    entry(0x37, &[0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0]),
    entry(0x41, &with_op(RW10, 0x41, 0x08)),
    entry(0x42, &[0x42, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0]),
    entry(0x56, &[0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    entry(0x57, &[0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    entry(0x5a, &[0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0]),
    with_action(0x5e, 0x00, &[0x5e, 0x00, 0, 0, 0, 0, 0, 0xff, 0xff, 0]),
    with_action(0x5e, 0x01, &[0x5e, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0]),
    with_action(0x5e, 0x02, &[0x5e, 0x02, 0, 0, 0, 0, 0, 0xff, 0xff, 0]),
    with_action(0x5e, 0x03, &[0x5e, 0x03, 0, 0, 0, 0, 0, 0xff, 0xff, 0]),
    with_action(
        0x5f,
        0x00,
        &[0x5f, 0x00, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    ),
    with_action(
        0x5f,
        0x01,
        &[0x5f, 0x01, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    ),
    with_action(
        0x5f,
        0x02,
        &[0x5f, 0x02, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    ),
    with_action(
        0x5f,
        0x03,
        &[0x5f, 0x03, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    ),
    with_action(
        0x5f,
        0x04,
        &[0x5f, 0x04, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    ),
    with_action(
        0x5f,
        0x05,
        &[0x5f, 0x05, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    ),
    with_action(
        0x5f,
        0x06,
        &[0x5f, 0x06, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    ),
    entry(0x88, &with_op(RW16, 0x88, 0x18)),
    entry(
        0x89,
        &[
            0x89, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0, 0,
        ],
    ),
    entry(0x8a, &with_op(RW16, 0x8a, 0x18)),
    entry(0x8b, &with_op(RW16, 0x8b, 0x18)),
    entry(0x8e, &with_op(RW16, 0x8e, 0x12)),
    entry(0x8f, &with_op(RW16, 0x8f, 0x16)),
    entry(0x90, &with_op(RW16, 0x90, 0x02)),
    entry(0x91, &with_op(RW16, 0x91, 0x02)),
    entry(0x93, &with_op(RW16, 0x93, 0x09)),
    entry(
        0x9c,
        &[
            0x9c, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
            0,
        ],
    ),
    with_action(0x9e, 0x10, &with_op(RW16, 0x9e, 0x10)),
    with_action(0x9e, 0x12, &with_op(RW16, 0x9e, 0x12)),
    entry(
        0xa0,
        &[0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    ),
    with_action(
        0xa3,
        0x0c,
        &[
            0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
        ],
    ),
    entry(0xa8, &with_op(RW12, 0xa8, 0x18)),
    entry(0xaa, &with_op(RW12, 0xaa, 0x18)),
    entry(0xae, &with_op(RW12, 0xae, 0x12)),
    entry(0xaf, &with_op(RW12, 0xaf, 0x16)),
    entry(
        0xb7,
        &[0xb7, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    ),
];

/// REPORT TARGET PORT GROUPS, served when the unit reports ALUA.
const REPORT_TARGET_PORT_GROUPS: Supported = with_action(
    0xa3,
    0x0a,
    &[0xa3, 0xea, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
);

/// Every command the unit behind `port` serves.
pub(super) fn supported(port: PortView<'_>) -> impl Iterator<Item = Supported> {
    let alua = !port.port_groups.is_empty();
    COMMANDS
        .iter()
        .copied()
        .chain(alua.then_some(REPORT_TARGET_PORT_GROUPS))
}

/// Whether `opcode` has service actions among the supported commands.
fn has_service_actions(port: PortView<'_>, opcode: u8) -> bool {
    supported(port).any(|c| c.opcode == opcode && c.service_action.is_some())
}

/// Nominal and recommended command timeouts, in seconds.
const TIMEOUTS_S: (u32, u32) = (1, 30);

fn timeouts(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x00, 0x0a, 0, 0]);
    out.extend_from_slice(&TIMEOUTS_S.0.to_be_bytes());
    out.extend_from_slice(&TIMEOUTS_S.1.to_be_bytes());
}

pub(super) fn report_supported(port: PortView<'_>, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    let options = byte(cdb, 2) & 0x07;
    let timeouts_wanted = byte(cdb, 2) & 0x80 != 0;
    let requested = byte(cdb, 3);
    let action = u16::from_be_bytes([byte(cdb, 4), byte(cdb, 5)]);
    let allocation_length = be32(cdb, 6) as usize;
    let data = match options {
        0 => all_commands(port, timeouts_wanted),
        1..=3 => {
            let with_actions = has_service_actions(port, requested);
            let wrong = (options == 1 && with_actions) || (options == 2 && !with_actions);
            if wrong || action > 0x1f {
                return Reply::invalid_field();
            }
            one_command(
                port,
                requested,
                with_actions.then_some(action as u8),
                timeouts_wanted,
            )
        }
        _ => return Reply::invalid_field(),
    };
    respond(data_in, &data, allocation_length)
}

fn all_commands(port: PortView<'_>, timeouts_wanted: bool) -> Vec<u8> {
    let mut data = vec![0u8; 4];
    for command in supported(port) {
        let action = command.service_action.unwrap_or(0);
        let flags = u8::from(command.service_action.is_some()) | u8::from(timeouts_wanted) << 1;
        let length = command.usage.len() as u16;
        data.extend_from_slice(&[command.opcode, 0, 0, action, 0, flags]);
        data.extend_from_slice(&length.to_be_bytes());
        if timeouts_wanted {
            timeouts(&mut data);
        }
    }
    let length = (data.len() - 4) as u32;
    data[..4].copy_from_slice(&length.to_be_bytes());
    data
}

fn one_command(
    port: PortView<'_>,
    opcode: u8,
    action: Option<u8>,
    timeouts_wanted: bool,
) -> Vec<u8> {
    let found = supported(port).find(|c| c.opcode == opcode && c.service_action == action);
    let Some(command) = found else {
        return vec![0, 0x01, 0, 0];
    };
    let length = command.usage.len() as u16;
    let mut data = vec![0, u8::from(timeouts_wanted) << 7 | 0x03];
    data.extend_from_slice(&length.to_be_bytes());
    data.extend_from_slice(command.usage);
    if timeouts_wanted {
        timeouts(&mut data);
    }
    data
}
