//! The block range of the media-access commands the target serves (READ/WRITE 6, 10, 16
//! and SYNCHRONIZE CACHE 10, 16), for the executor, LBA-range fault matching and the write
//! checker, and the READ/WRITE CDBs the workloads send. A thin use of `unjam_scsi::cdb`:
//! every field is decoded and encoded there; this module only says which commands the
//! target treats as plain media access.

use unjam_scsi::cdb::{
    lba_and_block_count, opcode, read_write, Cdb, Read16, SynchronizeCache10, SynchronizeCache16,
    Write16,
};

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
    /// `None` for a CDB that is not one of these or too short to hold its fields.
    pub fn parse(cdb: &[u8]) -> Option<MediaCommand> {
        let access = match *cdb.first()? {
            opcode::READ_6 | opcode::READ_10 | opcode::READ_16 => MediaAccess::Read,
            opcode::WRITE_6 | opcode::WRITE_10 | opcode::WRITE_16 => MediaAccess::Write,
            opcode::SYNCHRONIZE_CACHE_10 => {
                let command = SynchronizeCache10::parse(cdb).ok()?;
                return Some(MediaCommand::synchronize(
                    command.lba.into(),
                    command.blocks.into(),
                ));
            }
            opcode::SYNCHRONIZE_CACHE_16 => {
                let command = SynchronizeCache16::parse(cdb).ok()?;
                return Some(MediaCommand::synchronize(
                    command.lba,
                    command.blocks.into(),
                ));
            }
            _ => return None,
        };
        let (lba, blocks) = lba_and_block_count(cdb)?;
        Some(MediaCommand {
            access,
            lba,
            blocks: blocks.into(),
        })
    }

    fn synchronize(lba: u64, blocks: u64) -> MediaCommand {
        MediaCommand {
            access: MediaAccess::Synchronize,
            lba,
            blocks,
        }
    }

    /// Whether the command's blocks overlap `[first, last]` (inclusive).
    pub fn overlaps(&self, first: u64, last: u64) -> bool {
        let end = self.lba.saturating_add(self.blocks.max(1)) - 1;
        self.lba <= last && first <= end
    }
}

/// READ/WRITE(10) when the range fits their fields, else (16), as sd does
/// (`unjam_scsi::cdb::read_write`); SYNCHRONIZE CACHE(16). Returns the bytes and their
/// length.
pub fn rw_cdb(access: MediaAccess, lba: u64, blocks: u32) -> ([u8; 16], usize) {
    let built = match access {
        MediaAccess::Read => read_write(false, lba, blocks),
        MediaAccess::Write => read_write(true, lba, blocks),
        MediaAccess::Synchronize => return (rw16(access, lba, blocks), 16),
    };
    built.map_or(([0; 16], 0), |cdb| padded(&cdb))
}

/// Builds a READ(16), WRITE(16) or SYNCHRONIZE CACHE(16) CDB (for the workload generator
/// and tests).
pub fn rw16(access: MediaAccess, lba: u64, blocks: u32) -> [u8; 16] {
    let (fua, dpo, immed) = (false, false, false);
    let built = match access {
        MediaAccess::Read => Read16 {
            lba,
            blocks,
            fua,
            dpo,
        }
        .build(),
        MediaAccess::Write => Write16 {
            lba,
            blocks,
            fua,
            dpo,
        }
        .build(),
        MediaAccess::Synchronize => SynchronizeCache16 { immed, lba, blocks }.build(),
    };
    built.map_or([0; 16], |cdb| padded(&cdb).0)
}

/// The CDB's bytes in a 16-byte array, and its length.
fn padded(cdb: &Cdb) -> ([u8; 16], usize) {
    let mut bytes = [0u8; 16];
    let len = cdb.as_slice().len().min(16);
    bytes[..len].copy_from_slice(&cdb.as_slice()[..len]);
    (bytes, len)
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
