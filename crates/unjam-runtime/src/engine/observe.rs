//! Where the engine's observations go, as they happen and in constant memory: the JSON-lines
//! trace (`--trace FILE`: one object per core event or iSCSI note, the same shape as the
//! simulator's trace) and kernel-format log lines (`-v`: what dmesg would show, with its
//! `[seconds.micros]` stamp).
//!
//! Owns formatting and writing; it keeps nothing but the writers and the kernel log's rate
//! limits. A writer that fails is dropped once, with a warning, never retried per event.

use std::io::Write;

use serde_json::json;
use unjam_core::harness::describe;
use unjam_core::log::KernelLog;
use unjam_core::trace::TraceRecord;
use unjam_core::MidLayer;

use super::notes::IscsiNote;

/// Where trace lines and kernel log lines are written.
pub type Sink = Box<dyn Write + Send>;

pub(crate) struct Observer {
    trace: Option<Sink>,
    kernel: Option<(KernelLog, Sink)>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("trace", &self.trace.is_some())
            .field("kernel", &self.kernel.is_some())
            .finish()
    }
}

impl Observer {
    /// `eh_logging` adds the error handler's lines (`scsi_logging_level`).
    pub fn new(trace: Option<Sink>, kernel: Option<Sink>, eh_logging: bool) -> Observer {
        Observer {
            trace,
            kernel: kernel.map(|sink| (KernelLog::new(eh_logging), sink)),
        }
    }

    /// Does anything want the core's trace records? (They are only built when it does.)
    pub fn wants_core_trace(&self) -> bool {
        self.trace.is_some() || self.kernel.is_some()
    }

    pub fn core(&mut self, record: &TraceRecord, mid: &MidLayer) {
        if let Some(sink) = self.trace.as_mut() {
            let device = record
                .event
                .device()
                .and_then(|device| mid.device_hctl(device))
                .map(|hctl| hctl.to_string());
            // The simulator's line shape: time, source, H:C:T:L, then the event's own
            // typed fields (`kind` first); and the narration.
            let mut line = json!({
                "t_ns": record.at.as_nanos(),
                "source": "core",
                "device": device,
            });
            if let (Some(line), Ok(serde_json::Value::Object(event))) =
                (line.as_object_mut(), serde_json::to_value(record.event))
            {
                line.extend(event);
            }
            line["text"] = json!(describe(record, mid));
            if !write_line(sink, &line) {
                self.trace = None;
            }
        }
        if let Some((log, sink)) = self.kernel.as_mut() {
            log.record(record, mid);
            let lines = log.take_lines();
            if !write_kernel_lines(sink, record.at, &lines) {
                self.kernel = None;
            }
        }
    }

    pub fn note(&mut self, at: unjam_core::Instant, note: &IscsiNote) {
        if let Some(sink) = self.trace.as_mut() {
            let mut line = note.to_json();
            line["t_ns"] = json!(at.as_nanos());
            line["source"] = json!("iscsi");
            if !write_line(sink, &line) {
                self.trace = None;
            }
        }
        if let (Some((_, sink)), Some(text)) = (self.kernel.as_mut(), note.kernel_line()) {
            if !write_kernel_lines(sink, at, &[text]) {
                self.kernel = None;
            }
        }
    }

    /// An event of the multipath layer: a trace line (source `mpath`) and, for path
    /// failures and reinstatements, device-mapper's kernel lines.
    pub fn mpath(&mut self, event: &unjam_multipath::MpathEvent, device: Option<String>) {
        if let Some(sink) = self.trace.as_mut() {
            let mut line = json!({
                "t_ns": event.at.as_nanos(),
                "source": "mpath",
                "device": device,
            });
            if let (Some(line), Ok(serde_json::Value::Object(fields))) =
                (line.as_object_mut(), serde_json::to_value(&event.kind))
            {
                line.extend(fields);
                if let Some(mpath) = event.mpath {
                    line.insert("mpath".into(), json!(mpath.0));
                }
            }
            if !write_line(sink, &line) {
                self.trace = None;
            }
        }
        let text = match (&event.kind, device) {
            (unjam_multipath::EventKind::PathFailed { reason }, Some(device)) => {
                format!("device-mapper: multipath: Failing path {device} ({reason}).")
            }
            (unjam_multipath::EventKind::PathReinstated, Some(device)) => {
                format!("device-mapper: multipath: Reinstating path {device}.")
            }
            _ => return,
        };
        if let Some((_, sink)) = self.kernel.as_mut() {
            if !write_kernel_lines(sink, event.at, &[text]) {
                self.kernel = None;
            }
        }
    }

    pub fn flush(&mut self) {
        if let Some(sink) = self.trace.as_mut() {
            let _ = sink.flush();
        }
        if let Some((_, sink)) = self.kernel.as_mut() {
            let _ = sink.flush();
        }
    }
}

fn write_line(sink: &mut Sink, line: &serde_json::Value) -> bool {
    let written = serde_json::to_writer(&mut *sink, line)
        .map_err(std::io::Error::from)
        .and_then(|()| sink.write_all(b"\n"));
    if let Err(error) = written {
        tracing::warn!(%error, "the trace sink failed; tracing stops");
        return false;
    }
    true
}

/// `[    5.123456] sd 0:0:0:1: [sdb] ...` as dmesg prints it.
fn write_kernel_lines(sink: &mut Sink, at: unjam_core::Instant, lines: &[String]) -> bool {
    let nanos = at.as_nanos();
    let (seconds, micros) = (nanos / 1_000_000_000, nanos % 1_000_000_000 / 1000);
    for line in lines {
        if let Err(error) = writeln!(sink, "[{seconds:5}.{micros:06}] {line}") {
            tracing::warn!(%error, "the kernel log sink failed; kernel lines stop");
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn notes_become_trace_lines_and_dmesg_lines() {
        let (trace, kernel) = (Shared::default(), Shared::default());
        let mut observer = Observer::new(
            Some(Box::new(trace.clone())),
            Some(Box::new(kernel.clone())),
            false,
        );
        let note = IscsiNote::ConnectionError {
            sid: 1,
            code: 1020,
            reason: "closed".into(),
        };
        observer.note(unjam_core::Instant::from_nanos(5_123_456_789), &note);
        let trace = String::from_utf8(trace.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(trace.trim()).unwrap();
        assert_eq!(line["source"], "iscsi");
        assert_eq!(line["kind"], "conn_error");
        assert_eq!(line["t_ns"], 5_123_456_789u64);
        let kernel = String::from_utf8(kernel.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            kernel,
            "[    5.123456] connection1:0: detected conn error (1020)\n"
        );
    }
}
