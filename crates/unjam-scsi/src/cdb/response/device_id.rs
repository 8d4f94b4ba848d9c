//! VPD page 83h, Device Identification (SPC-5 7.7.6): designation descriptors, and the
//! choice of the identifier that names a logical unit best.

use std::fmt;

use super::inquiry::Peripheral;
use super::list::{ItemFormat, ItemList, WireItem};
use super::vpd::{parse_page, vpd_page, write_header, HEADER_LEN};
use super::BuildResponse;
use crate::cdb::error::{check_build, BuildError, ResponseError};
use crate::cdb::wire::{length_field, Reader, Writer};

/// Protocol identifiers (SPC-5 table 444), meaningful when PIV is set.
pub mod protocol_identifier {
    pub const FIBRE_CHANNEL: u8 = 0x0;
    pub const SAS: u8 = 0x6;
    pub const ISCSI: u8 = 0x5;
    pub const SRP: u8 = 0x4;
    pub const UAS: u8 = 0x9;
    pub const SOP: u8 = 0xa;
}

/// CODE SET: how the designator bytes are encoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CodeSet {
    Binary,
    Ascii,
    Utf8,
    /// A value SPC-5 reserves (0h, 4h..Fh).
    Reserved(u8),
}

impl CodeSet {
    pub fn code(self) -> u8 {
        match self {
            CodeSet::Binary => 1,
            CodeSet::Ascii => 2,
            CodeSet::Utf8 => 3,
            CodeSet::Reserved(code) => code,
        }
    }

    pub fn from_code(code: u8) -> CodeSet {
        match code & 0x0f {
            1 => CodeSet::Binary,
            2 => CodeSet::Ascii,
            3 => CodeSet::Utf8,
            other => CodeSet::Reserved(other),
        }
    }
}

/// ASSOCIATION: what the designator names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Association {
    LogicalUnit,
    TargetPort,
    TargetDevice,
    Reserved,
}

impl Association {
    pub fn code(self) -> u8 {
        match self {
            Association::LogicalUnit => 0,
            Association::TargetPort => 1,
            Association::TargetDevice => 2,
            Association::Reserved => 3,
        }
    }

    pub fn from_code(code: u8) -> Association {
        match code & 0x03 {
            0 => Association::LogicalUnit,
            1 => Association::TargetPort,
            2 => Association::TargetDevice,
            _ => Association::Reserved,
        }
    }
}

/// DESIGNATOR TYPE (SPC-5 table 592).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DesignatorType {
    VendorSpecific,
    T10VendorId,
    Eui64,
    Naa,
    RelativeTargetPort,
    TargetPortGroup,
    LogicalUnitGroup,
    Md5LogicalUnit,
    ScsiNameString,
    ProtocolSpecificPort,
    Uuid,
    /// A value SPC-5 reserves (Bh..Fh).
    Reserved(u8),
}

impl DesignatorType {
    pub fn code(self) -> u8 {
        match self {
            DesignatorType::VendorSpecific => 0x0,
            DesignatorType::T10VendorId => 0x1,
            DesignatorType::Eui64 => 0x2,
            DesignatorType::Naa => 0x3,
            DesignatorType::RelativeTargetPort => 0x4,
            DesignatorType::TargetPortGroup => 0x5,
            DesignatorType::LogicalUnitGroup => 0x6,
            DesignatorType::Md5LogicalUnit => 0x7,
            DesignatorType::ScsiNameString => 0x8,
            DesignatorType::ProtocolSpecificPort => 0x9,
            DesignatorType::Uuid => 0xa,
            DesignatorType::Reserved(code) => code,
        }
    }

    pub fn from_code(code: u8) -> DesignatorType {
        match code & 0x0f {
            0x0 => DesignatorType::VendorSpecific,
            0x1 => DesignatorType::T10VendorId,
            0x2 => DesignatorType::Eui64,
            0x3 => DesignatorType::Naa,
            0x4 => DesignatorType::RelativeTargetPort,
            0x5 => DesignatorType::TargetPortGroup,
            0x6 => DesignatorType::LogicalUnitGroup,
            0x7 => DesignatorType::Md5LogicalUnit,
            0x8 => DesignatorType::ScsiNameString,
            0x9 => DesignatorType::ProtocolSpecificPort,
            0xa => DesignatorType::Uuid,
            other => DesignatorType::Reserved(other),
        }
    }

