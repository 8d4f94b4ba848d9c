//! What the mid-layer asks of any CDB, known command or not: does it touch the medium,
//! which blocks does it move, which way does data flow. Works on raw bytes; never fails
//! loudly (an unreadable CDB answers `false` / `None`).

use super::{opcode, Cdb};

/// Which way a command's data moves, seen from the initiator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DataDirection {
    /// No data phase.
    NoData,
    /// Data-in: the device sends (reads, INQUIRY, MODE SENSE, ...).
    FromDevice,
    /// Data-out: the initiator sends (writes).
    ToDevice,
}

/// Service actions of the 32-byte variable-length CDB (opcode 7Fh) that touch the medium.
const READ_32: u16 = 0x0009;
const VERIFY_32: u16 = 0x000a;
const WRITE_32: u16 = 0x000b;
const WRITE_AND_VERIFY_32: u16 = 0x000c;
const WRITE_SAME_32: u16 = 0x000d;
const WRITE_ATOMIC_32: u16 = 0x0011;

/// True for commands that read, write, verify or flush logical blocks: READ, WRITE,
/// WRITE AND VERIFY, VERIFY (6/10/12/16/32 as they exist), WRITE SAME, COMPARE AND WRITE,
/// ORWRITE, WRITE ATOMIC and SYNCHRONIZE CACHE. These are the commands a medium-access
/// timeout policy counts.
pub fn is_medium_access(cdb: &[u8]) -> bool {
    let Some(&op) = cdb.first() else {
        return false;
    };
    match op {
        opcode::READ_6 | opcode::READ_10 | opcode::READ_12 | opcode::READ_16 => true,
        opcode::WRITE_6 | opcode::WRITE_10 | opcode::WRITE_12 | opcode::WRITE_16 => true,
        opcode::WRITE_AND_VERIFY_10 | opcode::WRITE_AND_VERIFY_12 | opcode::WRITE_AND_VERIFY_16 => {
            true
        }
        opcode::VERIFY_10 | opcode::VERIFY_12 | opcode::VERIFY_16 => true,
        opcode::WRITE_SAME_10 | opcode::WRITE_SAME_16 => true,
        opcode::COMPARE_AND_WRITE | opcode::ORWRITE_16 | opcode::WRITE_ATOMIC_16 => true,
        opcode::SYNCHRONIZE_CACHE_10 | opcode::SYNCHRONIZE_CACHE_16 => true,
        opcode::VARIABLE_LENGTH => matches!(
            variable_length_action(cdb),
            Some(
                READ_32
                    | VERIFY_32
                    | WRITE_32
                    | WRITE_AND_VERIFY_32
                    | WRITE_SAME_32
                    | WRITE_ATOMIC_32
            )
        ),
        _ => false,
    }
}

/// The starting LBA and block count of a read or write (READ, WRITE and WRITE AND VERIFY
/// in every CDB size). READ(6)/WRITE(6) report a transfer length of 0 as 256 blocks.
/// `None` for other commands or a CDB too short to hold the fields.
pub fn lba_and_block_count(cdb: &[u8]) -> Option<(u64, u32)> {
    let (layout, _) = transfer_layout(cdb)?;
    match layout {
        Layout::Six => {
            let [flags, mid, low, length] = field::<4>(cdb, 1)?;
            let lba = u32::from_be_bytes([0, flags & 0x1f, mid, low]);
            let blocks = if length == 0 { 256 } else { u32::from(length) };
            Some((u64::from(lba), blocks))
        }
        Layout::Ten => Some((
            u64::from(u32::from_be_bytes(field(cdb, 2)?)),
            u32::from(u16::from_be_bytes(field(cdb, 7)?)),
        )),
        Layout::Twelve => Some((
            u64::from(u32::from_be_bytes(field(cdb, 2)?)),
            u32::from_be_bytes(field(cdb, 6)?),
        )),
        Layout::Sixteen => Some((
            u64::from_be_bytes(field(cdb, 2)?),
            u32::from_be_bytes(field(cdb, 10)?),
        )),
        Layout::ThirtyTwo => Some((
            u64::from_be_bytes(field(cdb, 12)?),
            u32::from_be_bytes(field(cdb, 28)?),
        )),
    }
}

