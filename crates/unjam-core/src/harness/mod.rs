//! The one simulation driver and what plugs into it: the [`Transport`] trait (execute an
//! action, poll for answers, next due time, does it still hold this tag), the null and
//! scripted transports (the embedded target of `unjam-sim` implements the same trait),
//! [`Driver`], the virtual-clock loop (a 30 s timeout costs microseconds), the one
//! exactly-once [`Checker`], the liveness bound, `explain` and the null-transport bench.
//!
//! ```text
//!   Driver ── poll_action ──► Transport::execute ──► answers at virtual times
//!     ▲   ◄── deliver ◄── Transport::poll_event (due now) ◄── next_due / poll_timeout
//!     └── Checker after every action; outputs: completions, trace, transport notes
//! ```

mod bench;
mod checker;
mod driver;
mod explain;
mod kept_deadline;
mod liveness;
mod narrate;
mod null;
mod script;
mod scripted;
mod transport;

pub use bench::{run_null_bench, BenchReport};
pub use checker::{Checker, Violation, MAX_VIOLATIONS};
pub use driver::{
    Driver, DriverOptions, Liveness, Output, RunLimit, RunOutcome, MAX_WORK_PER_INSTANT,
    OUTPUTS_BEFORE_YIELD,
};
pub use explain::{explain, ExplainConfig, Explanation};
pub use kept_deadline::KeptDeadline;
pub use liveness::liveness_bound;
pub use narrate::describe;
pub use null::NullTransport;
pub use script::{parse_outcome, EhAnswer, OutcomeParseError, ScriptAnswer, ScriptEntry};
pub use scripted::ScriptedTransport;
pub use transport::{deliver, EventQueue, Transport, TransportEvent};