    /// How well a designator of this type names a logical unit: NAA > EUI-64 > T10
    /// vendor ID > SCSI name string; 0 for types that do not name one.
    fn identity_rank(self) -> u8 {
        match self {
            DesignatorType::Naa => 4,
            DesignatorType::Eui64 => 3,
            DesignatorType::T10VendorId => 2,
            DesignatorType::ScsiNameString => 1,
            _ => 0,
        }
    }
}

/// One designation descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Designator<'a> {
    /// Four bits; see [`protocol_identifier`]. Meaningful when `piv` is set.
    pub protocol_identifier: u8,
    pub code_set: CodeSet,
    /// PIV: `protocol_identifier` is valid (target port or device association only).
    pub piv: bool,
    pub association: Association,
    pub designator_type: DesignatorType,
    /// The identifier itself, at most 255 bytes.
    pub designator: &'a [u8],
}

impl<'a> Designator<'a> {
    const HEADER_LEN: usize = 4;

    /// The designator as a stable text identity: `naa.<hex>`, `eui.<hex>`, `t10.<ascii>`,
    /// the SCSI name string itself, or hex for other types.
    pub fn id(&self) -> DesignatorId<'a> {
        DesignatorId(*self)
    }

    /// For a relative target port or target port group designator: its 16-bit value.
    pub fn port_number(&self) -> Option<u16> {
        match (self.designator_type, self.designator) {
            (
                DesignatorType::RelativeTargetPort | DesignatorType::TargetPortGroup,
                [_, _, high, low],
            ) => Some(u16::from_be_bytes([*high, *low])),
            _ => None,
        }
    }

    fn check_codes(&self) -> Result<(), BuildError> {
        let code_set = self.code_set.code();
        check_build(
            "protocol_identifier",
            u64::from(self.protocol_identifier),
            0x0f,
        )?;
        if CodeSet::from_code(code_set) != self.code_set {
            return Err(BuildError::FieldOutOfRange {
                field: "code_set",
                value: u64::from(code_set),
                max: 0x0f,
            });
        }
        let kind = self.designator_type.code();
        if DesignatorType::from_code(kind) != self.designator_type {
            return Err(BuildError::FieldOutOfRange {
                field: "designator_type",
                value: u64::from(kind),
                max: 0x0f,
            });
        }
        Ok(())
    }
}

impl<'a> WireItem<'a> for Designator<'a> {
    fn decode(bytes: &'a [u8], _: ItemFormat) -> Result<(Self, usize), ResponseError> {
        let mut reader = Reader::new(bytes, "designation descriptor");
        let [byte0, byte1, _, length] = reader.array()?;
        let designator = reader.take(usize::from(length))?;
        let descriptor = Designator {
            protocol_identifier: byte0 >> 4,
            code_set: CodeSet::from_code(byte0),
            piv: byte1 & 0x80 != 0,
            association: Association::from_code(byte1 >> 4),
            designator_type: DesignatorType::from_code(byte1),
            designator,
        };
        Ok((descriptor, Self::HEADER_LEN + designator.len()))
    }

    fn encoded_len(&self, _: ItemFormat) -> usize {
        Self::HEADER_LEN + self.designator.len()
    }

    fn encode(&self, out: &mut [u8], _: ItemFormat) -> Result<usize, BuildError> {
        self.check_codes()?;
        let length = length_field("designator_length", self.designator.len(), 0xff)? as u8;
        let mut writer = Writer::new(out, self.encoded_len(ItemFormat::Standard))?;
        let piv = if self.piv { 0x80 } else { 0 };
        writer.u8(self.protocol_identifier << 4 | self.code_set.code())?;
        writer.u8(piv | self.association.code() << 4 | self.designator_type.code())?;
        writer.u8(0)?;
        writer.u8(length)?;
        writer.put(self.designator)?;
        Ok(writer.position())
    }
}

/// VPD page 83h.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceIdentification<'a> {
    pub peripheral: Peripheral,
    pub designators: ItemList<'a, Designator<'a>>,
}

impl<'a> DeviceIdentification<'a> {
    pub const PAGE: u8 = vpd_page::DEVICE_IDENTIFICATION;

