//! A target served in the test process on free 127.0.0.1 ports, in a runtime of its own (so
//! blocking tools and async clients can both talk to it), shut down when dropped.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use unjam_sim::scenario::Scenario;
use unjam_target::TargetServer;

pub struct Running {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub urls: Vec<String>,
    pub portals: Vec<String>,
    pub control: PathBuf,
    _dir: tempfile::TempDir,
}

/// One 64 MiB LUN answering at once: the base of most tests.
pub const ONE_LUN: &str = r#"
[target]
tmf_latency_us = 0
[[host]]
luns = 1
capacity_mib = 64
latency = { model = "fixed", us = 0 }
"#;

impl Running {
    /// Serves `scenario` with every portal on a free port, in a runtime on a thread of its
    /// own (usable from blocking and from async tests alike).
    pub fn start(scenario: &str) -> Running {
        let scenario = Scenario::from_toml(scenario, "test.toml")
            .unwrap_or_else(|error| panic!("scenario: {error}"));
        let portals = scenario.portals.len().max(1);
        let free: Vec<String> = (0..portals).map(|_| "127.0.0.1:0".to_string()).collect();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = dir.path().join("control.sock");
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (started, ready) = std::sync::mpsc::channel();
        let socket = control.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            let server = runtime
                .block_on(TargetServer::start(&scenario, &free, Some(socket)))
                .unwrap_or_else(|error| panic!("start: {error}"));
            let portals: Vec<String> = server.portals().iter().map(|a| a.to_string()).collect();
            let _ = started.send((server.urls(), portals));
            let _ = stopped.recv();
            runtime.block_on(server.shutdown());
            runtime.shutdown_timeout(Duration::from_secs(2));
        });
        let (urls, portals) = ready
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("the target did not start: {e}"));
        Running {
            stop: Some(stop),
            thread: Some(thread),
            urls,
            portals,
            control,
            _dir: dir,
        }
    }

    pub fn url(&self, index: usize) -> &str {
        &self.urls[index]
    }

    /// Sends one control request; returns the answer lines (the last is `ok …`).
    pub fn control(&self, request: &str) -> Vec<String> {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(&self.control)
            .unwrap_or_else(|e| panic!("control socket: {e}"));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        stream
            .write_all(format!("{request}\n").as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut lines = Vec::new();
        for line in BufReader::new(stream).lines() {
            let line = line.unwrap_or_else(|e| panic!("{e}"));
            let last = line.starts_with("ok") || line.starts_with("error");
            lines.push(line);
            if last {
                break;
            }
        }
        lines
    }
}

impl Running {
    /// Adds a fault through the control socket; panics unless the target accepts it.
    pub fn fault(&self, fields: &str) {
        let answer = self.control(&format!("fault add {fields}"));
        assert!(
            answer.last().is_some_and(|line| line.starts_with("ok ")),
            "fault add {fields}: {answer:?}"
        );
    }

    /// The counters of the control socket's `status` line.
    pub fn stats(&self) -> std::collections::HashMap<String, u64> {
        let answer = self.control("status");
        answer
            .first()
            .map(|line| {
                line.split_whitespace()
                    .filter_map(|pair| pair.split_once('='))
                    .filter_map(|(key, value)| Some((key.to_string(), value.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs a libiscsi tool with a time limit; returns (success, stdout + stderr).
pub fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new("timeout")
        .arg("30")
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (is libiscsi-bin installed?)"));
    let mut text = String::from_utf8_lossy(&output.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}
