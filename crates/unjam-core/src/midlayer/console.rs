//! The kernel's console as the completion path meets it: the two rate-limited print sites
//! of a failed request (`scsi_io_completion_action`'s failure print and
//! `blk_print_req_error`), and, when a line time is set, the time the completing context
//! spends printing before the request ends.
//!
//! The kernel prints synchronously from the completion path: a request whose failure is
//! printed ends only after its lines went out on the console, one console for the whole
//! machine. kernel-observed.md's medium error took 0.016 s to fail where its one scsi_debug
//! command took 4 ms; its five lines account for the other 12 ms at 2.4 ms a line (the
//! scenario runner sets that under policy `linux`; the default, and a real transport, print
//! in no time). Only lines printed on the completion path are charged: the error handler's
//! own lines cost nothing here.
//!
//! Owns: the rate limits (so a suppressed line costs nothing, traced or not) and the
//! completions held while their lines print. Must not: decide anything about the request.

use std::collections::VecDeque;
use std::time::Duration;

use crate::action::Completion;
use crate::ratelimit::RateLimit;
use crate::time::Instant;

/// At most this many completions wait for the console. The rate limits let 20 failure
/// prints through per 5 s, so the queue stays far below it; reaching it is a bug.
pub const MAX_HELD_COMPLETIONS: usize = 4096;

#[derive(Debug)]
pub(crate) struct Console {
    /// The failure print (`FAILED Result:` and its sense and CDB lines).
    failure_site: RateLimit,
    /// The block layer's `… error, dev sdX, sector …` line.
    block_site: RateLimit,
    line_time: Duration,
    /// When the lines printed so far are out.
    busy_until: Instant,
    /// Completions whose lines are printing, in the order they end.
    held: VecDeque<(Instant, Completion)>,
}

impl Console {
    pub(crate) fn new() -> Console {
        Console {
            failure_site: RateLimit::kernel_default(),
            block_site: RateLimit::kernel_default(),
            line_time: Duration::ZERO,
            busy_until: Instant::ZERO,
            held: VecDeque::new(),
        }
    }

    pub(crate) fn set_line_time(&mut self, line_time: Duration) {
        self.line_time = line_time;
    }

    /// May the failure print go out at `now`?
    pub(crate) fn allow_failure(&mut self, now: Instant) -> bool {
        self.failure_site.allow(now).0
    }

    /// May the block layer's error line go out at `now`?
    pub(crate) fn allow_block(&mut self, now: Instant) -> bool {
        self.block_site.allow(now).0
    }

    /// Prints `lines` lines from `now` (after whatever is still going out): the instant
    /// they are out, or `None` when printing takes no time.
    pub(crate) fn print(&mut self, now: Instant, lines: u32) -> Option<Instant> {
        if lines == 0 || self.line_time.is_zero() {
            return None;
        }
        self.busy_until = self.busy_until.max(now) + self.line_time * lines;
        Some(self.busy_until)
    }

    /// Holds `completion` until `end` (an instant [`Console::print`] returned: they come in
    /// order).
    pub(crate) fn hold(&mut self, end: Instant, completion: Completion) {
        assert!(
            self.held.len() < MAX_HELD_COMPLETIONS,
            "{} completions waiting for the console",
            self.held.len()
        );
        assert!(self.held.back().is_none_or(|(last, _)| *last <= end));
        self.held.push_back((end, completion));
    }

    /// The next completion whose lines are out by `now`.
    pub(crate) fn release(&mut self, now: Instant) -> Option<Completion> {
        if self.held.front()?.0 > now {
            return None;
        }
        self.held.pop_front().map(|(_, completion)| completion)
    }
}
