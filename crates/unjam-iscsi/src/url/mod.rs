//! iSCSI URLs in libiscsi's form:
//!
//! ```text
//! iscsi://[user[%password]@]host[:port][/target-iqn[/lun]][?arg=value[&arg=value...]]
//!   host   name | IPv4 | [IPv6]                      port 3260 by default
//!   user, password, target-iqn and argument values are %-decoded (a '/' in a password
//!   is %2F, a '%' is %25); the first '%' of user%password separates the two
//!   arguments: header_digest, data_digest = crc32c | none | crc32c-none | none-crc32c
//!              target_user, target_password   (mutual CHAP)
//! ```
//!
//! Credentials missing from the URL come from `LIBISCSI_CHAP_USERNAME`,
//! `LIBISCSI_CHAP_PASSWORD`, `LIBISCSI_CHAP_TARGET_USERNAME` and
//! `LIBISCSI_CHAP_TARGET_PASSWORD` when the caller passes an environment (see
//! [`process_environment`]); the URL wins field by field.
//!
//! Three shapes: [`PortalUrl`] (discovery), [`TargetUrl`] (listing LUNs) and [`IscsiUrl`]
//! (one logical unit); [`ParsedUrl`] is whichever the text was. Owns parsing and printing (with
//! passwords hidden); nothing here resolves names or connects.

mod chap_env;
mod parse;

use std::fmt;

pub use chap_env::{
    process_environment, ENV_CHAP_PASSWORD, ENV_CHAP_TARGET_PASSWORD, ENV_CHAP_TARGET_USERNAME,
    ENV_CHAP_USERNAME,
};

use crate::chap::ChapCredentials;
use crate::name::NameError;

/// The well-known iSCSI port.
pub const DEFAULT_PORT: u16 = 3260;
/// Largest LUN a URL can name (flat space addressing, SAM-5 §4.7).
pub const MAX_URL_LUN: u16 = 16_383;

/// A lookup of environment variables: `process_environment()` in programs, a closure over a
/// table in tests.
pub type Environment<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What is wrong with a URL; each variant names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("URL must start with iscsi:// (got {0:?})")]
    Scheme(String),
    #[error("URL has no host: expected iscsi://[user[%password]@]host[:port]/target-iqn/lun")]
    MissingHost,
    #[error("port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
    #[error("host {0:?} looks like an IPv6 address: write it in brackets, e.g. iscsi://[{0}]:3260/target-iqn/lun")]
    Ipv6WithoutBrackets(String),
    #[error("[{0}] is not an IPv6 address")]
    BadIpv6(String),
    #[error("URL has no target name: expected iscsi://host[:port]/target-iqn/lun")]
    MissingTarget,
    #[error("URL has no LUN: expected iscsi://host[:port]/target-iqn/lun")]
    MissingLun,
    #[error("LUN {0:?} is not a number from 0 to 16383")]
    BadLun(String),
    #[error("user name is empty before '%' or '@'")]
    EmptyUser,
    #[error("unexpected text after the {after}: {text:?}")]
    TrailingPath { after: &'static str, text: String },
    #[error("{part} {text:?} is not valid %-encoding (write '%' as %25, '/' as %2F, '@' as %40)")]
    BadPercentEncoding { part: &'static str, text: String },
    #[error("URL argument {0:?} is unknown (known: header_digest, data_digest, target_user, target_password)")]
    UnknownArgument(String),
    #[error("URL argument {0:?} has no value: expected key=value")]
    ArgumentWithoutValue(String),
    #[error("URL argument {0:?} is given twice")]
    DuplicateArgument(String),
    #[error("{key}={value:?}: expected crc32c, none, crc32c-none or none-crc32c")]
    BadDigest { key: &'static str, value: String },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("CHAP user {user:?} has no password: write iscsi://user%password@... or set LIBISCSI_CHAP_PASSWORD")]
    MissingPassword { user: String },
    #[error("a CHAP password is set but no user: write iscsi://user%password@... or set LIBISCSI_CHAP_USERNAME")]
    MissingUser,
    #[error("target CHAP user {user:?} has no password: add target_password=... or set LIBISCSI_CHAP_TARGET_PASSWORD")]
    MissingTargetPassword { user: String },
    #[error("a target CHAP password is set but no target user: add target_user=... or set LIBISCSI_CHAP_TARGET_USERNAME")]
    MissingTargetUser,
    #[error("mutual CHAP (target_user) needs the initiator's own CHAP user and password too")]
    MutualWithoutInitiator,
}

/// A digest preference from `header_digest=` or `data_digest=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestChoice {
    /// `none`: no digest.
    None,
    /// `crc32c`: CRC32C or no session at all.
    Crc32c,
    /// `crc32c-none`: CRC32C if the target agrees.
    Crc32cOrNone,
    /// `none-crc32c`: no digest preferred; a target must pick the first choice it accepts
    /// and every target accepts none, so this ends as `none`.
    NoneOrCrc32c,
}

impl DigestChoice {
    /// Whether to offer CRC32C (first) in the login.
    pub fn offers_crc32c(self) -> bool {
        matches!(self, DigestChoice::Crc32c | DigestChoice::Crc32cOrNone)
    }

    /// Whether a session that negotiated no digest must be refused.
    pub fn requires_crc32c(self) -> bool {
        self == DigestChoice::Crc32c
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DigestChoice::None => "none",
            DigestChoice::Crc32c => "crc32c",
            DigestChoice::Crc32cOrNone => "crc32c-none",
            DigestChoice::NoneOrCrc32c => "none-crc32c",
        }
    }
}

