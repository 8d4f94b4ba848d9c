//! What a run leaves behind: per-LUN counts and latency quantiles, blocked windows, the
//! error-handling events, and their renderings — the `--json` summary, the terminal table
//! and the self-contained HTML timeline. Owns presentation only; the runner feeds it.

mod histogram;
mod html;
mod lines;
mod recorder;
mod summary;

pub use histogram::LatencyHistogram;
pub use html::render_html;
pub use lines::{LineRecorder, ReportTap, TapKind};
pub use recorder::{
    Counter, Recorder, MAX_EH_EVENTS, MAX_ERRORS_PER_LANE, MAX_FAULT_HITS, MAX_KERNEL_LINES,
    MAX_LANES, MAX_PATH_LINES, MAX_POLLS_PER_LANE,
};
pub use summary::{
    Clock, EhEventRecord, FaultHitMark, FaultMark, Kept, LaneDetail, LatencyQuantiles, LunSummary,
    MpathLane, MpathPathSummary, MpathSummary, PathLine, RunReport, RunSummary,
};
