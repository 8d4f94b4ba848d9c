//! iSCSI text keys (RFC 7143 §6.1): `key=value` pairs separated by NUL bytes, as carried in
//! Login and Text PDUs, and the reassembly of text split over PDUs with the C bit.
//!
//! Owns syntax and size bounds only; the meaning of keys is in `params` and `chap`.

/// Longest key name (RFC 7143 §6.1: up to 63 bytes).
pub const MAX_KEY_LENGTH: usize = 63;
/// Longest value accepted. Most values are limited to 255 bytes, but binary values (CHAP
/// challenges) and SendTargets addresses may be longer; 8192 bounds them all.
pub const MAX_VALUE_LENGTH: usize = 8192;
/// Most text accepted for one exchange, over all its continuation PDUs.
pub const MAX_TEXT_LENGTH: usize = 64 * 1024;
/// Most key=value pairs accepted in one exchange.
pub const MAX_PAIRS: usize = 1024;

/// Why text could not be parsed or assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("text item {0:?} has no '='")]
    MissingEquals(String),
    #[error("key {0:?} is empty, longer than 63 bytes or has characters outside [A-Za-z0-9.+@_-]")]
    InvalidKey(String),
    #[error("value of key {key} is {length} bytes, more than the limit of {limit}")]
    ValueTooLong {
        key: String,
        length: usize,
        limit: usize,
    },
    #[error("text is not valid UTF-8")]
    NotUtf8,
    #[error("text exchange exceeds {0} bytes")]
    TooLong(usize),
    #[error("text exchange has more than {0} pairs")]
    TooManyPairs(usize),
}

/// An ordered list of `key=value` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextPairs(pub Vec<(String, String)>);

impl TextPairs {
    pub fn new() -> TextPairs {
        TextPairs(Vec::new())
    }

    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.0.push((key.to_string(), value.into()));
    }

    /// The value of the first pair with this key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// Every value given for this key, in order (SendTargets repeats TargetAddress).
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Encodes as `key=value\0` for each pair.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in &self.0 {
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(0);
        }
        out
    }

    /// Parses a complete text (after reassembly). Empty items (padding) are skipped.
    pub fn parse(data: &[u8]) -> Result<TextPairs, TextError> {
        if data.len() > MAX_TEXT_LENGTH {
            return Err(TextError::TooLong(MAX_TEXT_LENGTH));
        }
        let mut pairs = Vec::new();
        for item in data
            .split(|byte| *byte == 0)
            .filter(|item| !item.is_empty())
        {
            if pairs.len() == MAX_PAIRS {
                return Err(TextError::TooManyPairs(MAX_PAIRS));
            }
            let item = std::str::from_utf8(item).map_err(|_| TextError::NotUtf8)?;
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| TextError::MissingEquals(truncated(item)))?;
            if !valid_key(key) {
                return Err(TextError::InvalidKey(truncated(key)));
            }
            if value.len() > MAX_VALUE_LENGTH {
                return Err(TextError::ValueTooLong {
                    key: key.to_string(),
                    length: value.len(),
                    limit: MAX_VALUE_LENGTH,
                });
            }
            pairs.push((key.to_string(), value.to_string()));
        }
        Ok(TextPairs(pairs))
    }
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LENGTH
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-+@_".contains(&byte))
}

fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Collects the data segments of a text exchange split over PDUs with the C (continue) bit.
#[derive(Debug, Clone, Default)]
pub struct TextAssembler {
    buffer: Vec<u8>,
}

impl TextAssembler {
    /// Appends one PDU's data segment; fails once the exchange exceeds `MAX_TEXT_LENGTH`.
    pub fn push(&mut self, data: &[u8]) -> Result<(), TextError> {
        if self.buffer.len() + data.len() > MAX_TEXT_LENGTH {
            return Err(TextError::TooLong(MAX_TEXT_LENGTH));
        }
        self.buffer.extend_from_slice(data);
        Ok(())
    }

    /// Parses everything collected so far and starts over.
    pub fn finish(&mut self) -> Result<TextPairs, TextError> {
        let text = std::mem::take(&mut self.buffer);
        TextPairs::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses_pairs_in_order() {
        let mut pairs = TextPairs::new();
        pairs.push("InitiatorName", "iqn.2024-01.dev.unjam:host");
        pairs.push("MaxBurstLength", "262144");
        let encoded = pairs.encode();
        assert_eq!(encoded.iter().filter(|byte| **byte == 0).count(), 2);
        let parsed = TextPairs::parse(&encoded);
        assert_eq!(parsed, Ok(pairs));
    }

    #[test]
    fn value_may_contain_equals_and_padding_is_skipped() {
        let parsed = TextPairs::parse(b"CHAP_C=0xab=cd\0\0\0\0").map(|pairs| pairs.0);
        let expected = vec![("CHAP_C".to_string(), "0xab=cd".to_string())];
        assert_eq!(parsed, Ok(expected));
    }

    #[test]
    fn rejects_bad_items() {
        assert!(matches!(
            TextPairs::parse(b"NoEquals\0"),
            Err(TextError::MissingEquals(_))
        ));
        assert!(matches!(
            TextPairs::parse(b"bad key=1\0"),
            Err(TextError::InvalidKey(_))
        ));
        let long_key = format!("{}=1", "k".repeat(64));
        assert!(matches!(
            TextPairs::parse(long_key.as_bytes()),
            Err(TextError::InvalidKey(_))
        ));
        assert_eq!(
            TextPairs::parse(&[b'a', b'=', 0xff]),
            Err(TextError::NotUtf8)
        );
    }

    #[test]
    fn assembler_is_bounded() {
        let mut assembler = TextAssembler::default();
        assert!(assembler.push(&vec![b'a'; MAX_TEXT_LENGTH]).is_ok());
        assert_eq!(
            assembler.push(b"x"),
            Err(TextError::TooLong(MAX_TEXT_LENGTH))
        );
    }

    #[test]
    fn assembler_joins_a_pair_split_across_pdus() {
        let mut assembler = TextAssembler::default();
        assert!(assembler.push(b"TargetName=iqn.a").is_ok());
        assert!(assembler
            .push(b"bc\0TargetAddress=1.2.3.4:3260,1\0")
            .is_ok());
        let pairs = assembler.finish().unwrap_or_default();
        assert_eq!(pairs.get("TargetName"), Some("iqn.abc"));
        assert_eq!(pairs.get("TargetAddress"), Some("1.2.3.4:3260,1"));
    }
}
