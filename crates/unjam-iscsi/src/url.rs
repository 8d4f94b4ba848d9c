//! iSCSI URLs in libiscsi's form: `iscsi://[user[%password]@]host[:port]/target-iqn/lun`.
//!
//! Owns parsing and printing (with the password hidden); nothing here resolves names or
//! connects. A portal without a target (`iscsi://host[:port]`) is accepted by
//! [`PortalUrl::parse`] for discovery.

use std::fmt;

/// The well-known iSCSI port.
pub const DEFAULT_PORT: u16 = 3260;

/// What is wrong with a URL; each variant names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("URL must start with iscsi:// (got {0:?})")]
    Scheme(String),
    #[error("URL has no host")]
    MissingHost,
    #[error("port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
    #[error("URL has no target name: expected iscsi://host[:port]/target-iqn/lun")]
    MissingTarget,
    #[error("URL has no LUN: expected iscsi://host[:port]/target-iqn/lun")]
    MissingLun,
    #[error("LUN {0:?} is not a number from 0 to 16383")]
    BadLun(String),
    #[error("user name is empty before '%' or '@'")]
    EmptyUser,
    #[error("unexpected text after the LUN: {0:?}")]
    TrailingPath(String),
}

/// A portal: host and port, with optional CHAP credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// A logical unit: portal, target name and LUN.
#[derive(Clone, PartialEq, Eq)]
pub struct IscsiUrl {
    pub portal: PortalUrl,
    pub target: String,
    pub lun: u16,
}

impl PortalUrl {
    /// Parses `iscsi://[user[%password]@]host[:port][/]`.
    pub fn parse(text: &str) -> Result<PortalUrl, UrlError> {
        let (portal, rest) = split_portal(text)?;
        if !rest.is_empty() {
            return Err(UrlError::TrailingPath(rest.to_string()));
        }
        Ok(portal)
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl IscsiUrl {
    pub fn parse(text: &str) -> Result<IscsiUrl, UrlError> {
        let (portal, rest) = split_portal(text)?;
        let (target, lun_text) = match rest.rsplit_once('/') {
            Some((target, lun)) => (target, lun),
            None if rest.is_empty() => return Err(UrlError::MissingTarget),
            None => return Err(UrlError::MissingLun),
        };
        if target.is_empty() {
            return Err(UrlError::MissingTarget);
        }
        if target.contains('/') {
            return Err(UrlError::TrailingPath(lun_text.to_string()));
        }
        if lun_text.is_empty() {
            return Err(UrlError::MissingLun);
        }
        let lun = lun_text
            .parse::<u16>()
            .ok()
            .filter(|lun| *lun < 16384)
            .ok_or_else(|| UrlError::BadLun(lun_text.to_string()))?;
        Ok(IscsiUrl {
            portal,
            target: target.to_string(),
            lun,
        })
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

fn split_portal(text: &str) -> Result<(PortalUrl, &str), UrlError> {
    let rest = text
        .strip_prefix("iscsi://")
        .ok_or_else(|| UrlError::Scheme(text.chars().take(16).collect()))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, authority),
    };
    let (user, password) = match credentials {
        None => (None, None),
        Some(credentials) => {
            let (user, password) = match credentials.split_once('%') {
                Some((user, password)) => (user, Some(password.to_string())),
                None => (credentials, None),
            };
            if user.is_empty() {
                return Err(UrlError::EmptyUser);
            }
            (Some(user.to_string()), password)
        }
    };
    let (host, port) = split_host_port(host_port)?;
    let portal = PortalUrl {
        host,
        port,
        user,
        password,
    };
    Ok((portal, path.trim_end_matches('/')))
}

fn split_host_port(text: &str) -> Result<(String, u16), UrlError> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(UrlError::MissingHost)?;
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(port)?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(UrlError::BadPort(after.to_string())),
        };
        return non_empty(host).map(|host| (host, port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Ok((non_empty(host)?, parse_port(port)?)),
        None => Ok((non_empty(text)?, DEFAULT_PORT)),
    }
}

fn non_empty(host: &str) -> Result<String, UrlError> {
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    Ok(host.to_string())
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    text.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| UrlError::BadPort(text.to_string()))
}

impl fmt::Display for PortalUrl {
    /// Prints the URL with the password replaced by `***`.
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

impl fmt::Debug for PortalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for IscsiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.portal, self.target, self.lun)
    }
}

impl fmt::Debug for IscsiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_full_form() {
        let url = IscsiUrl::parse("iscsi://alice%s3cret@10.0.0.1:3261/iqn.2024-01.dev:disk/2");
        let url = url.unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(url.portal.host, "10.0.0.1");
        assert_eq!(url.portal.port, 3261);
        assert_eq!(url.portal.user.as_deref(), Some("alice"));
        assert_eq!(url.portal.password.as_deref(), Some("s3cret"));
        assert_eq!(url.target, "iqn.2024-01.dev:disk");
        assert_eq!(url.lun, 2);
        assert_eq!(
            url.to_string(),
            "iscsi://alice%***@10.0.0.1:3261/iqn.2024-01.dev:disk/2"
        );
    }

    #[test]
    fn default_port_and_ipv6() {
        let url = IscsiUrl::parse("iscsi://[::1]/iqn.x:y/0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (url.portal.host.as_str(), url.portal.port),
            ("::1", DEFAULT_PORT)
        );
        assert_eq!(url.portal.address(), "[::1]:3260");
        let portal = PortalUrl::parse("iscsi://host").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(portal.address(), "host:3260");
    }

    #[test]
    fn errors_name_the_faulty_part() {
        assert!(matches!(
            IscsiUrl::parse("http://h/t/0"),
            Err(UrlError::Scheme(_))
        ));
        assert_eq!(IscsiUrl::parse("iscsi:///t/0"), Err(UrlError::MissingHost));
        assert_eq!(
            IscsiUrl::parse("iscsi://h:99999/t/0"),
            Err(UrlError::BadPort("99999".into()))
        );
        assert_eq!(IscsiUrl::parse("iscsi://h"), Err(UrlError::MissingTarget));
        assert_eq!(
            IscsiUrl::parse("iscsi://h/iqn.x"),
            Err(UrlError::MissingLun)
        );
        assert_eq!(
            IscsiUrl::parse("iscsi://h/iqn.x/"),
            Err(UrlError::MissingLun)
        );
        assert_eq!(
            IscsiUrl::parse("iscsi://h/iqn.x/abc"),
            Err(UrlError::BadLun("abc".into()))
        );
        assert_eq!(
            IscsiUrl::parse("iscsi://%pw@h/t/0"),
            Err(UrlError::EmptyUser)
        );
    }

    #[test]
    fn lun_field_encoding() {
        assert_eq!(encode_lun(0), 0);
        assert_eq!(encode_lun(1), 0x0001_0000_0000_0000);
        assert_eq!(encode_lun(300), 0x412c_0000_0000_0000);
    }
}
