//! One logical unit over several iSCSI sessions: [`Initiator::open_paths`] logs in to every
//! URL (one session, one core host each), probes each LUN, and hands the paths to
//! `unjam-multipath`'s layer in the engine (`engine::mpath`), which identifies them (VPD
//! 83h designator, 80h serial as fallback) and groups them; the [`Disk`] it returns
//! behaves like a single-path disk while I/O fails over between paths.
//!
//! ```text
//!  URLs ─► (SendTargets: every portal of the target, [`portal_paths`]) ─► one session each
//!       ─► probe ─► Multipath::add_path ─► identities equal? ─► Disk (mpath) : error naming both
//! ```
//!
//! Settings are multipath.conf's ([`MultipathConfig`], [`set_multipath`]).

use std::time::Duration;

use unjam_iscsi::client::{open_session, random_isid};
use unjam_iscsi::url::{IscsiUrl, PortalUrl};
pub use unjam_multipath::{
    Config as MultipathConfig, DeviceView, Failback, MpathId, NoPathRetry, PathGrouping, PathView,
    Selector,
};

use crate::disk::Disk;
use crate::engine::{self, LoggedIn, Observer};
use crate::initiator::{client_config, discover, Initiator, InitiatorConfig, InitiatorError};
use crate::knobs::{parse_duration, KnobError};
use crate::probe::LunInfo;

/// The most paths one `open_paths` takes (the layer's bound per device).
pub const MAX_PATHS: usize = unjam_multipath::config::MAX_PATHS_PER_DEVICE;

/// The multipath settings `--set` knows, by multipath.conf's names.
pub const MULTIPATH_KNOB_NAMES: &[&str] = &[
    "path_grouping_policy",
    "path_selector",
    "rr_min_io",
    "failback",
    "no_path_retry",
    "polling_interval",
    "checker_timeout",
    "marginal_path",
    "max_queued",
];

/// A URL given for the device that could not be logged in to (the device runs without it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPath {
    pub url: String,
    pub error: String,
}

/// One path of an open multipath device: its URL and what the probe found.
#[derive(Debug, Clone)]
pub struct PathLun {
    pub url: IscsiUrl,
    pub lun: LunInfo,
}

/// Applies one `NAME=VALUE` multipath setting; `Ok(false)` when `NAME` is not one of
/// [`MULTIPATH_KNOB_NAMES`] (an initiator knob, then).
pub fn set_multipath(config: &mut MultipathConfig, setting: &str) -> Result<bool, KnobError> {
    let Some((name, value)) = setting.split_once('=') else {
        return Ok(false);
    };
    let (name, value) = (name.trim(), value.trim());
    if !MULTIPATH_KNOB_NAMES.contains(&name) {
        return Ok(false);
    }
    let bad = |expected: &'static str| KnobError::BadValue {
        name: name.to_string(),
        value: value.to_string(),
        expected,
    };
    let time = || {
        parse_duration(value)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| bad("a time above 0 such as 5, 0.5, 500ms"))
    };
    match name {
        "path_grouping_policy" => {
            config.grouping = match value {
                "failover" => PathGrouping::Failover,
                "multibus" => PathGrouping::Multibus,
                "group_by_prio" => PathGrouping::GroupByPrio,
                "group_by_tpg" => PathGrouping::GroupByTpg,
                _ => return Err(bad("failover, multibus, group_by_prio or group_by_tpg")),
            }
        }
        "path_selector" => {
            // multipath.conf writes `"service-time 0"`: the number is ignored.
            config.selector = match value.split_whitespace().next().unwrap_or("") {
                "round-robin" => Selector::RoundRobin,
                "queue-length" => Selector::QueueLength,
                "service-time" => Selector::ServiceTime,
                _ => return Err(bad("round-robin, queue-length or service-time")),
            }
        }
        "rr_min_io" => {
            config.rr_min_io = value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| bad("1..=1000000"))?
        }
        "failback" => {
            config.failback = Failback::parse(value)
                .ok_or_else(|| bad("immediate, manual, followover or 1..=86400 seconds"))?
        }
        "no_path_retry" => {
            config.no_path_retry = NoPathRetry::parse(value)
                .ok_or_else(|| bad("fail, queue or 1..=100000 checker intervals"))?
        }
        "polling_interval" => config.polling_interval = time()?,
        "checker_timeout" => config.checker_timeout = time()?,
        "marginal_path" => {
            config.marginal = match value {
                "on" | "yes" | "true" | "1" => Some(unjam_multipath::MarginalConfig::default()),
                "off" | "no" | "false" | "0" => None,
                _ => return Err(bad("on or off")),
            }
        }
        "max_queued" => {
            config.max_queued = value
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1 << 20).contains(n))
                .ok_or_else(|| bad("1..=1048576"))?
        }
        _ => return Ok(false),
    }
    config
        .validate()
        .map_err(|_| bad("a value the other settings allow"))?;
    Ok(true)
}

