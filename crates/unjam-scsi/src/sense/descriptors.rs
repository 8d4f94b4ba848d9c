//! The list of descriptors in descriptor-format sense data: validated wire bytes (from a
//! parse) or a caller's slice of typed descriptors (to build), compared and iterated the
//! same way. No allocation in either case.

use std::fmt;

use super::descriptor::Descriptor;
use super::error::{BuildError, SenseError};

/// Descriptor header: type and additional length.
const HEADER_LENGTH: usize = 2;

/// The descriptors of descriptor-format sense data.
#[derive(Clone, Copy)]
pub struct Descriptors<'a>(Source<'a>);

#[derive(Clone, Copy)]
enum Source<'a> {
    /// Bytes 8.. of a parsed buffer, already checked by [`Descriptors::parse`].
    Wire(&'a [u8]),
    Items(&'a [Descriptor<'a>]),
}

impl<'a> Descriptors<'a> {
    /// Descriptors given by value, to build sense data from.
    pub fn from_slice(items: &'a [Descriptor<'a>]) -> Descriptors<'a> {
        Descriptors(Source::Items(items))
    }

    /// The well-formed descriptors at the start of `bytes` (the descriptor area;
    /// `first_offset` is its offset in the sense buffer, for errors) up to the first
    /// malformed one, and the error that stopped the walk, if any.
    pub(super) fn parse_prefix(bytes: &'a [u8], first_offset: usize) -> (Self, Option<SenseError>) {
        let mut consumed = 0;
        let mut error = None;
        while let Some(rest) = bytes.get(consumed..).filter(|rest| !rest.is_empty()) {
            match split_one(rest, first_offset + consumed) {
                Ok((_, length)) => consumed += length,
                Err(fault) => {
                    error = Some(fault);
                    break;
                }
            }
        }
        let whole = bytes.get(..consumed).unwrap_or_default();
        (Descriptors(Source::Wire(whole)), error)
    }

    pub fn iter(&self) -> DescriptorIter<'a> {
        DescriptorIter(match self.0 {
            Source::Wire(bytes) => IterSource::Wire(bytes),
            Source::Items(items) => IterSource::Items(items.iter()),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The first descriptor of type `kind`.
    pub fn find(&self, kind: u8) -> Option<Descriptor<'a>> {
        self.iter().find(|descriptor| descriptor.kind() == kind)
    }

    /// Appends every descriptor to `out`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) -> Result<(), BuildError> {
        if let Source::Wire(bytes) = self.0 {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        self.iter()
            .try_for_each(|descriptor| descriptor.encode(out))
    }
}

/// Decodes the descriptor at the start of `bytes`; returns it and its total length.
fn split_one(bytes: &[u8], offset: usize) -> Result<(Descriptor<'_>, usize), SenseError> {
    let truncated = |needed: usize| SenseError::TruncatedDescriptor {
        offset,
        needed,
        available: bytes.len(),
    };
    let [kind, additional, ..] = *bytes else {
        return Err(truncated(HEADER_LENGTH));
    };
    let length = HEADER_LENGTH + usize::from(additional);
    let body = bytes
        .get(HEADER_LENGTH..length)
        .ok_or_else(|| truncated(length))?;
    Ok((Descriptor::decode(kind, body, offset)?, length))
}

/// Iterates descriptors in order.
#[derive(Clone, Debug)]
pub struct DescriptorIter<'a>(IterSource<'a>);

#[derive(Clone, Debug)]
enum IterSource<'a> {
    Wire(&'a [u8]),
    Items(std::slice::Iter<'a, Descriptor<'a>>),
}

impl<'a> Iterator for DescriptorIter<'a> {
    type Item = Descriptor<'a>;

    fn next(&mut self) -> Option<Descriptor<'a>> {
        match &mut self.0 {
            IterSource::Items(items) => items.next().copied(),
            IterSource::Wire(bytes) => {
                // Parse validated these bytes; an error here cannot happen, and would end
                // the iteration rather than panic.
                let (descriptor, length) = split_one(bytes, 0).ok()?;
                *bytes = bytes.get(length..).unwrap_or_default();
                Some(descriptor)
            }
        }
    }
}

impl<'a> IntoIterator for &Descriptors<'a> {
    type Item = Descriptor<'a>;
    type IntoIter = DescriptorIter<'a>;

    fn into_iter(self) -> DescriptorIter<'a> {
        self.iter()
    }
}

/// Two lists are equal when they hold the same descriptors in the same order, whether
/// they came from bytes or from values.
impl PartialEq for Descriptors<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Descriptors<'_> {}

impl fmt::Debug for Descriptors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Default for Descriptors<'_> {
    fn default() -> Self {
        Descriptors(Source::Items(&[]))
    }
}
