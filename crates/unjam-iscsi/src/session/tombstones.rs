//! Tags of tasks that task management ended while the target may still have PDUs for them on
//! the wire (a response that crossed ABORT TASK): such PDUs are dropped quietly instead of
//! counting as strays.
//!
//! Owns a bounded ring of tags; the oldest is forgotten first.

use std::collections::VecDeque;

#[derive(Debug)]
pub(crate) struct Tombstones {
    tags: VecDeque<u32>,
    capacity: usize,
}

impl Tombstones {
    pub fn new(capacity: usize) -> Tombstones {
        Tombstones {
            tags: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn add(&mut self, tag: u32) {
        if self.tags.len() == self.capacity {
            self.tags.pop_front();
        }
        self.tags.push_back(tag);
        assert!(self.tags.len() <= self.capacity);
    }

    /// Linear, but only PDUs for unknown tags ask.
    pub fn contains(&self, tag: u32) -> bool {
        self.tags.contains(&tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_forgets_the_oldest_tag() {
        let mut tombstones = Tombstones::new(2);
        tombstones.add(1);
        tombstones.add(2);
        tombstones.add(3);
        assert!(!tombstones.contains(1));
        assert!(tombstones.contains(2) && tombstones.contains(3));
    }
}