/// Every portal SendTargets lists for the URL's target, as URLs of the same LUN (the
/// URL's own portal first; credentials and digests carried over). When discovery fails
/// or lists nothing for the target, the URL alone.
pub async fn portal_paths(url: &IscsiUrl, config: &InitiatorConfig) -> Vec<IscsiUrl> {
    let mut paths = vec![url.clone()];
    let Ok(targets) = discover(&url.portal, config).await else {
        return paths;
    };
    let addresses = targets
        .iter()
        .filter(|target| target.name == url.target)
        .flat_map(|target| target.addresses.iter());
    for address in addresses {
        let Some((host, port)) = parse_target_address(address) else {
            continue;
        };
        let portal = PortalUrl {
            host,
            port,
            ..url.portal.clone()
        };
        let candidate = IscsiUrl {
            portal,
            target: url.target.clone(),
            lun: url.lun,
        };
        if paths.len() < MAX_PATHS && !paths.iter().any(|p| same_path(p, &candidate)) {
            paths.push(candidate);
        }
    }
    paths
}

fn same_path(a: &IscsiUrl, b: &IscsiUrl) -> bool {
    a.portal.host == b.portal.host
        && a.portal.port == b.portal.port
        && a.target == b.target
        && a.lun == b.lun
}

/// `host[:port][,tag]`, `[v6][:port][,tag]` (RFC 7143 TargetAddress) → host and port.
fn parse_target_address(text: &str) -> Option<(String, u16)> {
    let address = text.rsplit_once(',').map_or(text, |(address, _)| address);
    let address = address.trim();
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => 3260,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match address.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host.to_string(), port.parse().ok()?)),
        Some(_) => Some((address.to_string(), 3260)),
        None if address.is_empty() => None,
        None => Some((address.to_string(), 3260)),
    }
}

impl Initiator {
    /// Opens one logical unit over several paths: a session per URL (URLs whose login
    /// fails are left out, see [`Initiator::missing_paths`], as long as one logs in), the
    /// probe of each LUN, then the multipath layer's identification. URLs whose logical
    /// units differ are an error naming both identities.
    pub async fn open_paths(
        urls: &[IscsiUrl],
        config: InitiatorConfig,
        mpath: MultipathConfig,
    ) -> Result<(Initiator, Disk), InitiatorError> {
        if urls.is_empty() || urls.len() > MAX_PATHS {
            return Err(InitiatorError::Engine(format!(
                "a multipath device takes 1 to {MAX_PATHS} URLs, not {}",
                urls.len()
            )));
        }
        mpath
            .validate()
            .map_err(|error| InitiatorError::Engine(format!("multipath settings: {error}")))?;
        let client = client_config(&config);
        let mut sessions = Vec::with_capacity(urls.len());
        let mut logged_in = Vec::with_capacity(urls.len());
        let mut missing = Vec::new();
        let mut only_error = None;
        for url in urls {
            let target = url.target_url();
            let isid = random_isid();
            match open_session(&target, &client, isid).await {
                Ok((connection, outcome)) => {
                    logged_in.push((url.clone(), outcome.params));
                    sessions.push(LoggedIn {
                        target,
                        config: client.clone(),
                        isid,
                        connection,
                        outcome,
                    });
                }
                Err(error) => {
                    tracing::warn!(url = %url, %error, "path left out: login failed");
                    missing.push(MissingPath {
                        url: url.to_string(),
                        error: error.to_string(),
                    });
                    only_error = Some(InitiatorError::Login {
                        target: target.to_string(),
                        error,
                    });
                }
            }
        }
        if sessions.is_empty() {
            return Err(no_path_logged_in(only_error, &missing));
        }
        let observer = Observer::new(config.trace, config.kernel_log, config.eh_logging);
        let engine = engine::start(config.knobs, sessions, observer);
        let mut initiator = Initiator::from_engine(engine, &logged_in);
        initiator.missing_paths = missing;
        match initiator.group_paths(&logged_in, mpath).await {
            Ok(disk) => Ok((initiator, disk)),
            Err(error) => {
                initiator.logout().await;
                Err(error)
            }
        }
    }

