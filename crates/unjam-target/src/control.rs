//! The control socket: a Unix stream socket with a line protocol, so a test can add, list and
//! clear faults while the target runs (`unjam target-ctl` is a thin client of it).
//!
//! ```text
//!  > fault add kind=timeout device=0:0:0:0 commands=reads times=1
//!  < ok 1
//!  > fault list
//!  < 1 added fired=0 commands="reads" device="0:0:0:0" kind="timeout" times=1
//!  < ok 1
//!  > fault clear 1            (or: fault clear, fault clear all)
//!  < ok 1
//!  > status
//!  < connections=2 logins=2 commands=912 aborts=1 task_set_aborts=0 lun_resets=0
//!    target_resets=0 tmf_failed=0 portals=127.0.0.1:3260/up   (one line)
//!  < ok
//! ```
//!
//! Every request is one line; the answer is zero or more lines and a last line `ok …` or
//! `error MESSAGE`. `fault add` takes the fields of a `[[fault]]` table as `key=value`
//! (values are TOML; a bare word is a string; quote values with spaces) and validates them
//! exactly like a scenario file. Owns parsing and answering; the faults are `faults`'.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::debug;
use unjam_sim::fault::FaultSpec;

use crate::registry::Control;
use crate::server::Shared;

/// The longest request line accepted.
pub const MAX_LINE_BYTES: usize = 4096;
/// Control clients served at once.
pub const MAX_CLIENTS: usize = 16;

/// Binds the socket at `path` (a stale socket file from an earlier run is replaced).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    UnixListener::bind(path)
}

/// Serves control clients until shutdown, then removes the socket file.
pub async fn serve(shared: Arc<Shared>, listener: UnixListener, path: PathBuf) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut clients = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if clients.len() >= MAX_CLIENTS {
                    continue;
                }
                clients.spawn(client(Arc::clone(&shared), stream));
            }
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    clients.abort_all();
    let _ = std::fs::remove_file(&path);
}

async fn client(shared: Arc<Shared>, stream: UnixStream) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_line(&mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let answer = if line.len() > MAX_LINE_BYTES {
            format!("error line longer than {MAX_LINE_BYTES} bytes\n")
        } else {
            handle(&shared, line.trim())
        };
        if writer.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Answers one request line.
pub fn handle(shared: &Shared, line: &str) -> String {
    let words = match split_words(line) {
        Ok(words) => words,
        Err(error) => return format!("error {error}\n"),
    };
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let answer = match words.as_slice() {
        ["fault", "add", fields @ ..] => add(shared, fields),
        ["fault", "list"] => Ok(list(shared)),
        ["fault", "clear"] | ["fault", "clear", "all"] => Ok(clear(shared, None)),
        ["fault", "clear", id] => match id.parse() {
            Ok(id) => Ok(clear(shared, Some(id))),
            Err(_) => Err(format!("`{id}` is not a fault id")),
        },
        ["status"] => Ok(status(shared)),
        [] => Err("empty request".to_string()),
        _ => Err(format!(
            "unknown request `{line}`; expected fault add KEY=VALUE..., fault list, \
             fault clear [ID|all], status"
        )),
    };
    match answer {
        Ok(text) => text,
        Err(error) => format!("error {}\n", error.replace('\n', " ")),
    }
}

fn add(shared: &Shared, fields: &[&str]) -> Result<String, String> {
    let spec = parse_fault(fields)?;
    let now = shared.clock.now_us();
    let id = shared
        .engine()
        .faults_mut()
        .add(&spec, now)
        .map_err(|e| e.to_string())?;
    shared.faults_changed.notify_one();
    // Connections apply a fault that is in force now before "ok" goes back (the timeline
    // task would do it too, but later): a client that acts on "ok" meets the fault.
    shared
        .registry()
        .broadcast(Control::Reevaluate, |_, _| true);
    debug!(id, "fault added");
    Ok(format!("ok {id}\n"))
}

/// `key=value` words into a validated fault.
pub fn parse_fault(fields: &[&str]) -> Result<FaultSpec, String> {
    if fields.is_empty() {
        return Err("fault add needs KEY=VALUE fields, e.g. kind=timeout".into());
    }
    let mut table = toml::Table::new();
    for field in fields {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("`{field}` is not KEY=VALUE"))?;
        table.insert(key.to_string(), value_of(value));
    }
    toml::Value::Table(table)
        .try_into::<FaultSpec>()
        .map_err(|e| e.to_string().trim().to_string())
}

