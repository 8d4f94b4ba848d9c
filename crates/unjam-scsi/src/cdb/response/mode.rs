//! MODE SENSE(6)/(10) parameter data (SPC-5 7.5.5, 7.5.6): header, block descriptors
//! (SBC-4 6.5.2: short and long LBA forms) and the raw list of mode pages.

use super::caching::CachingPage;
use super::list::{ItemFormat, ItemList, WireItem};
use super::BuildResponse;
use crate::cdb::error::{check_build, BuildError, ResponseError};
use crate::cdb::wire::{length_field, Reader, Writer};

/// Which MODE SENSE the data answers: the headers differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ModeFormat {
    /// MODE SENSE(6): four-byte header, one-byte lengths.
    Six,
    /// MODE SENSE(10): eight-byte header, two-byte lengths, long LBA descriptors allowed.
    Ten,
}

impl ModeFormat {
    fn header_len(self) -> usize {
        match self {
            ModeFormat::Six => 4,
            ModeFormat::Ten => 8,
        }
    }

    /// The bytes of the MODE DATA LENGTH field, which counts every byte after itself.
    fn length_field_len(self) -> usize {
        match self {
            ModeFormat::Six => 1,
            ModeFormat::Ten => 2,
        }
    }

    fn max_length(self) -> u64 {
        match self {
            ModeFormat::Six => u64::from(u8::MAX),
            ModeFormat::Ten => u64::from(u16::MAX),
        }
    }
}

/// A direct-access block descriptor. With `long` format (the LONGLBA bit) it is 16 bytes
/// with a 64-bit block count; otherwise 8 bytes with a 32-bit count and 24-bit length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockDescriptor {
    pub block_count: u64,
    pub block_length: u32,
}

impl<'a> WireItem<'a> for BlockDescriptor {
    fn decode(bytes: &'a [u8], format: ItemFormat) -> Result<(Self, usize), ResponseError> {
        let mut reader = Reader::new(bytes, "block descriptor");
        let descriptor = if format == ItemFormat::LongLba {
            let block_count = reader.be64()?;
            reader.skip(4)?;
            let block_length = reader.be32()?;
            BlockDescriptor {
                block_count,
                block_length,
            }
        } else {
            let block_count = u64::from(reader.be32()?);
            reader.skip(1)?;
            let block_length = reader.be24()?;
            BlockDescriptor {
                block_count,
                block_length,
            }
        };
        Ok((descriptor, descriptor.encoded_len(format)))
    }

    fn encoded_len(&self, format: ItemFormat) -> usize {
        if format == ItemFormat::LongLba {
            16
        } else {
            8
        }
    }

    fn encode(&self, out: &mut [u8], format: ItemFormat) -> Result<usize, BuildError> {
        let mut writer = Writer::new(out, self.encoded_len(format))?;
        if format == ItemFormat::LongLba {
            writer.be64(self.block_count)?;
            writer.zeros(4)?;
            writer.be32(self.block_length)?;
        } else {
            check_build("block_count", self.block_count, u64::from(u32::MAX))?;
            check_build("block_length", u64::from(self.block_length), 0xff_ffff)?;
            writer.be32(self.block_count as u32)?;
            writer.u8(0)?;
            writer.be24(self.block_length)?;
        }
        Ok(writer.position())
    }
}

fn descriptor_format(long_lba: bool) -> ItemFormat {
    if long_lba {
        ItemFormat::LongLba
    } else {
        ItemFormat::Standard
    }
}

/// One mode page, its parameter bytes kept raw (after the two- or four-byte page header).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModePage<'a> {
    /// Six bits.
    pub page_code: u8,
    /// `Some` for the sub_page format (SPF set), with the subpage code.
    pub subpage: Option<u8>,
    /// PS: the page can be saved.
    pub parameters_saveable: bool,
    pub data: &'a [u8],
}