    /// Probes the LUN of each logged-in path and makes them one multipath device.
    async fn group_paths(
        &mut self,
        urls: &[(IscsiUrl, unjam_iscsi::params::OperationalParams)],
        mpath: MultipathConfig,
    ) -> Result<Disk, InitiatorError> {
        let mut paths = Vec::with_capacity(urls.len());
        for (index, (url, _)) in urls.iter().enumerate() {
            self.add_lun(index, url.lun).await?;
            let lun = self
                .luns()
                .last()
                .cloned()
                .ok_or_else(|| InitiatorError::Engine("the probe kept no LUN".to_string()))?;
            paths.push(PathLun {
                url: url.clone(),
                lun,
            });
        }
        let devices = paths.iter().map(|p| p.lun.device).collect();
        let found = self
            .engine()
            .mpath_start(devices, mpath)
            .await
            .map_err(InitiatorError::Engine)?;
        let url_of = |device| {
            paths
                .iter()
                .find(|p| p.lun.device == device)
                .map_or_else(String::new, |p| p.url.to_string())
        };
        let mut first: Option<(&engine::PathIdentity, String)> = None;
        for path in &found {
            let identity = path.identity.as_ref().map_err(|reason| {
                InitiatorError::Paths(format!(
                    "{}: the logical unit has no identity for multipath (VPD 83h designator or 80h serial): {reason}",
                    url_of(path.device)
                ))
            })?;
            match &first {
                None => first = Some((path, identity.clone())),
                Some((one, one_identity)) if one.mpath != path.mpath => {
                    return Err(InitiatorError::Paths(format!(
                        "the URLs name different logical units: {} is {one_identity}, {} is {identity}",
                        url_of(one.device),
                        url_of(path.device)
                    )));
                }
                Some(_) => {}
            }
        }
        let (Some((path, _)), Some(head)) = (first, paths.first()) else {
            return Err(InitiatorError::Engine("no path".to_string()));
        };
        let Some(id) = path.mpath else {
            return Err(InitiatorError::Engine("no multipath device".to_string()));
        };
        self.paths = paths.clone();
        Ok(Disk::multipath(self.engine().clone(), head.lun.clone(), id))
    }

    /// The paths of the multipath device opened with [`Initiator::open_paths`], in URL
    /// order.
    pub fn paths(&self) -> &[PathLun] {
        &self.paths
    }

    /// URLs of [`Initiator::open_paths`] whose login failed.
    pub fn missing_paths(&self) -> &[MissingPath] {
        &self.missing_paths
    }
}

/// Every path failed to log in: one URL's login error as it is, several URLs' each named.
fn no_path_logged_in(last: Option<InitiatorError>, missing: &[MissingPath]) -> InitiatorError {
    match (last, missing) {
        (Some(error), [_]) => error,
        _ => {
            let each: Vec<String> = missing
                .iter()
                .map(|path| format!("{}: {}", path.url, path.error))
                .collect();
            InitiatorError::Paths(format!(
                "cannot log in on any of the {} paths: {}",
                missing.len(),
                each.join("; ")
            ))
        }
    }
}

/// How long [`Initiator::open_paths`] may wait at most for identification, given the
/// settings (for callers that bound the whole open).
pub fn identification_bound(config: &MultipathConfig) -> Duration {
    config.checker_timeout.saturating_mul(12) + Duration::from_secs(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_addresses_parse() {
        assert_eq!(
            parse_target_address("127.0.0.1:3261,2"),
            Some(("127.0.0.1".into(), 3261))
        );
        assert_eq!(
            parse_target_address("[::1]:3262,1"),
            Some(("::1".into(), 3262))
        );
        assert_eq!(parse_target_address("[::1],1"), Some(("::1".into(), 3260)));
        assert_eq!(parse_target_address("host"), Some(("host".into(), 3260)));
        assert_eq!(parse_target_address("host:x,1"), None);
        assert_eq!(parse_target_address(",1"), None);
    }

    #[test]
    fn multipath_settings_by_name() {
        let mut config = MultipathConfig::default();
        assert_eq!(
            set_multipath(&mut config, "replacement_timeout=5"),
            Ok(false)
        );
        assert_eq!(
            set_multipath(&mut config, "path_grouping_policy=multibus"),
            Ok(true)
        );
        assert_eq!(config.grouping, PathGrouping::Multibus);
        assert_eq!(
            set_multipath(&mut config, "path_selector=service-time 0"),
            Ok(true)
        );
        assert_eq!(set_multipath(&mut config, "no_path_retry=2"), Ok(true));
        assert_eq!(config.no_path_retry, NoPathRetry::Intervals(2));
        assert_eq!(
            set_multipath(&mut config, "polling_interval=500ms"),
            Ok(true)
        );
        assert_eq!(config.polling_interval, Duration::from_millis(500));
        assert!(set_multipath(&mut config, "failback=sometimes").is_err());
        assert!(set_multipath(&mut config, "polling_interval=0").is_err());
    }
}
