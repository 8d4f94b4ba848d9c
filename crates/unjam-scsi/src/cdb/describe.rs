//! A human description of a CDB (`Read(10): lba=0x55870 (350320) blocks=16 fua=0 dpo=0`)
//! and the same fields as name/number pairs for JSON. Formatting only; no parsing here.

use std::fmt;

use super::command::ScsiCommand;

/// The most fields any command here describes.
const MAX_FIELDS: usize = 6;

/// A command's fields as `(name, value)` pairs, in CDB order, held inline. Flags are 0 or 1.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CommandFields {
    entries: [(&'static str, u64); MAX_FIELDS],
    len: usize,
}

impl CommandFields {
    fn new(fields: &[(&'static str, u64)]) -> CommandFields {
        let mut entries = [("", 0); MAX_FIELDS];
        for (slot, field) in entries.iter_mut().zip(fields) {
            *slot = *field;
        }
        CommandFields {
            entries,
            len: fields.len().min(MAX_FIELDS),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.entries.iter().take(self.len).copied()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl ScsiCommand {
    /// The command's fields by name, in CDB order.
    pub fn fields(&self) -> CommandFields {
        let flag = u64::from;
        let fields: &[(&'static str, u64)] = match *self {
            Self::TestUnitReady(_) | Self::ReadCapacity10(_) | Self::Other(_) => &[],
            Self::RequestSense(c) => &[
                ("desc", flag(c.descriptor_format)),
                ("allocation_length", c.allocation_length.into()),
            ],
            Self::Inquiry(c) => &[
                ("evpd", flag(c.page.is_some())),
                ("page", c.page.unwrap_or(0).into()),
                ("allocation_length", c.allocation_length.into()),
            ],
            Self::ReadCapacity16(c) => &[("allocation_length", c.allocation_length.into())],
            Self::Read6(c) => &[("lba", c.lba.into()), ("blocks", c.blocks.into())],
            Self::Write6(c) => &[("lba", c.lba.into()), ("blocks", c.blocks.into())],
            Self::Read10(c) => &transfer(c.lba.into(), c.blocks.into(), c.fua, c.dpo),
            Self::Write10(c) => &transfer(c.lba.into(), c.blocks.into(), c.fua, c.dpo),
            Self::Read16(c) => &transfer(c.lba, c.blocks.into(), c.fua, c.dpo),
            Self::Write16(c) => &transfer(c.lba, c.blocks.into(), c.fua, c.dpo),
            Self::SynchronizeCache10(c) => &[
                ("immed", flag(c.immed)),
                ("lba", c.lba.into()),
                ("blocks", c.blocks.into()),
            ],
            Self::SynchronizeCache16(c) => &[
                ("immed", flag(c.immed)),
                ("lba", c.lba),
                ("blocks", c.blocks.into()),
            ],
            Self::StartStopUnit(c) => &[
                ("immed", flag(c.immed)),
                ("power_condition", c.power_condition.code().into()),
                ("no_flush", flag(c.no_flush)),
                ("loej", flag(c.loej)),
                ("start", flag(c.start)),
            ],
            Self::PreventAllowMediumRemoval(c) => &[("prevent", flag(c.prevent))],
            Self::ReportLuns(c) => &[
                ("select_report", c.select_report.into()),
                ("allocation_length", c.allocation_length.into()),
            ],
            Self::ModeSense6(c) => &[
                ("dbd", flag(c.dbd)),
                ("pc", c.page_control.code().into()),
                ("page", c.page_code.into()),
                ("subpage", c.subpage.into()),
                ("allocation_length", c.allocation_length.into()),
            ],
            Self::ModeSense10(c) => &[
                ("llbaa", flag(c.llbaa)),
                ("dbd", flag(c.dbd)),
                ("pc", c.page_control.code().into()),
                ("page", c.page_code.into()),
                ("subpage", c.subpage.into()),
                ("allocation_length", c.allocation_length.into()),
            ],
            Self::ReportTargetPortGroups(c) => &[
                ("extended", flag(c.extended)),
                ("allocation_length", c.allocation_length.into()),
            ],
        };
        CommandFields::new(fields)
    }
}

fn transfer(lba: u64, blocks: u64, fua: bool, dpo: bool) -> [(&'static str, u64); 4] {
    [
        ("lba", lba),
        ("blocks", blocks),
        ("fua", u64::from(fua)),
        ("dpo", u64::from(dpo)),
    ]
}

/// `<name>: field=value ...`; LBAs print as hex with the decimal in parentheses, page
/// codes as hex, everything else in decimal. A command without fields prints its name only.
impl fmt::Display for ScsiCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        for (index, (name, value)) in self.fields().iter().enumerate() {
            f.write_str(if index == 0 { ": " } else { " " })?;
            match name {
                "lba" => write!(f, "{name}=0x{value:x} ({value})")?,
                "page" | "subpage" => write!(f, "{name}=0x{value:02x}")?,
                _ => write!(f, "{name}={value}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(cdb: &[u8]) -> String {
        ScsiCommand::parse(cdb).unwrap().to_string()
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            describe(&[0x28, 0, 0, 5, 0x58, 0x70, 0, 0, 0x10, 0]),
            "Read(10): lba=0x55870 (350320) blocks=16 fua=0 dpo=0"
        );
        assert_eq!(describe(&[0, 0, 0, 0, 0, 0]), "Test Unit Ready");
        assert_eq!(
            describe(&[0x12, 1, 0x83, 0, 0xff, 0]),
            "Inquiry: evpd=1 page=0x83 allocation_length=255"
        );
        assert_eq!(describe(&[0xc5, 1, 2]), "opcode=0xc5 (vendor)");
    }
}
