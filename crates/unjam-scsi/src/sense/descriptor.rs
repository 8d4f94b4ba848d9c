//! One sense data descriptor (descriptor format, SPC "sense data descriptors"): the typed
//! variants for the common types, raw bytes for the rest, and the exact encoding of each.
//! Walking a list of descriptors is `descriptors.rs`; this module sees one at a time.

use super::error::{BuildError, SenseError};
use super::specific::{ProgressIndication, SenseKeySpecificField};
use super::SenseKey;

/// Descriptor type codes with a typed variant.
pub mod kind {
    pub const INFORMATION: u8 = 0x00;
    pub const COMMAND_SPECIFIC: u8 = 0x01;
    pub const SENSE_KEY_SPECIFIC: u8 = 0x02;
    pub const FIELD_REPLACEABLE_UNIT: u8 = 0x03;
    pub const STREAM_COMMANDS: u8 = 0x04;
    pub const BLOCK_COMMANDS: u8 = 0x05;
    pub const OSD_OBJECT_IDENTIFICATION: u8 = 0x06;
    pub const OSD_RESPONSE_INTEGRITY_CHECK: u8 = 0x07;
    pub const OSD_ATTRIBUTE_IDENTIFICATION: u8 = 0x08;
    pub const ATA_STATUS_RETURN: u8 = 0x09;
    pub const PROGRESS_INDICATION: u8 = 0x0a;
    pub const DIRECT_ACCESS_BLOCK_DEVICE: u8 = 0x0d;
}

const VALID: u8 = 0x80;
const FILEMARK: u8 = 0x80;
const END_OF_MEDIUM: u8 = 0x40;
const INCORRECT_LENGTH: u8 = 0x20;
const ATA_EXTEND: u8 = 0x01;
/// Bytes 2..=7 of an OSD attribute identification descriptor are reserved.
const OSD_ATTRIBUTE_HEADER: usize = 6;
const OSD_ATTRIBUTE_ENTRY: usize = 8;
const ATA_LBA_LIMIT: u64 = 1 << 48;

/// One sense data descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Descriptor<'a> {
    /// 00h: the information field (e.g. the failing LBA). `valid` is byte 2 bit 7.
    Information { valid: bool, information: u64 },
    /// 01h: command-specific information.
    CommandSpecific { information: u64 },
    /// 02h: the sense-key-specific field.
    SenseKeySpecific(SenseKeySpecificField),
    /// 03h: field replaceable unit code.
    FieldReplaceableUnit { code: u8 },
    /// 04h: stream commands (SSC) flags.
    StreamCommands {
        filemark: bool,
        end_of_medium: bool,
        incorrect_length: bool,
    },
    /// 05h: block commands (SBC): the ILI bit.
    BlockCommands { incorrect_length: bool },
    /// 06h: OSD object identification.
    OsdObjectIdentification {
        not_initiated_functions: u32,
        completed_functions: u32,
        partition_id: u64,
        object_id: u64,
    },
    /// 07h: OSD response integrity check value.
    OsdResponseIntegrityCheck { check_value: [u8; 32] },
    /// 08h: OSD attribute identification: a list of (attribute page, attribute number).
    OsdAttributeIdentification { attributes: OsdAttributes<'a> },
    /// 09h: ATA status return (SAT), the ATA registers after an ATA PASS-THROUGH.
    AtaStatusReturn(AtaStatusReturn),
    /// 0Ah: another progress indication, for an operation other than the failed one.
    ProgressIndication {
        key: SenseKey,
        asc: u8,
        ascq: u8,
        progress: ProgressIndication,
    },
    /// 0Dh: direct-access block device (SBC), the fixed-format fields in one descriptor.
    DirectAccessBlockDevice(DirectAccessBlockDevice),
    /// Any other type, with the bytes after its 2-byte header. Never one of the typed kinds.
    Other { kind: u8, data: &'a [u8] },
}

/// The ATA registers returned in descriptor 09h.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct AtaStatusReturn {
    pub extend: bool,
    pub error: u8,
    pub count: u16,
    /// 48-bit LBA.
    pub lba: u64,
    pub device: u8,
    pub status: u8,
}

/// Descriptor 0Dh's fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct DirectAccessBlockDevice {
    pub valid: bool,
    pub incorrect_length: bool,
    pub sense_key_specific: SenseKeySpecificField,
    pub field_replaceable_unit: u8,
    pub information: u64,
    pub command_specific: u64,
}

/// The attribute list of an OSD attribute identification descriptor: whole 8-byte entries.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct OsdAttributes<'a>(&'a [u8]);

