//! REPORT TARGET PORT GROUPS parameter data (SPC-5 6.36.2): the ALUA state of each
//! target port group and the relative target ports in it.

use super::list::{ItemFormat, ItemList, WireItem};
use super::BuildResponse;
use crate::cdb::error::{BuildError, ResponseError};
use crate::cdb::wire::{length_field, Reader, Writer};

/// ASYMMETRIC ACCESS STATE (four bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AccessState {
    ActiveOptimized,
    ActiveNonOptimized,
    Standby,
    Unavailable,
    /// Logical block dependent.
    LbaDependent,
    Offline,
    Transitioning,
    /// A value SPC-5 reserves (5h..Dh).
    Reserved(u8),
}

impl AccessState {
    pub fn code(self) -> u8 {
        match self {
            AccessState::ActiveOptimized => 0x0,
            AccessState::ActiveNonOptimized => 0x1,
            AccessState::Standby => 0x2,
            AccessState::Unavailable => 0x3,
            AccessState::LbaDependent => 0x4,
            AccessState::Offline => 0xe,
            AccessState::Transitioning => 0xf,
            AccessState::Reserved(code) => code,
        }
    }

    pub fn from_code(code: u8) -> AccessState {
        match code & 0x0f {
            0x0 => AccessState::ActiveOptimized,
            0x1 => AccessState::ActiveNonOptimized,
            0x2 => AccessState::Standby,
            0x3 => AccessState::Unavailable,
            0x4 => AccessState::LbaDependent,
            0xe => AccessState::Offline,
            0xf => AccessState::Transitioning,
            other => AccessState::Reserved(other),
        }
    }

    /// Active/optimized or active/non-optimized: I/O may be sent on this path.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AccessState::ActiveOptimized | AccessState::ActiveNonOptimized
        )
    }
}

/// Byte 1 of a target port group descriptor: which states the group supports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SupportedStates(pub u8);

impl SupportedStates {
    /// T_SUP: transitioning.
    pub const TRANSITIONING: u8 = 0x80;
    /// O_SUP: offline.
    pub const OFFLINE: u8 = 0x40;
    /// LBD_SUP: logical block dependent.
    pub const LBA_DEPENDENT: u8 = 0x10;
    /// U_SUP: unavailable.
    pub const UNAVAILABLE: u8 = 0x08;
    /// S_SUP: standby.
    pub const STANDBY: u8 = 0x04;
    /// AN_SUP: active/non-optimized.
    pub const ACTIVE_NON_OPTIMIZED: u8 = 0x02;
    /// AO_SUP: active/optimized.
    pub const ACTIVE_OPTIMIZED: u8 = 0x01;

    pub fn supports(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// A relative target port identifier inside a target port group descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RelativeTargetPort(pub u16);

impl<'a> WireItem<'a> for RelativeTargetPort {
    fn decode(bytes: &'a [u8], _: ItemFormat) -> Result<(Self, usize), ResponseError> {
        let [_, _, high, low] = Reader::new(bytes, "relative target port").array()?;
        Ok((RelativeTargetPort(u16::from_be_bytes([high, low])), 4))
    }

    fn encoded_len(&self, _: ItemFormat) -> usize {
        4
    }

    fn encode(&self, out: &mut [u8], _: ItemFormat) -> Result<usize, BuildError> {
        let mut writer = Writer::new(out, 4)?;
        writer.zeros(2)?;
        writer.be16(self.0)?;
        Ok(writer.position())
    }
}

/// One target port group descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TargetPortGroup<'a> {
    /// PREF: the preferred group for I/O.
    pub preferred: bool,
    pub state: AccessState,
    pub supported: SupportedStates,
    pub id: u16,
    /// STATUS CODE: 0 none, 1 changed by SET TARGET PORT GROUPS, 2 changed implicitly.
    pub status_code: u8,
    pub vendor_specific: u8,
    /// At most 255 ports.
    pub ports: ItemList<'a, RelativeTargetPort>,
}

impl TargetPortGroup<'_> {
    const HEADER_LEN: usize = 8;

    /// True if `port` (a relative target port identifier) belongs to this group.
    pub fn contains_port(&self, port: u16) -> bool {
        self.ports.iter().any(|member| member.0 == port)
    }
}

impl<'a> WireItem<'a> for TargetPortGroup<'a> {
    fn decode(bytes: &'a [u8], _: ItemFormat) -> Result<(Self, usize), ResponseError> {
        let mut reader = Reader::new(bytes, "target port group descriptor");
        let [byte0, supported, id_high, id_low, _, status_code, vendor_specific, count] =
            reader.array()?;
        let ports_len = usize::from(count) * 4;
        let ports = reader.take(ports_len)?;
        let group = TargetPortGroup {
            preferred: byte0 & 0x80 != 0,
            state: AccessState::from_code(byte0),
            supported: SupportedStates(supported),
            id: u16::from_be_bytes([id_high, id_low]),
            status_code,
            vendor_specific,
            ports: ItemList::decode_all(ports, ItemFormat::Standard)?,
        };
        Ok((group, Self::HEADER_LEN + ports_len))
    }

    fn encoded_len(&self, _: ItemFormat) -> usize {
        Self::HEADER_LEN + self.ports.encoded_len(ItemFormat::Standard)
    }

    fn encode(&self, out: &mut [u8], _: ItemFormat) -> Result<usize, BuildError> {
        let state = self.state.code();
        if AccessState::from_code(state) != self.state {
            return Err(BuildError::FieldOutOfRange {
                field: "asymmetric_access_state",
                value: u64::from(state),
                max: 0x0f,
            });
        }
        let count = length_field("target_port_count", self.ports.len(), 0xff)? as u8;
        let mut writer = Writer::new(out, self.encoded_len(ItemFormat::Standard))?;
        let preferred = if self.preferred { 0x80 } else { 0 };
        writer.put(&[preferred | state, self.supported.0])?;
        writer.be16(self.id)?;
        writer.put(&[0, self.status_code, self.vendor_specific, count])?;
        let header_len = writer.position();
        let rest = out.get_mut(header_len..).unwrap_or(&mut []);
        Ok(header_len + self.ports.encode(rest, ItemFormat::Standard)?)
    }
}

