//! Per-command state and the slab that holds every live command, indexed by tag slot.
//!
//! The slab never shrinks; a freed slot is reused (LIFO) so that steady state does not
//! allocate. A slot's generation changes on every dispatch and on free, so a tag from an
//! earlier attempt or an earlier command no longer matches (stale completions are detected).
//!
//! Sense data (96 bytes) is needed only after a CHECK CONDITION: it lives in a side pool of
//! the slab, not in the command, so the slab entry a command's every step touches stays
//! small. A command points at its pool entry, if it has one; the pool never shrinks either.

use std::time::Duration;

use unjam_scsi::ScsiResult;

use crate::buffers::SenseBuffer;
pub use crate::ids::{CommandKind, NO_SLOT};
use crate::ids::{DeviceId, Tag};
use crate::lifecycle::State;
use crate::request::Request;
use crate::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Command {
    pub request: Request,
    pub device: DeviceId,
    pub kind: CommandKind,
    /// Where it is in its life; changed only through `MidLayer::set_state`.
    pub state: State,
    pub retries: i32,
    pub allowed: i32,
    /// `jiffies_at_alloc`: when the request was first prepared for dispatch (not while it
    /// only waited in its queue), kept across retries, requeues and re-preparations; valid
    /// once `prepared` (two fields instead of an `Option` keep the command small).
    prepared_at: Instant,
    prepared: bool,
    pub attempts: u32,
    pub counted_retries: u32,
    pub result: ScsiResult,
    /// Its sense in the slab's pool (`NO_SLOT`: none); read and written through
    /// [`Slab::sense`], [`Slab::set_sense`] and [`Slab::clear_sense`].
    sense: u32,
    pub resid: u32,
    /// Bytes already completed good by earlier attempts (partial completion).
    pub good_bytes: u32,
    pub deadline: Instant,
    pub timer_resets: u16,
    /// Consecutive re-preparations that completed no byte (bounded by
    /// `DeviceConfig::max_repreps_without_progress`).
    pub repreps_without_progress: u16,
    /// Links of the device's in-flight list (the block timer's requests), `NO_SLOT` at ends.
    pub timer_prev: u32,
    pub timer_next: u32,
    /// For an error-handler command: the slot of the failed command it is sent for (the
    /// kernel hijacks that command: log lines carry its tag, its sense buffer receives the
    /// answer). `NO_SLOT` for requests.
    pub eh_carrier: u32,
}

impl Command {
    /// A command for `request`, whose per-attempt timeout is resolved to `timeout`.
    pub fn new(
        request: Request,
        device: DeviceId,
        kind: CommandKind,
        allowed: i32,
        timeout: Duration,
        now: Instant,
    ) -> Command {
        let request = Request {
            timeout: Some(timeout),
            ..request
        };
        Command {
            request,
            device,
            kind,
            state: State::Queued { aborted: false },
            retries: 0,
            allowed,
            prepared_at: now,
            prepared: false,
            attempts: 0,
            counted_retries: 0,
            result: ScsiResult::OK,
            sense: NO_SLOT,
            resid: 0,
            good_bytes: 0,
            deadline: now,
            timer_resets: 0,
            repreps_without_progress: 0,
            timer_prev: NO_SLOT,
            timer_next: NO_SLOT,
            eh_carrier: NO_SLOT,
        }
    }
}

impl Command {
    /// Counted in its device's, target's and host's busy counters (requests only).
    pub fn busy(&self) -> bool {
        self.kind == CommandKind::Io && self.state.busy()
    }

    /// The transport may still touch the command's buffers.
    pub fn owned(&self) -> bool {
        self.state.owned()
    }

    /// The per-attempt timeout (resolved when the command was made).
    pub fn timeout(&self) -> Duration {
        self.request.timeout.unwrap_or_default()
    }

    /// When the request was first prepared for dispatch, if it was.
    pub fn prepared_at(&self) -> Option<Instant> {
        self.prepared.then_some(self.prepared_at)
    }

    /// The first preparation for dispatch starts the lifetime clock; later ones keep it.
    pub fn mark_prepared(&mut self, now: Instant) {
        if !self.prepared {
            self.prepared = true;
            self.prepared_at = now;
        }
    }

    /// unjam's lifetime bound ([`crate::disposition::lifetime_exceeded`]): the limit in whole
    /// seconds once it has passed.
    pub fn lifetime_exceeded(&self, now: Instant) -> Option<u64> {
        crate::disposition::lifetime_exceeded(now, self.prepared_at(), self.allowed, self.timeout())
    }

