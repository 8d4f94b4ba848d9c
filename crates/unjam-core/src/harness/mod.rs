//! Drivers for tests, the simulator and the CLI: a [`Transport`] trait whose
//! implementations answer the core's actions by scheduling events at virtual times, a null
//! transport, a scripted transport, and [`Driver`], the virtual-clock loop that runs a
//! [`MidLayer`](crate::midlayer::MidLayer) and a transport until idle (a 30 s timeout
//! costs microseconds). An embedded fault-injecting target plugs in by implementing
//! [`Transport`].
//!
//! ```text
//!   Driver ── poll_action ──► Transport::dispatch/abort/reset/poll/eh_command/revoke
//!     ▲                           │ schedules
//!     └── handle_* (at event time) ◄── EventQueue (virtual time)  ◄── or handle_timeout
//! ```

mod bench;
mod checker;
mod driver;
mod explain;
mod narrate;
mod null;
mod script;
mod scripted;
mod transport;

pub use bench::{run_null_bench, BenchReport};
pub use checker::{Checker, Violation};
pub use driver::{Driver, RunLimit, RunOutcome};
pub use explain::{explain, ExplainConfig, Explanation};
pub use narrate::describe;
pub use null::NullTransport;
pub use script::{parse_outcome, EhAnswer, OutcomeParseError, ScriptAnswer, ScriptEntry};
pub use scripted::ScriptedTransport;
pub use transport::{EventQueue, Transport, TransportEvent};
