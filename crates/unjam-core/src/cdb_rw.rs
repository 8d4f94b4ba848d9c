//! Rewriting READ/WRITE CDBs when a request is prepared again: advancing past blocks that
//! completed (partial completion, REPREP of the remainder) and falling back from the
//! 10-byte to the 6-byte forms (ILLEGAL REQUEST 20/00, spec §4.5). Other CDBs are left as
//! they are. Never panics: a CDB too short for its opcode is left unchanged.

use crate::buffers::Cdb;

/// Moves a READ/WRITE(6/10/12/16) CDB forward by `blocks` blocks (LBA up, length down).
pub fn advance(cdb: &mut Cdb, blocks: u32) {
    let bytes = cdb.as_mut_slice();
    let Some(layout) = layout(bytes.first().copied().unwrap_or(0)) else {
        return;
    };
    if bytes.len() < layout.len {
        return;
    }
    let high = if layout.len == 6 {
        u64::from(bytes[1] & 0x1f) << 16
    } else {
        0
    };
    let lba = (high | read_be(&bytes[layout.lba.0..layout.lba.1])) + u64::from(blocks);
    let length =
        read_be(&bytes[layout.length.0..layout.length.1]).saturating_sub(u64::from(blocks));
    write_be(&mut bytes[layout.lba.0..layout.lba.1], lba);
    write_be(&mut bytes[layout.length.0..layout.length.1], length);
    if layout.len == 6 {
        bytes[1] = (bytes[1] & 0xe0) | ((lba >> 16) as u8 & 0x1f);
    }
}

/// READ(10)/WRITE(10) as READ(6)/WRITE(6), when the LBA fits 21 bits and the length 256.
pub fn to_six_byte(cdb: &Cdb) -> Option<Cdb> {
    let bytes = cdb.as_slice();
    let opcode = match bytes.first()? {
        0x28 => 0x08,
        0x2a => 0x0a,
        _ => return None,
    };
    if bytes.len() < 10 {
        return None;
    }
    let lba = read_be(&bytes[2..6]);
    let length = read_be(&bytes[7..9]);
    if lba > 0x1f_ffff || length == 0 || length > 256 {
        return None;
    }
    let six = [
        opcode,
        (lba >> 16) as u8 & 0x1f,
        (lba >> 8) as u8,
        lba as u8,
        length as u8,
        bytes[9],
    ];
    Some(Cdb::six(six))
}

struct Layout {
    len: usize,
    lba: (usize, usize),
    length: (usize, usize),
}

fn layout(opcode: u8) -> Option<Layout> {
    Some(match opcode {
        0x08 | 0x0a => Layout {
            len: 6,
            lba: (2, 4),
            length: (4, 5),
        },
        0x28 | 0x2a => Layout {
            len: 10,
            lba: (2, 6),
            length: (7, 9),
        },
        0xa8 | 0xaa => Layout {
            len: 12,
            lba: (2, 6),
            length: (6, 10),
        },
        0x88 | 0x8a => Layout {
            len: 16,
            lba: (2, 10),
            length: (10, 14),
        },
        _ => return None,
    })
}

fn read_be(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |value, byte| value << 8 | u64::from(*byte))
}

fn write_be(bytes: &mut [u8], mut value: u64) {
    for byte in bytes.iter_mut().rev() {
        *byte = value as u8;
        value >>= 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_read10() {
        let mut cdb = Cdb::new(&[0x28, 0, 0, 0x05, 0x58, 0x70, 0, 0, 0x10, 0]).unwrap();
        advance(&mut cdb, 3);
        assert_eq!(
            cdb.as_slice(),
            &[0x28, 0, 0, 0x05, 0x58, 0x73, 0, 0, 0x0d, 0]
        );
    }

    #[test]
    fn advances_read16_and_leaves_others() {
        let mut cdb = Cdb::new(&[0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 2, 0, 0]).unwrap();
        advance(&mut cdb, 1);
        assert_eq!(
            &cdb.as_slice()[2..14],
            &[0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        );
        let mut tur = Cdb::six([0; 6]);
        advance(&mut tur, 5);
        assert_eq!(tur.as_slice(), &[0; 6]);
    }

    #[test]
    fn six_byte_fallback() {
        let cdb = Cdb::new(&[0x28, 0, 0, 0x01, 0x02, 0x03, 0, 0, 0x08, 0]).unwrap();
        assert_eq!(
            to_six_byte(&cdb).unwrap().as_slice(),
            &[0x08, 0x01, 0x02, 0x03, 0x08, 0]
        );
        let far = Cdb::new(&[0x28, 0, 0x10, 0, 0, 0, 0, 0, 8, 0]).unwrap();
        assert_eq!(to_six_byte(&far), None);
    }
}
