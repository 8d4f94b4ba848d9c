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
    assert_eq!(data.len(), 96);
    assert_eq!(data[0], 0x00, "connected direct-access block device");
    assert_eq!(&data[58..60], &[0x00, 0xa0], "claims SAM-5");
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
    assert_eq!(&pages[4..], &[0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
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
    let (reply, _) = run(&mut unit, &[0x12, 1, 0xb3, 0, 255, 0], &[]);
    assert_eq!(sense_of(&reply), (0x05, 0x24, 0x00));
    let (_, limits) = run(&mut unit, &[0x12, 1, 0xb0, 0, 255, 0], &[]);
    assert_eq!((limits.len(), limits[1], limits[3]), (64, 0xb0, 0x3c));
    let (_, provisioning) = run(&mut unit, &[0x12, 1, 0xb2, 0, 255, 0], &[]);
    assert_eq!(provisioning[6] & 0x07, 0x02, "thin provisioned");
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
    let (reply, none) = run(&mut unit, &rw16(MediaAccess::Read, 500, 0), &[]);
    assert_eq!(
        (reply, none.len()),
        (Reply::GOOD, 0),
        "zero blocks is no transfer"
    );
    let (reply, _) = run(&mut unit, &rw16(MediaAccess::Read, 5000, 0), &[]);
    assert_eq!(
        sense_of(&reply),
        (0x05, 0x21, 0x00),
        "zero blocks still need an LBA on the media"
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
    path.withheld_sense = Some(Box::new(SenseData::fixed(
        SenseKey::ILLEGAL_REQUEST,
        (0x24, 0),
        None,
    )));
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

/// The commands libiscsi's conformance suite exercises beyond READ and WRITE.
mod sbc {
    use super::*;

    fn cdb10(opcode: u8, flags: u8, lba: u32, blocks: u16) -> [u8; 10] {
        let mut cdb = [0u8; 10];
        cdb[0] = opcode;
        cdb[1] = flags;
        cdb[2..6].copy_from_slice(&lba.to_be_bytes());
        cdb[7..9].copy_from_slice(&blocks.to_be_bytes());
        cdb
    }

    fn cdb16(opcode: u8, flags: u8, lba: u64, blocks: u32) -> [u8; 16] {
        let mut cdb = [0u8; 16];
        cdb[0] = opcode;
        cdb[1] = flags;
        cdb[2..10].copy_from_slice(&lba.to_be_bytes());
        cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
        cdb
    }

    fn written(unit: &mut LogicalUnit, lba: u32, fill: u8, blocks: u16) -> Vec<u8> {
        let data = vec![fill; blocks as usize * 512];
        let (reply, _) = run(unit, &cdb10(0x2a, 0, lba, blocks), &data);
        assert_eq!(reply, Reply::GOOD);
        data
    }

    fn read(unit: &mut LogicalUnit, lba: u32, blocks: u16) -> Vec<u8> {
        run(unit, &cdb10(0x28, 0, lba, blocks), &[]).1
    }

    #[test]
    fn twelve_byte_reads_and_writes_and_protection_refused() {
        let mut unit = unit(512, 1000);
        let mut write12 = [0u8; 12];
        write12[0] = 0xaa;
        write12[5] = 7;
        write12[9] = 2;
        let (reply, _) = run(&mut unit, &write12, &[3u8; 1024]);
        assert_eq!(reply, Reply::GOOD);
        let mut read12 = write12;
        read12[0] = 0xa8;
        assert_eq!(run(&mut unit, &read12, &[]).1, vec![3u8; 1024]);
        read12[1] = 0x20;
        assert_eq!(
            sense_of(&run(&mut unit, &read12, &[]).0),
            (0x05, 0x24, 0x00)
        );
    }

    #[test]
    fn verify_compares_only_with_bytchk() {
        let mut unit = unit(512, 1000);
        let data = written(&mut unit, 10, 0x5a, 2);
        assert_eq!(
            run(&mut unit, &cdb10(0x2f, 0x02, 10, 2), &data).0,
            Reply::GOOD
        );
        let mut other = data.clone();
        other[700] ^= 1;
        let (reply, _) = run(&mut unit, &cdb10(0x2f, 0x02, 10, 2), &other);
        assert_eq!(sense_of(&reply), (0x0e, 0x1d, 0x00));
        assert_eq!(
            unjam_scsi::sense::information(reply.sense.unwrap().as_bytes()),
            Some(700)
        );
        assert_eq!(
            run(&mut unit, &cdb10(0x2f, 0, 10, 2), &other).0,
            Reply::GOOD
        );
        let one = &data[..512];
        assert_eq!(
            run(&mut unit, &cdb10(0x2f, 0x06, 10, 2), one).0,
            Reply::GOOD
        );
        assert_eq!(
            sense_of(&run(&mut unit, &cdb10(0x2f, 0x04, 10, 2), &data).0).2,
            0x00
        );
    }

    #[test]
    fn compare_and_write_swaps_only_on_a_match_and_orwrite_ors() {
        let mut unit = unit(512, 1000);
        let old = written(&mut unit, 0, 0x11, 1);
        let mut caw = [0u8; 16];
        caw[0] = 0x89;
        caw[13] = 1;
        let mut data = old.clone();
        data.extend_from_slice(&[0x22; 512]);
        assert_eq!(run(&mut unit, &caw, &data).0, Reply::GOOD);
        assert_eq!(read(&mut unit, 0, 1), vec![0x22; 512]);
        let (reply, _) = run(&mut unit, &caw, &data);
        assert_eq!(sense_of(&reply), (0x0e, 0x1d, 0x00), "stale compare data");
        assert_eq!(
            sense_of(&run(&mut unit, &caw, &data[..512]).0),
            (0x05, 0x24, 0x00)
        );
        let (reply, _) = run(&mut unit, &cdb16(0x8b, 0, 0, 1), &[0x41; 512]);
        assert_eq!(reply, Reply::GOOD);
        assert_eq!(read(&mut unit, 0, 1), vec![0x63; 512]);
    }

    #[test]
    fn write_same_fills_unmaps_and_runs_to_the_end() {
        let mut unit = unit(512, 1000);
        let (reply, _) = run(&mut unit, &cdb10(0x41, 0, 100, 3), &[0x77; 512]);
        assert_eq!(reply, Reply::GOOD);
        assert_eq!(read(&mut unit, 100, 3), vec![0x77; 1536]);
        let (reply, _) = run(&mut unit, &cdb10(0x41, 0x08, 100, 3), &[0x77; 512]);
        assert_eq!(reply, Reply::GOOD);
        assert_eq!(read(&mut unit, 100, 3), vec![0; 1536], "UNMAP deallocates");
        written(&mut unit, 990, 9, 10);
        let (reply, _) = run(&mut unit, &cdb16(0x93, 0x09, 995, 0), &[]);
        assert_eq!(reply, Reply::GOOD, "NDOB and 0 blocks: to the end");
        assert_eq!(read(&mut unit, 995, 5), vec![0; 2560]);
        assert_eq!(read(&mut unit, 990, 1), vec![9; 512]);
        let (reply, _) = run(&mut unit, &cdb10(0x41, 0x10, 0, 1), &[0; 512]);
        assert_eq!(sense_of(&reply), (0x05, 0x24, 0x00), "ANCHOR");
    }

    #[test]
    fn unmap_and_get_lba_status() {
        let mut unit = unit(512, 4096);
        written(&mut unit, 0, 1, 64);
        let mut list = vec![0u8; 24];
        list[1] = 22;
        list[3] = 16;
        list[8..16].copy_from_slice(&8u64.to_be_bytes());
        list[16..20].copy_from_slice(&16u32.to_be_bytes());
        let unmap = [0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0];
        assert_eq!(run(&mut unit, &unmap, &list).0, Reply::GOOD);
        let status = cdb16(0x9e, 0x12, 0, 4096);
        let (reply, data) = run(&mut unit, &status, &[]);
        assert_eq!(reply, Reply::GOOD);
        let descriptor = |n: usize| {
            let at = 8 + 16 * n;
            let lba = u64::from_be_bytes(data[at..at + 8].try_into().unwrap());
            let blocks = u32::from_be_bytes(data[at + 8..at + 12].try_into().unwrap());
            (lba, blocks, data[at + 12])
        };
        assert_eq!(descriptor(0), (0, 8, 0));
        assert_eq!(descriptor(1), (8, 16, 1));
        assert_eq!(descriptor(2), (24, 40, 0));
        let (reply, _) = run(&mut unit, &cdb16(0x9e, 0x12, 4096, 4096), &[]);
        assert_eq!(sense_of(&reply), (0x05, 0x21, 0x00));
        list[8..16].copy_from_slice(&4090u64.to_be_bytes());
        assert_eq!(
            sense_of(&run(&mut unit, &unmap, &list).0),
            (0x05, 0x21, 0x00)
        );
        list[16..20].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(run(&mut unit, &unmap, &list).0, Reply::GOOD, "zero blocks");
    }

    #[test]
    fn reservations_shut_other_nexuses_out() {
        let mut unit = unit(512, 1000);
        let luns = [0u64];
        let on = |nexus| PortView {
            target_luns: &luns,
            nexus,
            ..PortView::default()
        };
        let mut path = PathState::default();
        let mut data_in = Vec::new();
        let mut send = |unit: &mut LogicalUnit, nexus, cdb: &[u8]| {
            execute(unit, &mut path, on(nexus), cdb, &[], &mut data_in).status
        };
        let reserve = [0x16, 0, 0, 0, 0, 0];
        let release = [0x17, 0, 0, 0, 0, 0];
        let mode_sense = [0x1a, 0, 0x3f, 0, 255, 0];
        assert_eq!(send(&mut unit, 1, &reserve), SamStatus::GOOD);
        assert_eq!(
            send(&mut unit, 2, &reserve),
            SamStatus::RESERVATION_CONFLICT
        );
        assert_eq!(
            send(&mut unit, 2, &mode_sense),
            SamStatus::RESERVATION_CONFLICT
        );
        assert_eq!(send(&mut unit, 2, &[0x12, 0, 0, 0, 36, 0]), SamStatus::GOOD);
        assert_eq!(send(&mut unit, 2, &release), SamStatus::GOOD, "a no-op");
        assert_eq!(send(&mut unit, 1, &mode_sense), SamStatus::GOOD);
        assert_eq!(send(&mut unit, 1, &release), SamStatus::GOOD);
        assert_eq!(send(&mut unit, 2, &mode_sense), SamStatus::GOOD);
    }

    #[test]
    fn report_supported_operation_codes_lists_what_is_dispatched() {
        let mut unit = unit(512, 1000);
        let all = [0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0];
        let (reply, data) = run(&mut unit, &all, &[]);
        assert_eq!(reply, Reply::GOOD);
        let length = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        assert_eq!(length, data.len() - 4);
        for descriptor in data[4..].chunks(8) {
            let usage_length = usize::from(u16::from_be_bytes([descriptor[6], descriptor[7]]));
            let mut cdb = vec![0u8; usage_length];
            cdb[0] = descriptor[0];
            cdb[1] = descriptor[3];
            if descriptor[0] == 0xa3 {
                cdb[9] = 64;
            }
            let (reply, _) = run(&mut unit, &cdb, &[0u8; 1 << 16]);
            let refused_as_unknown = reply
                .sense
                .is_some_and(|s| s.key_code().map(|k| (k.1, k.2)) == Some((0x20, 0)));
            assert!(
                !refused_as_unknown,
                "listed but not served: {descriptor:02x?}"
            );
        }
        let one = [0xa3, 0x0c, 0x01, 0x28, 0, 0, 0, 0, 0, 64, 0, 0];
        let (_, read10) = run(&mut unit, &one, &[]);
        assert_eq!(&read10[..6], &[0, 0x03, 0, 10, 0x28, 0x18]);
        let with_action = [0xa3, 0x0c, 0x01, 0x9e, 0, 0, 0, 0, 0, 64, 0, 0];
        assert_eq!(
            sense_of(&run(&mut unit, &with_action, &[]).0),
            (0x05, 0x24, 0x00)
        );
        let missing = [0xa3, 0x0c, 0x01, 0xee, 0, 0, 0, 0, 0, 64, 0, 0];
        assert_eq!(run(&mut unit, &missing, &[]).1, [0, 0x01, 0, 0]);
    }
}

mod persistent_reservations {
    use super::*;

    struct Nexuses {
        unit: LogicalUnit,
        path: PathState,
    }

    impl Nexuses {
        fn send(&mut self, nexus: u64, cdb: &[u8], data_out: &[u8]) -> (SamStatus, Vec<u8>) {
            let luns = [0u64];
            let port = PortView {
                target_luns: &luns,
                nexus,
                initiator_port: "iqn.2024-11.dev.unjam:i,i,0x400001370000",
                ..PortView::default()
            };
            let mut data_in = Vec::new();
            let reply = execute(
                &mut self.unit,
                &mut self.path,
                port,
                cdb,
                data_out,
                &mut data_in,
            );
            (reply.status, data_in)
        }

        fn out(
            &mut self,
            nexus: u64,
            action: u8,
            kind: u8,
            key: u64,
            action_key: u64,
        ) -> SamStatus {
            let cdb = [0x5f, action, kind, 0, 0, 0, 0, 0, 24, 0];
            let mut list = [0u8; 24];
            list[..8].copy_from_slice(&key.to_be_bytes());
            list[8..16].copy_from_slice(&action_key.to_be_bytes());
            self.send(nexus, &cdb, &list).0
        }

        fn keys(&mut self) -> Vec<u64> {
            let (_, data) = self.send(1, &[0x5e, 0, 0, 0, 0, 0, 0, 1, 0, 0], &[]);
            data[8..]
                .chunks(8)
                .map(|k| u64::from_be_bytes(k.try_into().unwrap()))
                .collect()
        }
    }

    const GOOD: SamStatus = SamStatus::GOOD;
    const CONFLICT: SamStatus = SamStatus::RESERVATION_CONFLICT;

    #[test]
    fn register_reserve_access_release_preempt_clear() {
        let mut lu = Nexuses {
            unit: unit(512, 1000),
            path: PathState::default(),
        };
        assert_eq!(lu.out(1, 0x00, 0, 0, 0xaa), GOOD);
        assert_eq!(lu.out(2, 0x00, 0, 0, 0xbb), GOOD);
        assert_eq!(lu.out(2, 0x00, 0, 0x99, 0xbc), CONFLICT, "wrong key");
        assert_eq!(lu.keys(), [0xaa, 0xbb]);
        assert_eq!(lu.out(1, 0x01, 0x01, 0xaa, 0), GOOD, "WRITE EXCLUSIVE");
        let write = [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        let read = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(lu.send(2, &write, &[0; 512]).0, CONFLICT);
        assert_eq!(lu.send(2, &read, &[]).0, GOOD);
        assert_eq!(lu.send(1, &write, &[0; 512]).0, GOOD);
        assert_eq!(
            lu.send(3, &[0x16, 0, 0, 0, 0, 0], &[]).0,
            CONFLICT,
            "RESERVE(6)"
        );
        let (_, reservation) = lu.send(2, &[0x5e, 1, 0, 0, 0, 0, 0, 0, 64, 0], &[]);
        assert_eq!(&reservation[8..16], &0xaau64.to_be_bytes());
        assert_eq!(reservation[21], 0x01);
        assert_eq!(lu.out(2, 0x04, 0x03, 0xbb, 0xaa), GOOD, "PREEMPT into EA");
        assert_eq!(lu.keys(), [0xbb]);
        assert_eq!(lu.send(1, &read, &[]).0, CONFLICT, "exclusive access");
        let owed = lu.unit.reservations.take_attentions();
        assert_eq!(
            owed,
            Some((1, (0x2a, 0x03))),
            "the preempted nexus is owed 2A/03"
        );
        assert_eq!(
            lu.out(2, 0x02, 0x01, 0xbb, 0),
            SamStatus::CHECK_CONDITION,
            "wrong type"
        );
        assert_eq!(lu.out(2, 0x03, 0, 0xbb, 0), GOOD, "CLEAR");
        assert!(lu.keys().is_empty());
        assert_eq!(lu.send(1, &read, &[]).0, GOOD);
        let (_, full) = lu.send(1, &[0x5e, 3, 0, 0, 0, 0, 0, 1, 0, 0], &[]);
        assert_eq!(&full[4..8], &[0, 0, 0, 0]);
        assert_eq!(lu.out(1, 0x00, 0, 0, 0x11), GOOD);
        let (_, full) = lu.send(1, &[0x5e, 3, 0, 0, 0, 0, 0, 1, 0, 0], &[]);
        assert_eq!(full[8 + 24], 0x45, "an iSCSI TransportID");
        let (status, _) = lu.send(1, &[0x5e, 4, 0, 0, 0, 0, 0, 1, 0, 0], &[]);
        assert_eq!(status, SamStatus::CHECK_CONDITION, "no service action 4");
    }
}
