//! `--set key=value`: changes one field of a parsed scenario before it is checked. Keys are
//! dotted paths (`eh.scope`, `host.0.personality`, `workload[1].read_percent`); values are
//! TOML (`5`, `true`, `"x"`, `{ model = "fixed", us = 50 }`) or, failing that, a bare string.

use thiserror::Error;
use toml::{Table, Value};

/// The deepest key path accepted.
const MAX_KEY_DEPTH: usize = 8;

/// Why an override could not be applied.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum OverrideError {
    #[error("--set `{0}`: expected KEY=VALUE, e.g. eh.scope=lun")]
    Syntax(String),
    #[error("--set `{assignment}`: {message}")]
    Path { assignment: String, message: String },
    #[error("--set `{assignment}`: {message}")]
    Rejected { assignment: String, message: String },
}

/// Applies one `key=value` assignment to the scenario's TOML table.
pub fn apply_override(table: &mut Table, assignment: &str) -> Result<(), OverrideError> {
    let (key, value) = assignment
        .split_once('=')
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| OverrideError::Syntax(assignment.to_string()))?;
    let segments = split_key(key);
    let path_error = |message: String| OverrideError::Path {
        assignment: assignment.to_string(),
        message,
    };
    if segments.len() > MAX_KEY_DEPTH || segments.iter().any(|s| s.is_empty()) {
        return Err(path_error(format!("`{key}` is not a key path")));
    }
    let (last, parents) = segments
        .split_last()
        .ok_or_else(|| path_error(format!("`{key}` is not a key path")))?;
    let mut current: &mut Table = table;
    let mut walked = String::new();
    for (position, segment) in parents.iter().enumerate() {
        walked = join(&walked, segment);
        let slot = current
            .entry(segment.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match slot {
            Value::Table(inner) => inner,
            Value::Array(items) => {
                return descend_array(items, &segments[position + 1..], value, key, assignment);
            }
            _ => return Err(path_error(format!("`{walked}` is a value, not a table"))),
        };
    }
    current.insert(last.to_string(), parse_value(value).map_err(path_error)?);
    Ok(())
}

/// Continues a path that entered an array of tables: the next segment is an index.
fn descend_array(
    items: &mut [Value],
    rest: &[&str],
    value: &str,
    key: &str,
    assignment: &str,
) -> Result<(), OverrideError> {
    let path_error = |message: String| OverrideError::Path {
        assignment: assignment.to_string(),
        message,
    };
    let (index_text, rest) = rest
        .split_first()
        .ok_or_else(|| path_error(format!("`{key}` names a whole array")))?;
    let index: usize = index_text
        .parse()
        .map_err(|_| path_error(format!("`{index_text}` in `{key}` is not an array index")))?;
    let count = items.len();
    let item = items.get_mut(index).ok_or_else(|| {
        path_error(format!(
            "index {index} in `{key}` is past the {count} table(s) written"
        ))
    })?;
    let Value::Table(inner) = item else {
        return Err(path_error(format!("`{key}` does not lead to a table")));
    };
    if rest.is_empty() {
        return Err(path_error(format!("`{key}` names a whole table")));
    }
    let nested = format!("{}={value}", rest.join("."));
    apply_override(inner, &nested).map_err(|error| match error {
        OverrideError::Path { message, .. } => path_error(message),
        other => other,
    })
}

/// `host[0].latency.us` and `host.0.latency.us` both split into `host 0 latency us`.
fn split_key(key: &str) -> Vec<&str> {
    key.split(['.', '[', ']'])
        .filter(|segment| !segment.is_empty())
        .collect()
}

fn join(walked: &str, segment: &str) -> String {
    if walked.is_empty() {
        segment.to_string()
    } else {
        format!("{walked}.{segment}")
    }
}

/// A TOML value, or the text itself as a string. A number TOML cannot hold (its integers
/// are 64-bit signed) is an error here: as a string it would be refused later as "invalid
/// type: string", which does not say what is wrong.
fn parse_value(text: &str) -> Result<Value, String> {
    if let Some(value) = toml::from_str::<Table>(&format!("value = {text}"))
        .ok()
        .and_then(|mut table| table.remove("value"))
    {
        return Ok(value);
    }
    if looks_like_integer(text) {
        return Err(format!(
            "`{text}` is out of range: TOML integers lie in {}..={}",
            i64::MIN,
            i64::MAX
        ));
    }
    Ok(Value::String(text.to_string()))
}

/// A sign, then digits (TOML allows `_` between them): what only a TOML integer too large
/// for it would fail to parse as.
fn looks_like_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn sets_nested_and_array_fields() {
        let mut scenario = table("seed = 1\n[[host]]\nluns = 2\n[[host]]\nluns = 3\n");
        apply_override(&mut scenario, "eh.scope=lun").unwrap();
        apply_override(&mut scenario, "seed = 9").unwrap();
        apply_override(&mut scenario, "host.1.personality=smartpqi").unwrap();
        apply_override(
            &mut scenario,
            "host[0].latency={ model = \"fixed\", us = 5 }",
        )
        .unwrap();
        assert_eq!(scenario["eh"]["scope"].as_str(), Some("lun"));
        assert_eq!(scenario["seed"].as_integer(), Some(9));
        assert_eq!(
            scenario["host"][1]["personality"].as_str(),
            Some("smartpqi")
        );
        assert_eq!(scenario["host"][0]["latency"]["us"].as_integer(), Some(5));
    }

    #[test]
    fn bad_paths_are_explained() {
        let mut scenario = table("seed = 1\n[[host]]\nluns = 2\n");
        let error = apply_override(&mut scenario, "eh.scope").unwrap_err();
        assert!(error.to_string().contains("expected KEY=VALUE"), "{error}");
        let error = apply_override(&mut scenario, "host.3.luns=1").unwrap_err();
        assert!(error.to_string().contains("index 3"), "{error}");
        let error = apply_override(&mut scenario, "seed.x=1").unwrap_err();
        assert!(error.to_string().contains("`seed` is a value"), "{error}");
        let error = apply_override(&mut scenario, "host.x.luns=1").unwrap_err();
        assert!(error.to_string().contains("not an array index"), "{error}");
        for too_large in [
            "18446744073709551615",
            "-9223372036854775809",
            &"9".repeat(60),
        ] {
            let error = apply_override(&mut scenario, &format!("seed={too_large}")).unwrap_err();
            assert!(error.to_string().contains("out of range"), "{error}");
        }
        // Text that is not a number stays a string (the scenario's types judge it).
        apply_override(&mut scenario, "name=12ab").unwrap();
        assert_eq!(scenario["name"].as_str(), Some("12ab"));
    }
}