impl<'a> WireItem<'a> for ModePage<'a> {
    fn decode(bytes: &'a [u8], _: ItemFormat) -> Result<(Self, usize), ResponseError> {
        let mut reader = Reader::new(bytes, "mode page");
        let byte0 = reader.u8()?;
        let (subpage, length, header_len) = if byte0 & 0x40 != 0 {
            (Some(reader.u8()?), usize::from(reader.be16()?), 4)
        } else {
            (None, usize::from(reader.u8()?), 2)
        };
        let data = reader.take(length)?;
        let page = ModePage {
            page_code: byte0 & 0x3f,
            subpage,
            parameters_saveable: byte0 & 0x80 != 0,
            data,
        };
        Ok((page, header_len + length))
    }

    fn encoded_len(&self, _: ItemFormat) -> usize {
        let header_len = if self.subpage.is_some() { 4 } else { 2 };
        header_len + self.data.len()
    }

    fn encode(&self, out: &mut [u8], _: ItemFormat) -> Result<usize, BuildError> {
        check_build("page_code", u64::from(self.page_code), 0x3f)?;
        let mut writer = Writer::new(out, self.encoded_len(ItemFormat::Standard))?;
        let ps = if self.parameters_saveable { 0x80 } else { 0 };
        match self.subpage {
            Some(subpage) => {
                let length = length_field("page_length", self.data.len(), 0xffff)?;
                writer.u8(ps | 0x40 | self.page_code)?;
                writer.u8(subpage)?;
                writer.be16(length as u16)?;
            }
            None => {
                let length = length_field("page_length", self.data.len(), 0xff)?;
                writer.u8(ps | self.page_code)?;
                writer.u8(length as u8)?;
            }
        }
        writer.put(self.data)?;
        Ok(writer.position())
    }
}

/// MODE SENSE(6) or (10) parameter data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModeParameters<'a> {
    pub format: ModeFormat,
    pub medium_type: u8,
    /// For direct-access devices: WP (bit 7) and DPOFUA (bit 4).
    pub device_specific: u8,
    /// LONGLBA: 16-byte block descriptors. MODE SENSE(10) only.
    pub long_lba: bool,
    pub block_descriptors: ItemList<'a, BlockDescriptor>,
    pub pages: ItemList<'a, ModePage<'a>>,
}

impl<'a> ModeParameters<'a> {
    /// Device-specific parameter bit: the medium is write protected.
    pub const WP: u8 = 0x80;
    /// Device-specific parameter bit: DPO and FUA are supported.
    pub const DPOFUA: u8 = 0x10;

    /// Parses data in `format`. Data shorter than its MODE DATA LENGTH announces is
    /// [`ResponseError::Truncated`]; lengths that contradict each other are malformed.
    pub fn parse(bytes: &'a [u8], format: ModeFormat) -> Result<Self, ResponseError> {
        let mut reader = Reader::new(bytes, "mode parameter data");
        let (mode_data_length, medium_type, device_specific, long_lba, descriptors_len) =
            match format {
                ModeFormat::Six => {
                    let [length, medium, specific, descriptors] = reader.array()?;
                    (
                        usize::from(length),
                        medium,
                        specific,
                        false,
                        usize::from(descriptors),
                    )
                }
                ModeFormat::Ten => {
                    let [l0, l1, medium, specific, flags, _, d0, d1] = reader.array()?;
                    let length = usize::from(u16::from_be_bytes([l0, l1]));
                    let descriptors = usize::from(u16::from_be_bytes([d0, d1]));
                    (length, medium, specific, flags & 0x01 != 0, descriptors)
                }
            };
        let total = mode_data_length + format.length_field_len();
        let body_len = total
            .checked_sub(format.header_len())
            .ok_or(ResponseError::Malformed {
                what: "mode parameter data",
                detail: "mode data length shorter than the header",
            })?;
        if bytes.len() < total {
            return Err(reader.truncated(total));
        }
        let body = reader.take(body_len)?;
        let (descriptors, pages) =
            body.split_at_checked(descriptors_len)
                .ok_or(ResponseError::Malformed {
                    what: "mode parameter data",
                    detail: "block descriptor length exceeds the mode data",
                })?;
        Ok(ModeParameters {
            format,
            medium_type,
            device_specific,
            long_lba,
            block_descriptors: ItemList::decode_all(descriptors, descriptor_format(long_lba))?,
            pages: ItemList::decode_all(pages, ItemFormat::Standard)?,
        })
    }

