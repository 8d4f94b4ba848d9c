//! Shared support for the tests that run against a real tgtd.

pub mod cdb;
pub mod tgtd;
