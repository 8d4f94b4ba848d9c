//! Reads the block range out of the media-access CDBs the target serves (READ/WRITE 6, 10,
//! 16 and SYNCHRONIZE CACHE 10, 16). Used by the executor, by LBA-range fault matching and
//! by the write checker. Owns CDB field positions only; never touches media.
//!
//! Once `unjam_scsi::cdb` carries typed READ/WRITE parsers this module becomes a thin
//! adapter over them.

use unjam_scsi::cdb::opcode;

/// What a media-access command does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MediaAccess {
    Read,
    Write,
    Synchronize,
}

/// The block range a media-access CDB names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MediaCommand {
    pub access: MediaAccess,
    pub lba: u64,
    /// Blocks to transfer (READ/WRITE(6): 0 means 256) or to synchronize (0 = to the end).
    pub blocks: u64,
}

impl MediaCommand {
    /// `None` for a CDB that is not a media access or too short to hold its fields.
    pub fn parse(cdb: &[u8]) -> Option<MediaCommand> {
        let first = *cdb.first()?;
        let (access, lba, blocks) = match first {
            opcode::READ_6 | opcode::WRITE_6 => {
                let bytes: &[u8; 6] = cdb.get(..6)?.try_into().ok()?;
                let lba = u32::from_be_bytes([0, bytes[1] & 0x1f, bytes[2], bytes[3]]) as u64;
                let blocks = if bytes[4] == 0 { 256 } else { bytes[4] as u64 };
                (access_of(first), lba, blocks)
            }
            opcode::READ_10 | opcode::WRITE_10 | opcode::SYNCHRONIZE_CACHE_10 => {
                let bytes: &[u8; 10] = cdb.get(..10)?.try_into().ok()?;
                let lba = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as u64;
                let blocks = u16::from_be_bytes([bytes[7], bytes[8]]) as u64;
                (access_of(first), lba, blocks)
            }
            opcode::READ_16 | opcode::WRITE_16 | opcode::SYNCHRONIZE_CACHE_16 => {
                let bytes: &[u8; 16] = cdb.get(..16)?.try_into().ok()?;
                let mut lba = [0u8; 8];
                lba.copy_from_slice(&bytes[2..10]);
                let blocks =
                    u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as u64;
                (access_of(first), u64::from_be_bytes(lba), blocks)
            }
            _ => return None,
        };
        Some(MediaCommand {
            access,
            lba,
            blocks,
        })
    }

    /// Whether the command's blocks overlap `[first, last]` (inclusive).
    pub fn overlaps(&self, first: u64, last: u64) -> bool {
        let end = self.lba.saturating_add(self.blocks.max(1)) - 1;
        self.lba <= last && first <= end
    }
}

fn access_of(first: u8) -> MediaAccess {
    match first {
        opcode::WRITE_6 | opcode::WRITE_10 | opcode::WRITE_16 => MediaAccess::Write,
        opcode::SYNCHRONIZE_CACHE_10 | opcode::SYNCHRONIZE_CACHE_16 => MediaAccess::Synchronize,
        _ => MediaAccess::Read,
    }
}

/// Builds READ(10)/WRITE(10) when the range fits its fields, else READ(16)/WRITE(16), as
/// sd does. Returns the bytes and their length.
pub fn rw_cdb(access: MediaAccess, lba: u64, blocks: u32) -> ([u8; 16], usize) {
    let fits_10 = lba
        .checked_add(blocks as u64)
        .is_some_and(|end| end <= u32::MAX as u64)
        && blocks <= u16::MAX as u32;
    if !fits_10 || access == MediaAccess::Synchronize {
        return (rw16(access, lba, blocks), 16);
    }
    let mut cdb = [0u8; 16];
    cdb[0] = match access {
        MediaAccess::Write => opcode::WRITE_10,
        _ => opcode::READ_10,
    };
    cdb[2..6].copy_from_slice(&(lba as u32).to_be_bytes());
    cdb[7..9].copy_from_slice(&(blocks as u16).to_be_bytes());
    (cdb, 10)
}

/// Builds a READ(16) or WRITE(16) CDB (for the workload generator and tests).
pub fn rw16(access: MediaAccess, lba: u64, blocks: u32) -> [u8; 16] {
    let mut cdb = [0u8; 16];
    cdb[0] = match access {
        MediaAccess::Write => opcode::WRITE_16,
        MediaAccess::Synchronize => opcode::SYNCHRONIZE_CACHE_16,
        MediaAccess::Read => opcode::READ_16,
    };
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    cdb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_size() {
        let read6 = MediaCommand::parse(&[0x08, 0x1f, 0xff, 0xff, 0, 0]).unwrap();
        assert_eq!((read6.lba, read6.blocks), (0x1f_ffff, 256));
        let read10 = MediaCommand::parse(&[0x28, 0, 0, 0x05, 0x58, 0x70, 0, 0, 0x10, 0]).unwrap();
        assert_eq!(
            read10,
            MediaCommand {
                access: MediaAccess::Read,
                lba: 0x055870,
                blocks: 16
            }
        );
        let write16 = MediaCommand::parse(&rw16(MediaAccess::Write, 1 << 40, 8)).unwrap();
        assert_eq!(
            (write16.access, write16.lba, write16.blocks),
            (MediaAccess::Write, 1 << 40, 8)
        );
        let sync = MediaCommand::parse(&[0x35, 0, 0, 0, 0, 9, 0, 0, 0, 0]).unwrap();
        assert_eq!(sync.access, MediaAccess::Synchronize);
        assert_eq!(MediaCommand::parse(&[0x28, 0, 0]), None);
        assert_eq!(MediaCommand::parse(&[0x12, 0, 0, 0, 36, 0]), None);
        assert_eq!(MediaCommand::parse(&[]), None);
    }

    #[test]
    fn ten_byte_when_it_fits() {
        let (cdb, len) = rw_cdb(MediaAccess::Read, 0x055870, 16);
        assert_eq!(&cdb[..len], &[0x28, 0, 0, 0x05, 0x58, 0x70, 0, 0, 0x10, 0]);
        let (cdb, len) = rw_cdb(MediaAccess::Write, 1 << 33, 8);
        assert_eq!((cdb[0], len), (0x8a, 16));
        let parsed = MediaCommand::parse(&cdb[..len]).unwrap();
        assert_eq!((parsed.lba, parsed.blocks), (1 << 33, 8));
    }

    #[test]
    fn overlap_is_inclusive() {
        let command = MediaCommand {
            access: MediaAccess::Read,
            lba: 10,
            blocks: 4,
        };
        assert!(command.overlaps(13, 20));
        assert!(command.overlaps(0, 10));
        assert!(!command.overlaps(14, 20));
        assert!(!command.overlaps(0, 9));
    }
}
