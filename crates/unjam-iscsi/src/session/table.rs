//! The session's tasks by Initiator Task Tag: a direct-mapped table, no hashing. Tags are
//! still handed out in sequence (wrapping at 2³², never the reserved tag); a tag whose slot
//! (`tag % slots`) is taken by another live task is skipped. With at least twice as many
//! slots as tasks can be live, a free slot is found in a couple of probes, and a lookup is
//! one index and one compare: a tag the target invents finds an empty slot or another tag.
//!
//! Owns slot bookkeeping only: which tags are live, and whether a SCSI task is still waiting
//! for the command window (its tag reserved) or sent (its state here).

use super::TaskState;

#[derive(Debug)]
enum SlotState {
    Free,
    /// A SCSI command waiting for the command window: its tag is taken, nothing was sent.
    Waiting,
    Sent(TaskState),
}

#[derive(Debug)]
struct Slot {
    tag: u32,
    state: SlotState,
}

/// Tasks sent (and tags reserved by waiting commands), by tag.
#[derive(Debug)]
pub(crate) struct TaskTable {
    slots: Vec<Slot>,
    /// `slots.len() - 1` (a power of two minus one).
    mask: u32,
    /// Slots in the `Sent` state.
    sent: usize,
}

impl TaskTable {
    /// A table for at most `live` tags at once (waiting and sent together).
    pub fn new(live: usize) -> TaskTable {
        let slots = live
            .saturating_mul(2)
            .max(2)
            .checked_next_power_of_two()
            .unwrap_or(1 << 31)
            .min(1 << 31);
        TaskTable {
            slots: (0..slots)
                .map(|_| Slot {
                    tag: 0,
                    state: SlotState::Free,
                })
                .collect(),
            mask: u32::try_from(slots - 1).unwrap_or(u32::MAX),
            sent: 0,
        }
    }

    /// Where `tag` lives.
    pub fn slot_of(&self, tag: u32) -> usize {
        (tag & self.mask) as usize
    }

    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Whether `tag` can be handed out: its slot is free.
    pub fn is_free(&self, tag: u32) -> bool {
        self.slots
            .get(self.slot_of(tag))
            .is_some_and(|slot| matches!(slot.state, SlotState::Free))
    }

    fn slot(&self, tag: u32) -> Option<&Slot> {
        self.slots
            .get(self.slot_of(tag))
            .filter(|slot| slot.tag == tag)
    }

    fn slot_mut(&mut self, tag: u32) -> Option<&mut Slot> {
        let index = self.slot_of(tag);
        self.slots.get_mut(index).filter(|slot| slot.tag == tag)
    }

    /// Takes `tag` (free) for a command waiting for the window.
    pub fn reserve(&mut self, tag: u32) {
        let index = self.slot_of(tag);
        let slot = &mut self.slots[index];
        assert!(matches!(slot.state, SlotState::Free), "tag slot taken");
        *slot = Slot {
            tag,
            state: SlotState::Waiting,
        };
    }

    /// Gives back the tag of a waiting command that ends before it was sent.
    pub fn release(&mut self, tag: u32) {
        if let Some(slot) = self.slot_mut(tag) {
            if matches!(slot.state, SlotState::Waiting) {
                slot.state = SlotState::Free;
            }
        }
    }

    /// Records a sent task under `tag`: free, or reserved by its waiting command.
    pub fn insert(&mut self, tag: u32, state: TaskState) {
        let index = self.slot_of(tag);
        let slot = &mut self.slots[index];
        let reserved = slot.tag == tag && matches!(slot.state, SlotState::Waiting);
        assert!(
            reserved || matches!(slot.state, SlotState::Free),
            "tag slot taken"
        );
        *slot = Slot {
            tag,
            state: SlotState::Sent(state),
        };
        self.sent += 1;
    }

    pub fn get(&self, tag: &u32) -> Option<&TaskState> {
        match self.slot(*tag) {
            Some(Slot {
                state: SlotState::Sent(state),
                ..
            }) => Some(state),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, tag: &u32) -> Option<&mut TaskState> {
        match self.slot_mut(*tag) {
            Some(Slot {
                state: SlotState::Sent(state),
                ..
            }) => Some(state),
            _ => None,
        }
    }

    pub fn contains_key(&self, tag: &u32) -> bool {
        self.get(tag).is_some()
    }

    pub fn remove(&mut self, tag: &u32) -> Option<TaskState> {
        let slot = self.slot_mut(*tag)?;
        if !matches!(slot.state, SlotState::Sent(_)) {
            return None;
        }
        let SlotState::Sent(state) = std::mem::replace(&mut slot.state, SlotState::Free) else {
            return None;
        };
        self.sent -= 1;
        Some(state)
    }

    /// Sent tasks.
    pub fn len(&self) -> usize {
        self.sent
    }

    pub fn is_empty(&self) -> bool {
        self.sent == 0
    }

    /// Sent tasks in slot order (not tag order; sort when order matters).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &TaskState)> + '_ {
        self.slots.iter().filter_map(|slot| match &slot.state {
            SlotState::Sent(state) => Some((slot.tag, state)),
            _ => None,
        })
    }
}
