//! The per-LUN command and error-handler limits: `timeout_ms`, `eh_timeout_ms`, `retries`,
//! `allow_restart`, `max_medium_access_timeouts`. A `[[lun]]` table may set each; the
//! defaults come from `[command]` and `[eh]` (`allow_restart` and
//! `max_medium_access_timeouts` may sit in either, not in both with different values),
//! then from the host's personality and the kernel. Owns their resolution and their range
//! checks, not how the core uses them.

use super::{LunOverride, Scenario, MAX_DURATION_MS};
use crate::personality::Personality;

/// sd's default: two unexplained medium-access timeouts offline a disk.
pub const DEFAULT_MAX_MEDIUM_ACCESS_TIMEOUTS: u32 = 2;
/// The most retries a scenario may allow (-1 = no limit).
pub const MAX_RETRIES: i32 = 100;
/// The largest `max_medium_access_timeouts`.
pub const MAX_MEDIUM_ACCESS_TIMEOUTS: u32 = 1000;

/// One LUN's limits, resolved.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LunLimits {
    pub timeout_ms: u64,
    pub eh_timeout_ms: u64,
    /// Retries allowed; -1 = no limit.
    pub retries: i32,
    pub allow_restart: bool,
    pub max_medium_access_timeouts: u32,
}

type Check = Result<(), (String, String)>;

impl Scenario {
    /// The limits of a LUN of `personality` with the `[[lun]]` table `lun` (if any).
    pub fn lun_limits(&self, personality: Personality, lun: Option<&LunOverride>) -> LunLimits {
        let (command, eh) = (&self.command, &self.eh);
        LunLimits {
            timeout_ms: lun.and_then(|l| l.timeout_ms).unwrap_or(command.timeout_ms),
            eh_timeout_ms: lun
                .and_then(|l| l.eh_timeout_ms)
                .unwrap_or(eh.eh_timeout_ms),
            retries: lun.and_then(|l| l.retries).unwrap_or(command.retries),
            allow_restart: lun
                .and_then(|l| l.allow_restart)
                .or(command.allow_restart)
                .or(eh.allow_restart)
                .unwrap_or_else(|| personality.to_core().allow_restart()),
            max_medium_access_timeouts: lun
                .and_then(|l| l.max_medium_access_timeouts)
                .or(command.max_medium_access_timeouts)
                .or(eh.max_medium_access_timeouts)
                .unwrap_or(DEFAULT_MAX_MEDIUM_ACCESS_TIMEOUTS),
        }
    }

    /// The ranges of the defaults and of every `[[lun]]` table's limits.
    pub(super) fn check_limits(&self) -> Check {
        let (command, eh) = (&self.command, &self.eh);
        check_time("command.timeout_ms", command.timeout_ms)?;
        check_time("eh.eh_timeout_ms", eh.eh_timeout_ms)?;
        check_retries("command.retries", command.retries)?;
        for (table, value) in [
            ("command", command.max_medium_access_timeouts),
            ("eh", eh.max_medium_access_timeouts),
        ] {
            if let Some(value) = value {
                check_medium(&format!("{table}.max_medium_access_timeouts"), value)?;
            }
        }
        if let (Some(a), Some(b)) = (command.allow_restart, eh.allow_restart) {
            if a != b {
                return fail("eh.allow_restart", "differs from command.allow_restart");
            }
        }
        if let (Some(a), Some(b)) = (
            command.max_medium_access_timeouts,
            eh.max_medium_access_timeouts,
        ) {
            if a != b {
                return fail(
                    "eh.max_medium_access_timeouts",
                    "differs from command.max_medium_access_timeouts",
                );
            }
        }
        for (index, lun) in self.luns.iter().enumerate() {
            let field = |name: &str| format!("lun[{index}].{name}");
            if let Some(value) = lun.timeout_ms {
                check_time(&field("timeout_ms"), value)?;
            }
            if let Some(value) = lun.eh_timeout_ms {
                check_time(&field("eh_timeout_ms"), value)?;
            }
            if let Some(value) = lun.retries {
                check_retries(&field("retries"), value)?;
            }
            if let Some(value) = lun.max_medium_access_timeouts {
                check_medium(&field("max_medium_access_timeouts"), value)?;
            }
        }
        Ok(())
    }
}

