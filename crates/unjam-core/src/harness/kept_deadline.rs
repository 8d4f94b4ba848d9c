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
