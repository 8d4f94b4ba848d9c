//! The state of every I_T_L nexus the target has seen: pending unit attentions and withheld
//! sense, per initiator port and logical unit. Bounded: past the limit the oldest entry of
//! another nexus is forgotten (it sees a fresh state, like after a power on).
//!
//! Owns the table only; the executor reads and changes each entry.

use std::collections::{HashMap, VecDeque};

use unjam_sim::PathState;

/// The most I_T_L entries kept.
pub const MAX_NEXUS_STATES: usize = 1 << 16;

/// Unit attention 29/01: power on occurred.
const POWER_ON_OCCURRED: (u8, u8) = (0x29, 0x01);

#[derive(Debug)]
pub(super) struct NexusStates {
    states: HashMap<(u64, usize), PathState>,
    order: VecDeque<(u64, usize)>,
    power_on_unit_attention: bool,
}

impl NexusStates {
    pub(super) fn new(power_on_unit_attention: bool) -> NexusStates {
        NexusStates {
            states: HashMap::new(),
            order: VecDeque::new(),
            power_on_unit_attention,
        }
    }

    /// The state of `nexus` on `unit`; a nexus new to the unit starts as after a power on.
    pub(super) fn state(&mut self, nexus: u64, unit: usize) -> &mut PathState {
        let key = (nexus, unit);
        if !self.states.contains_key(&key) {
            while self.states.len() >= MAX_NEXUS_STATES {
                let Some(oldest) = self.order.pop_front() else {
                    break;
                };
                self.states.remove(&oldest);
            }
            let mut state = PathState::default();
            if self.power_on_unit_attention {
                state.raise_unit_attention(POWER_ON_OCCURRED);
            }
            self.states.insert(key, state);
            self.order.push_back(key);
        }
        self.states.entry(key).or_default()
    }

    /// Raises a unit attention on every nexus that knows `unit` (except `except`).
    pub(super) fn raise_all(&mut self, unit: usize, code: (u8, u8), except: Option<u64>) {
        for ((nexus, at), state) in self.states.iter_mut() {
            if *at == unit && Some(*nexus) != except {
                state.raise_unit_attention(code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_nexuses_see_power_on_and_attentions_reach_every_nexus() {
        let mut states = NexusStates::new(true);
        assert_eq!(
            states.state(1, 0).take_unit_attention(),
            Some(POWER_ON_OCCURRED)
        );
        assert_eq!(states.state(1, 0).take_unit_attention(), None);
        states.state(2, 0);
        states.raise_all(0, (0x2a, 0x06), Some(2));
        assert_eq!(states.state(1, 0).take_unit_attention(), Some((0x2a, 0x06)));
        assert_eq!(
            states.state(2, 0).take_unit_attention(),
            Some(POWER_ON_OCCURRED)
        );
        assert_eq!(states.state(2, 0).take_unit_attention(), None);
    }
}