/// The same read or write with its LBA and transfer length replaced (the inverse of
/// [`lba_and_block_count`]; the other bytes are kept). For READ(6)/WRITE(6) a count of
/// 256 is written as 0, and an LBA above 21 bits or a count of 0 or above 256 does not fit.
/// `None` for other commands or values a field cannot hold.
pub fn with_lba_and_block_count(cdb: &[u8], lba: u64, blocks: u32) -> Option<Cdb> {
    let (layout, _) = transfer_layout(cdb)?;
    let mut bytes = [0u8; Cdb::MAX_LEN];
    bytes.get_mut(..cdb.len())?.copy_from_slice(cdb);
    match layout {
        Layout::Six => {
            let lba = u32::try_from(lba).ok().filter(|l| *l <= 0x1f_ffff)?;
            let length = match blocks {
                1..=255 => blocks as u8,
                256 => 0,
                _ => return None,
            };
            let [_, high, mid, low] = lba.to_be_bytes();
            let flags = cdb.get(1)? & 0xe0;
            put(&mut bytes, cdb.len(), 1, &[flags | high, mid, low, length])?;
        }
        Layout::Ten => {
            put(
                &mut bytes,
                cdb.len(),
                2,
                &u32::try_from(lba).ok()?.to_be_bytes(),
            )?;
            put(
                &mut bytes,
                cdb.len(),
                7,
                &u16::try_from(blocks).ok()?.to_be_bytes(),
            )?;
        }
        Layout::Twelve => {
            put(
                &mut bytes,
                cdb.len(),
                2,
                &u32::try_from(lba).ok()?.to_be_bytes(),
            )?;
            put(&mut bytes, cdb.len(), 6, &blocks.to_be_bytes())?;
        }
        Layout::Sixteen => {
            put(&mut bytes, cdb.len(), 2, &lba.to_be_bytes())?;
            put(&mut bytes, cdb.len(), 10, &blocks.to_be_bytes())?;
        }
        Layout::ThirtyTwo => {
            put(&mut bytes, cdb.len(), 12, &lba.to_be_bytes())?;
            put(&mut bytes, cdb.len(), 28, &blocks.to_be_bytes())?;
        }
    }
    Cdb::from_slice(bytes.get(..cdb.len())?).ok()
}

/// Writes `value` at `at` inside the first `len` bytes, or `None` if it does not fit.
fn put(bytes: &mut [u8], len: usize, at: usize, value: &[u8]) -> Option<()> {
    let end = at.checked_add(value.len()).filter(|end| *end <= len)?;
    bytes.get_mut(at..end)?.copy_from_slice(value);
    Some(())
}

/// Where a read or write keeps its LBA and transfer length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    Six,
    Ten,
    Twelve,
    Sixteen,
    ThirtyTwo,
}

/// The layout and direction of a read or write, by opcode (and service action for 7Fh).
pub(crate) fn read_write_direction(cdb: &[u8]) -> Option<DataDirection> {
    transfer_layout(cdb).map(|(_, direction)| direction)
}

fn transfer_layout(cdb: &[u8]) -> Option<(Layout, DataDirection)> {
    use DataDirection::{FromDevice, ToDevice};
    Some(match *cdb.first()? {
        opcode::READ_6 => (Layout::Six, FromDevice),
        opcode::WRITE_6 => (Layout::Six, ToDevice),
        opcode::READ_10 => (Layout::Ten, FromDevice),
        opcode::WRITE_10 | opcode::WRITE_AND_VERIFY_10 => (Layout::Ten, ToDevice),
        opcode::READ_12 => (Layout::Twelve, FromDevice),
        opcode::WRITE_12 | opcode::WRITE_AND_VERIFY_12 => (Layout::Twelve, ToDevice),
        opcode::READ_16 => (Layout::Sixteen, FromDevice),
        opcode::WRITE_16 | opcode::WRITE_AND_VERIFY_16 => (Layout::Sixteen, ToDevice),
        opcode::VARIABLE_LENGTH => match variable_length_action(cdb)? {
            READ_32 => (Layout::ThirtyTwo, FromDevice),
            WRITE_32 | WRITE_AND_VERIFY_32 => (Layout::ThirtyTwo, ToDevice),
            _ => return None,
        },
        _ => return None,
    })
}

