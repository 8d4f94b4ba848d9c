//! Logical-unit identity: what groups paths into one multipath device. From VPD page 83h
//! the first logical-unit designator of the best kind (NAA, then EUI-64, then SCSI name
//! string); without one, the unit serial number of VPD page 80h. Page 83h also names the
//! path's relative target port and target port group (for ALUA).

use std::fmt;

use serde::Serialize;
use unjam_scsi::cdb::response::{
    Association, DesignatorType, DeviceIdentification, StandardInquiry, Tpgs, UnitSerialNumber,
};

/// The longest identity text kept (a SCSI name string may be up to 255 bytes).
pub const MAX_IDENTITY_LEN: usize = 256;

/// The identity of a logical unit, as text: `naa.<hex>`, `eui.<hex>`, the SCSI name string,
/// or `serial.<text>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LuIdentity(String);

impl LuIdentity {
    /// An identity from text (a driver that knows it); `None` when empty or too long.
    pub fn new(text: &str) -> Option<LuIdentity> {
        let text = text.trim();
        (!text.is_empty() && text.len() <= MAX_IDENTITY_LEN).then(|| LuIdentity(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LuIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LuIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LuIdentity({})", self.0)
    }
}

/// What VPD page 83h says about one path.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PortIdentity {
    /// The logical unit's designator, when the page has one of NAA, EUI-64, SCSI name.
    pub identity: Option<LuIdentity>,
    pub relative_port: Option<u16>,
    pub port_group: Option<u16>,
}

/// Parses VPD page 83h. A page that does not parse is `None`.
pub fn from_device_identification(page: &[u8]) -> Option<PortIdentity> {
    let parsed = DeviceIdentification::parse(page).ok()?;
    let mut out = PortIdentity::default();
    for kind in [
        DesignatorType::Naa,
        DesignatorType::Eui64,
        DesignatorType::ScsiNameString,
    ] {
        if let Some(designator) = parsed.find(Association::LogicalUnit, kind) {
            out.identity = LuIdentity::new(&designator.id().to_string());
            if out.identity.is_some() {
                break;
            }
        }
    }
    out.relative_port = parsed
        .find(Association::TargetPort, DesignatorType::RelativeTargetPort)
        .and_then(|d| d.port_number());
    out.port_group = parsed
        .find(Association::TargetPort, DesignatorType::TargetPortGroup)
        .and_then(|d| d.port_number());
    Some(out)
}

/// The identity from VPD page 80h (`serial.<text>`), or `None` when the page does not
/// parse or the serial is blank.
pub fn from_unit_serial(page: &[u8]) -> Option<LuIdentity> {
    let parsed = UnitSerialNumber::parse(page).ok()?;
    let text = parsed.text().to_string();
    if text.trim().is_empty() {
        return None;
    }
    LuIdentity::new(&format!("serial.{}", text.trim()))
}

/// Whether standard INQUIRY data says the unit reports ALUA (TPGS other than 00b).
pub fn supports_alua(inquiry: &[u8]) -> bool {
    StandardInquiry::parse(inquiry).is_ok_and(|data| data.tpgs != Tpgs::NotSupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VPD 83h page with an NAA 5 designator, a relative port and a port group.
    pub(crate) fn page_83(naa: u64, port: u16, group: u16) -> Vec<u8> {
        let mut body = vec![0x01, 0x03, 0x00, 0x08];
        body.extend_from_slice(&naa.to_be_bytes());
        body.extend_from_slice(&[0x61, 0x94, 0x00, 0x04, 0, 0]);
        body.extend_from_slice(&port.to_be_bytes());
        body.extend_from_slice(&[0x01, 0x95, 0x00, 0x04, 0, 0]);
        body.extend_from_slice(&group.to_be_bytes());
        let mut page = vec![0x00, 0x83];
        page.extend_from_slice(&(body.len() as u16).to_be_bytes());
        page.extend_from_slice(&body);
        page
    }

    #[test]
    fn naa_designator_port_and_group() {
        let parsed = from_device_identification(&page_83(0x5000_0000_0000_0042, 2, 7)).unwrap();
        assert_eq!(parsed.identity.unwrap().as_str(), "naa.5000000000000042");
        assert_eq!(parsed.relative_port, Some(2));
        assert_eq!(parsed.port_group, Some(7));
    }

    #[test]
    fn eui64_and_scsi_name_and_serial_fallback() {
        let mut page = vec![0x00, 0x83, 0x00, 0x0c, 0x01, 0x02, 0x00, 0x08];
        page.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let parsed = from_device_identification(&page).unwrap();
        assert_eq!(parsed.identity.unwrap().as_str(), "eui.0102030405060708");
        let name = b"iqn.2026-01.x:lun1";
        let mut page = vec![0x00, 0x83, 0x00, (4 + name.len()) as u8, 0x03, 0x08, 0x00];
        page.push(name.len() as u8);
        page.extend_from_slice(name);
        let parsed = from_device_identification(&page).unwrap();
        assert_eq!(parsed.identity.unwrap().as_str(), "iqn.2026-01.x:lun1");
        // A vendor-specific designator only: no identity from page 83h.
        let page = [0x00, 0x83, 0x00, 0x06, 0x02, 0x00, 0x00, 0x02, b'a', b'b'];
        assert_eq!(from_device_identification(&page).unwrap().identity, None);
        let serial = [0x00, 0x80, 0x00, 0x06, b' ', b' ', b'S', b'N', b'4', b'2'];
        assert_eq!(from_unit_serial(&serial).unwrap().as_str(), "serial.SN42");
        assert_eq!(
            from_unit_serial(&[0x00, 0x80, 0x00, 0x02, b' ', b' ']),
            None
        );
        assert_eq!(from_device_identification(&[0x00, 0x83, 0x00]), None);
    }

    #[test]
    fn tpgs_bits() {
        let mut inquiry = [0u8; 36];
        assert!(!supports_alua(&inquiry));
        inquiry[5] = 0x10;
        assert!(supports_alua(&inquiry));
        assert!(!supports_alua(&inquiry[..10]));
    }
}
