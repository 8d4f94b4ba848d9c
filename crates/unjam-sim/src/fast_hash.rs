//! The simulator's integer-keyed maps use the core's hasher (one hasher for the workspace).

pub use unjam_core::fast_hash::{FastHasher, FastMap};
