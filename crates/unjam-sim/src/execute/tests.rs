//! Answers of the executor, command by command.

use super::*;
use crate::identity::Identity;
use crate::media::SparseMedia;
use crate::media_command::{rw16, MediaAccess};

const LUNS: [u64; 3] = [0, 1, 7];

fn unit(block_size: u32, blocks: u64) -> LogicalUnit {
    LogicalUnit::new(
        Identity::derive(1, 0),
        SparseMedia::new(block_size, blocks, 1 << 24).unwrap(),
    )
}

fn port() -> PortView<'static> {
    PortView {
        target_luns: &LUNS,
        relative_port: 2,
        ..PortView::default()
    }
}

fn run(unit: &mut LogicalUnit, cdb: &[u8], data_out: &[u8]) -> (Reply, Vec<u8>) {
    let mut path = PathState::default();
    let mut data_in = Vec::new();
    let reply = execute(unit, &mut path, port(), cdb, data_out, &mut data_in);
    (reply, data_in)
}

fn sense_of(reply: &Reply) -> (u8, u8, u8) {
    let (key, asc, ascq) = reply.sense.unwrap().key_code().unwrap();
    (key.value(), asc, ascq)
}

#[test]
fn standard_inquiry_names_a_disk() {
    let mut unit = unit(512, 1000);
    let (reply, data) = run(&mut unit, &[0x12, 0, 0, 0, 96, 0], &[]);
    assert_eq!(reply, Reply::GOOD);
    assert_eq!(data.len(), 36);
    assert_eq!(data[0], 0x00, "connected direct-access block device");
    assert_eq!(data[4] as usize, data.len() - 5);
    assert_eq!(&data[8..16], b"UNJAM   ");
    let (_, short) = run(&mut unit, &[0x12, 0, 0, 0, 5, 0], &[]);
    assert_eq!(short.len(), 5, "cut to the allocation length");
    let (reply, _) = run(&mut unit, &[0x12, 0, 0x80, 0, 96, 0], &[]);
    assert_eq!(
        sense_of(&reply),
        (0x05, 0x24, 0x00),
        "page code without EVPD"
    );
}

#[test]
fn vpd_pages_carry_the_identity() {
    let mut unit = unit(512, 1000);
    let (_, pages) = run(&mut unit, &[0x12, 1, 0x00, 0, 255, 0], &[]);
    assert_eq!(&pages[4..], &[0x00, 0x80, 0x83]);
    let (_, serial) = run(&mut unit, &[0x12, 1, 0x80, 0, 255, 0], &[]);
    assert_eq!(&serial[4..], &unit.identity.serial());
    let (_, ids) = run(&mut unit, &[0x12, 1, 0x83, 0, 255, 0], &[]);
    let page_length = u16::from_be_bytes([ids[2], ids[3]]) as usize;
    assert_eq!(page_length + 4, ids.len());
    assert_eq!(&ids[4..8], &[0x01, 0x03, 0x00, 8], "NAA designator header");
    assert_eq!(&ids[8..16], &unit.identity.naa_bytes());
    let port_at = ids.len() - 8;
    assert_eq!(ids[port_at + 1], 0x14, "relative target port designator");
    assert_eq!(&ids[port_at + 6..], &[0, 2]);
    let (reply, _) = run(&mut unit, &[0x12, 1, 0xb0, 0, 255, 0], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x24, 0x00));
}

#[test]
fn read_capacity_both_sizes() {
    let mut unit = unit(4096, 1 << 33);
    let (_, ten) = run(&mut unit, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[]);
    assert_eq!(ten, [0xff, 0xff, 0xff, 0xff, 0, 0, 0x10, 0]);
    let mut cdb = [0u8; 16];
    cdb[0] = 0x9e;
    cdb[1] = 0x10;
    cdb[13] = 32;
    let (_, sixteen) = run(&mut unit, &cdb, &[]);
    assert_eq!(sixteen.len(), 32);
    assert_eq!(
        u64::from_be_bytes(sixteen[0..8].try_into().unwrap()),
        (1 << 33) - 1
    );
    assert_eq!(&sixteen[8..12], &[0, 0, 0x10, 0]);
    cdb[1] = 0x11;
    let (reply, _) = run(&mut unit, &cdb, &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x24, 0x00));
}

