//! REPORT LUNS parameter data (SPC-5 6.33.2) and eight-byte LUNs with their SAM-5
//! addressing methods (SAM-5 4.7).

use super::list::{ItemFormat, ItemList, WireItem};
use super::BuildResponse;
use crate::cdb::error::{BuildError, ResponseError};
use crate::cdb::wire::{length_field, Reader, Writer};

/// An eight-byte LUN as it travels in REPORT LUNS data and iSCSI PDUs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Lun(pub [u8; 8]);

/// The first level of a LUN, decoded by its address method.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LunAddress {
    /// 00b: peripheral device addressing; bus 0 addresses a LUN of this target.
    Peripheral { bus: u8, lun: u8 },
    /// 01b: flat space addressing, a 14-bit LUN.
    Flat(u16),
    /// 10b: logical unit addressing.
    LogicalUnit { target: u8, bus: u8, lun: u8 },
    /// 11b, length 01b, extended address method 2h: a 24-bit LUN.
    ExtendedFlat(u32),
    /// 11b, length 10b, extended address method 2h: a 40-bit LUN.
    LongExtendedFlat(u64),
    /// 11b, length 00b, extended address method 1h: a well-known LUN (e.g. 01h, REPORT
    /// LUNS).
    WellKnown(u8),
    /// A two-byte method whose later levels are not empty: a LUN behind another device.
    Hierarchical,
    /// Any other extended form.
    Unsupported,
}

impl Lun {
    /// The REPORT LUNS well-known logical unit (C101h).
    pub const REPORT_LUNS_WELL_KNOWN: Lun = Lun([0xc1, 0x01, 0, 0, 0, 0, 0, 0]);

    /// Encodes a LUN number the way targets usually do: peripheral addressing below 256,
    /// flat space below 16384, then extended flat (24 bits) and long extended flat
    /// (40 bits). `None` above 40 bits.
    pub fn from_number(number: u64) -> Option<Lun> {
        let b = number.to_be_bytes();
        Some(Lun(match number {
            0..=0xff => [0, b[7], 0, 0, 0, 0, 0, 0],
            0x100..=0x3fff => [0x40 | b[6], b[7], 0, 0, 0, 0, 0, 0],
            0x4000..=0xff_ffff => [0xd2, b[5], b[6], b[7], 0, 0, 0, 0],
            0x100_0000..=0xff_ffff_ffff => [0xe2, b[3], b[4], b[5], b[6], b[7], 0, 0],
            _ => return None,
        }))
    }

    /// The first level's address method and fields.
    pub fn address(&self) -> LunAddress {
        let [b0, b1, b2, b3, b4, b5, b6, b7] = self.0;
        let later_levels_empty = [b2, b3, b4, b5, b6, b7] == [0; 6];
        match b0 >> 6 {
            _ if b0 >> 6 != 3 && !later_levels_empty => LunAddress::Hierarchical,
            0 => LunAddress::Peripheral {
                bus: b0 & 0x3f,
                lun: b1,
            },
            1 => LunAddress::Flat(u16::from_be_bytes([b0 & 0x3f, b1])),
            2 => LunAddress::LogicalUnit {
                target: b0 & 0x3f,
                bus: b1 >> 5,
                lun: b1 & 0x1f,
            },
            _ => extended_address(self.0),
        }
    }

    /// The LUN number of a single-level LUN of this target: peripheral (bus 0), flat,
    /// extended flat or long extended flat. `None` for other forms.
    pub fn number(&self) -> Option<u64> {
        match self.address() {
            LunAddress::Peripheral { bus: 0, lun } => Some(u64::from(lun)),
            LunAddress::Flat(lun) => Some(u64::from(lun)),
            LunAddress::ExtendedFlat(lun) => Some(u64::from(lun)),
            LunAddress::LongExtendedFlat(lun) => Some(lun),
            _ => None,
        }
    }

    /// The integer Linux prints in H:C:T:L (`scsilun_to_int`): each two-byte level as a
    /// 16-bit value, the first level in the low bits. Flat LUN 300 prints as 16684.
    pub fn linux_number(&self) -> u64 {
        self.0
            .chunks_exact(2)
            .enumerate()
            .map(|(level, pair)| match pair {
                [high, low] => u64::from(u16::from_be_bytes([*high, *low])) << (16 * level),
                _ => 0,
            })
            .fold(0, |acc, part| acc | part)
    }
}

fn extended_address(bytes: [u8; 8]) -> LunAddress {
    let [b0, b1, b2, b3, b4, b5, b6, b7] = bytes;
    let length = (b0 >> 4) & 0x03;
    let method = b0 & 0x0f;
    match (length, method) {
        (0, 1) if [b2, b3, b4, b5, b6, b7] == [0; 6] => LunAddress::WellKnown(b1),
        (1, 2) if [b4, b5, b6, b7] == [0; 4] => {
            LunAddress::ExtendedFlat(u32::from_be_bytes([0, b1, b2, b3]))
        }
        (2, 2) if [b6, b7] == [0; 2] => {
            LunAddress::LongExtendedFlat(u64::from_be_bytes([0, 0, 0, b1, b2, b3, b4, b5]))
        }
        _ => LunAddress::Unsupported,
    }
}

impl<'a> WireItem<'a> for Lun {
    fn decode(bytes: &'a [u8], _: ItemFormat) -> Result<(Self, usize), ResponseError> {
        Ok((Lun(Reader::new(bytes, "LUN").array()?), 8))
    }

    fn encoded_len(&self, _: ItemFormat) -> usize {
        8
    }

