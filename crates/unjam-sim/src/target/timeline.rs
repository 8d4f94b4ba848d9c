//! The target's own clock-ordered work: command completions, task management answers and
//! transport edges, each due at a virtual time. Ties keep insertion order, so a run replays
//! exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Something the target will do at a given time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Timed {
    /// Finish command `tag` if it is still scheduled under `generation`.
    Complete { tag: u64, generation: u64 },
    /// Answer task management request `id`.
    TaskManagement { id: u64, success: bool },
    /// Fault rule `rule` takes a transport down (`down`) or brings it up.
    Transport { rule: usize, down: bool },
}

/// A min-heap of (due time, insertion order, work).
#[derive(Debug, Default)]
pub struct Timeline {
    heap: BinaryHeap<Reverse<(u64, u64, Timed)>>,
    inserted: u64,
}

impl Timeline {
    pub fn schedule(&mut self, at_us: u64, work: Timed) {
        self.inserted += 1;
        self.heap.push(Reverse((at_us, self.inserted, work)));
    }

    /// The earliest due time.
    pub fn next_due_us(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes the earliest work due at or before `now_us`.
    pub fn pop_due(&mut self, now_us: u64) -> Option<(u64, Timed)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now_us => {
                self.heap.pop().map(|Reverse((at, _, work))| (at, work))
            }
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// How much work was ever scheduled.
    pub fn scheduled(&self) -> u64 {
        self.inserted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_order_then_insertion_order() {
        let mut timeline = Timeline::default();
        timeline.schedule(
            20,
            Timed::Complete {
                tag: 1,
                generation: 0,
            },
        );
        timeline.schedule(
            10,
            Timed::Complete {
                tag: 9,
                generation: 0,
            },
        );
        timeline.schedule(
            10,
            Timed::Complete {
                tag: 2,
                generation: 0,
            },
        );
        assert_eq!(timeline.next_due_us(), Some(10));
        assert_eq!(timeline.pop_due(5), None);
        let tags: Vec<u64> = std::iter::from_fn(|| timeline.pop_due(100))
            .map(|(_, work)| match work {
                Timed::Complete { tag, .. } => tag,
                _ => 0,
            })
            .collect();
        assert_eq!(tags, [9, 2, 1]);
        assert!(timeline.is_empty());
    }
}
