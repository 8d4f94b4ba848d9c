//! What `--verify` remembers: the sequence number of the last good write of every I/O unit
//! (slot), and which slots have an I/O in flight — a slot is never read and written at
//! once, so every read-back has exactly one expected content.
//!
//! Owns that bookkeeping; the data format is `workload`'s.

/// Most slots a verifying run covers (16 bytes each): larger LUNs are verified over their
/// first 4 Mi units.
pub const MAX_SLOTS: u64 = 4 * 1024 * 1024;

/// The sequence of a slot whose last write failed: its content is not known.
const UNKNOWN: u64 = u64::MAX;

/// An I/O's claim on its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A read; `expected` is the write it must find (none: never written, or unknown).
    Read { expected: Option<u64> },
    /// A write with this sequence number.
    Write { sequence: u64 },
}

#[derive(Debug)]
pub struct VerifyMap {
    /// Per slot: 0 never written, [`UNKNOWN`], or the sequence of the last good write.
    written: Vec<u64>,
    busy: Vec<bool>,
    next_sequence: u64,
}

impl VerifyMap {
    pub fn new(slots: u64) -> VerifyMap {
        let slots = slots.min(MAX_SLOTS) as usize;
        VerifyMap {
            written: vec![0; slots],
            busy: vec![false; slots],
            next_sequence: 1,
        }
    }

    /// Claims `slot`; `None` while another I/O holds it.
    pub fn reserve(&mut self, slot: u64, read: bool) -> Option<Reservation> {
        let index = slot as usize;
        if *self.busy.get(index)? {
            return None;
        }
        self.busy[index] = true;
        if read {
            let last = self.written[index];
            let expected = (last != 0 && last != UNKNOWN).then_some(last);
            return Some(Reservation::Read { expected });
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        Some(Reservation::Write { sequence })
    }

    /// Ends the claim; a write records its sequence if it succeeded, else the slot's
    /// content becomes unknown.
    pub fn release(&mut self, slot: u64, reservation: Reservation, succeeded: bool) {
        let index = slot as usize;
        if let Some(busy) = self.busy.get_mut(index) {
            *busy = false;
        }
        if let (Reservation::Write { sequence }, Some(written)) =
            (reservation, self.written.get_mut(index))
        {
            *written = if succeeded { sequence } else { UNKNOWN };
        }
    }

    /// Every slot with a known last write: (slot, sequence).
    pub fn written(&self) -> Vec<(u64, u64)> {
        self.written
            .iter()
            .enumerate()
            .filter(|(_, sequence)| **sequence != 0 && **sequence != UNKNOWN)
            .map(|(slot, sequence)| (slot as u64, *sequence))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_never_read_and_written_at_once() {
        let mut map = VerifyMap::new(4);
        let write = map.reserve(1, false).unwrap();
        assert_eq!(write, Reservation::Write { sequence: 1 });
        assert_eq!(map.reserve(1, true), None);
        map.release(1, write, true);
        assert_eq!(
            map.reserve(1, true),
            Some(Reservation::Read { expected: Some(1) })
        );
        map.release(1, Reservation::Read { expected: Some(1) }, true);
        let failed = map.reserve(1, false).unwrap();
        map.release(1, failed, false);
        assert_eq!(
            map.reserve(1, true),
            Some(Reservation::Read { expected: None })
        );
        assert_eq!(map.reserve(9, true), None, "outside the verified range");
        let good = map.reserve(2, false).unwrap();
        map.release(2, good, true);
        assert_eq!(map.written(), vec![(2, 3)]);
    }
}