    /// An uncounted retry (`allowed = -1`) would outlive unjam's lifetime bound: the
    /// command is finished instead. The kernel retries such a command after an abort or
    /// from the error handler's flush without any cap; unjam's bound is a deliberate
    /// difference (docs/core.md), and the checker forbids an uncounted requeue past it.
    pub fn no_limit_retry_expired(&self, now: Instant) -> bool {
        self.allowed == crate::disposition::RETRIES_NO_LIMIT
            && self.lifetime_exceeded(now).is_some()
    }

    /// When [`Command::lifetime_exceeded`] will say so (`None` before the first prepare).
    pub fn lifetime_deadline(&self) -> Option<Instant> {
        let allowed = if self.allowed < 0 {
            crate::disposition::NO_LIMIT_LIFETIME_TIMEOUTS - 1
        } else {
            self.allowed as u32
        };
        Some(self.prepared_at()? + self.timeout().saturating_mul(allowed.saturating_add(1)))
    }

    /// `cmd_age` of the log lines: since the first prepare (0 if never sent).
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.prepared_at().unwrap_or(now))
    }
}

/// Aligned to a cache line: a slot spans exactly three lines (176 bytes unaligned touched
/// three or four); at 4096 LUNs a queued command's slot is cold when its dispatch comes.
#[repr(align(64))]
struct Slot {
    generation: u32,
    command: Option<Command>,
}

/// Commands by slot, with generations, and the sense pool.
pub struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: u32,
    senses: Vec<SenseBuffer>,
    free_senses: Vec<u32>,
}

impl Slab {
    pub fn with_capacity(capacity: usize) -> Slab {
        Slab {
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            live: 0,
            senses: Vec::new(),
            free_senses: Vec::new(),
        }
    }

