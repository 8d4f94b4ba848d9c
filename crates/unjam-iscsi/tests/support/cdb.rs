//! Minimal CDBs for the transport tests (SPC-4 / SBC-3 layouts). The CLI uses
//! `unjam_scsi::cdb`; these exist so the transport's tests do not depend on it.

use bytes::Bytes;

pub fn inquiry(allocation_length: u16) -> Bytes {
    let length = allocation_length.to_be_bytes();
    Bytes::copy_from_slice(&[0x12, 0, 0, length[0], length[1], 0])
}

pub fn read_capacity_16() -> Bytes {
    let mut cdb = [0u8; 16];
    cdb[0] = 0x9e;
    cdb[1] = 0x10;
    cdb[13] = 32;
    Bytes::copy_from_slice(&cdb)
}

pub fn report_luns() -> Bytes {
    let mut cdb = [0u8; 12];
    cdb[0] = 0xa0;
    cdb[6..10].copy_from_slice(&4096u32.to_be_bytes());
    Bytes::copy_from_slice(&cdb)
}

pub fn test_unit_ready() -> Bytes {
    Bytes::copy_from_slice(&[0u8; 6])
}

fn rw16(opcode: u8, lba: u64, blocks: u32) -> Bytes {
    let mut cdb = [0u8; 16];
    cdb[0] = opcode;
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    Bytes::copy_from_slice(&cdb)
}

pub fn read_16(lba: u64, blocks: u32) -> Bytes {
    rw16(0x88, lba, blocks)
}

pub fn write_16(lba: u64, blocks: u32) -> Bytes {
    rw16(0x8a, lba, blocks)
}