/// A portal: host and port, CHAP credentials (ours and, for mutual CHAP, the target's) and
/// digest preferences.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub target_user: Option<String>,
    pub target_password: Option<String>,
    pub header_digest: Option<DigestChoice>,
    pub data_digest: Option<DigestChoice>,
}

/// A target behind a portal, without a LUN (for listing LUNs).
#[derive(Clone, PartialEq, Eq)]
pub struct TargetUrl {
    pub portal: PortalUrl,
    pub target: String,
}

/// A logical unit: portal, target name and LUN.
#[derive(Clone, PartialEq, Eq)]
pub struct IscsiUrl {
    pub portal: PortalUrl,
    pub target: String,
    pub lun: u16,
}

/// Whatever an `iscsi://` URL named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedUrl {
    Portal(PortalUrl),
    Target(TargetUrl),
    Lun(IscsiUrl),
}

impl ParsedUrl {
    /// Parses any of the three shapes; credentials only from the URL.
    pub fn parse(text: &str) -> Result<ParsedUrl, UrlError> {
        Self::parse_with_env(text, &|_| None)
    }

    /// Parses any of the three shapes; credentials missing from the URL come from `env`.
    pub fn parse_with_env(text: &str, env: Environment<'_>) -> Result<ParsedUrl, UrlError> {
        let (mut portal, target, lun) = parse::parse_url(text)?;
        chap_env::complete(&mut portal, env)?;
        Ok(match (target, lun) {
            (None, _) => ParsedUrl::Portal(portal),
            (Some(target), None) => ParsedUrl::Target(TargetUrl { portal, target }),
            (Some(target), Some(lun)) => ParsedUrl::Lun(IscsiUrl {
                portal,
                target,
                lun,
            }),
        })
    }

    pub fn portal(&self) -> &PortalUrl {
        match self {
            ParsedUrl::Portal(portal) => portal,
            ParsedUrl::Target(target) => &target.portal,
            ParsedUrl::Lun(lun) => &lun.portal,
        }
    }
}

impl PortalUrl {
    /// Parses `iscsi://[user[%password]@]host[:port][/][?args]`.
    pub fn parse(text: &str) -> Result<PortalUrl, UrlError> {
        Self::parse_with_env(text, &|_| None)
    }

