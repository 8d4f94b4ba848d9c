//! `[multipath]`: the paths that reach one logical unit (hosts with `mirror_of`) form one
//! multipath device, run by `unjam-multipath`; workloads with `multipath = true` target
//! those devices. The words are multipath.conf's.
//!
//! ```toml
//! [multipath]
//! path_grouping_policy = "failover"   # multibus | group_by_prio | group_by_tpg
//! path_selector = "service-time"      # round-robin | queue-length
//! failback = "immediate"              # manual | followover | seconds
//! no_path_retry = 12                  # fail | queue | checker intervals
//! polling_interval_ms = 5000
//! checker_timeout_ms = 30000
//! marginal = true                     # marginal-path detection
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use unjam_multipath::{Config, Failback, MarginalConfig, NoPathRetry, PathGrouping, Selector};

/// A setting that is a word or a number (`no_path_retry`, `failback`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WordOrNumber {
    Number(u64),
    Word(String),
}

impl WordOrNumber {
    fn text(&self) -> String {
        match self {
            WordOrNumber::Number(n) => n.to_string(),
            WordOrNumber::Word(w) => w.clone(),
        }
    }
}

/// `[multipath]`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultipathSettings {
    #[serde(default)]
    pub path_grouping_policy: PathGrouping,
    #[serde(default)]
    pub path_selector: Selector,
    #[serde(default = "default_rr_min_io")]
    pub rr_min_io: u32,
    #[serde(default = "default_failback")]
    pub failback: WordOrNumber,
    #[serde(default = "default_no_path_retry")]
    pub no_path_retry: WordOrNumber,
    #[serde(default = "default_polling_interval_ms")]
    pub polling_interval_ms: u64,
    #[serde(default = "default_checker_timeout_ms")]
    pub checker_timeout_ms: u64,
    #[serde(default = "yes")]
    pub marginal: bool,
    #[serde(default = "default_max_queued")]
    pub max_queued: usize,
}

impl Default for MultipathSettings {
    fn default() -> Self {
        MultipathSettings {
            path_grouping_policy: PathGrouping::default(),
            path_selector: Selector::default(),
            rr_min_io: default_rr_min_io(),
            failback: default_failback(),
            no_path_retry: default_no_path_retry(),
            polling_interval_ms: default_polling_interval_ms(),
            checker_timeout_ms: default_checker_timeout_ms(),
            marginal: true,
            max_queued: default_max_queued(),
        }
    }
}

impl MultipathSettings {
    /// The layer's configuration, or the field that is wrong and why.
    pub fn config(&self) -> Result<Config, (String, String)> {
        let field = |name: &str| format!("multipath.{name}");
        let failback = Failback::parse(&self.failback.text()).ok_or_else(|| {
            (
                field("failback"),
                "immediate, manual, followover or 1..=86400 seconds".to_string(),
            )
        })?;
        let no_path_retry = NoPathRetry::parse(&self.no_path_retry.text()).ok_or_else(|| {
            (
                field("no_path_retry"),
                "fail, queue or 1..=100000 checker intervals".to_string(),
            )
        })?;
        let config = Config {
            grouping: self.path_grouping_policy,
            selector: self.path_selector,
            rr_min_io: self.rr_min_io,
            failback,
            no_path_retry,
            polling_interval: Duration::from_millis(self.polling_interval_ms),
            checker_timeout: Duration::from_millis(self.checker_timeout_ms),
            marginal: self.marginal.then(MarginalConfig::default),
            max_queued: self.max_queued,
            ..Config::default()
        };
        config.validate().map_err(|e| match e {
            unjam_multipath::ConfigError::Invalid {
                field: name,
                message,
            } => (field(name), message.to_string()),
        })?;
        Ok(config)
    }

    /// The longest a request may wait for a path after the faults healed: the checker
    /// finds a path back within two polling intervals and a checker timeout.
    pub fn liveness_ms(&self) -> u64 {
        self.polling_interval_ms
            .saturating_mul(2)
            .saturating_add(self.checker_timeout_ms.saturating_mul(2))
    }
}

fn default_rr_min_io() -> u32 {
    1
}
fn default_failback() -> WordOrNumber {
    WordOrNumber::Word("immediate".into())
}
fn default_no_path_retry() -> WordOrNumber {
    WordOrNumber::Number(12)
}
fn default_polling_interval_ms() -> u64 {
    5000
}
fn default_checker_timeout_ms() -> u64 {
    30_000
}
fn default_max_queued() -> usize {
    4096
}
fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_numbers() {
        let settings: MultipathSettings =
            toml::from_str("no_path_retry = \"queue\"\nfailback = 10\npath_selector = \"round-robin\"\npath_grouping_policy = \"multibus\"").unwrap();
        let config = settings.config().unwrap();
        assert_eq!(config.no_path_retry, NoPathRetry::Queue);
        assert_eq!(config.failback, Failback::After(Duration::from_secs(10)));
        assert_eq!(config.selector, Selector::RoundRobin);
        assert_eq!(config.grouping, PathGrouping::Multibus);
        let bad: MultipathSettings = toml::from_str("no_path_retry = \"sometimes\"").unwrap();
        assert_eq!(bad.config().unwrap_err().0, "multipath.no_path_retry");
        let bad: MultipathSettings = toml::from_str("polling_interval_ms = 0").unwrap();
        assert_eq!(bad.config().unwrap_err().0, "multipath.polling_interval");
    }
}