    /// The first page with `page_code` and `subpage` (`None`: page_0 format).
    pub fn page(&self, page_code: u8, subpage: Option<u8>) -> Option<ModePage<'a>> {
        self.pages
            .iter()
            .find(|page| page.page_code == page_code && page.subpage == subpage)
    }

    /// The Caching mode page, if present.
    pub fn caching_page(&self) -> Result<Option<CachingPage>, ResponseError> {
        self.page(CachingPage::PAGE_CODE, None)
            .map(|page| CachingPage::from_page(&page))
            .transpose()
    }

    pub fn write_protected(&self) -> bool {
        self.device_specific & Self::WP != 0
    }

    fn write_header(&self, writer: &mut Writer<'_>, total: usize) -> Result<(), BuildError> {
        let length_field_len = self.format.length_field_len();
        let descriptors_len = self
            .block_descriptors
            .encoded_len(descriptor_format(self.long_lba));
        let max = self.format.max_length();
        let mode_data_length = length_field(
            "mode_data_length",
            total.saturating_sub(length_field_len),
            max,
        )?;
        let descriptors_field = length_field("block_descriptor_length", descriptors_len, max)?;
        match self.format {
            ModeFormat::Six => {
                if self.long_lba {
                    return Err(BuildError::Inconsistent {
                        what: "long LBA block descriptors in MODE SENSE(6) data",
                    });
                }
                writer.put(&[mode_data_length as u8, self.medium_type])?;
                writer.put(&[self.device_specific, descriptors_field as u8])?;
            }
            ModeFormat::Ten => {
                writer.be16(mode_data_length as u16)?;
                writer.put(&[self.medium_type, self.device_specific])?;
                writer.put(&[u8::from(self.long_lba), 0])?;
                writer.be16(descriptors_field as u16)?;
            }
        }
        Ok(())
    }
}

impl BuildResponse for ModeParameters<'_> {
    fn encoded_len(&self) -> usize {
        self.format.header_len()
            + self
                .block_descriptors
                .encoded_len(descriptor_format(self.long_lba))
            + self.pages.encoded_len(ItemFormat::Standard)
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let total = self.encoded_len();
        let mut writer = Writer::new(out, total)?;
        self.write_header(&mut writer, total)?;
        let mut written = writer.position();
        let rest = out.get_mut(written..).unwrap_or(&mut []);
        written += self
            .block_descriptors
            .encode(rest, descriptor_format(self.long_lba))?;
        let rest = out.get_mut(written..).unwrap_or(&mut []);
        written += self.pages.encode(rest, ItemFormat::Standard)?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_sense_6_with_descriptor_and_caching_page() {
        let caching = CachingPage {
            wce: true,
            rcd: false,
            dra: false,
        }
        .to_data();
        let pages = [ModePage {
            page_code: 0x08,
            subpage: None,
            parameters_saveable: true,
            data: &caching,
        }];
        let descriptors = [BlockDescriptor {
            block_count: 2048,
            block_length: 512,
        }];
        let data = ModeParameters {
            format: ModeFormat::Six,
            medium_type: 0,
            device_specific: ModeParameters::DPOFUA,
            long_lba: false,
            block_descriptors: ItemList::from_items(&descriptors),
            pages: ItemList::from_items(&pages),
        };
        let bytes = data.to_vec().unwrap();
        assert_eq!(bytes.len(), 4 + 8 + 20);
        assert_eq!(&bytes[..4], &[31, 0, 0x10, 8]);
        assert_eq!(&bytes[12..15], &[0x88, 0x12, 0x04]);
        let parsed = ModeParameters::parse(&bytes, ModeFormat::Six).unwrap();
        assert_eq!(parsed, data);
        assert!(parsed.caching_page().unwrap().unwrap().wce);
        assert!(matches!(
            ModeParameters::parse(&bytes[..20], ModeFormat::Six),
            Err(ResponseError::Truncated {
                needed: 32,
                available: 20,
                ..
            })
        ));
    }

    #[test]
    fn inconsistent_lengths_are_malformed() {
        // Mode data length 3 with a block descriptor length of 8.
        assert!(matches!(
            ModeParameters::parse(&[3, 0, 0, 8], ModeFormat::Six),
            Err(ResponseError::Malformed { .. })
        ));
        // Mode data length 0 is shorter than the header itself.
        assert!(matches!(
            ModeParameters::parse(&[0, 0, 0, 0, 0, 0, 0, 0], ModeFormat::Ten),
            Err(ResponseError::Malformed { .. })
        ));
    }
}
