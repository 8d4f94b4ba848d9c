//! Reading a scenario: TOML text to [`Scenario`], with errors that name the file, the line
//! and the field, then `--set` overrides, then the cross-field checks.

use serde::Deserialize;
use thiserror::Error;

use super::overrides::{apply_override, OverrideError};
use super::Scenario;

/// The largest scenario file read (a bound on the parser's input).
pub const MAX_SCENARIO_BYTES: usize = 1 << 20;

/// Why a scenario could not be read.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum ScenarioError {
    /// Bad TOML or a bad field value: where it is and what is wrong.
    #[error("{source_name}{location}: {field}{message}")]
    Parse {
        source_name: String,
        location: String,
        field: String,
        message: String,
    },
    /// A `--set` that does not apply (transparent: the message is said once, not again as
    /// its own source).
    #[error(transparent)]
    Override(#[from] OverrideError),
    /// A value that is fine alone but not with the rest of the scenario.
    #[error("{source_name}{location}: `{field}`: {message}")]
    Invalid {
        source_name: String,
        location: String,
        field: String,
        message: String,
    },
    #[error("{source_name}: larger than {MAX_SCENARIO_BYTES} bytes")]
    TooLarge { source_name: String },
}

impl Scenario {
    /// Parses and checks a scenario. `source_name` (usually the file name) prefixes errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Scenario, ScenarioError> {
        Self::from_toml_with_overrides(text, source_name, &[])
    }

    /// Parses a scenario, applies `key=value` overrides in order, then checks it.
    pub fn from_toml_with_overrides(
        text: &str,
        source_name: &str,
        overrides: &[String],
    ) -> Result<Scenario, ScenarioError> {
        if text.len() > MAX_SCENARIO_BYTES {
            return Err(ScenarioError::TooLarge {
                source_name: source_name.to_string(),
            });
        }
        let scenario = parse_spanned(text, source_name)?;
        if overrides.is_empty() {
            scenario
                .check()
                .map_err(|(field, message)| invalid(text, source_name, field, message))?;
            return Ok(scenario);
        }
        let mut table: toml::Table =
            toml::from_str(text).map_err(|error| ScenarioError::Parse {
                source_name: source_name.to_string(),
                location: String::new(),
                field: String::new(),
                message: error.to_string(),
            })?;
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
            Scenario::deserialize(toml::Value::Table(table.clone())).map_err(|error| {
                OverrideError::Rejected {
                    assignment: assignment.clone(),
                    message: error.to_string().trim().to_string(),
                }
            })?;
        }
        let scenario = Scenario::deserialize(toml::Value::Table(table)).map_err(|error| {
            OverrideError::Rejected {
                assignment: overrides.join(" "),
                message: error.to_string().trim().to_string(),
            }
        })?;
        scenario
            .check()
            .map_err(|(field, message)| invalid(text, source_name, field, message))?;
        Ok(scenario)
    }
}

fn parse_spanned(text: &str, source_name: &str) -> Result<Scenario, ScenarioError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let location = inner
            .span()
            .map(|span| line_and_column(text, span.start))
            .map(|(line, column)| format!(":{line}:{column}"))
            .unwrap_or_default();
        let field = if path == "." || path.is_empty() {
            String::new()
        } else {
            format!("`{path}`: ")
        };
        ScenarioError::Parse {
            source_name: source_name.to_string(),
            location,
            field,
            message: inner.message().trim().to_string(),
        }
    })
}

/// 1-based line and column of byte `offset`.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn invalid(text: &str, source_name: &str, field: String, message: String) -> ScenarioError {
    let location = locate(text, &field)
        .map(|line| format!(":{line}"))
        .unwrap_or_default();
    ScenarioError::Invalid {
        source_name: source_name.to_string(),
        location,
        field,
        message,
    }
}

/// Finds the line of a field path such as `workload[1].io_bytes` or `eh.scope` in the text
/// (best effort: tables written as `[name]` / `[[name]]` headers, keys at line starts).
fn locate(text: &str, field: &str) -> Option<usize> {
    let (table, key) = match field.rsplit_once('.') {
        Some((table, key)) => (table, key),
        None => ("", field),
    };
    let (name, index) = match table.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()?),
        None => (table, 0),
    };
    let mut seen: Option<usize> = if name.is_empty() { Some(0) } else { None };
    let mut headers = 0;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let header = trimmed.trim_matches(|c| c == '[' || c == ']').trim();
            seen = None;
            if header == name {
                if headers == index {
                    seen = Some(number);
                }
                headers += 1;
            }
            continue;
        }
        if seen.is_some() && trimmed.split('=').next().map(str::trim) == Some(key) {
            return Some(number + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column("ab", 0), (1, 1));
    }

    #[test]
    fn locate_finds_keys_in_array_tables() {
        let text =
            "seed = 1\n[[workload]]\nio_bytes = 1\n[[workload]]\nread_percent = 5\nio_bytes = 3\n";
        assert_eq!(locate(text, "workload[1].io_bytes"), Some(6));
        assert_eq!(locate(text, "workload[0].io_bytes"), Some(3));
        assert_eq!(locate(text, "seed"), Some(1));
        assert_eq!(locate(text, "host[0].luns"), None);
    }

    #[test]
    fn console_line_us_defaults_by_policy_and_is_bounded() {
        let linux = Scenario::from_toml("policy = \"linux\"\n[[host]]\n", "t").unwrap();
        assert_eq!(linux.console_line_us(), super::super::LINUX_CONSOLE_LINE_US);
        let unjam = Scenario::from_toml("[[host]]\n", "t").unwrap();
        assert_eq!(unjam.console_line_us(), 0);
        let error = Scenario::from_toml("console_line_us = 5000000\n[[host]]\n", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("console_line_us"), "{error}");
    }
}