/// The extended header (parameter data format 001b).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExtendedHeader {
    /// IMPLICIT TRANSITION TIME in seconds (0: unspecified).
    pub implicit_transition_time_s: u8,
}

/// REPORT TARGET PORT GROUPS data, in either header format. The parser recognises the
/// extended header by its FORMAT TYPE (byte 4 bits 6..4 = 001b), as SPC-5 intends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TargetPortGroups<'a> {
    pub extended: Option<ExtendedHeader>,
    pub groups: ItemList<'a, TargetPortGroup<'a>>,
}

impl<'a> TargetPortGroups<'a> {
    /// Parses the data; less data than RETURN DATA LENGTH announces is
    /// [`ResponseError::Truncated`] (re-issue with `needed` as the allocation length).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ResponseError> {
        let mut reader = Reader::new(bytes, "REPORT TARGET PORT GROUPS data");
        let return_length = usize::try_from(reader.be32()?).unwrap_or(usize::MAX);
        let body = reader.take(return_length)?;
        let mut body_reader = Reader::new(body, "REPORT TARGET PORT GROUPS data");
        let extended = match body.first() {
            Some(format) if format & 0x70 == 0x10 => {
                let [_, time, _, _] = body_reader.array()?;
                Some(ExtendedHeader {
                    implicit_transition_time_s: time,
                })
            }
            _ => None,
        };
        Ok(TargetPortGroups {
            extended,
            groups: ItemList::decode_all(body_reader.remaining(), ItemFormat::Standard)?,
        })
    }

    /// The group whose id is `id`.
    pub fn group(&self, id: u16) -> Option<TargetPortGroup<'a>> {
        self.groups.iter().find(|group| group.id == id)
    }

    /// The group holding relative target port `port`.
    pub fn group_of_port(&self, port: u16) -> Option<TargetPortGroup<'a>> {
        self.groups.iter().find(|group| group.contains_port(port))
    }

    fn header_len(&self) -> usize {
        if self.extended.is_some() {
            8
        } else {
            4
        }
    }
}

impl BuildResponse for TargetPortGroups<'_> {
    fn encoded_len(&self) -> usize {
        self.header_len() + self.groups.encoded_len(ItemFormat::Standard)
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let total = self.encoded_len();
        let return_length = length_field(
            "return_data_length",
            total.saturating_sub(4),
            u64::from(u32::MAX),
        )?;
        let mut writer = Writer::new(out, total)?;
        writer.be32(return_length as u32)?;
        if let Some(header) = self.extended {
            writer.put(&[0x10, header.implicit_transition_time_s, 0, 0])?;
        }
        let header_len = writer.position();
        let rest = out.get_mut(header_len..).unwrap_or(&mut []);
        Ok(header_len + self.groups.encode(rest, ItemFormat::Standard)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: u16, state: AccessState, ports: &[RelativeTargetPort]) -> TargetPortGroup<'_> {
        TargetPortGroup {
            preferred: id == 1,
            state,
            supported: SupportedStates(0x0f),
            id,
            status_code: 2,
            vendor_specific: 0,
            ports: ItemList::from_items(ports),
        }
    }

    #[test]
    fn several_groups_round_trip_in_both_formats() {
        let first = [RelativeTargetPort(1), RelativeTargetPort(2)];
        let second = [RelativeTargetPort(3)];
        let groups = [
            group(1, AccessState::ActiveOptimized, &first),
            group(2, AccessState::Standby, &second),
            group(3, AccessState::Transitioning, &[]),
        ];
        for extended in [
            None,
            Some(ExtendedHeader {
                implicit_transition_time_s: 60,
            }),
        ] {
            let data = TargetPortGroups {
                extended,
                groups: ItemList::from_items(&groups),
            };
            let bytes = data.to_vec().unwrap();
            assert_eq!(bytes.len(), data.header_len() + 16 + 12 + 8);
            let parsed = TargetPortGroups::parse(&bytes).unwrap();
            assert_eq!(parsed, data);
            assert_eq!(parsed.group_of_port(3).unwrap().state, AccessState::Standby);
            assert!(parsed.group(1).unwrap().preferred);
            assert!(parsed.group(1).unwrap().state.is_active());
            assert_eq!(parsed.group(4), None);
        }
    }

    #[test]
    fn short_data_asks_for_more() {
        let ports = [RelativeTargetPort(1)];
        let groups = [group(1, AccessState::Unavailable, &ports)];
        let data = TargetPortGroups {
            extended: None,
            groups: ItemList::from_items(&groups),
        };
        let bytes = data.to_vec().unwrap();
        assert_eq!(
            TargetPortGroups::parse(&bytes[..8]),
            Err(ResponseError::Truncated {
                what: "REPORT TARGET PORT GROUPS data",
                needed: 16,
                available: 8
            })
        );
        // A port count that runs past the return data length.
        let mut bad = bytes.clone();
        bad[11] = 2;
        assert!(matches!(
            TargetPortGroups::parse(&bad),
            Err(ResponseError::Truncated {
                what: "target port group descriptor",
                ..
            })
        ));
    }
}