    pub fn parse_with_env(text: &str, env: Environment<'_>) -> Result<PortalUrl, UrlError> {
        match ParsedUrl::parse_with_env(text, env)? {
            ParsedUrl::Portal(portal) => Ok(portal),
            ParsedUrl::Target(target) => Err(UrlError::TrailingPath {
                after: "portal",
                text: target.target,
            }),
            ParsedUrl::Lun(lun) => Err(UrlError::TrailingPath {
                after: "portal",
                text: format!("{}/{}", lun.target, lun.lun),
            }),
        }
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Our CHAP credentials, when the URL (or environment) gave a user and a password.
    pub fn chap(&self) -> Option<ChapCredentials> {
        credentials(&self.user, &self.password)
    }

    /// The credentials the target must prove for mutual CHAP.
    pub fn target_chap(&self) -> Option<ChapCredentials> {
        credentials(&self.target_user, &self.target_password)
    }
}

fn credentials(user: &Option<String>, password: &Option<String>) -> Option<ChapCredentials> {
    match (user, password) {
        (Some(user), Some(password)) => Some(ChapCredentials {
            user: user.clone(),
            secret: password.as_bytes().to_vec(),
        }),
        _ => None,
    }
}

impl TargetUrl {
    /// Parses `iscsi://[user[%password]@]host[:port]/target-iqn[/][?args]`.
    pub fn parse(text: &str) -> Result<TargetUrl, UrlError> {
        Self::parse_with_env(text, &|_| None)
    }

    pub fn parse_with_env(text: &str, env: Environment<'_>) -> Result<TargetUrl, UrlError> {
        match ParsedUrl::parse_with_env(text, env)? {
            ParsedUrl::Portal(_) => Err(UrlError::MissingTarget),
            ParsedUrl::Target(target) => Ok(target),
            ParsedUrl::Lun(lun) => Err(UrlError::TrailingPath {
                after: "target name",
                text: lun.lun.to_string(),
            }),
        }
    }
}

impl IscsiUrl {
    /// Parses `iscsi://[user[%password]@]host[:port]/target-iqn/lun[?args]`.
    pub fn parse(text: &str) -> Result<IscsiUrl, UrlError> {
        Self::parse_with_env(text, &|_| None)
    }

    pub fn parse_with_env(text: &str, env: Environment<'_>) -> Result<IscsiUrl, UrlError> {
        match ParsedUrl::parse_with_env(text, env)? {
            ParsedUrl::Portal(_) => Err(UrlError::MissingTarget),
            ParsedUrl::Target(_) => Err(UrlError::MissingLun),
            ParsedUrl::Lun(lun) => Ok(lun),
        }
    }

    /// The target this LUN belongs to.
    pub fn target_url(&self) -> TargetUrl {
        TargetUrl {
            portal: self.portal.clone(),
            target: self.target.clone(),
        }
    }

    /// The 8-byte LUN field for this LUN (SAM peripheral / flat addressing).
    pub fn lun_field(&self) -> u64 {
        encode_lun(self.lun)
    }
}

/// Encodes a LUN below 16384 as the 8-byte LUN field: peripheral addressing below 256,
/// flat space addressing above (SAM-5 §4.7).
pub fn encode_lun(lun: u16) -> u64 {
    let first_level = if lun < 256 {
        lun
    } else {
        0x4000 | (lun & 0x3fff)
    };
    u64::from(first_level) << 48
}

impl fmt::Display for PortalUrl {
    /// Prints the portal with passwords replaced by `***` (no query).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "iscsi://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}")?;
            if self.password.is_some() {
                write!(f, "%***")?;
            }
            write!(f, "@")?;
        }
        write!(f, "{}", self.address())
    }
}

impl PortalUrl {
    /// The `?…` arguments as they would be written, passwords hidden ("" when none).
    fn arguments(&self) -> String {
        let mut arguments = Vec::new();
        if let Some(choice) = self.header_digest {
            arguments.push(format!("header_digest={}", choice.as_str()));
        }
        if let Some(choice) = self.data_digest {
            arguments.push(format!("data_digest={}", choice.as_str()));
        }
        if let Some(user) = &self.target_user {
            arguments.push(format!("target_user={user}"));
        }
        if self.target_password.is_some() {
            arguments.push("target_password=***".to_string());
        }
        if arguments.is_empty() {
            return String::new();
        }
        format!("?{}", arguments.join("&"))
    }
}

impl fmt::Debug for PortalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}{}", self.arguments())
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.portal, self.target)
    }
}

impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}{}", self.portal.arguments())
    }
}

impl fmt::Display for IscsiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.portal, self.target, self.lun)
    }
}

impl fmt::Debug for IscsiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}{}", self.portal.arguments())
    }
}

#[cfg(test)]
mod tests;
