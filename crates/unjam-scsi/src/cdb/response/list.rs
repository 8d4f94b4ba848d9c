//! [`ItemList`]: a list inside response data (LUNs, designators, mode pages, port groups),
//! either borrowed from validated wire bytes or from a caller's slice of items. Parsing
//! checks every item once and keeps only the bytes; iterating decodes on the fly. Nothing
//! is allocated either way.

use std::fmt;

use crate::cdb::error::{BuildError, ResponseError};

/// What a list's header says about the form of its items. Only block descriptors have two
/// forms; every other item ignores this.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ItemFormat {
    #[default]
    Standard,
    /// 16-byte block descriptors (the LONGLBA bit of MODE SENSE(10) data).
    LongLba,
}

/// An item of a list in response data: how to decode one from the front of the bytes, and
/// how to encode it.
pub trait WireItem<'a>: Copy + PartialEq + fmt::Debug + 'a {
    /// Decodes the item at the start of `bytes`; returns it and how many bytes it used
    /// (always at least one).
    fn decode(bytes: &'a [u8], format: ItemFormat) -> Result<(Self, usize), ResponseError>;

    /// The bytes [`encode`](Self::encode) writes.
    fn encoded_len(&self, format: ItemFormat) -> usize;

    /// Writes the item at the start of `out`; returns the bytes written.
    fn encode(&self, out: &mut [u8], format: ItemFormat) -> Result<usize, BuildError>;
}

/// A list of `T`: validated wire bytes, or a slice of items to build from. Two lists are
/// equal when they hold equal items in the same order, whichever form they are in.
pub struct ItemList<'a, T: WireItem<'a>> {
    form: Form<'a, T>,
}

enum Form<'a, T: WireItem<'a>> {
    Wire {
        bytes: &'a [u8],
        format: ItemFormat,
        count: usize,
    },
    Items(&'a [T]),
}

impl<'a, T: WireItem<'a>> ItemList<'a, T> {
    /// A list to build from.
    pub fn from_items(items: &'a [T]) -> Self {
        ItemList {
            form: Form::Items(items),
        }
    }

    pub fn empty() -> Self {
        Self::from_items(&[])
    }

    /// Decodes every item of `bytes` (which must hold whole items only) and keeps the bytes.
    pub(crate) fn decode_all(bytes: &'a [u8], format: ItemFormat) -> Result<Self, ResponseError> {
        let mut rest = bytes;
        let mut count = 0;
        // Each item uses at least one byte, so this runs at most `bytes.len()` times.
        while !rest.is_empty() {
            let (_, used) = T::decode(rest, format)?;
            rest = rest.get(used.max(1)..).unwrap_or(&[]);
            count += 1;
        }
        Ok(ItemList {
            form: Form::Wire {
                bytes,
                format,
                count,
            },
        })
    }

    pub fn len(&self) -> usize {
        match self.form {
            Form::Wire { count, .. } => count,
            Form::Items(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> Iter<'a, T> {
        match self.form {
            Form::Wire {
                bytes,
                format,
                count,
            } => Iter {
                form: IterForm::Wire {
                    rest: bytes,
                    format,
                    remaining: count,
                },
            },
            Form::Items(items) => Iter {
                form: IterForm::Items(items.iter()),
            },
        }
    }

    /// The bytes the list takes when encoded in `format`.
    pub(crate) fn encoded_len(&self, format: ItemFormat) -> usize {
        self.iter().map(|item| item.encoded_len(format)).sum()
    }

    /// Encodes every item back to back at the start of `out`; returns the bytes written.
    pub(crate) fn encode(&self, out: &mut [u8], format: ItemFormat) -> Result<usize, BuildError> {
        let mut written = 0;
        for item in self.iter() {
            let available = out.len();
            let rest = out.get_mut(written..).ok_or(BuildError::BufferTooSmall {
                needed: written,
                available,
            })?;
            written += item.encode(rest, format)?;
        }
        Ok(written)
    }
}

impl<'a, T: WireItem<'a>> Clone for ItemList<'a, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: WireItem<'a>> Copy for ItemList<'a, T> {}

impl<'a, T: WireItem<'a>> Clone for Form<'a, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: WireItem<'a>> Copy for Form<'a, T> {}

impl<'a, T: WireItem<'a>> PartialEq for ItemList<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: WireItem<'a> + Eq> Eq for ItemList<'a, T> {}

impl<'a, T: WireItem<'a>> fmt::Debug for ItemList<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: WireItem<'a>> Default for ItemList<'a, T> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<'a, T: WireItem<'a>> IntoIterator for ItemList<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Iterates an [`ItemList`], decoding wire items as it goes.
pub struct Iter<'a, T: WireItem<'a>> {
    form: IterForm<'a, T>,
}

enum IterForm<'a, T: WireItem<'a>> {
    Wire {
        rest: &'a [u8],
        format: ItemFormat,
        remaining: usize,
    },
    Items(std::slice::Iter<'a, T>),
}

impl<'a, T: WireItem<'a>> Iterator for Iter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.form {
            IterForm::Items(items) => items.next().copied(),
            IterForm::Wire {
                rest,
                format,
                remaining,
            } => {
                if *remaining == 0 {
                    return None;
                }
                // The bytes were validated by `decode_all`; an error cannot happen, and
                // would end the iteration rather than panic.
                let Ok((item, used)) = T::decode(rest, *format) else {
                    *remaining = 0;
                    return None;
                };
                *rest = rest.get(used.max(1)..).unwrap_or(&[]);
                *remaining -= 1;
                Some(item)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = match &self.form {
            IterForm::Items(items) => items.len(),
            IterForm::Wire { remaining, .. } => *remaining,
        };
        (remaining, Some(remaining))
    }
}

impl<'a, T: WireItem<'a>> fmt::Debug for Iter<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}