#[test]
fn report_luns_lists_the_target() {
    let mut unit = unit(512, 100);
    let (reply, data) = run(&mut unit, &[0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], &[]);
    assert_eq!(reply, Reply::GOOD);
    assert_eq!(&data[0..4], &[0, 0, 0, 24]);
    assert_eq!(data.len(), 8 + 24);
    assert_eq!(&data[16..18], &[0, 1]);
    assert_eq!(&data[24..26], &[0, 7]);
    let (reply, _) = run(&mut unit, &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], &[]);
    assert_eq!(
        sense_of(&reply),
        (0x05, 0x24, 0x00),
        "allocation length < 16"
    );
    assert_eq!(report_luns::encode_lun(0x4100), [0x41, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn mode_sense_caching_page() {
    let mut unit = unit(512, 2048);
    let (reply, six) = run(&mut unit, &[0x1a, 0, 0x08, 0, 255, 0], &[]);
    assert_eq!(reply, Reply::GOOD);
    assert_eq!(six[0] as usize, six.len() - 1);
    assert_eq!(six[3], 8, "short block descriptor");
    assert_eq!(&six[4..8], &2048u32.to_be_bytes());
    assert_eq!(&six[12..14], &[0x08, 0x12]);
    assert_eq!(six[14] & 0x04, 0x04, "WCE");
    let (_, ten) = run(&mut unit, &[0x5a, 0x18, 0x3f, 0, 0, 0, 0, 0, 255, 0], &[]);
    assert_eq!(u16::from_be_bytes([ten[0], ten[1]]) as usize, ten.len() - 2);
    assert_eq!(&ten[6..8], &[0, 0], "DBD: no descriptor");
    assert_eq!(ten[8], 0x08);
    assert_eq!(ten[28], 0x0a, "all pages: control page follows");
    let (_, changeable) = run(&mut unit, &[0x1a, 0x08, 0x48, 0, 255, 0], &[]);
    assert_eq!(changeable[6], 0, "nothing changeable");
    let (reply, _) = run(&mut unit, &[0x1a, 0, 0xc8, 0, 255, 0], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x39, 0x00));
    let (reply, _) = run(&mut unit, &[0x1a, 0, 0x19, 0, 255, 0], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x24, 0x00));
}

#[test]
fn writes_read_back_and_ranges_are_checked() {
    let mut unit = unit(512, 1000);
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 7) as u8).collect();
    let (reply, _) = run(&mut unit, &rw16(MediaAccess::Write, 998, 2), &data);
    assert_eq!(reply, Reply::GOOD);
    let (reply, back) = run(&mut unit, &[0x28, 0, 0, 0, 0x03, 0xe6, 0, 0, 2, 0], &[]);
    assert_eq!(reply, Reply::GOOD);
    assert_eq!(back, data);
    let (_, six) = run(&mut unit, &[0x08, 0, 0x03, 0xe7, 1, 0], &[]);
    assert_eq!(six, &data[512..]);
    let (reply, _) = run(&mut unit, &rw16(MediaAccess::Read, 999, 2), &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x21, 0x00));
    let (reply, _) = run(&mut unit, &rw16(MediaAccess::Write, 0, 2), &data[..512]);
    assert_eq!(sense_of(&reply), (0x0b, 0x4b, 0x00), "short data-out");
    let (reply, none) = run(&mut unit, &rw16(MediaAccess::Read, 5000, 0), &[]);
    assert_eq!(
        (reply, none.len()),
        (Reply::GOOD, 0),
        "zero blocks is no transfer"
    );
    let (reply, _) = run(&mut unit, &[0x35, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 0], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x21, 0x00), "sync past the end");
    let (reply, _) = run(&mut unit, &[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[]);
    assert_eq!(reply, Reply::GOOD);
}

