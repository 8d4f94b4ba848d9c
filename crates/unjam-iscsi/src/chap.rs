//! CHAP with MD5 (RFC 1994 as profiled by RFC 7143 §12.1.3): the initiator's response to a
//! target challenge, the initiator's own challenge for mutual CHAP, and binary value encoding
//! (`0x` hex or `0b` base64, RFC 7143 §6.1).
//!
//! Owns the cryptographic computation and value encoding; the login conversation that carries
//! these keys is in `login`.

use base64::Engine;
use md5::{Digest, Md5};

/// The CHAP algorithm number for MD5 (CHAP_A=5).
pub const CHAP_ALGORITHM_MD5: u8 = 5;
/// Largest challenge accepted from a target, in bytes.
pub const MAX_CHALLENGE_LENGTH: usize = 1024;
/// Length of the challenge unjam sends for mutual CHAP.
pub const CHALLENGE_LENGTH: usize = 16;

/// A CHAP name and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ChapCredentials {
    pub user: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for ChapCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChapCredentials")
            .field("user", &self.user)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A CHAP value or exchange was malformed or failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChapError {
    #[error("binary value {0:?} is not 0x-hex or 0b-base64")]
    BadEncoding(String),
    #[error("challenge of {0} bytes is empty or longer than 1024 bytes")]
    BadChallengeLength(usize),
    #[error("CHAP identifier {0:?} is not a number from 0 to 255")]
    BadIdentifier(String),
    #[error("target offered CHAP algorithm {0:?}; unjam supports only MD5 (5)")]
    UnsupportedAlgorithm(String),
    #[error(
        "target answered the mutual CHAP challenge with name {received:?}, expected {expected:?}"
    )]
    WrongTargetName { received: String, expected: String },
    #[error("target's mutual CHAP response is wrong: the target does not know the secret")]
    WrongTargetResponse,
    #[error("target reflected our own challenge")]
    ReflectedChallenge,
}

/// MD5(identifier ‖ secret ‖ challenge), the CHAP response (RFC 1994 §4.1).
pub fn response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut hasher = Md5::new();
    hasher.update([identifier]);
    hasher.update(secret);
    hasher.update(challenge);
    hasher.finalize().into()
}

/// Decodes a binary value: `0x…` (hex) or `0b…` (base64).
pub fn decode_binary(value: &str) -> Result<Vec<u8>, ChapError> {
    let bad = || ChapError::BadEncoding(value.chars().take(32).collect());
    if value.len() > 2 * MAX_CHALLENGE_LENGTH + 2 {
        return Err(bad());
    }
    if let Some(hex_digits) = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        // An odd number of digits has an implied leading zero.
        let digits = if hex_digits.len() % 2 == 1 {
            format!("0{hex_digits}")
        } else {
            hex_digits.to_string()
        };
        return hex::decode(digits).map_err(|_| bad());
    }
    if let Some(base64_text) = value
        .strip_prefix("0b")
        .or_else(|| value.strip_prefix("0B"))
    {
        return base64::engine::general_purpose::STANDARD
            .decode(base64_text)
            .map_err(|_| bad());
    }
    Err(bad())
}

/// Encodes a binary value as `0x` hex.
pub fn encode_binary(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Parses the target's challenge (CHAP_C) with its bounds.
pub fn parse_challenge(value: &str) -> Result<Vec<u8>, ChapError> {
    let challenge = decode_binary(value)?;
    if challenge.is_empty() || challenge.len() > MAX_CHALLENGE_LENGTH {
        return Err(ChapError::BadChallengeLength(challenge.len()));
    }
    Ok(challenge)
}

/// Parses CHAP_I.
pub fn parse_identifier(value: &str) -> Result<u8, ChapError> {
    value
        .parse::<u8>()
        .map_err(|_| ChapError::BadIdentifier(value.chars().take(16).collect()))
}

/// A challenge one side sends and the check of the other side's answer to it: the
/// initiator's challenge in mutual CHAP, or the target's challenge to the initiator.
#[derive(Debug, Clone)]
pub struct ChapChallenge {
    pub identifier: u8,
    pub challenge: [u8; CHALLENGE_LENGTH],
}

impl ChapChallenge {
    pub fn random() -> ChapChallenge {
        ChapChallenge {
            identifier: rand::random(),
            challenge: rand::random(),
        }
    }

    /// Verifies the target's CHAP_N and CHAP_R against the expected credentials.
    pub fn verify(
        &self,
        expected: &ChapCredentials,
        name: &str,
        response_value: &str,
    ) -> Result<(), ChapError> {
        if name != expected.user {
            return Err(ChapError::WrongTargetName {
                received: name.chars().take(64).collect(),
                expected: expected.user.clone(),
            });
        }
        if !self.answered_by(&expected.secret, response_value)? {
            return Err(ChapError::WrongTargetResponse);
        }
        Ok(())
    }

    /// Whether `response_value` (a CHAP_R value) is the answer of someone who knows
    /// `secret`. A malformed value is an error; a wrong answer is `Ok(false)`.
    pub fn answered_by(&self, secret: &[u8], response_value: &str) -> Result<bool, ChapError> {
        let received = decode_binary(response_value)?;
        let wanted = response(self.identifier, secret, &self.challenge);
        Ok(received.as_slice() == wanted.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_md5_of_identifier_secret_challenge() {
        // MD5 of the single byte 0x00 followed by nothing: identifier 0, empty secret and
        // challenge gives MD5("\0") = 93b885adfe0da089cdf634904fd59f71.
        assert_eq!(
            hex::encode(response(0, b"", b"")),
            "93b885adfe0da089cdf634904fd59f71"
        );
        let a = response(1, b"secret", b"\x01\x02");
        let b = response(2, b"secret", b"\x01\x02");
        assert_ne!(a, b, "the identifier is part of the hash");
    }

    #[test]
    fn binary_values_decode_from_hex_and_base64() {
        assert_eq!(decode_binary("0x0102ff"), Ok(vec![1, 2, 255]));
        assert_eq!(decode_binary("0x102"), Ok(vec![1, 2]));
        assert_eq!(decode_binary("0bAQL/"), Ok(vec![1, 2, 255]));
        assert!(decode_binary("0102").is_err());
        assert!(decode_binary("0xzz").is_err());
        assert_eq!(encode_binary(&[0xab, 0x01]), "0xab01");
    }

    #[test]
    fn challenge_bounds_and_identifier_parse() {
        assert!(matches!(
            parse_challenge("0x"),
            Err(ChapError::BadChallengeLength(0))
        ));
        assert_eq!(parse_identifier("255"), Ok(255));
        assert!(parse_identifier("256").is_err());
    }

    #[test]
    fn mutual_verification_accepts_only_the_right_secret() {
        let challenge = ChapChallenge::random();
        let target = ChapCredentials {
            user: "tgt".into(),
            secret: b"target-secret".to_vec(),
        };
        let good = encode_binary(&response(
            challenge.identifier,
            &target.secret,
            &challenge.challenge,
        ));
        assert_eq!(challenge.verify(&target, "tgt", &good), Ok(()));
        let bad = encode_binary(&response(
            challenge.identifier,
            b"wrong",
            &challenge.challenge,
        ));
        assert_eq!(
            challenge.verify(&target, "tgt", &bad),
            Err(ChapError::WrongTargetResponse)
        );
        assert!(matches!(
            challenge.verify(&target, "other", &good),
            Err(ChapError::WrongTargetName { .. })
        ));
    }
}
