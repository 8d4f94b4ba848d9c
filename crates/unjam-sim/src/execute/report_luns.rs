//! REPORT LUNS (SPC-4 §6.33): the LUN inventory of the target the command was sent to.

use super::{be32, byte, Reply, MAX_TRANSFER_BYTES};

/// The most LUNs one REPORT LUNS lists (bounds the response buffer).
pub const MAX_REPORTED_LUNS: usize = 16_384;

pub(super) fn report_luns(luns: &[u64], cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    let select_report = byte(cdb, 2);
    let allocation_length = be32(cdb, 6) as usize;
    if allocation_length < 16 || select_report > 0x02 {
        return Reply::invalid_field();
    }
    // SELECT REPORT 01h lists only well-known LUNs, of which the simulator has none.
    let listed = if select_report == 0x01 { &[][..] } else { luns };
    let listed = &listed[..listed.len().min(MAX_REPORTED_LUNS)];
    let limit = allocation_length.min(MAX_TRANSFER_BYTES);
    let list_length = (listed.len() * 8) as u32;
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&list_length.to_be_bytes());
    data_in.extend_from_slice(&header[..limit.min(8)]);
    for lun in listed {
        if data_in.len() >= limit {
            break;
        }
        let entry = encode_lun(*lun);
        let take = (limit - data_in.len()).min(8);
        data_in.extend_from_slice(&entry[..take]);
    }
    Reply::GOOD
}

/// The eight-byte LUN field (SAM-5 §4.7): LUNs below 256 use peripheral device addressing
/// (`00 LL`); larger numbers are written as the kernel's `int_to_scsilun` does, two bytes
/// per level, so they must already carry their addressing-method bits (e.g. 0x4100 for
/// flat-space LUN 256).
pub fn encode_lun(lun: u64) -> [u8; 8] {
    let mut entry = [0u8; 8];
    let mut rest = lun;
    for level in 0..4 {
        entry[level * 2] = (rest >> 8) as u8;
        entry[level * 2 + 1] = rest as u8;
        rest >>= 16;
    }
    entry
}