#[test]
fn stopped_unit_is_not_ready_until_started() {
    let mut unit = unit(512, 100);
    assert_eq!(run(&mut unit, &[0x1b, 0, 0, 0, 0, 0], &[]).0, Reply::GOOD);
    let (reply, _) = run(&mut unit, &[0, 0, 0, 0, 0, 0], &[]);
    assert_eq!(sense_of(&reply), (0x02, 0x04, 0x02));
    let (reply, _) = run(&mut unit, &rw16(MediaAccess::Read, 0, 1), &[]);
    assert_eq!(sense_of(&reply), (0x02, 0x04, 0x02));
    let (_, sense) = run(&mut unit, &[0x03, 0, 0, 0, 18, 0], &[]);
    assert_eq!((sense[2], sense[12], sense[13]), (0x02, 0x04, 0x02));
    assert_eq!(run(&mut unit, &[0x1b, 0, 0, 0, 1, 0], &[]).0, Reply::GOOD);
    assert_eq!(run(&mut unit, &[0, 0, 0, 0, 0, 0], &[]).0, Reply::GOOD);
}

#[test]
fn unit_attention_is_reported_once_and_not_to_inquiry() {
    let mut unit = unit(512, 100);
    let mut path = PathState::default();
    path.raise_unit_attention(code::POWER_ON_OCCURRED);
    let mut data_in = Vec::new();
    let inquiry = execute(
        &mut unit,
        &mut path,
        port(),
        &[0x12, 0, 0, 0, 36, 0],
        &[],
        &mut data_in,
    );
    assert_eq!(inquiry, Reply::GOOD);
    let tur = execute(&mut unit, &mut path, port(), &[0; 6], &[], &mut data_in);
    assert_eq!(sense_of(&tur), (0x06, 0x29, 0x01));
    let again = execute(&mut unit, &mut path, port(), &[0; 6], &[], &mut data_in);
    assert_eq!(again, Reply::GOOD);
}

#[test]
fn request_sense_hands_out_pending_conditions() {
    let mut unit = unit(512, 100);
    let mut path = PathState::default();
    let mut data_in = Vec::new();
    path.raise_unit_attention(code::DEVICE_RESET_OCCURRED);
    path.withheld_sense = Some(SenseData::fixed(SenseKey::ILLEGAL_REQUEST, (0x24, 0), None));
    let cdb = [0x03, 0, 0, 0, 252, 0];
    execute(&mut unit, &mut path, port(), &cdb, &[], &mut data_in);
    assert_eq!((data_in[2], data_in[12]), (0x06, 0x29));
    execute(&mut unit, &mut path, port(), &cdb, &[], &mut data_in);
    assert_eq!((data_in[2], data_in[12]), (0x05, 0x24));
    execute(&mut unit, &mut path, port(), &cdb, &[], &mut data_in);
    assert_eq!((data_in[2], data_in[12], data_in.len()), (0x00, 0x00, 18));
    let desc = execute(
        &mut unit,
        &mut path,
        port(),
        &[0x03, 1, 0, 0, 252, 0],
        &[],
        &mut data_in,
    );
    assert_eq!(sense_of(&desc), (0x05, 0x24, 0x00));
}

#[test]
fn unknown_opcodes_short_cdbs_and_absent_luns() {
    let mut unit = unit(512, 100);
    let (reply, _) = run(&mut unit, &[0xc5, 0, 0, 0, 0, 0], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x20, 0x00));
    let (reply, _) = run(&mut unit, &[0x28, 0, 0], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x24, 0x00));
    let (reply, _) = run(&mut unit, &[], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x20, 0x00));
    let mut data_in = Vec::new();
    let reply = execute_absent(port(), &[0x12, 0, 0, 0, 36, 0], &mut data_in);
    assert_eq!((reply, data_in[0]), (Reply::GOOD, 0x7f));
    let reply = execute_absent(port(), &rw16(MediaAccess::Read, 0, 1), &mut data_in);
    assert_eq!(sense_of(&reply), (0x05, 0x25, 0x00));
    let reply = execute_absent(
        port(),
        &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0],
        &mut data_in,
    );
    assert_eq!((reply, data_in.len()), (Reply::GOOD, 32));
}

