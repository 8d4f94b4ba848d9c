//! The report of a run against a real target, built from what the runtime streams: its
//! JSON-lines trace (core events with their narration, iSCSI notes; the simulator's line
//! shape) and its kernel-format log lines. [`ReportTap`] is a `Write` sink for either, so
//! the report needs nothing from the runtime but the sinks it already has.
//!
//! Everything is bounded: the recorder's bounds, the commands awaiting completion, the
//! length of a line, the session events kept.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use unjam_scsi::BlkStatus;

use super::recorder::{Counter, Recorder};
use super::summary::{Clock, FaultMark, RunReport};

/// Rate buckets of a real run start at 10 ms (they widen as the run grows).
const BUCKET_US: u64 = 10_000;
/// The most submitted commands whose submission time is remembered.
const MAX_IN_FLIGHT: usize = 65_536;
/// The longest line accepted; longer ones are skipped.
const MAX_LINE_BYTES: usize = 1 << 20;
/// The most times kept per kind of session event.
const MAX_SESSION_HITS: usize = 2_000;

/// A session event the initiator saw (a connection error, a logout request, ...): drawn on
/// every lane as a fault firing.
#[derive(Debug, Default)]
struct SessionEvents {
    fired: u64,
    first_detail: String,
    times_us: Vec<u64>,
}

/// Builds a [`RunReport`] from trace and kernel log lines.
#[derive(Debug)]
pub struct LineRecorder {
    title: String,
    recorder: Recorder,
    submitted: BTreeMap<u64, u64>,
    dispatched: u64,
    end_us: u64,
    lines_skipped: u64,
    session: BTreeMap<String, SessionEvents>,
    /// Per lane: held by the host's recovery, blocked as a device.
    held: Vec<(bool, bool)>,
    /// Per lane: the device state last traced (sysfs-like, `running` until one is).
    states: Vec<String>,
}

impl LineRecorder {
    pub fn new(title: String) -> LineRecorder {
        let mut recorder = Recorder::new(Vec::new(), BUCKET_US);
        recorder.set_clock(Clock::Wall);
        LineRecorder {
            title,
            recorder,
            submitted: BTreeMap::new(),
            dispatched: 0,
            end_us: 0,
            lines_skipped: 0,
            session: BTreeMap::new(),
            held: Vec::new(),
            states: Vec::new(),
        }
    }

    fn lane(&mut self, device: &str) -> Option<usize> {
        let lane = self.recorder.lane(device)?;
        if self.held.len() <= lane {
            self.held.resize(lane + 1, (false, false));
            self.states.resize(lane + 1, "running".to_string());
        }
        Some(lane)
    }

