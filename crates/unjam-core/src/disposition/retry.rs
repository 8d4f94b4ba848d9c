//! Retry eligibility (spec §2.2) and the total-runtime cap (§2.3).

use std::time::Duration;

use unjam_scsi::{HostByte, MlStatus, SamStatus, ScsiResult};

use crate::request::Request;
use crate::time::Instant;

/// `SCSI_CMD_RETRIES_NO_LIMIT`.
pub const RETRIES_NO_LIMIT: i32 = -1;

/// A command's retry counter and its limit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RetryCounter {
    pub retries: i32,
    pub allowed: i32,
}

/// `scsi_cmd_retry_allowed`: with a limit, pre-increments `retries` and compares; with
/// [`RETRIES_NO_LIMIT`] always true and `retries` untouched. allowed = 5 gives 6 sends.
pub fn retry_allowed(counter: &mut RetryCounter) -> bool {
    if counter.allowed == RETRIES_NO_LIMIT {
        return true;
    }
    counter.retries = counter.retries.saturating_add(1);
    counter.retries <= counter.allowed
}

/// `scsi_noretry_cmd`: should this command fail fast instead of being retried?
pub fn noretry_cmd(result: ScsiResult, request: &Request) -> bool {
    match result.host() {
        HostByte::DID_OK => rest_rules(result, request),
        HostByte::DID_TIME_OUT => check_type(request),
        HostByte::DID_BUS_BUSY => request.failfast_transport(),
        HostByte::DID_PARITY => request.failfast_dev(),
        HostByte::DID_ERROR if result.status() == SamStatus::RESERVATION_CONFLICT => false,
        HostByte::DID_ERROR | HostByte::DID_SOFT_ERROR => request.failfast_driver(),
        _ => rest_rules(result, request),
    }
}

fn rest_rules(result: ScsiResult, request: &Request) -> bool {
    if result.ml() == MlStatus::DL_TIMEOUT {
        return true;
    }
    if !result.status().is_check_condition() {
        return false;
    }
    check_type(request)
}

fn check_type(request: &Request) -> bool {
    request.failfast_dev() || request.passthrough
}

/// `scsi_cmd_runtime_exceeced`: with a retry limit, is `now` past
/// `alloc + (allowed + 1) × timeout`? Returns the limit in whole seconds when it is (the
/// number the "timing out command, waited %lus" line prints).
pub fn runtime_cap(now: Instant, alloc: Instant, allowed: i32, timeout: Duration) -> Option<u64> {
    if allowed == RETRIES_NO_LIMIT || allowed < 0 {
        return None;
    }
    let limit = timeout.saturating_mul(allowed as u32 + 1);
    (now > alloc + limit).then_some(limit.as_secs())
}

/// With `allowed = -1` the kernel has no runtime cap at all; unjam bounds such a request's
/// life as if it were allowed this many sends of `timeout` each (a deliberate difference,
/// docs/core.md).
pub const NO_LIMIT_LIFETIME_TIMEOUTS: u32 = 6;

