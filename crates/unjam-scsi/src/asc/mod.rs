//! The ASC/ASCQ ("additional sense code" and its qualifier) text table: every standard
//! assignment of T10's SPC list, the range entries whose text names the qualifier, and the
//! vendor-specific rules.
//!
//! Lookup never allocates: [`lookup`] returns an [`AdditionalSense`] value that borrows only
//! `'static` table text and implements `Display`. The wording follows what `sg_decode_sense`
//! (sg3-utils 1.46) prints, so that unjam's decoder and sg3-utils agree line for line; the
//! table itself is data written from T10's public list, checked entry by entry against
//! `sg_decode_sense`.
//!
//! This module must not know about sense buffer layouts (that is `sense`).

mod table;

use std::fmt;

pub use table::{AscRange, RangeStyle};

/// First ASC value whose every code is vendor specific (SPC: 80h..FFh).
pub const VENDOR_ASC_FIRST: u8 = 0x80;
/// First ASCQ value that is vendor specific when no standard entry claims it.
pub const VENDOR_ASCQ_FIRST: u8 = 0x80;

/// What an (ASC, ASCQ) pair means, ready to print.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AdditionalSense {
    /// A standard assignment with its own text, e.g. 24h/00h "Invalid field in cdb".
    Standard {
        asc: u8,
        ascq: u8,
        text: &'static str,
    },
    /// A range assignment whose text names the qualifier, e.g. 40h/85h
    /// "Diagnostic failure on component [0x85]".
    Range { ascq: u8, range: &'static AscRange },
    /// ASC 80h..FFh: every qualifier is vendor specific.
    VendorAsc { asc: u8, ascq: u8 },
    /// A standard ASC with a vendor specific qualifier (ASCQ 80h..FFh) and no standard entry.
    VendorAscq { asc: u8, ascq: u8 },
    /// Not assigned by the standard (reserved).
    Unassigned { asc: u8, ascq: u8 },
}

/// Looks up an (ASC, ASCQ) pair. Total: every pair has an answer.
pub fn lookup(asc: u8, ascq: u8) -> AdditionalSense {
    if asc >= VENDOR_ASC_FIRST {
        return AdditionalSense::VendorAsc { asc, ascq };
    }
    if let Some(text) = table::standard_text(asc, ascq) {
        return AdditionalSense::Standard { asc, ascq, text };
    }
    if let Some(range) = table::range_for(asc, ascq) {
        return AdditionalSense::Range { ascq, range };
    }
    if ascq >= VENDOR_ASCQ_FIRST {
        return AdditionalSense::VendorAscq { asc, ascq };
    }
    AdditionalSense::Unassigned { asc, ascq }
}

/// Every standard (non-range) assignment as `(asc, ascq, text)`, in code order.
pub fn standard_assignments() -> impl Iterator<Item = (u8, u8, &'static str)> {
    table::STANDARD.iter().copied()
}

/// The range assignments (text naming the qualifier), checked after the standard rows.
pub fn range_assignments() -> &'static [AscRange] {
    table::RANGES
}

impl AdditionalSense {
    pub fn asc(&self) -> u8 {
        match *self {
            AdditionalSense::Standard { asc, .. }
            | AdditionalSense::VendorAsc { asc, .. }
            | AdditionalSense::VendorAscq { asc, .. }
            | AdditionalSense::Unassigned { asc, .. } => asc,
            AdditionalSense::Range { range, .. } => range.asc,
        }
    }

    pub fn ascq(&self) -> u8 {
        match *self {
            AdditionalSense::Standard { ascq, .. }
            | AdditionalSense::Range { ascq, .. }
            | AdditionalSense::VendorAsc { ascq, .. }
            | AdditionalSense::VendorAscq { ascq, .. }
            | AdditionalSense::Unassigned { ascq, .. } => ascq,
        }
    }

    /// True for standard and range assignments: the pair has descriptive text.
    pub fn is_assigned(&self) -> bool {
        matches!(
            self,
            AdditionalSense::Standard { .. } | AdditionalSense::Range { .. }
        )
    }

    /// True when the ASC or the ASCQ is vendor specific.
    pub fn is_vendor_specific(&self) -> bool {
        matches!(
            self,
            AdditionalSense::VendorAsc { .. } | AdditionalSense::VendorAscq { .. }
        )
    }
}

/// Standard and range assignments print their text (`Invalid field in cdb`,
/// `Diagnostic failure on component [0x85]`); other pairs print the codes the way
/// `sg_decode_sense` does (`ASC=12, ASCQ=34 (hex)`, `vendor specific ASC=80, ASCQ=12 (hex)`,
/// `ASC=12, vendor specific qualification ASCQ=80 (hex)`).
impl fmt::Display for AdditionalSense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AdditionalSense::Standard { text, .. } => f.write_str(text),
            AdditionalSense::Range { ascq, range } => match range.style {
                RangeStyle::Bracketed => write!(f, "{} [0x{ascq:x}]", range.text),
                RangeStyle::Trailing => write!(f, "{} 0x{ascq:x}", range.text),
            },
            AdditionalSense::VendorAsc { asc, ascq } => {
                write!(f, "vendor specific ASC={asc:02x}, ASCQ={ascq:02x} (hex)")
            }
            AdditionalSense::VendorAscq { asc, ascq } => write!(
                f,
                "ASC={asc:02x}, vendor specific qualification ASCQ={ascq:02x} (hex)"
            ),
            AdditionalSense::Unassigned { asc, ascq } => {
                write!(f, "ASC={asc:02x}, ASCQ={ascq:02x} (hex)")
            }
        }
    }
}

#[cfg(test)]
mod tests;