    /// One JSON line of the trace.
    pub fn trace_line(&mut self, line: &str) {
        let Ok(serde_json::Value::Object(event)) = serde_json::from_str(line) else {
            self.lines_skipped += 1;
            return;
        };
        let t_us = event.get("t_ns").and_then(|t| t.as_u64()).unwrap_or(0) / 1000;
        self.end_us = self.end_us.max(t_us);
        let text = |key: &str| event.get(key).and_then(|v| v.as_str()).unwrap_or("");
        let kind = text("kind").to_string();
        if text("source") == "iscsi" {
            self.session_note(t_us, &kind, event.get("detail"));
            return;
        }
        let device = event
            .get("device")
            .and_then(|d| d.as_str())
            .map(str::to_string);
        let lane = device.as_deref().and_then(|d| self.lane(d));
        if let Some(narration) = event.get("text").and_then(|t| t.as_str()) {
            if self.recorder.wants_path() {
                self.recorder
                    .path_line(t_us, device.clone(), narration.to_string());
            } else {
                self.recorder.cut(true, false);
            }
        }
        let host = event.get("host").and_then(|h| h.as_u64());
        let host_name = format!("host{}", host.unwrap_or(0));
        let dev = device.clone().unwrap_or_else(|| host_name.clone());
        let lower = |key: &str| snake(text(key));
        let tag_key = event.get("tag").map(tag_key).unwrap_or(0);
        match kind.as_str() {
            "submitted" => {
                if let Some(token) = event.get("token").and_then(|t| t.as_u64()) {
                    if self.submitted.len() >= MAX_IN_FLIGHT {
                        self.submitted.pop_first();
                    }
                    self.submitted.insert(token, t_us);
                }
            }
            "completed" => {
                let token = event.get("token").and_then(|t| t.as_u64()).unwrap_or(0);
                let since = self.submitted.remove(&token).unwrap_or(t_us);
                let status = blk_status(text("status"));
                if let Some(lane) = lane {
                    self.recorder
                        .io_done(lane, t_us, t_us.saturating_sub(since), status);
                }
            }
            "dispatched" => {
                self.dispatched += 1;
                self.count(lane, Counter::Dispatched);
            }
            "requeued" if event.get("counted").and_then(|c| c.as_bool()) == Some(true) => {
                self.count(lane, Counter::Retries)
            }
            "abort_sent" => self.count(lane, Counter::Aborts),
            "reset_sent" => self.count(lane, Counter::Resets),
            "timed_out" => {
                self.count(lane, Counter::Timeouts);
                self.eh(t_us, "command", "timeout", dev, &lower("hook"));
            }
            "abort_done" => self.eh(t_us, "command", "abort", dev, &lower("result")),
            "eh_wake" => {
                let failed = event.get("failed").and_then(|f| f.as_u64()).unwrap_or(0);
                self.eh(
                    t_us,
                    "host",
                    "eh_start",
                    host_name,
                    &format!("{failed} failed"),
                )
            }
            "eh_step" => {
                let scope = text("scope").to_string();
                self.eh(t_us, &scope, &lower("step"), dev, "started")
            }
            "eh_command_done" => {
                let verdict = event
                    .get("verdict")
                    .and_then(|v| v.as_str())
                    .map(snake)
                    .unwrap_or_else(|| "done".into());
                self.eh(t_us, "lun", &lower("command"), dev, &verdict)
            }
            "reset_done" | "reset_skipped" => {
                let reset = lower("reset");
                let scope = match reset.as_str() {
                    "lun" => "lun",
                    "target" => "target",
                    _ => "host",
                };
                let outcome = if kind == "reset_done" {
                    lower("result")
                } else {
                    "not_supported".into()
                };
                self.eh(t_us, scope, &format!("{reset}_reset"), dev, &outcome)
            }
            "device_offlined" | "scope_offlined" => self.eh(t_us, "lun", "offline", dev, "offline"),
            "host_restart" => self.eh(t_us, "host", "restart", host_name, "done"),
            "scope_eh_wake" | "scope_eh_done" | "scope_eh_fallback" => {
                let scope = text("scope").to_string();
                let step = match kind.as_str() {
                    "scope_eh_wake" => "eh_start",
                    "scope_eh_done" => "eh_done",
                    _ => "fallback",
                };
                self.eh(t_us, &scope, step, dev, "")
            }
            "poll_started" => {
                if let Some(lane) = lane {
                    self.recorder.poll_started(lane, t_us, tag_key)
                }
            }
            "poll_found_nothing" => {
                if let Some(lane) = lane {
                    self.recorder.poll_found_nothing(lane, tag_key)
                }
            }
            "host_state" => {
                let recovering = text("to").contains("Recovery");
                let prefix = format!("{}:", host.unwrap_or(0));
                let count = self.held.len();
                let ids: Vec<usize> = (0..count).collect();
                for lane in ids {
                    if self.lane_id_starts_with(lane, &prefix) {
                        self.held[lane].0 = recovering;
                        self.refresh(lane, t_us);
                    }
                }
            }
            "device_state" => {
                if let Some(lane) = lane {
                    self.held[lane].1 = matches!(text("to"), "Block" | "CreatedBlock");
                    self.states[lane] = snake(text("to")).replace('_', "-");
                    self.refresh(lane, t_us);
                }
            }
            _ => {}
        }
    }