impl<'a> OsdAttributes<'a> {
    /// `None` unless `entries` is a whole number of 8-byte entries.
    pub fn new(entries: &'a [u8]) -> Option<OsdAttributes<'a>> {
        (entries.len() % OSD_ATTRIBUTE_ENTRY == 0).then_some(OsdAttributes(entries))
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// `(attribute page, attribute number)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.0.chunks_exact(OSD_ATTRIBUTE_ENTRY).map(|entry| {
            let mut page = [0u8; 4];
            let mut number = [0u8; 4];
            page.copy_from_slice(entry.get(..4).unwrap_or(&[0; 4]));
            number.copy_from_slice(entry.get(4..).unwrap_or(&[0; 4]));
            (u32::from_be_bytes(page), u32::from_be_bytes(number))
        })
    }
}

/// True when `kind` has a typed [`Descriptor`] variant (and so never appears as `Other`).
pub fn is_typed_kind(kind: u8) -> bool {
    matches!(kind, 0x00..=0x0a | kind::DIRECT_ACCESS_BLOCK_DEVICE)
}

impl<'a> Descriptor<'a> {
    /// The descriptor type code (byte 0).
    pub fn kind(&self) -> u8 {
        match self {
            Descriptor::Information { .. } => kind::INFORMATION,
            Descriptor::CommandSpecific { .. } => kind::COMMAND_SPECIFIC,
            Descriptor::SenseKeySpecific(_) => kind::SENSE_KEY_SPECIFIC,
            Descriptor::FieldReplaceableUnit { .. } => kind::FIELD_REPLACEABLE_UNIT,
            Descriptor::StreamCommands { .. } => kind::STREAM_COMMANDS,
            Descriptor::BlockCommands { .. } => kind::BLOCK_COMMANDS,
            Descriptor::OsdObjectIdentification { .. } => kind::OSD_OBJECT_IDENTIFICATION,
            Descriptor::OsdResponseIntegrityCheck { .. } => kind::OSD_RESPONSE_INTEGRITY_CHECK,
            Descriptor::OsdAttributeIdentification { .. } => kind::OSD_ATTRIBUTE_IDENTIFICATION,
            Descriptor::AtaStatusReturn(_) => kind::ATA_STATUS_RETURN,
            Descriptor::ProgressIndication { .. } => kind::PROGRESS_INDICATION,
            Descriptor::DirectAccessBlockDevice(_) => kind::DIRECT_ACCESS_BLOCK_DEVICE,
            Descriptor::Other { kind, .. } => *kind,
        }
    }