    fn encode(&self, out: &mut [u8], _: ItemFormat) -> Result<usize, BuildError> {
        let mut writer = Writer::new(out, 8)?;
        writer.put(&self.0)?;
        Ok(writer.position())
    }
}

/// REPORT LUNS data. The list may be partial: the allocation length cuts it while
/// `list_length` still says how long it is (see [`ReportLunsData::is_complete`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReportLunsData<'a> {
    /// LUN LIST LENGTH: bytes in the whole list (8 per LUN), as the device reports it.
    pub list_length: u32,
    /// The LUNs present in the buffer.
    pub luns: ItemList<'a, Lun>,
}

impl<'a> ReportLunsData<'a> {
    pub const HEADER_LEN: usize = 8;

    /// Data for `luns`, with a list length that matches.
    pub fn new(luns: &'a [Lun]) -> Self {
        let list_length = u32::try_from(luns.len().saturating_mul(8)).unwrap_or(u32::MAX);
        ReportLunsData {
            list_length,
            luns: ItemList::from_items(luns),
        }
    }

    /// Parses the header and every whole LUN the buffer holds, up to the list length.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ResponseError> {
        let mut reader = Reader::new(bytes, "REPORT LUNS data");
        let list_length = reader.be32()?;
        reader.skip(4)?;
        let rest = reader.remaining();
        let listed = usize::try_from(list_length).unwrap_or(usize::MAX);
        let whole = listed.min(rest.len()) / 8 * 8;
        Ok(ReportLunsData {
            list_length,
            luns: ItemList::decode_all(rest.get(..whole).unwrap_or(&[]), ItemFormat::Standard)?,
        })
    }

    /// True when every LUN the list length announces is present. If not, re-issue REPORT
    /// LUNS with [`Self::full_len`] as the allocation length.
    pub fn is_complete(&self) -> bool {
        self.luns.len().saturating_mul(8) >= self.list_len_bytes()
    }

    /// The allocation length that holds the whole list.
    pub fn full_len(&self) -> usize {
        Self::HEADER_LEN.saturating_add(self.list_len_bytes())
    }

    fn list_len_bytes(&self) -> usize {
        usize::try_from(self.list_length).unwrap_or(usize::MAX)
    }
}

impl BuildResponse for ReportLunsData<'_> {
    fn encoded_len(&self) -> usize {
        Self::HEADER_LEN + self.luns.encoded_len(ItemFormat::Standard)
    }

    /// Writes `list_length` as given, which must cover the LUNs written (it may exceed
    /// them, to build a list cut by an allocation length).
    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let body_len = self.luns.encoded_len(ItemFormat::Standard);
        let body_field = length_field("lun_list_length", body_len, u64::from(u32::MAX))?;
        if u64::from(self.list_length) < body_field {
            return Err(BuildError::Inconsistent {
                what: "LUN list length shorter than the LUNs written",
            });
        }
        let mut writer = Writer::new(out, Self::HEADER_LEN + body_len)?;
        writer.be32(self.list_length)?;
        writer.zeros(4)?;
        let body = out.get_mut(Self::HEADER_LEN..).unwrap_or(&mut []);
        Ok(Self::HEADER_LEN + self.luns.encode(body, ItemFormat::Standard)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_luns() {
        let data = ReportLunsData::parse(&[0; 8]).unwrap();
        assert!(data.luns.is_empty());
        assert!(data.is_complete());
        assert_eq!(data, ReportLunsData::new(&[]));
        assert_eq!(data.to_vec().unwrap(), vec![0; 8]);
        assert!(matches!(
            ReportLunsData::parse(&[0; 7]),
            Err(ResponseError::Truncated { needed: 8, .. })
        ));
    }

    #[test]
    fn partial_list_is_reported() {
        let luns = [Lun::from_number(0).unwrap(), Lun::from_number(1).unwrap()];
        let mut bytes = ReportLunsData::new(&luns).to_vec().unwrap();
        bytes[3] = 24; // the device has three LUNs; the buffer holds two and a half
        bytes.extend_from_slice(&[0, 2, 0, 0]);
        let data = ReportLunsData::parse(&bytes).unwrap();
        assert_eq!(data.luns.len(), 2);
        assert!(!data.is_complete());
        assert_eq!(data.full_len(), 32);
    }

    #[test]
    fn addressing_methods() {
        let number = |bytes: [u8; 8]| Lun(bytes).number();
        assert_eq!(number([0, 5, 0, 0, 0, 0, 0, 0]), Some(5));
        assert_eq!(number([0x41, 0x2c, 0, 0, 0, 0, 0, 0]), Some(300));
        assert_eq!(number([0xd2, 0x12, 0x34, 0x56, 0, 0, 0, 0]), Some(0x123456));
        assert_eq!(number([0xe2, 1, 2, 3, 4, 5, 0, 0]), Some(0x01_0203_0405));
        assert_eq!(number([0x01, 5, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(number([0, 5, 0, 1, 0, 0, 0, 0]), None);
        assert_eq!(
            Lun::REPORT_LUNS_WELL_KNOWN.address(),
            LunAddress::WellKnown(1)
        );
        assert_eq!(
            Lun([0x81, 0x45, 0, 0, 0, 0, 0, 0]).address(),
            LunAddress::LogicalUnit {
                target: 1,
                bus: 2,
                lun: 5
            }
        );
        assert_eq!(Lun::from_number(300).unwrap().linux_number(), 16684);
        assert_eq!(Lun::from_number(7).unwrap().linux_number(), 7);
        assert_eq!(Lun::from_number(1 << 40), None);
    }
}
