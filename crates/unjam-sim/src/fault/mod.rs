//! Fault injection: rules that decide, for each command or task management function the
//! target receives, whether it behaves or fails — and how. A superset of scsi_debug's
//! per-device `error` grammar (spec linux-midlayer §7): rules match devices, opcodes and
//! LBA ranges; they fire at scheduled times, for a number of hits, or at a rate drawn from
//! the scenario seed.
//!
//! This module decides *that* a fault happens; the target engine (`target.rs`) carries it
//! out. It never decides dispositions.

mod engine;
mod rule;
pub mod scsi_debug;
mod spec;
mod wire;

pub use engine::{CommandFate, FaultEngine, FaultHit, TmfFate};
pub use rule::{
    CommandMatch, Count, FaultAction, FaultRule, QueueRejection, ResetScope, TaskManagement,
    TmfKind, Trigger, WireAction,
};
pub use spec::{FaultSpec, FaultSpecError};
pub use wire::AluaStateName;
