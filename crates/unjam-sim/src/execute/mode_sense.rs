//! MODE SENSE(6) and MODE SENSE(10) (SPC-4 §6.13–6.14): the caching page (08h), the control
//! page (0Ah) and all pages (3Fh), with a short or long block descriptor. MODE SELECT is not
//! supported, so the changeable values are all zero.

use unjam_scsi::cdb::opcode;

use super::{be16, byte, respond, Reply};
use crate::logical_unit::LogicalUnit;
use crate::sense_data::code;

const PAGE_CACHING: u8 = 0x08;
const PAGE_CONTROL: u8 = 0x0a;
const PAGE_ALL: u8 = 0x3f;

/// Page control field values.
const PC_CHANGEABLE: u8 = 1;
const PC_SAVED: u8 = 3;

pub(super) fn mode_sense(unit: &LogicalUnit, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    let ten = cdb.first() == Some(&opcode::MODE_SENSE_10);
    let disable_block_descriptors = byte(cdb, 1) & 0x08 != 0;
    let long_lba_accepted = ten && byte(cdb, 1) & 0x10 != 0;
    let page_control = byte(cdb, 2) >> 6;
    let page = byte(cdb, 2) & 0x3f;
    let subpage = byte(cdb, 3);
    let allocation_length = if ten {
        be16(cdb, 7) as usize
    } else {
        byte(cdb, 4) as usize
    };
    if page_control == PC_SAVED {
        return Reply::illegal_request(code::SAVING_PARAMETERS_NOT_SUPPORTED);
    }
    if subpage != 0 && !(page == PAGE_ALL && subpage == 0xff) {
        return Reply::invalid_field();
    }
    let mut pages = [0u8; 32];
    let pages_length = match page {
        PAGE_CACHING => caching_page(unit, page_control, &mut pages[..20]),
        PAGE_CONTROL => control_page(page_control, &mut pages[..12]),
        PAGE_ALL => {
            caching_page(unit, page_control, &mut pages[..20])
                + control_page(page_control, &mut pages[20..32])
        }
        _ => return Reply::invalid_field(),
    };
    let mut descriptor = [0u8; 16];
    let descriptor_length = match (disable_block_descriptors, long_lba_accepted) {
        (true, _) => 0,
        (false, false) => short_descriptor(unit, &mut descriptor),
        (false, true) => long_descriptor(unit, &mut descriptor),
    };
    let mut data = [0u8; 8 + 16 + 32];
    let header_length = if ten { 8 } else { 4 };
    let total = header_length + descriptor_length + pages_length;
    if ten {
        data[0..2].copy_from_slice(&((total - 2) as u16).to_be_bytes());
        data[3] = 0x10; // DPOFUA
        data[4] = long_lba_accepted as u8 & (descriptor_length == 16) as u8;
        data[6..8].copy_from_slice(&(descriptor_length as u16).to_be_bytes());
    } else {
        data[0] = (total - 1) as u8;
        data[2] = 0x10;
        data[3] = descriptor_length as u8;
    }
    data[header_length..header_length + descriptor_length]
        .copy_from_slice(&descriptor[..descriptor_length]);
    let pages_at = header_length + descriptor_length;
    data[pages_at..total].copy_from_slice(&pages[..pages_length]);
    respond(data_in, &data[..total], allocation_length)
}

fn caching_page(unit: &LogicalUnit, page_control: u8, out: &mut [u8]) -> usize {
    out[0] = PAGE_CACHING;
    out[1] = 0x12;
    if page_control != PC_CHANGEABLE && unit.write_cache_enabled {
        out[2] = 0x04; // WCE
    }
    20
}

fn control_page(page_control: u8, out: &mut [u8]) -> usize {
    out[0] = PAGE_CONTROL;
    out[1] = 0x0a;
    if page_control != PC_CHANGEABLE {
        out[3] = 0x10; // queue algorithm modifier 1: unrestricted reordering
    }
    12
}

fn short_descriptor(unit: &LogicalUnit, out: &mut [u8; 16]) -> usize {
    let blocks = u32::try_from(unit.media.block_count()).unwrap_or(u32::MAX);
    out[0..4].copy_from_slice(&blocks.to_be_bytes());
    out[4..8].copy_from_slice(&unit.media.block_size().to_be_bytes());
    out[4] = 0;
    8
}

fn long_descriptor(unit: &LogicalUnit, out: &mut [u8; 16]) -> usize {
    out[0..8].copy_from_slice(&unit.media.block_count().to_be_bytes());
    out[12..16].copy_from_slice(&unit.media.block_size().to_be_bytes());
    16
}
