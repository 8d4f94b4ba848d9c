//! The URL grammar: scheme, user info, host and port, path (target and LUN), arguments, and
//! %-decoding. Produces the parts; the credential rules (environment, pairs) are in
//! `chap_env`.

use std::net::Ipv6Addr;

use crate::name::check_name;

use super::{DigestChoice, PortalUrl, UrlError, DEFAULT_PORT, MAX_URL_LUN};

/// A portal with the target name and LUN the path named, if any.
pub(super) fn parse_url(text: &str) -> Result<(PortalUrl, Option<String>, Option<u16>), UrlError> {
    let rest = text
        .strip_prefix("iscsi://")
        .ok_or_else(|| UrlError::Scheme(text.chars().take(16).collect()))?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (Some(user_info), host_port),
        None => (None, authority),
    };
    let (user, password) = parse_user_info(user_info)?;
    let (host, port) = split_host_port(host_port)?;
    let mut portal = PortalUrl {
        host,
        port,
        user,
        password,
        target_user: None,
        target_password: None,
        header_digest: None,
        data_digest: None,
    };
    if let Some(query) = query {
        parse_arguments(query, &mut portal)?;
    }
    let (target, lun) = parse_path(path)?;
    Ok((portal, target, lun))
}

/// `user[%password]`: the first '%' separates; both halves are then %-decoded.
fn parse_user_info(user_info: Option<&str>) -> Result<(Option<String>, Option<String>), UrlError> {
    let Some(user_info) = user_info else {
        return Ok((None, None));
    };
    let (user, password) = match user_info.split_once('%') {
        Some((user, password)) => (user, Some(password)),
        None => (user_info, None),
    };
    if user.is_empty() {
        return Err(UrlError::EmptyUser);
    }
    let user = percent_decode("user", user)?;
    let password = match password {
        Some(password) => Some(percent_decode("password", password)?),
        None => None,
    };
    Ok((Some(user), password.filter(|password| !password.is_empty())))
}

fn split_host_port(text: &str) -> Result<(String, u16), UrlError> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| UrlError::BadIpv6(bracketed.to_string()))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::BadIpv6(host.to_string()));
        }
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(port)?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(UrlError::BadPort(after.to_string())),
        };
        return Ok((host.to_string(), port));
    }
    if text.matches(':').count() > 1 {
        return Err(UrlError::Ipv6WithoutBrackets(text.to_string()));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, parse_port(port)?),
        None => (text, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    Ok((host.to_string(), port))
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    text.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| UrlError::BadPort(text.to_string()))
}

/// `[target-iqn[/lun]][/]`.
fn parse_path(path: &str) -> Result<(Option<String>, Option<u16>), UrlError> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok((None, None));
    }
    let (target, lun) = match path.split_once('/') {
        Some((target, lun)) => (target, Some(lun)),
        None => (path, None),
    };
    if target.is_empty() {
        return Err(UrlError::MissingTarget);
    }
    let target = percent_decode("target name", target)?;
    check_name("target name", &target)?;
    let Some(lun_text) = lun else {
        return Ok((Some(target), None));
    };
    if let Some((_, trailing)) = lun_text.split_once('/') {
        return Err(UrlError::TrailingPath {
            after: "LUN",
            text: trailing.to_string(),
        });
    }
    let lun = lun_text
        .parse::<u16>()
        .ok()
        .filter(|lun| *lun <= MAX_URL_LUN && lun_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| UrlError::BadLun(lun_text.to_string()))?;
    Ok((Some(target), Some(lun)))
}

/// `key=value[&key=value...]` into the portal; every key at most once.
fn parse_arguments(query: &str, portal: &mut PortalUrl) -> Result<(), UrlError> {
    let mut seen: Vec<&str> = Vec::new();
    for argument in query.split('&').filter(|argument| !argument.is_empty()) {
        let (key, value) = argument
            .split_once('=')
            .ok_or_else(|| UrlError::ArgumentWithoutValue(argument.to_string()))?;
        if seen.contains(&key) {
            return Err(UrlError::DuplicateArgument(key.to_string()));
        }
        seen.push(key);
        match key {
            "header_digest" => portal.header_digest = Some(parse_digest("header_digest", value)?),
            "data_digest" => portal.data_digest = Some(parse_digest("data_digest", value)?),
            "target_user" => portal.target_user = non_empty(percent_decode("target_user", value)?),
            "target_password" => {
                portal.target_password = non_empty(percent_decode("target_password", value)?)
            }
            _ => return Err(UrlError::UnknownArgument(key.to_string())),
        }
    }
    Ok(())
}

fn non_empty(text: String) -> Option<String> {
    Some(text).filter(|text| !text.is_empty())
}

fn parse_digest(key: &'static str, value: &str) -> Result<DigestChoice, UrlError> {
    match value.to_ascii_lowercase().as_str() {
        "none" => Ok(DigestChoice::None),
        "crc32c" => Ok(DigestChoice::Crc32c),
        "crc32c-none" => Ok(DigestChoice::Crc32cOrNone),
        "none-crc32c" => Ok(DigestChoice::NoneOrCrc32c),
        _ => Err(UrlError::BadDigest {
            key,
            value: value.to_string(),
        }),
    }
}

/// Replaces every `%XX` with the byte it names; the result must be UTF-8.
pub(super) fn percent_decode(part: &'static str, text: &str) -> Result<String, UrlError> {
    let bad = || UrlError::BadPercentEncoding {
        part,
        text: text.to_string(),
    };
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != b'%' {
            bytes.push(byte);
            rest = tail;
            continue;
        }
        let Some((&[high, low], tail)) = tail.split_first_chunk::<2>() else {
            return Err(bad());
        };
        let value = hex_value(high).zip(hex_value(low)).ok_or_else(bad)?;
        bytes.push(value.0 << 4 | value.1);
        rest = tail;
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}