/// unjam's lifetime bound of every request, in every policy: the kernel's runtime cap, and
/// for `allowed = -1` [`NO_LIMIT_LIFETIME_TIMEOUTS`] × `timeout`. The clock starts when the
/// request is first prepared for dispatch (`prepared_at`); before that it cannot expire.
/// Returns the limit in whole seconds once `now` is past it.
pub fn lifetime_exceeded(
    now: Instant,
    prepared_at: Option<Instant>,
    allowed: i32,
    timeout: Duration,
) -> Option<u64> {
    let prepared_at = prepared_at?;
    let allowed = if allowed < 0 {
        NO_LIMIT_LIFETIME_TIMEOUTS as i32 - 1
    } else {
        allowed
    };
    runtime_cap(now, prepared_at, allowed, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffers::Cdb;
    use crate::request::cmd_flags;

    fn request(flags: u32, passthrough: bool) -> Request {
        let mut request = Request::new(Cdb::from_array([0x08, 0, 0, 0, 1, 0]), 1);
        request.block.cmd_flags = flags;
        request.passthrough = passthrough;
        request
    }

    fn host(host: HostByte) -> ScsiResult {
        ScsiResult::new(host, MlStatus::OK, SamStatus::GOOD)
    }

    #[test]
    fn allowed_five_gives_five_retries() {
        let mut counter = RetryCounter {
            retries: 0,
            allowed: 5,
        };
        let granted = (0..10).filter(|_| retry_allowed(&mut counter)).count();
        assert_eq!(granted, 5);
    }

    #[test]
    fn no_limit_never_touches_retries() {
        let mut counter = RetryCounter {
            retries: 0,
            allowed: RETRIES_NO_LIMIT,
        };
        assert!((0..100).all(|_| retry_allowed(&mut counter)));
        assert_eq!(counter.retries, 0);
    }

    #[test]
    fn noretry_row_did_time_out_checks_type() {
        assert!(!noretry_cmd(
            host(HostByte::DID_TIME_OUT),
            &request(0, false)
        ));
        assert!(noretry_cmd(
            host(HostByte::DID_TIME_OUT),
            &request(cmd_flags::FAILFAST_DEV, false)
        ));
        assert!(noretry_cmd(host(HostByte::DID_TIME_OUT), &request(0, true)));
    }

    #[test]
    fn noretry_row_bus_busy_is_failfast_transport() {
        let flags = cmd_flags::FAILFAST_TRANSPORT;
        assert!(noretry_cmd(
            host(HostByte::DID_BUS_BUSY),
            &request(flags, false)
        ));
        assert!(!noretry_cmd(
            host(HostByte::DID_BUS_BUSY),
            &request(cmd_flags::FAILFAST_DEV, false)
        ));
    }

    #[test]
    fn noretry_row_parity_is_failfast_dev() {
        assert!(noretry_cmd(
            host(HostByte::DID_PARITY),
            &request(cmd_flags::FAILFAST_DEV, false)
        ));
        assert!(!noretry_cmd(
            host(HostByte::DID_PARITY),
            &request(cmd_flags::FAILFAST_DRIVER, false)
        ));
    }

    #[test]
    fn noretry_row_error_and_soft_error_are_failfast_driver() {
        let driver = request(cmd_flags::FAILFAST_DRIVER, false);
        assert!(noretry_cmd(host(HostByte::DID_ERROR), &driver));
        assert!(noretry_cmd(host(HostByte::DID_SOFT_ERROR), &driver));
        let conflict = ScsiResult::new(
            HostByte::DID_ERROR,
            MlStatus::OK,
            SamStatus::RESERVATION_CONFLICT,
        );
        assert!(!noretry_cmd(conflict, &driver));
    }

    #[test]
    fn noretry_rest_rules() {
        let dl = ScsiResult::OK.with_ml(MlStatus::DL_TIMEOUT);
        assert!(noretry_cmd(dl, &request(0, false)));
        let cc = ScsiResult::OK.with_status(SamStatus::CHECK_CONDITION);
        assert!(!noretry_cmd(cc, &request(0, false)));
        assert!(noretry_cmd(cc, &request(0, true)));
        assert!(noretry_cmd(cc, &request(cmd_flags::FAILFAST_DEV, false)));
        let busy = ScsiResult::OK.with_status(SamStatus::BUSY);
        assert!(!noretry_cmd(busy, &request(cmd_flags::FAILFAST_DEV, true)));
    }

    #[test]
    fn runtime_cap_is_allowed_plus_one_timeouts() {
        let timeout = Duration::from_secs(3);
        let alloc = Instant::from_nanos(1_000);
        assert_eq!(
            runtime_cap(alloc + Duration::from_secs(18), alloc, 5, timeout),
            None
        );
        let past = alloc + Duration::from_secs(18) + Duration::from_nanos(1);
        assert_eq!(runtime_cap(past, alloc, 5, timeout), Some(18));
        assert_eq!(runtime_cap(past, alloc, RETRIES_NO_LIMIT, timeout), None);
    }

    #[test]
    fn lifetime_bounds_no_limit_too_and_starts_at_prepare() {
        let timeout = Duration::from_secs(3);
        let prepared = Instant::from_nanos(1_000);
        let past = prepared + Duration::from_secs(18) + Duration::from_nanos(1);
        assert_eq!(
            lifetime_exceeded(past, Some(prepared), 5, timeout),
            Some(18)
        );
        assert_eq!(
            lifetime_exceeded(past, Some(prepared), RETRIES_NO_LIMIT, timeout),
            Some(18),
            "allowed = -1 is bounded by 6 × timeout"
        );
        assert_eq!(lifetime_exceeded(past, None, 5, timeout), None);
    }
}
