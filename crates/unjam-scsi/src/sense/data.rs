//! Full sense data, fixed (70h/71h) and descriptor (72h/73h) format: [`SenseData::parse`]
//! borrows a buffer and checks its structure; [`SenseData::to_bytes`] builds the exact
//! bytes back. `parse(build(x)) == x` for every value that builds.
//!
//! How lenient parse is, compared with the kernel-exact [`super::SenseHeader::normalize`]:
//! - Both accept response codes 70h..73h with or without byte 0 bit 7; normalize also
//!   accepts 74h..7Fh (as descriptor format), parse rejects them.
//! - Both honour the additional sense length and clip it to the buffer (transports truncate
//!   sense to their buffer size). Fixed format: fields past that length read as zero, as the
//!   kernel does. Bytes past it are ignored.
//! - Parse needs the 8-byte header; normalize reads whatever is there.
//! - Descriptor format: every descriptor inside the additional length must be whole, and a
//!   typed descriptor (00h..0Ah, 0Dh) must have the length its standard gives; otherwise a
//!   typed error. Normalize never looks at descriptors.
//! - Reserved bits and bytes are ignored on parse and written as zero on build.

use super::ata::{FixedAtaStatus, ATA_PASS_THROUGH_INFORMATION};
use super::descriptor::{be32, kind, Descriptor};
use super::descriptors::Descriptors;
use super::error::{BuildError, SenseError};
use super::specific::{SenseKeySpecific, SenseKeySpecificField};
use super::SenseKey;
use crate::asc::{self, AdditionalSense};

/// Byte 0 bit 7 in fixed format: the information field is valid.
const VALID: u8 = 0x80;
const RESPONSE_CODE_MASK: u8 = 0x7f;
const FIXED_CURRENT: u8 = 0x70;
const DESCRIPTOR_CURRENT: u8 = 0x72;
const DEFERRED: u8 = 0x01;
const FILEMARK: u8 = 0x80;
const END_OF_MEDIUM: u8 = 0x40;
const INCORRECT_LENGTH: u8 = 0x20;
/// Fixed format byte 2 bit 4; descriptor format byte 4 bit 7.
const FIXED_SDAT_OVERFLOW: u8 = 0x10;
const DESCRIPTOR_SDAT_OVERFLOW: u8 = 0x80;
const HEADER_LENGTH: usize = 8;
/// Fixed format bytes 8..=17 after the header.
const FIXED_STANDARD_ADDITIONAL: usize = 10;
const FIXED_STANDARD_LENGTH: usize = HEADER_LENGTH + FIXED_STANDARD_ADDITIONAL;

/// Fixed or descriptor format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SenseFormat {
    Fixed,
    Descriptor,
}

/// Parsed (or to-be-built) sense data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SenseData<'a> {
    /// Response code 71h/73h: the error belongs to an earlier command.
    pub deferred: bool,
    pub key: SenseKey,
    pub asc: u8,
    pub ascq: u8,
    /// SDAT_OVFL: the device had more sense data than fit.
    pub sdat_overflow: bool,
    pub body: SenseBody<'a>,
}

/// The format-specific part.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SenseBody<'a> {
    Fixed(FixedFields<'a>),
    Descriptor(Descriptors<'a>),
}

/// Fixed format bytes 0..=17 beyond key, ASC and ASCQ, and any bytes after them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FixedFields<'a> {
    /// Byte 0 bit 7: the information field is valid.
    pub valid: bool,
    /// Bytes 3..=6.
    pub information: u32,
    pub filemark: bool,
    pub end_of_medium: bool,
    /// ILI.
    pub incorrect_length: bool,
    /// Bytes 8..=11.
    pub command_specific: u32,
    /// Byte 14.
    pub field_replaceable_unit: u8,
    /// Bytes 15..=17.
    pub sense_key_specific: SenseKeySpecificField,
    /// Bytes 18.. inside the additional sense length (at most 245).
    pub additional: &'a [u8],
}

