//! The one exactly-once checker, fed by the driver loop after every action, in O(1) per
//! event: every submitted request completes upward exactly once; no request is sent again
//! or completed while the transport still holds an earlier attempt (it may still touch the
//! buffers); counted retries never exceed `allowed`; no uncounted requeue happens past the
//! runtime cap. The core's structural invariants (counters, queues, scope isolation) come
//! from `MidLayer::check_invariants`, which the driver runs after every step when asked.
//! The liveness check names the requests still outstanding when the bound has passed.

use std::collections::HashMap;

use crate::action::{Completion, Tag};
use crate::midlayer::MidLayer;
use crate::time::Instant;
use crate::topology::DeviceId;
use crate::trace::{TraceEvent, TraceRecord};

/// The most violations kept (the first ones are the ones that matter).
pub const MAX_VIOLATIONS: usize = 1000;

/// A broken invariant.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Violation {
    #[error("request {token} completed twice, or without being submitted")]
    UnexpectedCompletion { token: u64 },
    #[error("request {token} completed while the transport holds {tag:?}")]
    CompletedWhileHeld { token: u64, tag: Tag },
    #[error("request {token} sent again as {tag:?} while the transport holds {held:?}")]
    DispatchedWhileHeld { token: u64, tag: Tag, held: Tag },
    #[error("request {token}: {retries} counted retries > allowed {allowed}")]
    TooManyRetries {
        token: u64,
        retries: u32,
        allowed: i32,
    },
    #[error("uncounted requeue of {tag:?} after its runtime cap")]
    RequeuePastCap { tag: Tag },
    #[error("request {token} (device {}, submitted at {submitted:?}, {attempts} attempt(s)) never completed", device.0)]
    NeverCompleted {
        token: u64,
        device: DeviceId,
        submitted: Instant,
        attempts: u32,
    },
    #[error("core: {0}")]
    Core(String),
    #[error("{0}")]
    Driver(String),
}

/// What the checker knows of one outstanding request: a fixed size, whatever its history.
#[derive(Clone, Copy, Debug)]
struct Watched {
    allowed: i32,
    device: DeviceId,
    submitted: Instant,
    /// The latest attempt; every earlier one was checked released when this one was sent.
    last: Option<Tag>,
    attempts: u32,
}

/// Watches submissions, dispatches and completions. Tokens must be unique among
/// outstanding requests.
#[derive(Debug, Default)]
pub struct Checker {
    /// Outstanding requests, removed at completion: memory is bounded by what is
    /// outstanding, and a second completion is caught as unexpected.
    requests: HashMap<u64, Watched>,
    pub violations: Vec<Violation>,
}

impl Checker {
    pub fn submitted(&mut self, token: u64, device: DeviceId, allowed: i32, now: Instant) {
        let watched = Watched {
            allowed,
            device,
            submitted: now,
            last: None,
            attempts: 0,
        };
        self.requests.insert(token, watched);
    }

    /// An attempt of `token` goes to the transport as `tag`; `holds` asks the transport
    /// whether it still has a tag.
    pub fn dispatched(&mut self, tag: Tag, token: u64, holds: impl Fn(Tag) -> bool) {
        let Some(watched) = self.requests.get_mut(&token) else {
            return;
        };
        let previous = watched.last.replace(tag);
        watched.attempts = watched.attempts.saturating_add(1);
        if let Some(held) = previous.filter(|held| holds(*held)) {
            self.push(Violation::DispatchedWhileHeld { token, tag, held });
        }
    }

    /// Checks a completion; `holds` asks the transport whether it still has a tag.
    pub fn completed(&mut self, completion: &Completion, holds: impl Fn(Tag) -> bool) {
        let token = completion.token;
        let Some(watched) = self.requests.remove(&token) else {
            self.push(Violation::UnexpectedCompletion { token });
            return;
        };
        let allowed = watched.allowed;
        if allowed >= 0 && completion.counted_retries > allowed as u32 {
            let retries = completion.counted_retries;
            self.push(Violation::TooManyRetries {
                token,
                retries,
                allowed,
            });
        }
        if let Some(tag) = watched.last.filter(|tag| holds(*tag)) {
            self.push(Violation::CompletedWhileHeld { token, tag });
        }
    }

