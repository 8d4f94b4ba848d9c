//! What one connection holds on the wall clock: commands waiting for their due time (their
//! latency), swallowed commands waiting for an abort, task management answers due later,
//! and output delayed by a fault. Bounded by the session's command window (commands and
//! answers) and by the delayed bytes.
//!
//! Owns the ordering only; executing and answering is the connection's.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use bytes::Bytes;

use crate::engine::Scheduled;

/// Most bytes of output held back by a delay fault before the connection waits for them.
pub const MAX_DELAYED_BYTES: usize = 64 << 20;

/// A command the connection holds.
#[derive(Debug)]
pub struct HeldCommand {
    pub lun: u64,
    pub cdb: [u8; 16],
    pub data_out: Bytes,
    pub scheduled: Scheduled,
}

/// Something due at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    Command { itt: u32 },
    Management { itt: u32, response: u8 },
}

#[derive(Debug, Default)]
pub struct Held {
    commands: HashMap<u32, HeldCommand>,
    due: BinaryHeap<Reverse<(u64, u64, Due)>>,
    inserted: u64,
    delayed: VecDeque<(u64, Vec<u8>)>,
    delayed_bytes: usize,
}

impl Held {
    /// Holds a command; it comes out at `due_us` (never, when `swallowed`).
    pub fn hold(&mut self, itt: u32, command: HeldCommand, swallowed: bool) {
        if !swallowed {
            self.schedule(command.scheduled.due_us, Due::Command { itt });
        }
        self.commands.insert(itt, command);
    }

    pub fn schedule(&mut self, at_us: u64, due: Due) {
        self.inserted += 1;
        self.due.push(Reverse((at_us, self.inserted, due)));
    }

    /// Takes a held command (it is answered, aborted or terminated).
    pub fn take(&mut self, itt: u32) -> Option<HeldCommand> {
        self.commands.remove(&itt)
    }

    /// Every held command, for release when the connection ends.
    pub fn drain_commands(&mut self) -> Vec<HeldCommand> {
        self.commands.drain().map(|(_, c)| c).collect()
    }

    /// The next item due at or before `now_us` (a command taken since then is skipped).
    pub fn pop_due(&mut self, now_us: u64) -> Option<Due> {
        loop {
            let Reverse((at, _, due)) = *self.due.peek()?;
            if at > now_us {
                return None;
            }
            self.due.pop();
            match due {
                Due::Command { itt } if !self.commands.contains_key(&itt) => continue,
                _ => return Some(due),
            }
        }
    }

    /// Output held back until `release_us` (never before earlier held output).
    pub fn delay_output(&mut self, release_us: u64, bytes: Vec<u8>) {
        let release = self
            .delayed
            .back()
            .map_or(release_us, |(last, _)| release_us.max(*last));
        self.delayed_bytes += bytes.len();
        self.delayed.push_back((release, bytes));
    }

    pub fn delayed_is_full(&self) -> bool {
        self.delayed_bytes >= MAX_DELAYED_BYTES
    }

    /// Output whose time has come.
    pub fn released_output(&mut self, now_us: u64) -> Option<Vec<u8>> {
        match self.delayed.front() {
            Some((at, _)) if *at <= now_us => {
                let (_, bytes) = self.delayed.pop_front()?;
                self.delayed_bytes -= bytes.len();
                Some(bytes)
            }
            _ => None,
        }
    }

    pub fn has_delayed_output(&self) -> bool {
        !self.delayed.is_empty()
    }

    /// The earliest moment something is due.
    pub fn next_due_us(&self) -> Option<u64> {
        let due = self.due.peek().map(|Reverse((at, _, _))| *at);
        let output = self.delayed.front().map(|(at, _)| *at);
        match (due, output) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
