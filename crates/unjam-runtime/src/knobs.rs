//! The initiator's tunables, named and defaulted as open-iscsi's `iscsid.conf` (and sd's
//! sysfs for the per-command ones), settable per run by name (`replacement_timeout=20`,
//! `node.session.timeo.replacement_timeout=20`, `noop_out_interval=0`).
//!
//! Owns the names, the defaults and the parsing of values; what each knob does is the
//! engine's (`engine/`) and the core's business.

use std::time::Duration;

use unjam_core::config::EhScopes;

/// Timeouts, queue depths and recovery settings of one initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// Connect plus the whole login exchange (`node.conn[0].timeo.login_timeout`, 15 s).
    pub login_timeout: Duration,
    /// Waiting for the Logout Response (`node.conn[0].timeo.logout_timeout`, 15 s).
    pub logout_timeout: Duration,
    /// Idle time before a NOP-Out ping; zero turns pings off
    /// (`node.conn[0].timeo.noop_out_interval`, 5 s). With a command waiting for the
    /// target, the ping goes after half of `noop_out_timeout` of silence if that is shorter.
    pub noop_out_interval: Duration,
    /// How long a ping may go unanswered before the connection counts as failed
    /// (`node.conn[0].timeo.noop_out_timeout`, 5 s); with a command waiting for the target,
    /// how long the connection may stay silent (nothing received) before it counts as failed.
    pub noop_out_timeout: Duration,
    /// How long a failed session may take to log in again before its commands fail fast
    /// (`node.session.timeo.replacement_timeout`, 120 s).
    pub replacement_timeout: Duration,
    /// ABORT TASK answer (`node.session.err_timeo.abort_timeout`, 15 s).
    pub abort_timeout: Duration,
    /// LOGICAL UNIT RESET answer (`node.session.err_timeo.lu_reset_timeout`, 30 s).
    pub lu_reset_timeout: Duration,
    /// TARGET WARM RESET answer (`node.session.err_timeo.tgt_reset_timeout`, 30 s).
    pub tgt_reset_timeout: Duration,
    /// Per-attempt command timeout (sd's `device/timeout`, 30 s).
    pub command_timeout: Duration,
    /// Timeout of the error handler's TEST UNIT READY / START UNIT / REQUEST SENSE (10 s).
    pub eh_timeout: Duration,
    /// Retries allowed per command (sd: 5).
    pub retries: i32,
    /// Commands in flight per LUN (`node.session.queue_depth`, 32).
    pub queue_depth: u32,
    /// Commands in flight per session (`node.session.cmds_max`, 128).
    pub cmds_max: u32,
    /// Where error recovery starts (`host` as the kernel; `lun`, `target`, `lun+target`).
    pub eh_scopes: EhScopes,
    /// Skip the kernel's 10 s settle after a host reset (`skip_settle_delay` of the host
    /// template; off, as for iscsi_tcp).
    pub skip_settle_delay: bool,
}

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs {
            login_timeout: Duration::from_secs(15),
            logout_timeout: Duration::from_secs(15),
            noop_out_interval: Duration::from_secs(5),
            noop_out_timeout: Duration::from_secs(5),
            replacement_timeout: Duration::from_secs(120),
            abort_timeout: Duration::from_secs(15),
            lu_reset_timeout: Duration::from_secs(30),
            tgt_reset_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(30),
            eh_timeout: Duration::from_secs(10),
            retries: 5,
            queue_depth: 32,
            cmds_max: 128,
            eh_scopes: EhScopes::HOST,
            skip_settle_delay: false,
        }
    }
}

/// A knob setting that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    #[error("{0:?} is not NAME=VALUE")]
    Syntax(String),
    #[error("unknown knob {0:?} (known: {known})", known = KNOB_NAMES.join(", "))]
    UnknownName(String),
    #[error("{name}: {value:?} is not {expected}")]
    BadValue {
        name: String,
        value: String,
        expected: &'static str,
    },
}

/// The short names; each also answers to its `iscsid.conf` name.
pub const KNOB_NAMES: [&str; 15] = [
    "login_timeout",
    "logout_timeout",
    "noop_out_interval",
    "noop_out_timeout",
    "replacement_timeout",
    "abort_timeout",
    "lu_reset_timeout",
    "tgt_reset_timeout",
    "command_timeout",
    "eh_timeout",
    "retries",
    "queue_depth",
    "cmds_max",
    "eh_scope",
    "skip_settle_delay",
];

/// Longest timeout a knob accepts (a day): larger values are typing mistakes.
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

