//! `unjam target` in a process of its own for the CLI tests: a scenario served with every
//! portal on a free 127.0.0.1 port and a control socket in a temporary directory, killed on
//! drop (also when a test panics). [`UnjamTarget::multipath`] serves
//! `examples/target-multipath.toml`: one logical unit through two portals, two paths with the
//! same media and the same VPD 83h identity. A path fails at run time through the control
//! socket (`unjam target-ctl`): [`UnjamTarget::portal_down`] closes a portal's listener and
//! resets its connections, [`UnjamTarget::silence`] makes a portal stop answering with TCP up
//! (the `blackhole` wire fault: a path that dies silently), [`UnjamTarget::clear`] ends either.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub struct UnjamTarget {
    child: Child,
    /// The URL lines `unjam target` printed: one per LUN and portal, in portal order.
    pub urls: Vec<String>,
    pub control: PathBuf,
    _dir: tempfile::TempDir,
}

/// `examples/target-multipath.toml` in the repository.
pub fn multipath_scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/target-multipath.toml")
}

impl UnjamTarget {
    /// Serves `scenario` with `portals` portals on free ports (`--portal 127.0.0.1:0` each,
    /// replacing the scenario's addresses in order) and waits for its URL lines, `lines` of
    /// them (LUNs × portals).
    pub fn start(scenario: &Path, portals: usize, lines: usize) -> UnjamTarget {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let control = dir.path().join("control.sock");
        let mut command = Command::new(env!("CARGO_BIN_EXE_unjam"));
        command.arg("target").arg(scenario);
        for _ in 0..portals {
            command.args(["--portal", "127.0.0.1:0"]);
        }
        let mut child = command
            .arg("--control")
            .arg(&control)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn unjam target: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut reader = BufReader::new(stdout);
        let mut urls = Vec::new();
        while urls.len() < lines {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("unjam target exited after printing {urls:?}");
            }
            urls.push(line.trim_end().to_string());
        }
        // The control socket is bound before the URLs are printed; keep the pipe drained.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        UnjamTarget {
            child,
            urls,
            control,
            _dir: dir,
        }
    }

    /// `examples/target-multipath.toml` on two free ports: `urls[0]` through portal 0
    /// (group 1, active/optimized), `urls[1]` through portal 1 (group 2, active/non-optimized).
    pub fn multipath() -> UnjamTarget {
        UnjamTarget::start(&multipath_scenario(), 2, 2)
    }

    /// `unjam target-ctl SOCKET REQUEST...`, as a user runs it.
    pub fn ctl_output(&self, request: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_unjam"))
            .arg("target-ctl")
            .arg(&self.control)
            .args(request)
            .output()
            .unwrap_or_else(|e| panic!("run unjam target-ctl: {e}"))
    }

    /// A control request that must succeed; its output.
    pub fn ctl(&self, request: &[&str]) -> String {
        let output = self.ctl_output(request);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "target-ctl {request:?}: {output:?}"
        );
        text
    }

    /// Adds a fault (`KEY=VALUE` fields of a `[[fault]]` table); its id.
    pub fn fault(&self, fields: &[&str]) -> u32 {
        let mut request = vec!["fault", "add"];
        request.extend_from_slice(fields);
        let text = self.ctl(&request);
        text.trim()
            .strip_prefix("ok ")
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("fault add {fields:?}: {text}"))
    }

    /// Takes portal `portal` (counting from 0) down until [`UnjamTarget::clear`]: its
    /// listener closes and its connections are reset.
    pub fn portal_down(&self, portal: usize) -> u32 {
        self.fault(&["kind=portal_down", &format!("portal={portal}")])
    }

    /// Makes portal `portal` stop answering (no responses, no NOP-Ins, no reset, logins
    /// unanswered) until [`UnjamTarget::clear`].
    pub fn silence(&self, portal: usize) -> u32 {
        self.fault(&["kind=blackhole", &format!("portal={portal}")])
    }

    /// Removes an added fault (the portal comes back).
    pub fn clear(&self, id: u32) {
        let text = self.ctl(&["fault", "clear", &id.to_string()]);
        assert_eq!(text.trim(), "ok 1", "fault clear {id}");
    }

    /// The `status` counters (`connections`, `logins`, `commands`, ...) and `portals`.
    pub fn status(&self) -> std::collections::HashMap<String, String> {
        let text = self.ctl(&["status"]);
        text.lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// The count `name` of `status`.
    pub fn count(&self, name: &str) -> u64 {
        self.status()
            .get(name)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in status"))
    }
}

impl Drop for UnjamTarget {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
