//! Report lines for one sense data descriptor: `  Descriptor type: <name>: <value>`, with
//! indented continuation lines where a descriptor has several fields.

use std::fmt::{self, Formatter};

use super::descriptor::{AtaStatusReturn, Descriptor, DirectAccessBlockDevice};
use super::report::write_hex;
use super::specific::SenseKeySpecificField;
use super::SenseKey;
use crate::asc;

pub(super) fn write_descriptor(
    f: &mut Formatter<'_>,
    key: SenseKey,
    descriptor: &Descriptor<'_>,
) -> fmt::Result {
    write!(f, "  Descriptor type: {}", descriptor.name())?;
    match *descriptor {
        Descriptor::Information { valid, information } => {
            let note = if valid {
                ""
            } else {
                "Valid=0 (-> vendor specific) "
            };
            writeln!(f, ": {note}0x{information:016x}")
        }
        Descriptor::CommandSpecific { information } => writeln!(f, ": 0x{information:016x}"),
        Descriptor::SenseKeySpecific(field) => write_specific(f, key, field),
        Descriptor::FieldReplaceableUnit { code } => writeln!(f, ": 0x{code:x}"),
        Descriptor::StreamCommands {
            filemark,
            end_of_medium,
            incorrect_length,
        } => {
            write!(f, ":")?;
            write_flags(
                f,
                &[
                    (filemark, "FILEMARK"),
                    (end_of_medium, "EOM"),
                    (incorrect_length, "ILI"),
                ],
            )
        }
        Descriptor::BlockCommands { incorrect_length } => {
            write!(f, ":")?;
            write_flags(f, &[(incorrect_length, "ILI")])
        }
        Descriptor::OsdObjectIdentification {
            not_initiated_functions,
            completed_functions,
            partition_id,
            object_id,
        } => writeln!(
            f,
            ": partition 0x{partition_id:x}, object 0x{object_id:x}, \
             not initiated 0x{not_initiated_functions:08x}, completed 0x{completed_functions:08x}"
        ),
        Descriptor::OsdResponseIntegrityCheck { check_value } => {
            writeln!(f)?;
            write_hex(f, &check_value)
        }
        Descriptor::OsdAttributeIdentification { attributes } => {
            writeln!(f)?;
            for (page, number) in attributes.iter() {
                writeln!(f, "    attribute page 0x{page:08x}, number 0x{number:08x}")?;
            }
            Ok(())
        }
        Descriptor::AtaStatusReturn(ata) => write_ata(f, &ata),
        Descriptor::ProgressIndication {
            key,
            asc,
            ascq,
            progress,
        } => writeln!(
            f,
            ": {progress}\n    of the operation reported as {key}, {}",
            asc::lookup(asc, ascq)
        ),
        Descriptor::DirectAccessBlockDevice(block) => write_block_device(f, key, &block),
        Descriptor::Other { kind, data } => {
            writeln!(f, " [0x{kind:02x}]")?;
            write_hex(f, data)
        }
    }
}

fn write_specific(
    f: &mut Formatter<'_>,
    key: SenseKey,
    field: SenseKeySpecificField,
) -> fmt::Result {
    match field.decode(key) {
        Some(specific) => writeln!(f, ": {specific}"),
        None => writeln!(f, ": SKSV=0"),
    }
}

fn write_flags(f: &mut Formatter<'_>, flags: &[(bool, &str)]) -> fmt::Result {
    let mut any = false;
    for (_, name) in flags.iter().filter(|(set, _)| *set) {
        write!(f, " {name}")?;
        any = true;
    }
    if !any {
        write!(f, " none set")?;
    }
    writeln!(f)
}

fn write_ata(f: &mut Formatter<'_>, ata: &AtaStatusReturn) -> fmt::Result {
    writeln!(
        f,
        ": extend={} error=0x{:x} count=0x{:x} lba=0x{:012x} device=0x{:x} status=0x{:x}",
        u8::from(ata.extend),
        ata.error,
        ata.count,
        ata.lba,
        ata.device,
        ata.status
    )
}

fn write_block_device(
    f: &mut Formatter<'_>,
    key: SenseKey,
    block: &DirectAccessBlockDevice,
) -> fmt::Result {
    writeln!(f)?;
    if block.incorrect_length {
        writeln!(f, "    ILI (incorrect length indication) set")?;
    }
    if let Some(specific) = block.sense_key_specific.decode(key) {
        writeln!(f, "    {specific}")?;
    }
    writeln!(
        f,
        "    Field replaceable unit code: 0x{:x}",
        block.field_replaceable_unit
    )?;
    let note = if block.valid {
        ""
    } else {
        "Valid=0 (-> vendor specific) "
    };
    writeln!(f, "    Information: {note}0x{:016x}", block.information)?;
    writeln!(f, "    Command specific: 0x{:016x}", block.command_specific)
}
