//! Standard INQUIRY data (SPC-5 6.6.2) and the peripheral byte every INQUIRY response
//! (standard and VPD) starts with.

use super::text::{space_padded, TextField};
use super::BuildResponse;
use crate::cdb::error::{check_build, BuildError, ResponseError};
use crate::cdb::wire::{Reader, Writer};

/// Peripheral device types (SPC-5 table 150) unjam names.
pub mod device_type {
    pub const DIRECT_ACCESS: u8 = 0x00;
    pub const SEQUENTIAL_ACCESS: u8 = 0x01;
    pub const PROCESSOR: u8 = 0x03;
    pub const CD_DVD: u8 = 0x05;
    pub const OPTICAL_MEMORY: u8 = 0x07;
    pub const MEDIUM_CHANGER: u8 = 0x08;
    pub const STORAGE_ARRAY_CONTROLLER: u8 = 0x0c;
    pub const ENCLOSURE_SERVICES: u8 = 0x0d;
    pub const SIMPLIFIED_DIRECT_ACCESS: u8 = 0x0e;
    pub const WELL_KNOWN_LU: u8 = 0x1e;
    pub const UNKNOWN_OR_NONE: u8 = 0x1f;
}

/// Peripheral qualifiers (SPC-5 table 149).
pub mod qualifier {
    /// The device type is connected to this logical unit (or may be).
    pub const CONNECTED: u8 = 0;
    /// The target supports the device type but none is connected to this LUN now.
    pub const NOT_CONNECTED: u8 = 1;
    /// The target cannot support a device at this LUN (with type 1Fh: "no LUN here").
    pub const NOT_SUPPORTED: u8 = 3;
}

/// Byte 0 of INQUIRY data: peripheral qualifier (3 bits) and device type (5 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Peripheral(pub u8);

impl Peripheral {
    /// Packs a qualifier and a device type; bits beyond each field are dropped.
    pub const fn new(qualifier: u8, device_type: u8) -> Peripheral {
        Peripheral((qualifier & 0x07) << 5 | (device_type & 0x1f))
    }

    pub const fn qualifier(self) -> u8 {
        self.0 >> 5
    }

    pub const fn device_type(self) -> u8 {
        self.0 & 0x1f
    }

    /// Qualifier 3 with type 1Fh (byte 7Fh): the target has no logical unit here.
    pub const fn is_lun_absent(self) -> bool {
        self.qualifier() == qualifier::NOT_SUPPORTED
    }
}

/// The TPGS field: which kinds of asymmetric logical unit access the device supports.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Tpgs {
    /// 00b: no ALUA.
    #[default]
    NotSupported,
    /// 01b: implicit only (the target changes states itself).
    Implicit,
    /// 10b: explicit only (SET TARGET PORT GROUPS).
    Explicit,
    /// 11b: both.
    Both,
}

impl Tpgs {
    pub fn code(self) -> u8 {
        match self {
            Tpgs::NotSupported => 0,
            Tpgs::Implicit => 1,
            Tpgs::Explicit => 2,
            Tpgs::Both => 3,
        }
    }

    pub fn from_code(code: u8) -> Tpgs {
        match code & 0x03 {
            0 => Tpgs::NotSupported,
            1 => Tpgs::Implicit,
            2 => Tpgs::Explicit,
            _ => Tpgs::Both,
        }
    }
}

/// Standard INQUIRY data: the 36 bytes every device returns. Vendor-specific and version
/// descriptor bytes past byte 35 are ignored by the parser and written as zero.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StandardInquiry {
    pub peripheral: Peripheral,
    /// RMB: removable medium.
    pub removable: bool,
    /// The SPC version claimed: 05h SPC-3, 06h SPC-4, 07h SPC-5.
    pub version: u8,
    /// NORMACA: the NACA bit in CONTROL bytes is supported.
    pub normaca: bool,
    /// HISUP: hierarchical LUN addressing.
    pub hisup: bool,
    /// Four bits; 2 for every current device.
    pub response_data_format: u8,
    /// Bytes after byte 4 the device has (31 for exactly 36 bytes).
    pub additional_length: u8,
    /// SCCS: embedded storage array controller.
    pub sccs: bool,
    /// ACC: access controls coordinator.
    pub acc: bool,
    pub tpgs: Tpgs,
    /// 3PC: third-party copy.
    pub third_party_copy: bool,
    /// PROTECT: protection information supported.
    pub protect: bool,
    /// ENCSERV: embedded enclosure services.
    pub enclosure_services: bool,
    /// MULTIP: more than one port.
    pub multi_port: bool,
    /// CMDQUE: full task management model (command queuing).
    pub cmdque: bool,
    /// T10 vendor identification, space padded.
    pub vendor: [u8; 8],
    pub product: [u8; 16],
    pub revision: [u8; 4],
}

impl StandardInquiry {
    /// The least standard INQUIRY data a device returns, and what the builder writes.
    pub const MIN_LEN: usize = 36;