    fn lane_id_starts_with(&self, lane: usize, prefix: &str) -> bool {
        self.recorder
            .lane_id(lane)
            .is_some_and(|id| id.starts_with(prefix))
    }

    fn refresh(&mut self, lane: usize, t_us: u64) {
        let (host, device) = self.held.get(lane).copied().unwrap_or_default();
        self.recorder.set_blocked(lane, t_us, host || device);
    }

    fn count(&mut self, lane: Option<usize>, counter: Counter) {
        if let Some(lane) = lane {
            self.recorder.count(lane, counter);
        }
    }

    fn eh(&mut self, t_us: u64, scope: &str, step: &str, device: String, outcome: &str) {
        self.recorder.eh_event(t_us, scope, step, device, outcome);
    }

    /// An iSCSI note: task management is the core's story already; the rest are what the
    /// session went through.
    fn session_note(&mut self, t_us: u64, kind: &str, detail: Option<&serde_json::Value>) {
        if kind.starts_with("tmf_sent") || kind == "tmf_done" || kind.is_empty() {
            return;
        }
        let detail = detail.map(compact).unwrap_or_default();
        self.eh(t_us, "session", kind, "all".into(), &detail);
        if self.session.len() >= 64 && !self.session.contains_key(kind) {
            return;
        }
        let events = self.session.entry(kind.to_string()).or_default();
        events.fired += 1;
        if events.first_detail.is_empty() {
            events.first_detail = detail;
        }
        if events.times_us.len() < MAX_SESSION_HITS {
            events.times_us.push(t_us);
        }
    }

    /// A kernel log line as dmesg prints it: `[    3.003002] sd 0:0:0:0: ...`.
    pub fn kernel_text(&mut self, line: &str) {
        let (t_us, text) = match line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
        {
            Some((stamp, text)) => (parse_stamp(stamp.trim()), text),
            None => (None, line),
        };
        let t_us = t_us.unwrap_or(self.end_us);
        self.end_us = self.end_us.max(t_us);
        self.recorder.kernel_line(t_us, text.to_string());
    }

    /// The report so far (the recorder starts over).
    pub fn finish(&mut self) -> RunReport {
        let mut recorder = Recorder::new(Vec::new(), BUCKET_US);
        recorder.set_clock(Clock::Wall);
        let mut recorder = std::mem::replace(&mut self.recorder, recorder);
        let lanes: Vec<usize> = (0..self.held.len()).collect();
        let mut faults = Vec::new();
        let mut hits = Vec::new();
        for (index, (kind, events)) in std::mem::take(&mut self.session).into_iter().enumerate() {
            faults.push(FaultMark {
                label: format!("seen by the initiator: {kind} {}", events.first_detail),
                lanes: lanes.clone(),
                from_us: 0,
                until_us: None,
                fired: events.fired,
                fired_span_us: events
                    .times_us
                    .first()
                    .zip(events.times_us.last())
                    .map(|(a, b)| (*a, *b)),
                ignored: false,
            });
            hits.extend(events.times_us.iter().map(|t| (index, *t)));
        }
        recorder.set_faults(faults);
        for (fault, t_us) in hits {
            for lane in &lanes {
                recorder.fault_hit(t_us, fault, *lane);
            }
        }
        if self.lines_skipped > 0 {
            recorder.cut(true, false);
        }
        let states = self.states.iter().map(String::as_str).collect();
        let end_us = self.end_us.max(1000);
        recorder.finish(
            std::mem::take(&mut self.title),
            0,
            end_us,
            self.dispatched,
            states,
        )
    }
}

fn tag_key(tag: &serde_json::Value) -> u64 {
    let field = |name: &str| tag.get(name).and_then(|v| v.as_u64()).unwrap_or(0);
    (field("generation") << 32) | field("slot")
}

