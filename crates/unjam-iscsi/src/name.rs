//! iSCSI names (RFC 7143 §4.2.7): the bounds an initiator or target name must respect before
//! it is sent in a login.
//!
//! Owns the length limit (223 bytes) and a character check that keeps names printable. It
//! does not normalise names (stringprep) or check the `iqn.`/`eui.`/`naa.` formats: targets
//! differ in what they accept, and refusing a name a target would accept helps nobody.

/// Longest iSCSI name in bytes (RFC 7143 §4.2.7.1: names are at most 223 bytes of UTF-8).
pub const MAX_NAME_BYTES: usize = 223;

/// What is wrong with a name; `kind` says which name ("initiator name", "target name").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is {length} bytes long; iSCSI names are at most {MAX_NAME_BYTES} bytes (RFC 7143 §4.2.7.1)")]
    TooLong { kind: &'static str, length: usize },
    #[error("{kind} contains {character:?}; iSCSI names have no spaces or control characters")]
    BadCharacter { kind: &'static str, character: char },
}

/// Checks one name against RFC 7143's bounds.
pub fn check_name(kind: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            kind,
            length: name.len(),
        });
    }
    match name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(character) => Err(NameError::BadCharacter { kind, character }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_up_to_223_bytes_pass_and_longer_ones_are_refused() {
        let longest = format!("iqn.2024-01.dev.unjam:{}", "x".repeat(MAX_NAME_BYTES - 22));
        assert_eq!(longest.len(), MAX_NAME_BYTES);
        assert_eq!(check_name("target name", &longest), Ok(()));
        let too_long = format!("{longest}y");
        assert_eq!(
            check_name("target name", &too_long),
            Err(NameError::TooLong {
                kind: "target name",
                length: 224
            })
        );
    }

    #[test]
    fn empty_names_and_spaces_are_refused() {
        assert_eq!(
            check_name("initiator name", ""),
            Err(NameError::Empty {
                kind: "initiator name"
            })
        );
        assert!(matches!(
            check_name("initiator name", "iqn.x y"),
            Err(NameError::BadCharacter { character: ' ', .. })
        ));
    }
}