    /// A connected direct-access device claiming SPC-5 with command queuing; the names
    /// are space padded (and cut to their field's length).
    pub fn new(vendor: &str, product: &str, revision: &str) -> StandardInquiry {
        StandardInquiry {
            peripheral: Peripheral::new(qualifier::CONNECTED, device_type::DIRECT_ACCESS),
            removable: false,
            version: 0x07,
            normaca: false,
            hisup: true,
            response_data_format: 2,
            additional_length: (Self::MIN_LEN - 5) as u8,
            sccs: false,
            acc: false,
            tpgs: Tpgs::NotSupported,
            third_party_copy: false,
            protect: false,
            enclosure_services: false,
            multi_port: false,
            cmdque: true,
            vendor: space_padded(vendor),
            product: space_padded(product),
            revision: space_padded(revision),
        }
    }

    /// Parses the first 36 bytes; fewer is [`ResponseError::Truncated`].
    pub fn parse(bytes: &[u8]) -> Result<StandardInquiry, ResponseError> {
        let mut reader = Reader::new(bytes, "standard INQUIRY data");
        if bytes.len() < Self::MIN_LEN {
            return Err(reader.truncated(Self::MIN_LEN));
        }
        let [byte0, byte1, version, byte3, additional_length, byte5, byte6, byte7] =
            reader.array()?;
        Ok(StandardInquiry {
            peripheral: Peripheral(byte0),
            removable: byte1 & 0x80 != 0,
            version,
            normaca: byte3 & 0x20 != 0,
            hisup: byte3 & 0x10 != 0,
            response_data_format: byte3 & 0x0f,
            additional_length,
            sccs: byte5 & 0x80 != 0,
            acc: byte5 & 0x40 != 0,
            tpgs: Tpgs::from_code(byte5 >> 4),
            third_party_copy: byte5 & 0x08 != 0,
            protect: byte5 & 0x01 != 0,
            enclosure_services: byte6 & 0x40 != 0,
            multi_port: byte6 & 0x10 != 0,
            cmdque: byte7 & 0x02 != 0,
            vendor: reader.array()?,
            product: reader.array()?,
            revision: reader.array()?,
        })
    }

    /// The vendor identification without padding.
    pub fn vendor_text(&self) -> TextField<'_> {
        TextField::trimmed(&self.vendor)
    }

    pub fn product_text(&self) -> TextField<'_> {
        TextField::trimmed(&self.product)
    }

    pub fn revision_text(&self) -> TextField<'_> {
        TextField::trimmed(&self.revision)
    }

    fn flag_bytes(&self) -> [u8; 4] {
        let bit = |set: bool, mask: u8| if set { mask } else { 0 };
        [
            bit(self.removable, 0x80),
            bit(self.normaca, 0x20) | bit(self.hisup, 0x10) | self.response_data_format,
            bit(self.sccs, 0x80)
                | bit(self.acc, 0x40)
                | self.tpgs.code() << 4
                | bit(self.third_party_copy, 0x08)
                | bit(self.protect, 0x01),
            bit(self.enclosure_services, 0x40) | bit(self.multi_port, 0x10),
        ]
    }
}

impl BuildResponse for StandardInquiry {
    /// 36 bytes, or more when `additional_length` announces more (written as zeros).
    fn encoded_len(&self) -> usize {
        Self::MIN_LEN.max(5 + usize::from(self.additional_length))
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        check_build(
            "response_data_format",
            u64::from(self.response_data_format),
            0x0f,
        )?;
        let len = self.encoded_len();
        let mut writer = Writer::new(out, len)?;
        let [byte1, byte3, byte5, byte6] = self.flag_bytes();
        let byte7 = if self.cmdque { 0x02 } else { 0 };
        writer.put(&[self.peripheral.0, byte1, self.version, byte3])?;
        writer.put(&[self.additional_length, byte5, byte6, byte7])?;
        writer.put(&self.vendor)?;
        writer.put(&self.product)?;
        writer.put(&self.revision)?;
        writer.zeros(len.saturating_sub(Self::MIN_LEN))?;
        Ok(writer.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_tgt_like_response() {
        let mut data = StandardInquiry::new("IET", "VIRTUAL-DISK", "0001");
        data.tpgs = Tpgs::Implicit;
        data.additional_length = 0x3b;
        let bytes = data.to_vec().unwrap();
        assert_eq!(bytes.len(), 0x3b + 5);
        assert_eq!(bytes[5], 0x10);
        assert_eq!(bytes[7], 0x02);
        let parsed = StandardInquiry::parse(&bytes).unwrap();
        assert_eq!(parsed, data);
        assert_eq!(parsed.vendor_text().as_str(), Some("IET"));
        assert_eq!(parsed.product_text().to_string(), "VIRTUAL-DISK");
    }

    #[test]
    fn short_data_is_truncated() {
        assert_eq!(
            StandardInquiry::parse(&[0; 35]),
            Err(ResponseError::Truncated {
                what: "standard INQUIRY data",
                needed: 36,
                available: 35
            })
        );
        assert_eq!(Peripheral(0x7f).qualifier(), 3);
        assert!(Peripheral(0x7f).is_lun_absent());
        assert_eq!(Peripheral::new(0, device_type::ENCLOSURE_SERVICES).0, 0x0d);
    }
}
