//! What a run leaves behind: per-LUN counts and latency quantiles, blocked windows, the
//! error-handling events, and their renderings — the `--json` summary, the terminal table
//! and the self-contained HTML timeline. Owns presentation only; the runner feeds it.

mod histogram;
mod html;
mod recorder;
mod summary;

pub use histogram::LatencyHistogram;
pub use html::render_html;
pub use recorder::{Counter, Recorder, MAX_EH_EVENTS, MAX_ERRORS_PER_LANE};
pub use summary::{EhEventRecord, LaneDetail, LatencyQuantiles, LunSummary, RunReport, RunSummary};