    /// The type's name as `sg_decode_sense` prints it after `Descriptor type: `.
    pub fn name(&self) -> &'static str {
        kind_name(self.kind())
    }

    /// Decodes one descriptor from its type, its body (the bytes after the 2-byte header,
    /// exactly `additional length` of them) and its offset (for errors).
    pub(super) fn decode(kind: u8, body: &'a [u8], offset: usize) -> Result<Self, SenseError> {
        let wrong_length = || SenseError::DescriptorLength {
            offset,
            kind,
            length: u8::try_from(body.len()).unwrap_or(u8::MAX),
        };
        let descriptor = match kind {
            kind::INFORMATION => {
                let body = exact::<10>(body).ok_or_else(wrong_length)?;
                Descriptor::Information {
                    valid: body[0] & VALID != 0,
                    information: be64(&body[2..]),
                }
            }
            kind::COMMAND_SPECIFIC => {
                let body = exact::<10>(body).ok_or_else(wrong_length)?;
                Descriptor::CommandSpecific {
                    information: be64(&body[2..]),
                }
            }
            kind::SENSE_KEY_SPECIFIC => {
                let body = exact::<6>(body).ok_or_else(wrong_length)?;
                Descriptor::SenseKeySpecific(SenseKeySpecificField([body[2], body[3], body[4]]))
            }
            kind::FIELD_REPLACEABLE_UNIT => {
                let body = exact::<2>(body).ok_or_else(wrong_length)?;
                Descriptor::FieldReplaceableUnit { code: body[1] }
            }
            kind::STREAM_COMMANDS => {
                let flags = exact::<2>(body).ok_or_else(wrong_length)?[1];
                Descriptor::StreamCommands {
                    filemark: flags & FILEMARK != 0,
                    end_of_medium: flags & END_OF_MEDIUM != 0,
                    incorrect_length: flags & INCORRECT_LENGTH != 0,
                }
            }
            kind::BLOCK_COMMANDS => {
                let flags = exact::<2>(body).ok_or_else(wrong_length)?[1];
                Descriptor::BlockCommands {
                    incorrect_length: flags & INCORRECT_LENGTH != 0,
                }
            }
            _ => return Self::decode_less_common(kind, body, offset),
        };
        Ok(descriptor)
    }

    fn decode_less_common(kind: u8, body: &'a [u8], offset: usize) -> Result<Self, SenseError> {
        let wrong_length = || SenseError::DescriptorLength {
            offset,
            kind,
            length: u8::try_from(body.len()).unwrap_or(u8::MAX),
        };
        let descriptor = match kind {
            kind::OSD_OBJECT_IDENTIFICATION => {
                let body = exact::<30>(body).ok_or_else(wrong_length)?;
                Descriptor::OsdObjectIdentification {
                    not_initiated_functions: be32(&body[6..]),
                    completed_functions: be32(&body[10..]),
                    partition_id: be64(&body[14..]),
                    object_id: be64(&body[22..]),
                }
            }
            kind::OSD_RESPONSE_INTEGRITY_CHECK => {
                let body = exact::<34>(body).ok_or_else(wrong_length)?;
                let mut check_value = [0u8; 32];
                check_value.copy_from_slice(&body[2..]);
                Descriptor::OsdResponseIntegrityCheck { check_value }
            }
            kind::OSD_ATTRIBUTE_IDENTIFICATION => {
                let entries = body.get(OSD_ATTRIBUTE_HEADER..).ok_or_else(wrong_length)?;
                let attributes = OsdAttributes::new(entries).ok_or_else(wrong_length)?;
                Descriptor::OsdAttributeIdentification { attributes }
            }
            kind::ATA_STATUS_RETURN => {
                let body = exact::<12>(body).ok_or_else(wrong_length)?;
                Descriptor::AtaStatusReturn(decode_ata(body))
            }
            kind::PROGRESS_INDICATION => {
                let body = exact::<6>(body).ok_or_else(wrong_length)?;
                Descriptor::ProgressIndication {
                    key: SenseKey::new(body[0]),
                    asc: body[1],
                    ascq: body[2],
                    progress: ProgressIndication(u16::from_be_bytes([body[4], body[5]])),
                }
            }
            kind::DIRECT_ACCESS_BLOCK_DEVICE => {
                let body = exact::<28>(body).ok_or_else(wrong_length)?;
                Descriptor::DirectAccessBlockDevice(DirectAccessBlockDevice {
                    valid: body[0] & VALID != 0,
                    incorrect_length: body[0] & INCORRECT_LENGTH != 0,
                    sense_key_specific: SenseKeySpecificField([body[2], body[3], body[4]]),
                    field_replaceable_unit: body[5],
                    information: be64(&body[6..]),
                    command_specific: be64(&body[14..]),
                })
            }
            _ => Descriptor::Other { kind, data: body },
        };
        Ok(descriptor)
    }

    /// Appends the descriptor (header and body) to `out`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) -> Result<(), BuildError> {
        let start = out.len();
        out.extend_from_slice(&[self.kind(), 0]);
        self.encode_body(out)?;
        let length = out.len() - start - 2;
        let Ok(additional) = u8::try_from(length) else {
            out.truncate(start);
            return Err(BuildError::DescriptorTooLong {
                kind: self.kind(),
                length,
            });
        };
        if let Some(slot) = out.get_mut(start + 1) {
            *slot = additional;
        }
        Ok(())
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), BuildError> {
        match *self {
            Descriptor::Information { valid, information } => {
                out.extend_from_slice(&[flag(valid, VALID), 0]);
                out.extend_from_slice(&information.to_be_bytes());
            }
            Descriptor::CommandSpecific { information } => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&information.to_be_bytes());
            }
            Descriptor::SenseKeySpecific(field) => {
                out.extend_from_slice(&[0, 0, field.0[0], field.0[1], field.0[2], 0]);
            }
            Descriptor::FieldReplaceableUnit { code } => out.extend_from_slice(&[0, code]),
            Descriptor::StreamCommands {
                filemark,
                end_of_medium,
                incorrect_length,
            } => {
                let flags = flag(filemark, FILEMARK)
                    | flag(end_of_medium, END_OF_MEDIUM)
                    | flag(incorrect_length, INCORRECT_LENGTH);
                out.extend_from_slice(&[0, flags]);
            }
            Descriptor::BlockCommands { incorrect_length } => {
                out.extend_from_slice(&[0, flag(incorrect_length, INCORRECT_LENGTH)]);
            }
            _ => return self.encode_less_common_body(out),
        }
        Ok(())
    }

    fn encode_less_common_body(&self, out: &mut Vec<u8>) -> Result<(), BuildError> {
        match *self {
            Descriptor::OsdObjectIdentification {
                not_initiated_functions,
                completed_functions,
                partition_id,
                object_id,
            } => {
                out.extend_from_slice(&[0; 6]);
                out.extend_from_slice(&not_initiated_functions.to_be_bytes());
                out.extend_from_slice(&completed_functions.to_be_bytes());
                out.extend_from_slice(&partition_id.to_be_bytes());
                out.extend_from_slice(&object_id.to_be_bytes());
            }
            Descriptor::OsdResponseIntegrityCheck { check_value } => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&check_value);
            }
            Descriptor::OsdAttributeIdentification { attributes } => {
                out.extend_from_slice(&[0; OSD_ATTRIBUTE_HEADER]);
                out.extend_from_slice(attributes.as_bytes());
            }
            Descriptor::AtaStatusReturn(ata) => encode_ata(&ata, out)?,
            Descriptor::ProgressIndication {
                key,
                asc,
                ascq,
                progress,
            } => {
                let [high, low] = progress.0.to_be_bytes();
                out.extend_from_slice(&[key.value(), asc, ascq, 0, high, low]);
            }
            Descriptor::DirectAccessBlockDevice(block) => encode_block_device(&block, out),
            Descriptor::Other { kind, data } => {
                if is_typed_kind(kind) {
                    return Err(BuildError::RawDescriptorOfTypedKind { kind });
                }
                out.extend_from_slice(data);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The name `sg_decode_sense` prints after `Descriptor type: ` for a type code.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        0x00 => "Information",
        0x01 => "Command specific",
        0x02 => "Sense key specific",
        0x03 => "Field replaceable unit code",
        0x04 => "Stream commands",
        0x05 => "Block commands",
        0x06 => "OSD object identification",
        0x07 => "OSD response integrity check value",
        0x08 => "OSD attribute identification",
        0x09 => "ATA Status Return",
        0x0a => "Another progress indication",
        0x0b => "User data segment referral",
        0x0c => "Forwarded sense data",
        0x0d => "Direct-access block device",
        0x0e => "Device designation",
        0x0f => "Microcode activation",
        0x80..=0xff => "Vendor specific",
        _ => "Unknown",
    }
}

