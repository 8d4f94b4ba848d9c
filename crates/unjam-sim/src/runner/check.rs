//! The run's own exactly-once checker, in O(1) per event: every request submitted completes
//! upward exactly once, never while the target still holds one of its attempts, and never
//! with more counted retries than allowed. (The core's `Checker` scans every dispatch per
//! completion, too slow for long runs; it still watches the trace and the core's
//! structural invariants.)

use crate::fast_hash::FastMap;

use unjam_core::Completion;

/// What is known of one request.
#[derive(Debug, Default)]
struct Watched {
    allowed: i32,
    completions: u32,
    /// Target keys of its attempts.
    attempts: Vec<u64>,
}

/// The most attempts remembered per request (retries are bounded far below this).
const MAX_ATTEMPTS_KEPT: usize = 64;

#[derive(Debug, Default)]
pub(super) struct ExactlyOnce {
    requests: FastMap<u64, Watched>,
}

impl ExactlyOnce {
    pub fn submitted(&mut self, token: u64, allowed: i32) {
        self.requests.insert(
            token,
            Watched {
                allowed,
                ..Watched::default()
            },
        );
    }

    pub fn dispatched(&mut self, token: u64, key: u64) {
        if let Some(watched) = self.requests.get_mut(&token) {
            if watched.attempts.len() < MAX_ATTEMPTS_KEPT {
                watched.attempts.push(key);
            }
        }
    }

    /// Checks one completion; `holds` says whether the target still holds a key.
    pub fn completed(
        &mut self,
        completion: &Completion,
        holds: impl Fn(u64) -> bool,
    ) -> Vec<String> {
        let token = completion.token;
        let mut problems = Vec::new();
        let Some(watched) = self.requests.get_mut(&token) else {
            problems.push(format!("request {token} completed but was never submitted"));
            return problems;
        };
        watched.completions += 1;
        if watched.completions > 1 {
            problems.push(format!(
                "request {token} completed {} times",
                watched.completions
            ));
        }
        if watched.allowed >= 0 && completion.counted_retries > watched.allowed as u32 {
            problems.push(format!(
                "request {token}: {} counted retries > allowed {}",
                completion.counted_retries, watched.allowed
            ));
        }
        if let Some(key) = watched.attempts.iter().find(|key| holds(**key)) {
            problems.push(format!(
                "request {token} completed while the target holds attempt {key:#x}"
            ));
        }
        if watched.completions == 1 {
            watched.attempts = Vec::new();
        }
        problems
    }

    /// Requests that never completed.
    pub fn never_completed(&self) -> Vec<String> {
        let mut tokens: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, w)| w.completions == 0)
            .map(|(token, _)| *token)
            .collect();
        tokens.sort_unstable();
        tokens
            .iter()
            .take(10)
            .map(|t| format!("request {t} never completed"))
            .collect()
    }
}
