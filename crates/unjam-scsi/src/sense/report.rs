//! A human-readable report of a sense buffer, in the spirit of `sg_decode_sense`: the first
//! line (format, current/deferred, key) and the additional-sense line are worded exactly as
//! sg3-utils 1.46 words them, and so are the fixed `Info fld=` and descriptor
//! `Information:` lines; the other detail lines are unjam's own.
//!
//! The header comes from the kernel-exact [`SenseHeader::normalize`], so a buffer the full
//! parser rejects still shows its key and additional sense, followed by the parse error.

use std::fmt::{self, Display, Formatter};

use super::data::{FixedFields, SenseBody, SenseData};
use super::descriptors::Descriptors;
use super::report_descriptor::write_descriptor;
use super::specific::{SenseKeySpecific, SenseKeySpecificField};
use super::{information, FixedAtaStatus, SenseHeader, SenseKey, SENSE_BUFFER_SIZE};
use crate::asc;

const BYTES_PER_LINE: usize = 16;
/// Fixed format: ASC is byte 12, so the effective length must exceed 12.
const FIXED_ASC_OFFSET: usize = 12;

/// Formats a sense buffer for people. Construct with [`SenseReport::new`], print with `{}`.
#[derive(Clone, Copy, Debug)]
pub struct SenseReport<'a> {
    bytes: &'a [u8],
}

impl<'a> SenseReport<'a> {
    pub fn new(bytes: &'a [u8]) -> SenseReport<'a> {
        SenseReport { bytes }
    }
}

impl Display for SenseReport<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes;
        let Some(&first) = bytes.first() else {
            return writeln!(f, "Empty sense buffer");
        };
        let code = first & 0x7f;
        let Some(header) = SenseHeader::normalize(bytes).filter(|_| code <= 0x73) else {
            match code {
                0x7f => writeln!(f, "Vendor specific sense buffer, in hex:")?,
                0x74..=0x7e => writeln!(f, "Reserved response code 0x{code:02x}, in hex:")?,
                _ => writeln!(f, "Not sense data (response code 0x{first:02x}), in hex:")?,
            }
            return write_hex(f, bytes);
        };
        let format = if header.is_descriptor() {
            "Descriptor"
        } else {
            "Fixed"
        };
        let when = if header.is_deferred() {
            "<<<deferred>>>"
        } else {
            "current"
        };
        let key = header.key.decoder_name();
        writeln!(f, "{format} format, {when}; Sense key: {key}")?;
        let parsed = SenseData::parse_partial(bytes);
        if matches!(
            parsed,
            Ok((
                SenseData {
                    sdat_overflow: true,
                    ..
                },
                _
            ))
        ) {
            writeln!(f, "<<<Sense data overflow (SDAT_OVFL)>>>")?;
        }
        if asc_present(bytes, &header) {
            let additional = asc::lookup(header.asc, header.ascq);
            if additional.is_assigned() {
                write!(f, "Additional sense: ")?;
            }
            writeln!(f, "{additional}")?;
        }
        let fault = match parsed {
            Ok((sense, fault)) => {
                write_details(f, &sense)?;
                fault
            }
            Err(error) => {
                if let Some(value) = information(bytes).filter(|_| !header.is_descriptor()) {
                    write_info_field(f, value)?;
                }
                Some(error)
            }
        };
        if let Some(error) = fault {
            writeln!(f, "  >> cannot decode further: {error}")?;
            write_hex(f, bytes.get(..SENSE_BUFFER_SIZE).unwrap_or(bytes))?;
        }
        Ok(())
    }
}

/// Whether to show the ASC: in fixed format only when the buffer holds it by the kernel's
/// rules (the additional length bounds it); in descriptor format always, missing bytes
/// reading as zero (both as sg_decode_sense does).
fn asc_present(bytes: &[u8], header: &SenseHeader) -> bool {
    if header.is_descriptor() {
        return true;
    }
    let mut effective = bytes.len().min(SENSE_BUFFER_SIZE);
    if let Some(&additional) = bytes.get(7) {
        effective = effective.min(usize::from(additional) + 8);
    }
    effective > FIXED_ASC_OFFSET
}

fn write_details(f: &mut Formatter<'_>, sense: &SenseData<'_>) -> fmt::Result {
    match &sense.body {
        SenseBody::Fixed(fixed) => write_fixed(f, sense, fixed),
        SenseBody::Descriptor(descriptors) => write_descriptors(f, sense, descriptors),
    }
}

