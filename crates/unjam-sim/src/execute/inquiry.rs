//! INQUIRY: standard data (with version descriptors) and the vital product data pages 00h
//! (supported pages), 80h (unit serial number), 83h (device identification) and the SBC
//! pages of `vpd`.

use super::{be16, byte, respond, PortView, Reply};
use crate::logical_unit::LogicalUnit;

pub const VENDOR: &[u8; 8] = b"UNJAM   ";
pub const PRODUCT: &[u8; 16] = b"SIMULATED DISK  ";
pub const REVISION: &[u8; 4] = b"0001";

const SUPPORTED_PAGES: [u8; 6] = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];

/// Version descriptors: SAM-5, SPC-4, SBC-3, iSCSI (SPC-4 table 28).
const VERSIONS: [u16; 4] = [0x00a0, 0x0460, 0x04c0, 0x0960];

pub(super) fn inquiry(
    unit: &LogicalUnit,
    port: PortView<'_>,
    cdb: &[u8],
    data_in: &mut Vec<u8>,
) -> Reply {
    let evpd = byte(cdb, 1) & 0x01 != 0;
    let page = byte(cdb, 2);
    let allocation_length = be16(cdb, 3) as usize;
    if !evpd {
        if page != 0 {
            return Reply::invalid_field();
        }
        let data = standard(0x00, super::alua::tpgs_bits(port));
        return respond(data_in, &data, allocation_length);
    }
    let mut page_data = [0u8; 64];
    let length = match page {
        0x00 => supported_pages(&mut page_data),
        0x80 => unit_serial(unit, &mut page_data),
        0x83 => identification(unit, port, &mut page_data),
        other => match super::vpd::page(unit, other, &mut page_data) {
            Some(length) => length,
            None => return Reply::invalid_field(),
        },
    };
    respond(data_in, &page_data[..length], allocation_length)
}

/// INQUIRY to a LUN with no logical unit: peripheral qualifier 3, device type 1Fh.
pub(super) fn inquiry_absent(cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    if byte(cdb, 1) & 0x01 != 0 || byte(cdb, 2) != 0 {
        return Reply::invalid_field();
    }
    respond(data_in, &standard(0x7f, 0), be16(cdb, 3) as usize)
}

/// 96 bytes of standard INQUIRY data: SPC-4, HISUP, response format 2, CMDQUE, the TPGS
/// bits of byte 5 and the version descriptors.
fn standard(peripheral: u8, tpgs: u8) -> [u8; 96] {
    let mut data = [0u8; 96];
    data[0] = peripheral;
    data[2] = 0x06;
    data[3] = 0x12;
    data[4] = 91;
    data[5] = tpgs;
    for (index, version) in VERSIONS.iter().enumerate() {
        data[58 + 2 * index..60 + 2 * index].copy_from_slice(&version.to_be_bytes());
    }
    data[7] = 0x02;
    data[8..16].copy_from_slice(VENDOR);
    data[16..32].copy_from_slice(PRODUCT);
    data[32..36].copy_from_slice(REVISION);
    data
}

fn supported_pages(out: &mut [u8; 64]) -> usize {
    out[1] = 0x00;
    out[3] = SUPPORTED_PAGES.len() as u8;
    out[4..4 + SUPPORTED_PAGES.len()].copy_from_slice(&SUPPORTED_PAGES);
    4 + SUPPORTED_PAGES.len()
}

fn unit_serial(unit: &LogicalUnit, out: &mut [u8; 64]) -> usize {
    let serial = unit.identity.serial();
    out[1] = 0x80;
    out[3] = serial.len() as u8;
    out[4..4 + serial.len()].copy_from_slice(&serial);
    4 + serial.len()
}

/// Designators: NAA (the logical unit), T10 vendor ID (vendor + serial), the relative
/// target port (which path this is) and, with ALUA, the target port group.
fn identification(unit: &LogicalUnit, port: PortView<'_>, out: &mut [u8; 64]) -> usize {
    out[1] = 0x83;
    let mut at = 4;
    // NAA: code set binary, association logical unit, designator type 3.
    out[at..at + 4].copy_from_slice(&[0x01, 0x03, 0x00, 8]);
    out[at + 4..at + 12].copy_from_slice(&unit.identity.naa_bytes());
    at += 12;
    // T10 vendor ID: code set ASCII, association logical unit, designator type 1.
    let serial = unit.identity.serial();
    let length = VENDOR.len() + serial.len();
    out[at..at + 4].copy_from_slice(&[0x02, 0x01, 0x00, length as u8]);
    out[at + 4..at + 12].copy_from_slice(VENDOR);
    out[at + 12..at + 12 + serial.len()].copy_from_slice(&serial);
    at += 4 + length;
    // Relative target port: code set binary, PIV 0, association target port, type 4.
    out[at..at + 4].copy_from_slice(&[0x01, 0x14, 0x00, 4]);
    out[at + 6..at + 8].copy_from_slice(&port.relative_port.to_be_bytes());
    at += 8;
    if !port.port_groups.is_empty() {
        // Target port group: code set binary, association target port, type 5.
        out[at..at + 4].copy_from_slice(&[0x01, 0x15, 0x00, 4]);
        out[at + 6..at + 8].copy_from_slice(&port.port_group.to_be_bytes());
        at += 8;
    }
    out[2..4].copy_from_slice(&((at - 4) as u16).to_be_bytes());
    at
}