impl<'a> SenseData<'a> {
    /// Parses a sense buffer. See the module documentation for what is accepted.
    pub fn parse(bytes: &'a [u8]) -> Result<SenseData<'a>, SenseError> {
        match Self::parse_partial(bytes)? {
            (sense, None) => Ok(sense),
            (_, Some(error)) => Err(error),
        }
    }

    /// Like [`Self::parse`], but a fault in the descriptor list is not fatal: the result
    /// keeps the descriptors before it and returns the fault beside it (for decoders that
    /// show as much as they can). Header faults are still errors.
    pub fn parse_partial(
        bytes: &'a [u8],
    ) -> Result<(SenseData<'a>, Option<SenseError>), SenseError> {
        let first = *bytes.first().ok_or(SenseError::Empty)?;
        let code = first & RESPONSE_CODE_MASK;
        if code & FIXED_CURRENT != FIXED_CURRENT {
            return Err(SenseError::NotSense(first));
        }
        if code > DESCRIPTOR_CURRENT | DEFERRED {
            return Err(SenseError::UnsupportedResponseCode(code));
        }
        let header: [u8; HEADER_LENGTH] = bytes
            .get(..HEADER_LENGTH)
            .and_then(|header| header.try_into().ok())
            .ok_or(SenseError::TruncatedHeader {
                length: bytes.len(),
            })?;
        let effective = bytes.len().min(HEADER_LENGTH + usize::from(header[7]));
        let area = bytes.get(..effective).unwrap_or(bytes);
        let deferred = code & DEFERRED != 0;
        if code < DESCRIPTOR_CURRENT {
            return Ok((parse_fixed(deferred, &header, area), None));
        }
        let (descriptors, fault) =
            Descriptors::parse_prefix(area.get(HEADER_LENGTH..).unwrap_or_default(), HEADER_LENGTH);
        let sense = SenseData {
            deferred,
            key: SenseKey::new(header[1]),
            asc: header[2],
            ascq: header[3],
            sdat_overflow: header[4] & DESCRIPTOR_SDAT_OVERFLOW != 0,
            body: SenseBody::Descriptor(descriptors),
        };
        Ok((sense, fault))
    }

    /// Encodes the sense data.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BuildError> {
        let mut out = Vec::with_capacity(FIXED_STANDARD_LENGTH);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded sense data to `out`. On error `out` is left as it was.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), BuildError> {
        let start = out.len();
        let result = match &self.body {
            SenseBody::Fixed(fixed) => self.encode_fixed(fixed, out),
            SenseBody::Descriptor(descriptors) => self.encode_descriptor(descriptors, out),
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_fixed(&self, fixed: &FixedFields<'_>, out: &mut Vec<u8>) -> Result<(), BuildError> {
        let additional_length = FIXED_STANDARD_ADDITIONAL + fixed.additional.len();
        let length_byte = u8::try_from(additional_length).map_err(|_| BuildError::TooLong {
            length: additional_length,
        })?;
        let flags = flag(fixed.filemark, FILEMARK)
            | flag(fixed.end_of_medium, END_OF_MEDIUM)
            | flag(fixed.incorrect_length, INCORRECT_LENGTH)
            | flag(self.sdat_overflow, FIXED_SDAT_OVERFLOW);
        out.extend_from_slice(&[
            flag(fixed.valid, VALID) | self.response_code(),
            0,
            flags | self.key.value(),
        ]);
        out.extend_from_slice(&fixed.information.to_be_bytes());
        out.push(length_byte);
        out.extend_from_slice(&fixed.command_specific.to_be_bytes());
        out.extend_from_slice(&[self.asc, self.ascq, fixed.field_replaceable_unit]);
        out.extend_from_slice(&fixed.sense_key_specific.0);
        out.extend_from_slice(fixed.additional);
        Ok(())
    }

    fn encode_descriptor(
        &self,
        descriptors: &Descriptors<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), BuildError> {
        let start = out.len();
        out.extend_from_slice(&[
            self.response_code(),
            self.key.value(),
            self.asc,
            self.ascq,
            flag(self.sdat_overflow, DESCRIPTOR_SDAT_OVERFLOW),
            0,
            0,
            0,
        ]);
        descriptors.encode(out)?;
        let additional_length = out.len() - start - HEADER_LENGTH;
        let length_byte = u8::try_from(additional_length).map_err(|_| BuildError::TooLong {
            length: additional_length,
        })?;
        if let Some(slot) = out.get_mut(start + 7) {
            *slot = length_byte;
        }
        Ok(())
    }

    pub fn format(&self) -> SenseFormat {
        match self.body {
            SenseBody::Fixed(_) => SenseFormat::Fixed,
            SenseBody::Descriptor(_) => SenseFormat::Descriptor,
        }
    }

    /// 70h, 71h, 72h or 73h.
    pub fn response_code(&self) -> u8 {
        let base = match self.format() {
            SenseFormat::Fixed => FIXED_CURRENT,
            SenseFormat::Descriptor => DESCRIPTOR_CURRENT,
        };
        base | flag(self.deferred, DEFERRED)
    }

    /// What ASC/ASCQ mean.
    pub fn additional_sense(&self) -> AdditionalSense {
        asc::lookup(self.asc, self.ascq)
    }

    /// The information field when the device marked it valid (SPC): fixed format VALID bit,
    /// or the first information descriptor (00h) with its VALID bit set. Unlike the
    /// kernel's [`super::information`], a descriptor with VALID clear does not count, and
    /// fixed-format ATA PASS-THROUGH sense (00h/1Dh) has none: those bytes are ATA
    /// registers (see [`Self::fixed_ata_status`]).
    pub fn information(&self) -> Option<u64> {
        match &self.body {
            SenseBody::Fixed(_) if self.fixed_ata_status().is_some() => None,
            SenseBody::Fixed(fixed) => fixed.valid.then_some(u64::from(fixed.information)),
            SenseBody::Descriptor(descriptors) => descriptors.iter().find_map(|d| match d {
                Descriptor::Information {
                    valid: true,
                    information,
                } => Some(information),
                _ => None,
            }),
        }
    }

    /// SAT: the ATA registers of fixed-format sense with ASC/ASCQ 00h/1Dh.
    pub fn fixed_ata_status(&self) -> Option<FixedAtaStatus> {
        match &self.body {
            SenseBody::Fixed(fixed) if (self.asc, self.ascq) == ATA_PASS_THROUGH_INFORMATION => {
                Some(FixedAtaStatus::from_fixed(fixed))
            }
            _ => None,
        }
    }

    /// Command-specific information: fixed bytes 8..=11 (except in ATA PASS-THROUGH sense,
    /// see [`Self::fixed_ata_status`]), or descriptor 01h.
    pub fn command_specific(&self) -> Option<u64> {
        match &self.body {
            SenseBody::Fixed(_) if self.fixed_ata_status().is_some() => None,
            SenseBody::Fixed(fixed) => Some(u64::from(fixed.command_specific)),
            SenseBody::Descriptor(descriptors) => match descriptors.find(kind::COMMAND_SPECIFIC) {
                Some(Descriptor::CommandSpecific { information }) => Some(information),
                _ => None,
            },
        }
    }

    /// The sense-key-specific field when SKSV is set: fixed bytes 15..=17, or descriptor 02h.
    pub fn sense_key_specific(&self) -> Option<SenseKeySpecific> {
        let field = match &self.body {
            SenseBody::Fixed(fixed) => fixed.sense_key_specific,
            SenseBody::Descriptor(descriptors) => {
                match descriptors.find(kind::SENSE_KEY_SPECIFIC) {
                    Some(Descriptor::SenseKeySpecific(field)) => field,
                    _ => return None,
                }
            }
        };
        field.decode(self.key)
    }

    /// Field replaceable unit code: fixed byte 14 when non-zero, or descriptor 03h.
    pub fn field_replaceable_unit(&self) -> Option<u8> {
        match &self.body {
            SenseBody::Fixed(fixed) => {
                (fixed.field_replaceable_unit != 0).then_some(fixed.field_replaceable_unit)
            }
            SenseBody::Descriptor(descriptors) => {
                match descriptors.find(kind::FIELD_REPLACEABLE_UNIT) {
                    Some(Descriptor::FieldReplaceableUnit { code }) => Some(code),
                    _ => None,
                }
            }
        }
    }

    /// FILEMARK, EOM and ILI: fixed byte 2, or the stream commands (04h) and block
    /// commands (05h) descriptors.
    pub fn stream_flags(&self) -> StreamFlags {
        let mut flags = StreamFlags::default();
        match &self.body {
            SenseBody::Fixed(fixed) => {
                flags.filemark = fixed.filemark;
                flags.end_of_medium = fixed.end_of_medium;
                flags.incorrect_length = fixed.incorrect_length;
            }
            SenseBody::Descriptor(descriptors) => {
                for descriptor in descriptors {
                    match descriptor {
                        Descriptor::StreamCommands {
                            filemark,
                            end_of_medium,
                            incorrect_length,
                        } => {
                            flags.filemark |= filemark;
                            flags.end_of_medium |= end_of_medium;
                            flags.incorrect_length |= incorrect_length;
                        }
                        Descriptor::BlockCommands { incorrect_length } => {
                            flags.incorrect_length |= incorrect_length;
                        }
                        _ => {}
                    }
                }
            }
        }
        flags
    }
}

/// FILEMARK, EOM (end of medium) and ILI (incorrect length indicator).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct StreamFlags {
    pub filemark: bool,
    pub end_of_medium: bool,
    pub incorrect_length: bool,
}

fn parse_fixed<'a>(deferred: bool, header: &[u8; HEADER_LENGTH], area: &'a [u8]) -> SenseData<'a> {
    let byte = |index: usize| area.get(index).copied().unwrap_or(0);
    let flags = header[2];
    SenseData {
        deferred,
        key: SenseKey::new(flags),
        asc: byte(12),
        ascq: byte(13),
        sdat_overflow: flags & FIXED_SDAT_OVERFLOW != 0,
        body: SenseBody::Fixed(FixedFields {
            valid: header[0] & VALID != 0,
            information: be32(&header[3..7]),
            filemark: flags & FILEMARK != 0,
            end_of_medium: flags & END_OF_MEDIUM != 0,
            incorrect_length: flags & INCORRECT_LENGTH != 0,
            command_specific: be32(area.get(8..).unwrap_or_default()),
            field_replaceable_unit: byte(14),
            sense_key_specific: SenseKeySpecificField([byte(15), byte(16), byte(17)]),
            additional: area.get(FIXED_STANDARD_LENGTH..).unwrap_or_default(),
        }),
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}