fn write_fixed(
    f: &mut Formatter<'_>,
    sense: &SenseData<'_>,
    fixed: &FixedFields<'_>,
) -> fmt::Result {
    if let Some(ata) = sense.fixed_ata_status() {
        return write_fixed_ata(f, &ata);
    }
    // As sg_decode_sense: the flags follow the information field on its line.
    let info_shown = fixed.valid || fixed.information != 0;
    if info_shown {
        let prefix = if fixed.valid { "" } else { "Valid=0, " };
        let value = fixed.information;
        write!(f, "  {prefix}Info fld=0x{value:x} [{value}]")?;
    }
    let flags = [
        (fixed.filemark, "FMK"),
        (fixed.end_of_medium, "EOM"),
        (fixed.incorrect_length, "ILI"),
    ];
    let any_flag = flags.iter().any(|(set, _)| *set);
    if any_flag && info_shown {
        write!(f, " ")?;
    }
    for (_, name) in flags.iter().filter(|(set, _)| *set) {
        write!(f, " {name}")?;
    }
    if info_shown || any_flag {
        writeln!(f)?;
    }
    if fixed.field_replaceable_unit != 0 {
        writeln!(
            f,
            "  Field replaceable unit code: {}",
            fixed.field_replaceable_unit
        )?;
    }
    if fixed.sense_key_specific.is_valid() {
        write_fixed_specific(f, sense.key, fixed.sense_key_specific)?;
    }
    if fixed.command_specific != 0 {
        writeln!(f, "  Command specific: 0x{:08x}", fixed.command_specific)?;
    }
    if !fixed.additional.is_empty() {
        writeln!(f, "  Additional sense bytes ({}):", fixed.additional.len())?;
        write_hex(f, fixed.additional)?;
    }
    Ok(())
}

/// SAT ATA PASS-THROUGH registers in place of the information and command-specific fields.
fn write_fixed_ata(f: &mut Formatter<'_>, ata: &FixedAtaStatus) -> fmt::Result {
    writeln!(
        f,
        "  ATA registers: error=0x{:x} status=0x{:x} device=0x{:x} count(7:0)=0x{:x}",
        ata.error, ata.status, ata.device, ata.count_low
    )?;
    let count_note = if ata.count_upper_nonzero {
        " count(15:8) non-zero"
    } else {
        ""
    };
    let lba_note = if ata.lba_upper_nonzero {
        " lba(47:24) non-zero"
    } else {
        ""
    };
    writeln!(
        f,
        "  extend={} log_index=0x{:x} lba(23:0)=0x{:06x}{count_note}{lba_note}",
        u8::from(ata.extend),
        ata.log_index,
        ata.lba_low
    )
}

/// The fixed format's sense-key-specific line, worded as sg_decode_sense words it.
fn write_fixed_specific(
    f: &mut Formatter<'_>,
    key: SenseKey,
    field: SenseKeySpecificField,
) -> fmt::Result {
    let Some(specific) = field.decode(key) else {
        return Ok(());
    };
    write!(f, "  ")?;
    match specific {
        SenseKeySpecific::FieldPointer {
            in_command,
            bit_pointer,
            field_pointer,
        } => {
            let place = if in_command {
                "Command"
            } else {
                "Data parameters"
            };
            write!(
                f,
                "Sense Key Specific: Error in {place}: byte {field_pointer}"
            )?;
            write_bit_pointer(f, bit_pointer)?;
        }
        SenseKeySpecific::ActualRetryCount(count) => write!(f, "Actual retry count: 0x{count:x}")?,
        SenseKeySpecific::Progress(progress) => write!(f, "Progress indication: {progress}")?,
        SenseKeySpecific::SegmentPointer {
            in_segment_descriptor,
            bit_pointer,
            field_pointer,
        } => {
            let start = if in_segment_descriptor {
                "segment descriptor"
            } else {
                "parameter list"
            };
            write!(
                f,
                "Segment pointer: Relative to start of {start}, byte {field_pointer}"
            )?;
            write_bit_pointer(f, bit_pointer)?;
        }
        SenseKeySpecific::UnitAttentionQueue { overflow } => write!(
            f,
            "Unit attention condition queue: overflow flag is {}",
            u8::from(overflow)
        )?,
        SenseKeySpecific::Unspecified { key, .. } => {
            write!(f, "Sense_key: 0x{:x} unexpected", key.value())?
        }
    }
    writeln!(f)
}

fn write_bit_pointer(f: &mut Formatter<'_>, bit_pointer: Option<u8>) -> fmt::Result {
    match bit_pointer {
        Some(bit) => write!(f, " bit {bit}"),
        None => Ok(()),
    }
}

fn write_descriptors(
    f: &mut Formatter<'_>,
    sense: &SenseData<'_>,
    descriptors: &Descriptors<'_>,
) -> fmt::Result {
    for descriptor in descriptors {
        write_descriptor(f, sense.key, &descriptor)?;
    }
    Ok(())
}

/// `  Info fld=0x55870 [350320]`.
fn write_info_field(f: &mut Formatter<'_>, value: u64) -> fmt::Result {
    writeln!(f, "  Info fld=0x{value:x} [{value}]")
}

/// Indented lines of up to 16 lower-case hex bytes.
pub(super) fn write_hex(f: &mut Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for line in bytes.chunks(BYTES_PER_LINE) {
        write!(f, "   ")?;
        for byte in line {
            write!(f, " {byte:02x}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}