impl Knobs {
    /// Applies `NAME=VALUE`. Times are seconds as in `iscsid.conf` (`20`, `0.5`) or carry a
    /// unit (`500ms`, `2s`, `1m`).
    pub fn set(&mut self, setting: &str) -> Result<(), KnobError> {
        let (name, value) = setting
            .split_once('=')
            .ok_or_else(|| KnobError::Syntax(setting.to_string()))?;
        let (name, value) = (name.trim(), value.trim());
        let short = short_name(name).ok_or_else(|| KnobError::UnknownName(name.to_string()))?;
        let bad = |expected| KnobError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
            expected,
        };
        let time = || parse_duration(value).ok_or_else(|| bad("a time such as 20, 0.5, 500ms"));
        let count = |max: u32| {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| bad("a count in range"))
        };
        match short {
            "login_timeout" => self.login_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?,
            "logout_timeout" => self.logout_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?,
            "noop_out_interval" => self.noop_out_interval = time()?,
            "noop_out_timeout" => {
                self.noop_out_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?
            }
            "replacement_timeout" => self.replacement_timeout = time()?,
            "abort_timeout" => self.abort_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?,
            "lu_reset_timeout" => {
                self.lu_reset_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?
            }
            "tgt_reset_timeout" => {
                self.tgt_reset_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?
            }
            "command_timeout" => {
                self.command_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?
            }
            "eh_timeout" => self.eh_timeout = nonzero(time()?).ok_or_else(|| bad("> 0"))?,
            "retries" => {
                self.retries = value
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (-1..=1000).contains(n))
                    .ok_or_else(|| bad("-1 (no limit) to 1000"))?
            }
            "queue_depth" => self.queue_depth = count(4096)?,
            "cmds_max" => self.cmds_max = count(4096)?,
            "eh_scope" => {
                self.eh_scopes =
                    EhScopes::parse(value).ok_or_else(|| bad("host, lun, target or lun+target"))?
            }
            "skip_settle_delay" => {
                self.skip_settle_delay = match value.to_ascii_lowercase().as_str() {
                    "1" | "yes" | "true" => true,
                    "0" | "no" | "false" => false,
                    _ => return Err(bad("0 or 1")),
                }
            }
            _ => return Err(KnobError::UnknownName(name.to_string())),
        }
        Ok(())
    }
}

fn nonzero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// The short name for a short or `iscsid.conf` name (`node.conn[0].timeo.noop_out_interval`).
fn short_name(name: &str) -> Option<&'static str> {
    let last = name.rsplit('.').next().unwrap_or(name);
    let prefixed = name.contains('.');
    let known = KNOB_NAMES.iter().copied().find(|known| *known == last)?;
    if !prefixed {
        return Some(known);
    }
    let expected_prefix = match known {
        "login_timeout" | "logout_timeout" | "noop_out_interval" | "noop_out_timeout" => {
            "node.conn[0].timeo."
        }
        "replacement_timeout" => "node.session.timeo.",
        "abort_timeout" | "lu_reset_timeout" | "tgt_reset_timeout" => "node.session.err_timeo.",
        "queue_depth" | "cmds_max" => "node.session.",
        _ => return None,
    };
    (name == format!("{expected_prefix}{known}")).then_some(known)
}

/// `20`, `0.5` (seconds), `500ms`, `2s`, `1m`; at most a day.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase();
    let (number, unit_s) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text.as_str(), 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let duration = Duration::try_from_secs_f64(value * unit_s).ok()?;
    (duration <= MAX_TIMEOUT).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_open_iscsi_s() {
        let knobs = Knobs::default();
        assert_eq!(knobs.replacement_timeout, Duration::from_secs(120));
        assert_eq!(knobs.noop_out_interval, Duration::from_secs(5));
        assert_eq!(knobs.noop_out_timeout, Duration::from_secs(5));
        assert_eq!(knobs.abort_timeout, Duration::from_secs(15));
        assert_eq!(knobs.lu_reset_timeout, Duration::from_secs(30));
        assert_eq!(knobs.tgt_reset_timeout, Duration::from_secs(30));
        assert_eq!(knobs.login_timeout, Duration::from_secs(15));
        assert_eq!((knobs.queue_depth, knobs.cmds_max), (32, 128));
    }

    #[test]
    fn knobs_are_set_by_short_and_iscsid_names() {
        let mut knobs = Knobs::default();
        knobs.set("replacement_timeout=20").unwrap();
        knobs
            .set("node.conn[0].timeo.noop_out_interval = 0")
            .unwrap();
        knobs
            .set("node.session.err_timeo.abort_timeout=500ms")
            .unwrap();
        knobs.set("eh_scope=lun").unwrap();
        knobs.set("retries=-1").unwrap();
        knobs.set("skip_settle_delay=1").unwrap();
        assert!(knobs.skip_settle_delay);
        assert_eq!(knobs.replacement_timeout, Duration::from_secs(20));
        assert!(knobs.noop_out_interval.is_zero());
        assert_eq!(knobs.abort_timeout, Duration::from_millis(500));
        assert_eq!(knobs.eh_scopes, EhScopes::LUN);
        assert_eq!(knobs.retries, -1);
    }

    #[test]
    fn bad_settings_name_what_is_wrong() {
        let mut knobs = Knobs::default();
        let unknown = knobs.set("colour=blue").unwrap_err().to_string();
        assert!(unknown.contains("unknown knob \"colour\""), "{unknown}");
        assert!(matches!(
            knobs.set("abort_timeout"),
            Err(KnobError::Syntax(_))
        ));
        let value = knobs.set("abort_timeout=soon").unwrap_err().to_string();
        assert!(value.contains("abort_timeout: \"soon\""), "{value}");
        assert!(knobs.set("abort_timeout=0").is_err());
        assert!(knobs.set("node.session.timeo.abort_timeout=1").is_err());
        assert!(knobs.set("queue_depth=0").is_err());
        assert!(knobs.set("login_timeout=9999999").is_err());
        assert_eq!(knobs, Knobs::default());
    }
}
