//! `--report FILE.html` on device commands and `bench URL`: the same HTML report as
//! `unjam run --report` (unjam-sim's `report`), built from the runtime's trace and
//! kernel-log sinks as they stream (bounded), written when the command has ended.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use unjam_runtime::Sink;
use unjam_sim::report::{render_html, LineRecorder, ReportTap, TapKind};

use super::exit::{ExitClass, Failure};

/// The report this command writes at its end, if any.
type Pending = Option<(PathBuf, Arc<Mutex<LineRecorder>>)>;
static PENDING: Mutex<Pending> = Mutex::new(None);

/// The trace and kernel-log sinks that feed the report to `path`: `trace` and `kernel`
/// (the sinks the command had anyway) get every byte too.
pub fn sinks(path: &Path, trace: Option<Sink>, kernel: Option<Sink>) -> (Sink, Sink) {
    let recorder = Arc::new(Mutex::new(LineRecorder::new(title())));
    if let Ok(mut pending) = PENDING.lock() {
        *pending = Some((path.to_path_buf(), recorder.clone()));
    }
    let tap = |kind| Box::new(ReportTap::new(recorder.clone(), kind)) as Sink;
    (
        tee(trace, tap(TapKind::Trace)),
        tee(kernel, tap(TapKind::KernelLog)),
    )
}

/// Writes the pending report, if the command asked for one.
pub fn write_pending() -> Result<(), Failure> {
    let pending = PENDING.lock().ok().and_then(|mut p| p.take());
    let Some((path, recorder)) = pending else {
        return Ok(());
    };
    let report = match recorder.lock() {
        Ok(mut recorder) => recorder.finish(),
        Err(_) => {
            return Err(Failure::new(
                ExitClass::Other,
                "the report's recorder failed",
            ))
        }
    };
    std::fs::write(&path, render_html(&report)).map_err(|error| {
        Failure::new(
            ExitClass::CannotOpen,
            format!("cannot write {}: {error}", path.display()),
        )
    })
}

/// The command line after `unjam`, credentials left out: `read iscsi://host/iqn/0 ...`.
fn title() -> String {
    std::env::args()
        .skip(1)
        .map(|arg| match (arg.strip_prefix("iscsi://"), arg.find('@')) {
            (Some(_), Some(at)) => format!("iscsi://{}", &arg[at + 1..]),
            _ => arg,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn tee(first: Option<Sink>, second: Sink) -> Sink {
    match first {
        Some(first) => Box::new(Tee(first, second)),
        None => second,
    }
}

/// Every byte to both.
struct Tee(Sink, Sink);

impl Write for Tee {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(bytes)?;
        self.1.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}
