//! Workloads: per-LUN streams of reads and writes (closed loop at a queue depth or open loop
//! at a rate), the data patterns writes carry, and the ledger that knows what every block
//! must hold. Owns what is asked of the storage and what it must answer; never how the
//! commands travel.

mod ledger;
mod pattern;
mod stream;

pub use ledger::{LedgerError, WriteLedger, MAX_TRACKED_BLOCKS};
pub use pattern::{fill_pattern, pattern_matches};
pub use stream::{IoPlan, LunStream, StreamMode};