mod alua_states {
    use super::*;
    use unjam_scsi::cdb::response::AccessState;

    const GROUPS: [PortGroup; 2] = [
        PortGroup {
            id: 1,
            state: AccessState::ActiveOptimized,
            preferred: true,
            relative_port: 1,
        },
        PortGroup {
            id: 2,
            state: AccessState::Standby,
            preferred: false,
            relative_port: 2,
        },
    ];

    fn on(groups: &[PortGroup], group: u16, cdb: &[u8]) -> (Reply, Vec<u8>) {
        let mut unit = unit(512, 1000);
        let port = PortView {
            target_luns: &LUNS,
            relative_port: group,
            port_groups: groups,
            port_group: group,
            ..PortView::default()
        };
        let mut data_in = Vec::new();
        let reply = execute(
            &mut unit,
            &mut PathState::default(),
            port,
            cdb,
            &[],
            &mut data_in,
        );
        (reply, data_in)
    }

    fn with_state(state: AccessState) -> [PortGroup; 2] {
        let mut groups = GROUPS;
        groups[1].state = state;
        groups
    }

    #[test]
    fn io_in_each_state_gets_the_standard_sense() {
        let read = rw16(MediaAccess::Read, 0, 1);
        let tur = [0u8; 6];
        assert_eq!(on(&GROUPS, 1, &read).0, Reply::GOOD);
        for (state, ascq) in [
            (AccessState::Standby, 0x0b),
            (AccessState::Unavailable, 0x0c),
            (AccessState::Transitioning, 0x0a),
        ] {
            let groups = with_state(state);
            assert_eq!(sense_of(&on(&groups, 2, &read).0), (0x02, 0x04, ascq));
            assert_eq!(sense_of(&on(&groups, 2, &tur).0), (0x02, 0x04, ascq));
            let (inquiry, _) = on(&groups, 2, &[0x12, 0, 0, 0, 36, 0]);
            assert_eq!(inquiry, Reply::GOOD, "INQUIRY runs in every state");
        }
        let groups = with_state(AccessState::ActiveNonOptimized);
        assert_eq!(on(&groups, 2, &read).0, Reply::GOOD);
        let (mode_sense, _) = on(&GROUPS, 2, &[0x1a, 0, 0x3f, 0, 255, 0]);
        assert_eq!(mode_sense, Reply::GOOD, "MODE SENSE runs in standby");
    }

    #[test]
    fn report_target_port_groups_and_inquiry_tell_the_states() {
        let rtpg = [0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        let (reply, data) = on(&GROUPS, 2, &rtpg);
        assert_eq!(reply, Reply::GOOD);
        assert_eq!(u32::from_be_bytes([data[0], data[1], data[2], data[3]]), 24);
        assert_eq!(data[4], 0x80, "group 1: preferred, active/optimized");
        assert_eq!(&data[6..8], &[0, 1]);
        assert_eq!(data[16], 0x02, "group 2: standby");
        assert_eq!(&data[26..28], &[0, 2], "its relative port");
        let (_, extended) = on(&GROUPS, 1, &[0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(extended[4], 0x10);
        let (_, inquiry) = on(&GROUPS, 1, &[0x12, 0, 0, 0, 36, 0]);
        assert_eq!(inquiry[5] & 0x30, 0x10, "implicit ALUA");
        let (_, plain) = on(&[], 1, &[0x12, 0, 0, 0, 36, 0]);
        assert_eq!(plain[5] & 0x30, 0);
        assert_eq!(sense_of(&on(&[], 1, &rtpg).0), (0x05, 0x24, 0x00));
        let (_, vpd) = on(&GROUPS, 2, &[0x12, 1, 0x83, 0, 255, 0]);
        let tail = &vpd[vpd.len() - 8..];
        assert_eq!(
            tail,
            &[0x01, 0x15, 0, 4, 0, 0, 0, 2],
            "target port group designator"
        );
    }
}
