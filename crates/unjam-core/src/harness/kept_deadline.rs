//! [`KeptDeadline`]: the core's earliest deadline, read once and kept while it cannot have
//! moved earlier. Owns that one rule for every driver (the simulation driver and the tokio
//! engine); what a driver does with the deadline is its own.

use crate::midlayer::MidLayer;

/// A deadline of the core kept with the timer generation it was read at
/// ([`MidLayer::timer_generation`]). Arming a timer is the only way the core's earliest
/// deadline moves earlier, so while the generation stays, the kept deadline is never later
/// than the current one: at worst a timer set for it fires early and finds nothing due (a
/// spurious `handle_timeout` is a no-op). It is read again when the core armed a timer or
/// when it is due.
#[derive(Clone, Copy, Debug)]
pub struct KeptDeadline<T> {
    generation: u64,
    deadline: Option<T>,
}

impl<T: Copy + PartialOrd> Default for KeptDeadline<T> {
    fn default() -> Self {
        KeptDeadline::new()
    }
}

impl<T: Copy + PartialOrd> KeptDeadline<T> {
    /// Nothing kept yet: the first [`KeptDeadline::get`] reads.
    pub const fn new() -> Self {
        KeptDeadline {
            generation: u64::MAX,
            deadline: None,
        }
    }

    /// The kept deadline, or a fresh one from `read` (in the caller's clock) when the core
    /// armed a timer since or the kept one is at or before `now`. `read` must give the
    /// core's earliest deadline or an earlier one.
    #[inline]
    pub fn get(
        &mut self,
        mid: &mut MidLayer,
        now: T,
        read: impl FnOnce(&mut MidLayer) -> Option<T>,
    ) -> Option<T> {
        let generation = mid.timer_generation();
        if generation != self.generation || self.deadline.is_some_and(|at| at <= now) {
            self.deadline = read(mid);
            self.generation = generation;
        }
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;
    use crate::buffers::Cdb;
    use crate::config::{DeviceConfig, HostConfig, Personality};
    use crate::request::Request;
    use crate::time::Instant;

    #[test]
    fn reads_again_only_after_the_core_armed_a_timer_or_when_the_kept_one_is_due() {
        let mut mid = MidLayer::new();
        let host = mid.add_host(HostConfig::new(0, Personality::Generic));
        let disk = mid.add_device(host, DeviceConfig::disk(0, 0, 0)).unwrap();
        let reads = Cell::new(0);
        let mut kept = KeptDeadline::new();
        let mut get = |mid: &mut MidLayer, now: Instant| {
            kept.get(mid, now, |mid| {
                reads.set(reads.get() + 1);
                mid.poll_timeout()
            })
        };
        let start = Instant::ZERO;
        assert_eq!(get(&mut mid, start), None);
        assert_eq!(get(&mut mid, start), None);
        assert_eq!(reads.get(), 1, "nothing armed: the first read is kept");
        let mut read = Request::new(
            Cdb::from_slice(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap(),
            1,
        );
        read.data_len = 512;
        mid.submit(start, disk, read).unwrap();
        let deadline = get(&mut mid, start).expect("the dispatch armed the request's timer");
        assert_eq!(reads.get(), 2, "a timer was armed: read again");
        assert!(deadline > start);
        assert_eq!(
            get(
                &mut mid,
                start + (deadline.saturating_duration_since(start) - Duration::from_millis(1))
            ),
            Some(deadline)
        );
        assert_eq!(reads.get(), 2, "ahead and nothing armed: kept");
        let _ = get(&mut mid, deadline);
        assert_eq!(reads.get(), 3, "due: read again");
    }
}
