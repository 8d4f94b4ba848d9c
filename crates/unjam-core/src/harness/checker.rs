//! Invariants checked from outside the core, after every step of the driver loop:
//! every submitted request completes exactly once; no request completes while its
//! transport still holds the buffers; counted retries never exceed `allowed`; no
//! uncounted requeue happens past the runtime cap; and the core's own structural checks
//! (`MidLayer::check_invariants`). EH scope isolation is checked by issue 5's scopes.

use std::collections::HashMap;

use crate::action::{Completion, Tag};
use crate::midlayer::MidLayer;
use crate::trace::{TraceEvent, TraceRecord};

/// A broken invariant.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Violation {
    #[error("request {token} completed twice, or without being submitted")]
    UnexpectedCompletion { token: u64 },
    #[error("request {token} completed while the transport holds {tag:?}")]
    CompletedWhileHeld { token: u64, tag: Tag },
    #[error("request {token}: {retries} counted retries > allowed {allowed}")]
    TooManyRetries {
        token: u64,
        retries: u32,
        allowed: i32,
    },
    #[error("uncounted requeue of {tag:?} after its runtime cap")]
    RequeuePastCap { tag: Tag },
    #[error("request {token} never completed")]
    NeverCompleted { token: u64 },
    #[error("core: {0}")]
    Core(String),
}

/// Watches submissions, dispatches and completions. Tokens must be unique among
/// outstanding requests.
#[derive(Debug, Default)]
pub struct Checker {
    /// Outstanding requests: token → allowed. Removed at completion, so memory is bounded
    /// by what is outstanding and a second completion is caught as unexpected.
    requests: HashMap<u64, i32>,
    /// tag → token of every dispatch.
    dispatched: HashMap<Tag, u64>,
    pub violations: Vec<Violation>,
}

impl Checker {
    pub fn submitted(&mut self, token: u64, allowed: i32) {
        self.requests.insert(token, allowed);
    }

    pub fn dispatched(&mut self, tag: Tag, token: u64) {
        self.dispatched.insert(tag, token);
    }

    /// Checks a completion; `holds` asks the transport whether it still has a tag.
    pub fn completed(&mut self, completion: &Completion, holds: impl Fn(Tag) -> bool) {
        let token = completion.token;
        let Some(allowed) = self.requests.remove(&token) else {
            self.violations
                .push(Violation::UnexpectedCompletion { token });
            return;
        };
        if allowed >= 0 && completion.counted_retries > allowed as u32 {
            let retries = completion.counted_retries;
            self.violations.push(Violation::TooManyRetries {
                token,
                retries,
                allowed,
            });
        }
        let held: Vec<Tag> = self
            .dispatched
            .iter()
            .filter(|(tag, t)| **t == token && holds(**tag))
            .map(|(tag, _)| *tag)
            .collect();
        for tag in held {
            self.violations
                .push(Violation::CompletedWhileHeld { token, tag });
        }
        self.dispatched.retain(|_, t| *t != token);
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
                self.violations.push(Violation::RequeuePastCap { tag });
            }
        }
    }

    /// After a run to idle: every request completed, and the core's own checks.
    pub fn finish(&mut self, mid: &MidLayer) {
        for token in self.requests.keys() {
            self.violations
                .push(Violation::NeverCompleted { token: *token });
        }
        if let Err(error) = mid.check_invariants() {
            self.violations.push(Violation::Core(error));
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
    use crate::topology::DeviceId;
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

    #[test]
    fn catches_double_completion_held_buffers_and_retries() {
        let mut checker = Checker::default();
        let tag = Tag {
            slot: 3,
            generation: 1,
        };
        checker.submitted(7, 2);
        checker.dispatched(tag, 7);
        checker.completed(&completion(7, 3), |held| held == tag);
        checker.completed(&completion(7, 0), |_| false);
        assert_eq!(
            checker.violations,
            vec![
                Violation::TooManyRetries {
                    token: 7,
                    retries: 3,
                    allowed: 2
                },
                Violation::CompletedWhileHeld { token: 7, tag },
                Violation::UnexpectedCompletion { token: 7 },
            ]
        );
    }

    #[test]
    fn catches_a_request_that_never_completed() {
        let mut checker = Checker::default();
        checker.submitted(1, 5);
        checker.finish(&MidLayer::new());
        assert_eq!(
            checker.violations,
            vec![Violation::NeverCompleted { token: 1 }]
        );
    }
}
