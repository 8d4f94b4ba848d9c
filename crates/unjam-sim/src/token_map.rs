//! A map from request tokens to values, for tokens handed out in increasing order and
//! outstanding for a while (the runner's I/Os, the transport's buffers). A token lives in
//! the slot its low bits name; one whose slot is taken by an older token that is still
//! outstanding goes to an overflow hash map. Tokens issued one after another sit side by
//! side, so a run that completes requests roughly in issue order sweeps through the table
//! instead of probing a hash table at random (at 4096 LUNs, 64 k requests outstanding,
//! every random probe was a cache miss). Any `u64` key works; only locality depends on
//! the order.

use crate::fast_hash::FastMap;

/// The smallest table.
const MIN_SLOTS: usize = 64;

/// The most slots (a bound on the table; past it, tokens overflow to the hash map).
const MAX_SLOTS: usize = 1 << 24;

/// Tokens to values, dense for tokens issued in order.
#[derive(Debug)]
pub struct TokenMap<V> {
    slots: Vec<Option<(u64, V)>>,
    overflow: FastMap<u64, V>,
    len: usize,
}

impl<V> Default for TokenMap<V> {
    fn default() -> Self {
        TokenMap {
            slots: Vec::new(),
            overflow: FastMap::default(),
            len: 0,
        }
    }
}

impl<V> TokenMap<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn index(&self, token: u64) -> usize {
        (token as usize) & (self.slots.len() - 1)
    }

    /// Stores `value` under `token`; returns the value it replaces.
    pub fn insert(&mut self, token: u64, value: V) -> Option<V> {
        if self.slots.is_empty()
            || (self.len * 2 > self.slots.len() && self.slots.len() < MAX_SLOTS)
        {
            self.grow();
        }
        if !self.overflow.is_empty() {
            if let Some(old) = self.overflow.get_mut(&token) {
                return Some(std::mem::replace(old, value));
            }
        }
        let index = self.index(token);
        match &mut self.slots[index] {
            Some((key, old)) if *key == token => Some(std::mem::replace(old, value)),
            Some(_) => {
                self.len += 1;
                self.overflow.insert(token, value)
            }
            empty => {
                self.len += 1;
                *empty = Some((token, value));
                None
            }
        }
    }

    pub fn get(&self, token: &u64) -> Option<&V> {
        if self.slots.is_empty() {
            return None;
        }
        match &self.slots[self.index(*token)] {
            Some((key, value)) if key == token => Some(value),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get(token),
        }
    }

    pub fn get_mut(&mut self, token: &u64) -> Option<&mut V> {
        if self.slots.is_empty() {
            return None;
        }
        let index = self.index(*token);
        match &mut self.slots[index] {
            Some((key, value)) if key == token => Some(value),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get_mut(token),
        }
    }

    pub fn contains_key(&self, token: &u64) -> bool {
        self.get(token).is_some()
    }

    pub fn remove(&mut self, token: &u64) -> Option<V> {
        if self.slots.is_empty() {
            return None;
        }
        let index = self.index(*token);
        let slot = &mut self.slots[index];
        let removed = match slot {
            Some((key, _)) if key == token => slot.take().map(|(_, value)| value),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.remove(token),
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        self.slots
            .iter()
            .filter_map(|slot| slot.as_ref().map(|(key, value)| (key, value)))
            .chain(self.overflow.iter())
    }

    /// Doubles the table and places every entry again (overflowed ones too, when their
    /// slot is free now).
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).clamp(MIN_SLOTS, MAX_SLOTS);
        let old_slots = std::mem::take(&mut self.slots);
        let old_overflow = std::mem::take(&mut self.overflow);
        self.slots = Vec::with_capacity(size);
        self.slots.resize_with(size, || None);
        let entries = old_slots
            .into_iter()
            .flatten()
            .chain(old_overflow)
            .collect::<Vec<_>>();
        for (token, value) in entries {
            let index = self.index(token);
            match &mut self.slots[index] {
                Some(_) => {
                    self.overflow.insert(token, value);
                }
                empty => *empty = Some((token, value)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn behaves_like_a_map_with_colliding_and_growing_keys() {
        let mut map = TokenMap::default();
        let mut model = std::collections::BTreeMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for step in 0..20_000u64 {
            let state: u64 = rng.gen();
            // Mostly recent tokens, some far apart (they collide modulo the table size).
            let token = match state >> 62 {
                0 => step,
                1 => step.saturating_sub(state >> 50 & 255),
                2 => (state >> 40) % 4096 * 64,
                _ => step / 2,
            };
            match (state >> 33) % 3 {
                0 => assert_eq!(map.remove(&token), model.remove(&token)),
                _ => assert_eq!(map.insert(token, step), model.insert(token, step)),
            }
            assert_eq!(map.len(), model.len());
            assert_eq!(map.get(&token), model.get(&token));
        }
        let mut all: Vec<(u64, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        all.sort_unstable();
        assert_eq!(all, model.into_iter().collect::<Vec<_>>());
    }
}