    /// Stores `command` and returns its tag. Inline, so that a command built at the call
    /// is written straight into its slot (a command is a few cache lines: a copy costs).
    #[inline]
    pub fn insert(&mut self, command: Command) -> Tag {
        self.live += 1;
        if let Some(slot) = self.free.pop() {
            let entry = &mut self.slots[slot as usize];
            assert!(entry.command.is_none(), "free slot {slot} holds a command");
            entry.command = Some(command);
            return Tag {
                slot,
                generation: entry.generation,
            };
        }
        let slot = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 0,
            command: Some(command),
        });
        Tag {
            slot,
            generation: 0,
        }
    }

    /// Frees a live slot in place (its generation moves on), without moving the command out.
    #[inline]
    pub fn free(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        let sense = match &entry.command {
            Some(command) => command.sense,
            None => panic!("freeing empty slot {slot}"),
        };
        entry.command = None;
        if sense != NO_SLOT {
            self.free_senses.push(sense);
        }
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
    }

    /// Frees a slot (its generation moves on).
    /// The command's sense goes back to the pool (the returned command has none).
    pub fn remove(&mut self, slot: u32) -> Option<Command> {
        self.get(slot)?;
        self.clear_sense(slot);
        let entry = self.slots.get_mut(slot as usize)?;
        let command = entry.command.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
        Some(command)
    }

    /// The command in `slot` whatever its generation.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&Command> {
        self.slots.get(slot as usize)?.command.as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Command> {
        self.slots.get_mut(slot as usize)?.command.as_mut()
    }

    /// The live command in `slot`; a dead slot here is a bug in the core.
    #[inline]
    #[track_caller]
    pub fn command(&self, slot: u32) -> &Command {
        match self.get(slot) {
            Some(command) => command,
            None => panic!("slot {slot} holds no command"),
        }
    }

    /// The live command in `slot`, mutably; a dead slot here is a bug in the core.
    #[inline]
    #[track_caller]
    pub fn command_mut(&mut self, slot: u32) -> &mut Command {
        match self.get_mut(slot) {
            Some(command) => command,
            None => panic!("slot {slot} holds no command"),
        }
    }

    /// The command `tag` names, if it is still that command's current attempt.
    #[inline]
    pub fn by_tag(&self, tag: Tag) -> Option<&Command> {
        let entry = self.slots.get(tag.slot as usize)?;
        (entry.generation == tag.generation).then_some(())?;
        entry.command.as_ref()
    }

    /// The current tag of `slot`.
    #[inline]
    pub fn tag(&self, slot: u32) -> Tag {
        let generation = self
            .slots
            .get(slot as usize)
            .map_or(0, |entry| entry.generation);
        Tag { slot, generation }
    }

    /// Starts a new attempt: the slot's generation moves on and the new tag is returned.
    #[inline]
    pub fn next_generation(&mut self, slot: u32) -> Tag {
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            entry.generation = entry.generation.wrapping_add(1);
        }
        self.tag(slot)
    }

    pub fn live(&self) -> u32 {
        self.live
    }

    /// The sense of the live command in `slot` (empty when it has none).
    #[inline]
    #[track_caller]
    pub fn sense(&self, slot: u32) -> &SenseBuffer {
        match self.command(slot).sense {
            NO_SLOT => &SenseBuffer::EMPTY,
            index => &self.senses[index as usize],
        }
    }

    /// Sets the sense of the live command in `slot`: an empty buffer frees its pool entry,
    /// a non-empty one takes an entry (reused, or the pool grows) unless it has one.
    #[inline]
    #[track_caller]
    pub fn set_sense(&mut self, slot: u32, sense: &SenseBuffer) {
        if sense.is_empty() {
            self.clear_sense(slot);
        } else {
            self.store_sense(slot, sense);
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn store_sense(&mut self, slot: u32, sense: &SenseBuffer) {
        let index = match self.command(slot).sense {
            NO_SLOT => {
                let index = match self.free_senses.pop() {
                    Some(index) => index,
                    None => {
                        self.senses.push(SenseBuffer::EMPTY);
                        self.senses.len() as u32 - 1
                    }
                };
                self.command_mut(slot).sense = index;
                index
            }
            index => index,
        };
        self.senses[index as usize] = *sense;
    }

    /// Clears the sense of the live command in `slot` (its pool entry is freed).
    #[inline]
    #[track_caller]
    pub fn clear_sense(&mut self, slot: u32) {
        let cmd = self.command_mut(slot);
        if cmd.sense != NO_SLOT {
            let index = std::mem::replace(&mut cmd.sense, NO_SLOT);
            self.free_senses.push(index);
        }
    }

    /// Pool entries in use (for the invariants: one per command with sense).
    pub fn senses_in_use(&self) -> usize {
        self.senses.len() - self.free_senses.len()
    }

    /// The live command in `slot` has sense.
    pub fn has_sense(&self, slot: u32) -> bool {
        self.get(slot).is_some_and(|cmd| cmd.sense != NO_SLOT)
    }

    /// Slots ever used (live or free): every slot number is below it.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Every live command with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Command)> {
        self.slots.iter().enumerate().filter_map(|(slot, entry)| {
            entry.command.as_ref().map(|command| (slot as u32, command))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffers::Cdb;

    fn command() -> Command {
        let request = Request::new(Cdb::from_array([0; 6]), 1);
        Command::new(
            request,
            DeviceId(0),
            CommandKind::Io,
            5,
            Duration::from_secs(30),
            Instant::ZERO,
        )
    }

    #[test]
    fn generations_detect_stale_tags() {
        let mut slab = Slab::with_capacity(4);
        let first = slab.insert(command());
        assert!(slab.by_tag(first).is_some());
        let second_attempt = slab.next_generation(first.slot);
        assert!(
            slab.by_tag(first).is_none(),
            "an earlier attempt's tag is stale"
        );
        assert!(slab.by_tag(second_attempt).is_some());
        slab.remove(first.slot);
        let reused = slab.insert(command());
        assert_eq!(reused.slot, first.slot, "slots are reused");
        assert!(
            slab.by_tag(second_attempt).is_none(),
            "a freed command's tag is stale"
        );
        assert_eq!(slab.live(), 1);
    }

    #[test]
    fn sense_lives_in_the_pool_and_is_reused() {
        let mut slab = Slab::with_capacity(4);
        let a = slab.insert(command());
        let b = slab.insert(command());
        assert!(slab.sense(a.slot).is_empty());
        let check = SenseBuffer::from_slice(&[0x70, 0, 3, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11]);
        slab.set_sense(a.slot, &check);
        assert_eq!(slab.sense(a.slot), &check);
        assert!(slab.sense(b.slot).is_empty());
        assert_eq!(slab.senses_in_use(), 1);
        slab.set_sense(a.slot, &SenseBuffer::EMPTY);
        assert!(!slab.has_sense(a.slot) && slab.senses_in_use() == 0);
        slab.set_sense(b.slot, &check);
        slab.free(b.slot);
        assert_eq!(slab.senses_in_use(), 0, "freeing a command frees its sense");
        slab.set_sense(a.slot, &check);
        assert_eq!(slab.senses.len(), 1, "the entry is reused");
        let taken = slab.remove(a.slot).unwrap();
        assert_eq!(taken.sense, NO_SLOT);
        assert_eq!(slab.senses_in_use(), 0);
    }
}