    pub fn traced(&mut self, record: &TraceRecord) {
        if let TraceEvent::Requeued {
            tag,
            counted: false,
            cap_deadline: Some(cap),
            ..
        } = record.event
        {
            if record.at > cap {
                self.push(Violation::RequeuePastCap { tag });
            }
        }
    }

    /// Requests submitted and not completed.
    pub fn outstanding(&self) -> usize {
        self.requests.len()
    }

    /// The outstanding requests as violations, oldest first (at most `limit`).
    pub fn never_completed(&self, limit: usize) -> Vec<Violation> {
        let mut stuck: Vec<(&u64, &Watched)> = self.requests.iter().collect();
        stuck.sort_unstable_by_key(|(token, watched)| (watched.submitted, **token));
        stuck
            .into_iter()
            .take(limit)
            .map(|(token, watched)| Violation::NeverCompleted {
                token: *token,
                device: watched.device,
                submitted: watched.submitted,
                attempts: watched.attempts,
            })
            .collect()
    }

    /// After a run: every request completed, and the core's own checks.
    pub fn finish(&mut self, mid: &MidLayer) {
        for violation in self.never_completed(MAX_VIOLATIONS) {
            self.push(violation);
        }
        self.requests.clear();
        if let Err(error) = mid.check_invariants() {
            self.push(Violation::Core(error));
        }
    }

    pub fn push(&mut self, violation: Violation) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(violation);
        }
    }

    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffers::SenseBuffer;
    use unjam_scsi::{BlkStatus, ScsiResult};

    fn completion(token: u64, counted_retries: u32) -> Completion {
        Completion {
            token,
            device: DeviceId(0),
            status: BlkStatus::Ok,
            result: ScsiResult::OK,
            sense: SenseBuffer::EMPTY,
            attempts: 1,
            counted_retries,
            good_bytes: 0,
            resid: 0,
            tag_number: 0,
        }
    }

    fn tag(slot: u32, generation: u32) -> Tag {
        Tag { slot, generation }
    }

    #[test]
    fn catches_double_completion_held_buffers_and_retries() {
        let mut checker = Checker::default();
        let first = tag(3, 1);
        checker.submitted(7, DeviceId(0), 2, Instant::ZERO);
        checker.dispatched(first, 7, |_| false);
        checker.completed(&completion(7, 3), |held| held == first);
        checker.completed(&completion(7, 0), |_| false);
        assert_eq!(
            checker.violations,
            vec![
                Violation::TooManyRetries {
                    token: 7,
                    retries: 3,
                    allowed: 2
                },
                Violation::CompletedWhileHeld {
                    token: 7,
                    tag: first
                },
                Violation::UnexpectedCompletion { token: 7 },
            ]
        );
    }

    #[test]
    fn catches_a_retry_sent_while_the_transport_holds_the_earlier_attempt() {
        let mut checker = Checker::default();
        checker.submitted(1, DeviceId(0), 5, Instant::ZERO);
        checker.dispatched(tag(0, 1), 1, |_| false);
        checker.dispatched(tag(0, 2), 1, |held| held == tag(0, 1));
        checker.dispatched(tag(0, 3), 1, |_| false);
        checker.completed(&completion(1, 0), |_| false);
        assert_eq!(
            checker.violations,
            vec![Violation::DispatchedWhileHeld {
                token: 1,
                tag: tag(0, 2),
                held: tag(0, 1)
            }]
        );
    }

    #[test]
    fn names_requests_that_never_completed_oldest_first() {
        let mut checker = Checker::default();
        let later = Instant::ZERO + std::time::Duration::from_secs(1);
        checker.submitted(2, DeviceId(1), 5, later);
        checker.submitted(1, DeviceId(0), 5, Instant::ZERO);
        checker.dispatched(tag(4, 1), 1, |_| false);
        assert_eq!(checker.outstanding(), 2);
        checker.finish(&MidLayer::new());
        assert_eq!(
            checker.violations,
            vec![
                Violation::NeverCompleted {
                    token: 1,
                    device: DeviceId(0),
                    submitted: Instant::ZERO,
                    attempts: 1
                },
                Violation::NeverCompleted {
                    token: 2,
                    device: DeviceId(1),
                    submitted: later,
                    attempts: 0
                },
            ]
        );
        assert!(checker.violations[0]
            .to_string()
            .contains("request 1 (device 0"));
    }
}