fn decode_ata(body: &[u8; 12]) -> AtaStatusReturn {
    let lba_bytes = [0, 0, body[8], body[6], body[4], body[9], body[7], body[5]];
    AtaStatusReturn {
        extend: body[0] & ATA_EXTEND != 0,
        error: body[1],
        count: u16::from_be_bytes([body[2], body[3]]),
        lba: u64::from_be_bytes(lba_bytes),
        device: body[10],
        status: body[11],
    }
}

fn encode_ata(ata: &AtaStatusReturn, out: &mut Vec<u8>) -> Result<(), BuildError> {
    if ata.lba >= ATA_LBA_LIMIT {
        return Err(BuildError::AtaLbaTooLarge { lba: ata.lba });
    }
    let [_, _, lba_47, lba_39, lba_31, lba_23, lba_15, lba_7] = ata.lba.to_be_bytes();
    let [count_high, count_low] = ata.count.to_be_bytes();
    out.extend_from_slice(&[
        flag(ata.extend, ATA_EXTEND),
        ata.error,
        count_high,
        count_low,
        lba_31,
        lba_7,
        lba_39,
        lba_15,
        lba_47,
        lba_23,
        ata.device,
        ata.status,
    ]);
    Ok(())
}

fn encode_block_device(block: &DirectAccessBlockDevice, out: &mut Vec<u8>) {
    let flags = flag(block.valid, VALID) | flag(block.incorrect_length, INCORRECT_LENGTH);
    let specific = block.sense_key_specific.0;
    out.extend_from_slice(&[flags, 0, specific[0], specific[1], specific[2]]);
    out.push(block.field_replaceable_unit);
    out.extend_from_slice(&block.information.to_be_bytes());
    out.extend_from_slice(&block.command_specific.to_be_bytes());
    out.extend_from_slice(&[0; 6]);
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

fn exact<const N: usize>(body: &[u8]) -> Option<&[u8; N]> {
    body.try_into().ok()
}

/// Big-endian u64 from the first 8 bytes; missing bytes read as zero.
pub(super) fn be64(bytes: &[u8]) -> u64 {
    let mut value = [0u8; 8];
    for (slot, byte) in value.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u64::from_be_bytes(value)
}

/// Big-endian u32 from the first 4 bytes; missing bytes read as zero.
pub(super) fn be32(bytes: &[u8]) -> u32 {
    let mut value = [0u8; 4];
    for (slot, byte) in value.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u32::from_be_bytes(value)
}
