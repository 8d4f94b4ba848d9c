//! Shared support for the tests that run against a real tgtd.

pub mod cdb;
/// Shared with the CLI tests (crates/unjam/tests), which use the parts these tests do not.
#[allow(dead_code)]
pub mod tgtd;