/// A TOML value (`1`, `0.5`, `true`, `"a b"`), or the text itself as a string.
fn value_of(text: &str) -> toml::Value {
    let parsed: Result<toml::Table, _> = format!("v = {text}").parse();
    parsed
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn list(shared: &Shared) -> String {
    let listed = shared.engine().faults().list();
    let mut out = String::new();
    for fault in &listed {
        out.push_str(&format!(
            "{} {} fired={} {}\n",
            fault.id, fault.source, fault.fired, fault.text
        ));
    }
    out.push_str(&format!("ok {}\n", listed.len()));
    out
}

fn clear(shared: &Shared, id: Option<u32>) -> String {
    let removed = shared.engine().faults_mut().clear(id);
    shared.faults_changed.notify_one();
    shared
        .registry()
        .broadcast(Control::Reevaluate, |_, _| true);
    format!("ok {removed}\n")
}

fn status(shared: &Shared) -> String {
    let connections = shared.registry().connection_count();
    let now = shared.clock.now_us();
    let portals: Vec<String> = shared
        .bound
        .iter()
        .zip(&shared.portal_up)
        .enumerate()
        .map(|(index, (address, up))| {
            let silent = shared.engine().faults().portal_window(now, index).silent;
            let state = match (*up.borrow(), silent) {
                (false, _) => "down",
                (true, true) => "silent",
                (true, false) => "up",
            };
            format!("{address}/{state}")
        })
        .collect();
    let stats = shared.engine().stats();
    format!(
        "connections={connections} logins={} commands={} aborts={} task_set_aborts={} \
         lun_resets={} target_resets={} tmf_failed={} portals={}\nok\n",
        stats.logins,
        stats.commands,
        stats.aborts,
        stats.task_set_aborts,
        stats.lun_resets,
        stats.target_resets,
        stats.tmf_failed,
        portals.join(",")
    )
}

/// Splits a line into words; double quotes group words with spaces (kept in the word, so
/// the value stays a TOML string).
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("unbalanced quote".into());
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unjam_sim::fault::{CommandMatch, FaultAction, WireAction};

    #[test]
    fn fields_parse_like_a_scenario_table() {
        let words =
            split_words(r#"kind=fail sense_key=medium_error asc=17 times=1 sense_key2="a b""#);
        assert_eq!(words.as_ref().map(Vec::len), Ok(5));
        let spec = parse_fault(&[
            "kind=timeout",
            "device=0:0:0:1",
            "commands=reads",
            "times=2",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.rule.action, FaultAction::Timeout);
        assert_eq!(spec.rule.commands, CommandMatch::Reads);
        let wire = parse_fault(&["kind=portal_down", "portal=1", "duration_ms=500"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            wire.rule.action,
            FaultAction::Wire {
                action: WireAction::PortalDown,
                portal: Some(1)
            }
        ));
        let raw =
            parse_fault(&["kind=fail", r#"sense="70 00 03 00""#]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(raw.rule.action, FaultAction::Fail { .. }));
        let error = parse_fault(&["kind=timeout", "extra_us=5"]).unwrap_err();
        assert!(error.contains("`extra_us` does not apply"), "{error}");
        assert!(parse_fault(&["kind"]).is_err());
        assert!(split_words("a \"b").is_err());
    }
}
