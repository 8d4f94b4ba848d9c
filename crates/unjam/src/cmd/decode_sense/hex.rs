//! Hex input as `sg_decode_sense` accepts it, slightly more forgiving: bytes separated by
//! white space or commas, each `1f`, `f` or `0x1f`; `#` starts a comment to the end of the
//! line; a prefix-less run of an even number of digits (`70000b00`) is several bytes.
//! Shared by every subcommand that takes bytes in hex (sense data now, CDBs later).

use std::fmt;

/// The most bytes one input may hold: far above the 263 bytes sense data can have, and
/// enough for any CDB, while keeping a stray huge file from being taken in.
pub const MAX_INPUT_BYTES: usize = 4096;

/// Where a token came from, for error messages.
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    /// The n-th (1-based) hex argument on the command line.
    Argument(usize),
    /// Line n (1-based) of a file.
    Line { path: &'a str, line: usize },
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Argument(index) => write!(f, "argument {index}"),
            Origin::Line { path, line } => write!(f, "{path} line {line}"),
        }
    }
}

/// Parses command-line arguments, each holding one or more tokens.
pub fn parse_arguments(arguments: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for (index, argument) in arguments.iter().enumerate() {
        parse_text(argument, Origin::Argument(index + 1), &mut bytes)?;
    }
    Ok(bytes)
}

/// Parses the contents of a file (`path` only names it in errors).
pub fn parse_file_text(text: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let origin = Origin::Line {
            path,
            line: index + 1,
        };
        parse_text(line, origin, &mut bytes)?;
    }
    Ok(bytes)
}

fn parse_text(text: &str, origin: Origin<'_>, bytes: &mut Vec<u8>) -> anyhow::Result<()> {
    let without_comment = text.split('#').next().unwrap_or_default();
    let tokens = without_comment
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|token| !token.is_empty());
    for token in tokens {
        parse_token(token, bytes)
            .ok_or_else(|| anyhow::anyhow!("bad hex byte {token:?} ({origin})"))?;
        if bytes.len() > MAX_INPUT_BYTES {
            anyhow::bail!("more than {MAX_INPUT_BYTES} bytes of input ({origin})");
        }
    }
    Ok(())
}

/// Appends the bytes of one token; `None` when it is not hex as described above.
fn parse_token(token: &str, bytes: &mut Vec<u8>) -> Option<()> {
    let prefixed = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"));
    let digits = prefixed.unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if digits.len() <= 2 {
        bytes.push(u8::from_str_radix(digits, 16).ok()?);
        return Some(());
    }
    if prefixed.is_some() || digits.len() % 2 != 0 {
        return None;
    }
    for pair in digits.as_bytes().chunks(2) {
        let pair = std::str::from_utf8(pair).ok()?;
        bytes.push(u8::from_str_radix(pair, 16).ok()?);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(words: &[&str]) -> anyhow::Result<Vec<u8>> {
        let owned: Vec<String> = words.iter().map(|word| word.to_string()).collect();
        parse_arguments(&owned)
    }

    #[test]
    fn forms_sg_decode_sense_accepts() {
        assert_eq!(arguments(&["70", "0", "5"]).unwrap(), [0x70, 0, 5]);
        assert_eq!(
            arguments(&["0x70", "0X0b", "F"]).unwrap(),
            [0x70, 0x0b, 0x0f]
        );
        let text = "# comment\n70 00 05 00 00 00 00 0a, 00 00 # more\n\n  24\t00\n";
        assert_eq!(
            parse_file_text(text, "f").unwrap(),
            [0x70, 0, 5, 0, 0, 0, 0, 0x0a, 0, 0, 0x24, 0]
        );
    }

    #[test]
    fn forgiving_extras() {
        assert_eq!(arguments(&["70 00,0b"]).unwrap(), [0x70, 0, 0x0b]);
        assert_eq!(arguments(&["70000b00"]).unwrap(), [0x70, 0, 0x0b, 0]);
    }

    #[test]
    fn bad_tokens_are_named_with_their_place() {
        let error = arguments(&["70", "00", "zz"]).unwrap_err().to_string();
        assert_eq!(error, "bad hex byte \"zz\" (argument 3)");
        let error = arguments(&["1ff"]).unwrap_err().to_string();
        assert_eq!(error, "bad hex byte \"1ff\" (argument 1)");
        let error = arguments(&["0x123"]).unwrap_err().to_string();
        assert_eq!(error, "bad hex byte \"0x123\" (argument 1)");
        assert!(arguments(&["0x"]).is_err());
        assert!(arguments(&["70h"]).is_err());
        let error = parse_file_text("70\n00 g1\n", "sense.txt")
            .unwrap_err()
            .to_string();
        assert_eq!(error, "bad hex byte \"g1\" (sense.txt line 2)");
    }

    #[test]
    fn input_is_bounded() {
        let huge = "00".repeat(MAX_INPUT_BYTES + 1);
        assert!(arguments(&[huge.as_str()]).is_err());
        let just_enough = "00".repeat(MAX_INPUT_BYTES);
        assert_eq!(
            arguments(&[just_enough.as_str()]).unwrap().len(),
            MAX_INPUT_BYTES
        );
    }
}