fn variable_length_action(cdb: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(field(cdb, 8)?))
}

/// `N` bytes of `cdb` starting at `at`, if present.
fn field<const N: usize>(cdb: &[u8], at: usize) -> Option<[u8; N]> {
    cdb.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medium_access_commands() {
        assert!(is_medium_access(&[0x28; 10]));
        assert!(is_medium_access(&[0x35; 10]));
        assert!(is_medium_access(&[0x2f; 10]));
        assert!(!is_medium_access(&[0x00; 6]));
        assert!(!is_medium_access(&[0x12; 6]));
        assert!(!is_medium_access(&[]));
        let mut read32 = [0u8; 32];
        read32[0] = 0x7f;
        read32[9] = 0x09;
        assert!(is_medium_access(&read32));
        read32[9] = 0x0e;
        assert!(!is_medium_access(&read32));
    }

    #[test]
    fn extents_of_every_size() {
        assert_eq!(
            lba_and_block_count(&[0x08, 0x1f, 0xff, 0xfe, 0, 0]),
            Some((0x1f_fffe, 256))
        );
        assert_eq!(
            lba_and_block_count(&[0x2a, 0, 0, 5, 0x58, 0x70, 0, 0, 0x10, 0]),
            Some((0x55870, 16))
        );
        assert_eq!(
            lba_and_block_count(&[0xa8, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]),
            Some((256, 65536))
        );
        let mut write16 = [0u8; 16];
        write16[0] = 0x8a;
        write16[2] = 0x01;
        write16[13] = 8;
        assert_eq!(lba_and_block_count(&write16), Some((1 << 56, 8)));
        let mut write32 = [0u8; 32];
        write32[0] = 0x7f;
        write32[9] = 0x0b;
        write32[19] = 0x40;
        write32[31] = 2;
        assert_eq!(lba_and_block_count(&write32), Some((0x40, 2)));
        assert_eq!(lba_and_block_count(&[0x28, 0, 0]), None);
        assert_eq!(lba_and_block_count(&[0x35; 10]), None);
    }

    #[test]
    fn extents_are_rewritten_in_place() {
        let extent = |cdb: &Cdb| lba_and_block_count(cdb.as_slice());
        // READ(6) with transfer length 0 moves 256 blocks; 3 done leaves 253 from LBA+3.
        let read6 = [0x08, 0xe1, 0x00, 0x10, 0x00, 0x07];
        let moved = with_lba_and_block_count(&read6, 0x1_0013, 253).unwrap();
        assert_eq!(moved.as_slice(), &[0x08, 0xe1, 0x00, 0x13, 253, 0x07]);
        assert_eq!(extent(&moved), Some((0x1_0013, 253)));
        let full = with_lba_and_block_count(&read6, 5, 256).unwrap();
        assert_eq!(full.as_slice()[4], 0, "256 blocks is written as 0");
        assert_eq!(with_lba_and_block_count(&read6, 5, 257), None);
        assert_eq!(with_lba_and_block_count(&read6, 5, 0), None);
        assert_eq!(with_lba_and_block_count(&read6, 1 << 21, 1), None);
        let read10 = [0x28, 0, 0, 0x05, 0x58, 0x70, 0, 0, 0x10, 0];
        let moved = with_lba_and_block_count(&read10, 0x55873, 13).unwrap();
        assert_eq!(
            moved.as_slice(),
            &[0x28, 0, 0, 0x05, 0x58, 0x73, 0, 0, 0x0d, 0]
        );
        let mut read16 = [0u8; 16];
        read16[0] = 0x88;
        let moved = with_lba_and_block_count(&read16, 1 << 40, 7).unwrap();
        assert_eq!(extent(&moved), Some((1 << 40, 7)));
        assert_eq!(with_lba_and_block_count(&[0x00; 6], 1, 1), None);
        assert_eq!(with_lba_and_block_count(&[0x28, 0, 0], 1, 1), None);
    }
}