/// `Failed` → `failed`, `LUN reset` → `lun_reset`.
fn snake(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for (index, c) in text.trim().chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 && !out.ends_with('_') && !text[..index].ends_with(char::is_uppercase) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

/// A JSON detail object as `key=value ...`.
fn compact(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse_stamp(stamp: &str) -> Option<u64> {
    let (seconds, fraction) = stamp.split_once('.')?;
    let seconds: u64 = seconds.parse().ok()?;
    let digits = fraction.len().min(6);
    let fraction: u64 = fraction.get(..digits)?.parse().ok()?;
    let micros = fraction * 10u64.pow((6 - digits) as u32);
    Some(seconds.saturating_mul(1_000_000).saturating_add(micros))
}

/// The status by its kernel name (an unknown one counts as an I/O error).
fn blk_status(name: &str) -> BlkStatus {
    (0..=u8::MAX)
        .map_while(BlkStatus::from_code)
        .find(|status| status.kernel_name() == name)
        .unwrap_or(BlkStatus::IoErr)
}

/// Which stream a [`ReportTap`] carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TapKind {
    /// JSON lines of the trace.
    Trace,
    /// Kernel-format log lines.
    KernelLog,
}

/// A `Write` sink that hands each complete line to a shared [`LineRecorder`].
#[derive(Debug)]
pub struct ReportTap {
    recorder: Arc<Mutex<LineRecorder>>,
    kind: TapKind,
    pending: Vec<u8>,
    skipping: bool,
}

impl ReportTap {
    pub fn new(recorder: Arc<Mutex<LineRecorder>>, kind: TapKind) -> ReportTap {
        ReportTap {
            recorder,
            kind,
            pending: Vec::new(),
            skipping: false,
        }
    }

    fn line(&mut self) {
        let text = String::from_utf8_lossy(&self.pending);
        if let Ok(mut recorder) = self.recorder.lock() {
            match (self.skipping, self.kind) {
                (true, _) => recorder.lines_skipped += 1,
                (false, TapKind::Trace) => recorder.trace_line(&text),
                (false, TapKind::KernelLog) => recorder.kernel_text(&text),
            }
        }
        self.pending.clear();
        self.skipping = false;
    }
}

impl Write for ReportTap {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            if self.pending.len() + body.len() > MAX_LINE_BYTES {
                self.skipping = true;
                self.pending.clear();
            } else if !self.skipping {
                self.pending.extend_from_slice(body);
            }
            if ends {
                self.line();
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"{"device":"0:0:0:0","kind":"submitted","source":"core","t_ns":1000000,"tag":{"generation":1,"slot":0},"text":"submitted to 0:0:0:0 [sda]","token":7}
{"attempt":1,"device":"0:0:0:0","kind":"dispatched","source":"core","t_ns":1000000,"tag":{"generation":1,"slot":0},"text":"attempt 1: dispatched as tag#0"}
{"age_ms":3001.2,"device":"0:0:0:0","hook":"NotHandled","kind":"timed_out","source":"core","t_ns":3003000000,"tag":{"generation":1,"slot":0},"text":"  timed out"}
{"device":"0:0:0:0","kind":"poll_started","source":"core","t_ns":3003000000,"tag":{"generation":1,"slot":0},"text":"  polled"}
{"detail":{"function":"ABORT TASK","response":"function rejected"},"kind":"tmf_done","session":1,"source":"iscsi","t_ns":3019644027}
{"device":"0:0:0:0","escalation":false,"kind":"abort_done","result":"Failed","source":"core","t_ns":3019644027,"tag":{"generation":1,"slot":0},"text":"  abort answered: Failed"}
{"device":null,"from":"Running","host":0,"kind":"host_state","source":"core","t_ns":3019644027,"text":null,"to":"Recovery"}
{"device":null,"host":0,"kind":"eh_step","scope":"host","source":"core","step":"LUN reset","t_ns":3039034933,"text":"  EH step: LUN reset"}
{"detail":{"code":1020,"reason":"connection reset"},"kind":"conn_error","session":1,"source":"iscsi","t_ns":3039100000}
{"device":"0:0:0:0","escalation":false,"for_tag":{"generation":1,"slot":0},"kind":"reset_done","reset":"Lun","result":"Success","source":"core","t_ns":3039798032,"text":"    Lun reset answered: Success"}
{"device":null,"from":"Recovery","host":0,"kind":"host_state","source":"core","t_ns":3040353721,"text":null,"to":"Running"}
{"attempts":2,"device":"0:0:0:0","good_bytes":4096,"kind":"completed","source":"core","status":"BLK_STS_OK","t_ns":3053951583,"tag":{"generation":12,"slot":0},"text":"completed upward","token":7}
"#;

    #[test]
    fn a_real_runs_trace_and_kernel_lines_make_a_report() {
        let shared = Arc::new(Mutex::new(LineRecorder::new("unjam read".into())));
        let mut trace = ReportTap::new(shared.clone(), TapKind::Trace);
        let mut kernel = ReportTap::new(shared.clone(), TapKind::KernelLog);
        // Written in pieces that split lines, as a buffered writer may.
        for piece in TRACE.as_bytes().chunks(37) {
            trace.write_all(piece).unwrap();
        }
        kernel
            .write_all(b"[    3.019644] sd 0:0:0:0: [sda] tag#0 cmd abort failed\n")
            .unwrap();
        let report = shared.lock().unwrap().finish();
        assert_eq!(report.clock, Clock::Wall);
        let lun = &report.summary.luns[0];
        assert_eq!(
            (lun.id.as_str(), lun.ios_ok, lun.timeouts),
            ("0:0:0:0", 1, 1)
        );
        assert_eq!(lun.latency_us.max / 1000, 3052, "submitted to completed");
        assert_eq!(lun.blocked_ms, 20, "the host's recovery");
        let steps: Vec<(&str, &str, &str)> = report
            .summary
            .eh_events
            .iter()
            .map(|e| (e.step.as_str(), e.device.as_str(), e.outcome.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                ("timeout", "0:0:0:0", "not_handled"),
                ("abort", "0:0:0:0", "failed"),
                ("lun_reset", "host0", "started"),
                ("conn_error", "all", "code=1020 reason=connection reset"),
                ("lun_reset", "0:0:0:0", "success"),
            ]
        );
        assert_eq!(report.lanes[0].polls, vec![(3_003_000, true)]);
        assert_eq!(report.faults.len(), 1);
        assert_eq!(report.faults[0].fired, 1);
        assert_eq!(report.fault_hits.len(), 1);
        assert_eq!(
            report.path.items.len(),
            8,
            "every core line with a narration"
        );
        assert_eq!(
            report.kernel_log.items,
            [(
                3_019_644,
                "sd 0:0:0:0: [sda] tag#0 cmd abort failed".to_string()
            )]
        );
        assert_eq!(report.summary.virtual_duration_ms, 3053);
        let html = super::super::render_html(&report);
        assert!(html.contains("ms of wall-clock time"));
        assert!(html.contains("seen by the initiator: conn_error"));
    }

    #[test]
    fn garbage_and_overlong_lines_are_skipped() {
        let shared = Arc::new(Mutex::new(LineRecorder::new("t".into())));
        let mut trace = ReportTap::new(shared.clone(), TapKind::Trace);
        trace.write_all(b"not json\n").unwrap();
        trace.write_all(&vec![b'x'; MAX_LINE_BYTES + 10]).unwrap();
        trace.write_all(b"\n").unwrap();
        let report = shared.lock().unwrap().finish();
        assert!(report.summary.luns.is_empty());
        assert!(!report.path.complete, "skipped lines are said");
        assert_eq!(snake("LUN reset"), "lun_reset");
        assert_eq!(snake("NotHandled"), "not_handled");
        assert_eq!(snake("TestUnitReady"), "test_unit_ready");
        assert_eq!(parse_stamp("3.019644"), Some(3_019_644));
    }
}