fn fail(field: impl Into<String>, message: impl Into<String>) -> Check {
    Err((field.into(), message.into()))
}

fn check_time(field: &str, value_ms: u64) -> Check {
    if !(1..=MAX_DURATION_MS).contains(&value_ms) {
        return fail(field, format!("must lie in 1..={MAX_DURATION_MS}"));
    }
    Ok(())
}

fn check_retries(field: &str, value: i32) -> Check {
    if !(-1..=MAX_RETRIES).contains(&value) {
        return fail(
            field,
            format!("must lie in 0..={MAX_RETRIES}, or be -1 for no limit"),
        );
    }
    Ok(())
}

fn check_medium(field: &str, value: u32) -> Check {
    if value > MAX_MEDIUM_ACCESS_TIMEOUTS {
        return fail(field, format!("at most {MAX_MEDIUM_ACCESS_TIMEOUTS}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Scenario, String> {
        Scenario::from_toml(text, "t.toml").map_err(|e| e.to_string())
    }

    const HOSTS: &str = "[[host]]\npersonality = \"scsi_debug\"\ntargets = 1\nluns = 2\n";

    #[test]
    fn a_lun_table_overrides_the_defaults_and_the_personality() {
        let text = format!(
            "[command]\ntimeout_ms = 30000\nretries = 5\n[eh]\neh_timeout_ms = 10000\n{HOSTS}\
             [[lun]]\nid = \"0:0:0:0\"\ntimeout_ms = 3000\neh_timeout_ms = 2000\nretries = -1\n\
             allow_restart = true\nmax_medium_access_timeouts = 3\n"
        );
        let scenario = load(&text).unwrap();
        let sick = scenario.lun_limits(Personality::ScsiDebug, scenario.luns.first());
        assert_eq!(
            sick,
            LunLimits {
                timeout_ms: 3000,
                eh_timeout_ms: 2000,
                retries: -1,
                allow_restart: true,
                max_medium_access_timeouts: 3,
            }
        );
        let other = scenario.lun_limits(Personality::ScsiDebug, None);
        assert_eq!(
            other,
            LunLimits {
                timeout_ms: 30000,
                eh_timeout_ms: 10000,
                retries: 5,
                allow_restart: false,
                max_medium_access_timeouts: 2,
            },
            "scsi_debug's disks have allow_restart off"
        );
        assert!(
            scenario
                .lun_limits(Personality::Mpt3sas, None)
                .allow_restart
        );
    }

    #[test]
    fn defaults_may_sit_in_command_or_eh() {
        let text = format!("[eh]\nallow_restart = true\nmax_medium_access_timeouts = 4\n{HOSTS}");
        let scenario = load(&text).unwrap();
        let limits = scenario.lun_limits(Personality::ScsiDebug, None);
        assert!(limits.allow_restart);
        assert_eq!(limits.max_medium_access_timeouts, 4);
        let both = format!("[command]\nallow_restart = false\n[eh]\nallow_restart = true\n{HOSTS}");
        let error = load(&both).unwrap_err();
        assert!(error.contains("`eh.allow_restart`"), "{error}");
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let text = format!("{HOSTS}[[lun]]\nid = \"0:0:0:1\"\nretries = -2\n");
        let error = load(&text).unwrap_err();
        assert_eq!(
            error,
            "t.toml:7: `lun[0].retries`: must lie in 0..=100, or be -1 for no limit"
        );
        let zero = format!("{HOSTS}[[lun]]\nid = \"0:0:0:1\"\ntimeout_ms = 0\n");
        assert!(load(&zero)
            .unwrap_err()
            .contains("t.toml:7: `lun[0].timeout_ms`"));
        let typo = format!("{HOSTS}[[lun]]\nid = \"0:0:0:1\"\nallow_restart = 1\n");
        let error = load(&typo).unwrap_err();
        assert!(error.starts_with("t.toml:7:"), "{error}");
        assert!(error.contains("`lun[0].allow_restart`"), "{error}");
    }
}