    /// Parses the page and every descriptor in it; a descriptor running past the page
    /// length is [`ResponseError::Truncated`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ResponseError> {
        let (peripheral, body) = parse_page(bytes, Self::PAGE, "VPD page 83h")?;
        Ok(DeviceIdentification {
            peripheral,
            designators: ItemList::decode_all(body, ItemFormat::Standard)?,
        })
    }

    /// The designator that best names the logical unit: among those with logical-unit
    /// association, the first of the best type (NAA > EUI-64 > T10 vendor ID > SCSI name
    /// string). `None` if there is none of these.
    pub fn best_lu_designator(&self) -> Option<Designator<'a>> {
        let mut best: Option<Designator<'a>> = None;
        for designator in self.designators.iter() {
            let rank = designator.designator_type.identity_rank();
            if designator.association != Association::LogicalUnit || rank == 0 {
                continue;
            }
            if best.is_none_or(|b| rank > b.designator_type.identity_rank()) {
                best = Some(designator);
            }
        }
        best
    }

    /// The first designator of `kind` with association `association`.
    pub fn find(&self, association: Association, kind: DesignatorType) -> Option<Designator<'a>> {
        self.designators
            .iter()
            .find(|d| d.association == association && d.designator_type == kind)
    }
}

impl BuildResponse for DeviceIdentification<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + self.designators.encoded_len(ItemFormat::Standard)
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let body_len = self.designators.encoded_len(ItemFormat::Standard);
        let writer = write_header(out, self.peripheral, Self::PAGE, body_len)?;
        let header_len = writer.position();
        let body = out.get_mut(header_len..).unwrap_or(&mut []);
        Ok(header_len + self.designators.encode(body, ItemFormat::Standard)?)
    }
}

/// Displays a designator as a stable identity string (see [`Designator::id`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DesignatorId<'a>(Designator<'a>);

impl fmt::Display for DesignatorId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let designator = &self.0;
        let prefix = match designator.designator_type {
            DesignatorType::Naa => "naa.",
            DesignatorType::Eui64 => "eui.",
            DesignatorType::T10VendorId => "t10.",
            _ => "",
        };
        let text = matches!(designator.code_set, CodeSet::Ascii | CodeSet::Utf8);
        f.write_str(prefix)?;
        if text {
            let trimmed = super::text::TextField::trimmed(designator.designator);
            return write!(f, "{trimmed}");
        }
        for byte in designator.designator {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naa() -> Designator<'static> {
        Designator {
            protocol_identifier: 0,
            code_set: CodeSet::Binary,
            piv: false,
            association: Association::LogicalUnit,
            designator_type: DesignatorType::Naa,
            designator: &[0x60, 0x01, 0x40, 0x50, 0x12, 0x34, 0x56, 0x78],
        }
    }

    #[test]
    fn truncated_descriptor_is_an_error() {
        // Page length 12 holds one 4-byte header announcing 16 bytes of designator.
        let mut bytes = vec![0x00, 0x83, 0x00, 12, 0x01, 0x03, 0x00, 16];
        bytes.extend_from_slice(&[0xaa; 8]);
        assert_eq!(
            DeviceIdentification::parse(&bytes),
            Err(ResponseError::Truncated {
                what: "designation descriptor",
                needed: 20,
                available: 12
            })
        );
        // A page shorter than its page length is truncated too.
        assert!(matches!(
            DeviceIdentification::parse(&bytes[..10]),
            Err(ResponseError::Truncated {
                what: "VPD page 83h",
                needed: 16,
                ..
            })
        ));
    }

    #[test]
    fn best_identity_prefers_naa() {
        let t10 = Designator {
            code_set: CodeSet::Ascii,
            designator_type: DesignatorType::T10VendorId,
            designator: b"LIO-ORG disk0",
            ..naa()
        };
        let port = Designator {
            association: Association::TargetPort,
            designator_type: DesignatorType::RelativeTargetPort,
            designator: &[0, 0, 0, 1],
            ..naa()
        };
        let list = [t10, port, naa()];
        let page = DeviceIdentification {
            peripheral: Peripheral(0),
            designators: ItemList::from_items(&list),
        };
        let bytes = page.to_vec().unwrap();
        let parsed = DeviceIdentification::parse(&bytes).unwrap();
        assert_eq!(parsed, page);
        let best = parsed.best_lu_designator().unwrap();
        assert_eq!(best.id().to_string(), "naa.6001405012345678");
        assert_eq!(t10.id().to_string(), "t10.LIO-ORG disk0");
        assert_eq!(port.port_number(), Some(1));
        let only_t10 = [port, t10];
        let page = DeviceIdentification {
            designators: ItemList::from_items(&only_t10),
            ..page
        };
        assert_eq!(page.best_lu_designator(), Some(t10));
    }
}
