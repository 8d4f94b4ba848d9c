//! Running the `unjam` binary from a test: what every CLI test file needs the same way.
//! Included with `#[path = "support/cli.rs"] mod cli;` (tests/ subfolders are not test
//! targets of their own).

use std::process::{Command, Output};

/// Runs `unjam ARGS` to its end and returns what it printed and how it exited.
pub fn unjam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unjam"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run unjam: {e}"))
}

/// Runs `unjam ARGS`, which must succeed and print one JSON value.
pub fn json(args: &[&str]) -> serde_json::Value {
    let output = unjam(args);
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
