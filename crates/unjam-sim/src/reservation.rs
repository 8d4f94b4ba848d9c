//! Reservations of one logical unit: the SPC-2 RESERVE/RELEASE holder (an I_T nexus).
//! Persistent reservations extend it. Owns the state and who may do what; the executor
//! answers the commands and the front releases what a lost nexus or a reset ends.

/// The reservation state of a logical unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reservations {
    /// The nexus holding an SPC-2 reservation.
    reserved_by: Option<u64>,
}

impl Reservations {
    pub fn holder(&self) -> Option<u64> {
        self.reserved_by
    }

    /// RESERVE: granted when nobody else holds the unit.
    pub fn reserve(&mut self, nexus: u64) -> bool {
        match self.reserved_by {
            Some(holder) if holder != nexus => false,
            _ => {
                self.reserved_by = Some(nexus);
                true
            }
        }
    }

    /// RELEASE: only the holder's release does anything.
    pub fn release(&mut self, nexus: u64) {
        if self.reserved_by == Some(nexus) {
            self.reserved_by = None;
        }
    }

    /// Whether `nexus` is shut out by another nexus's reservation.
    pub fn conflicts(&self, nexus: u64) -> bool {
        self.reserved_by.is_some_and(|holder| holder != nexus)
    }

    /// A LUN or target reset ends the SPC-2 reservation.
    pub fn reset(&mut self) {
        self.reserved_by = None;
    }

    /// A nexus is gone (logout, connection loss): what it held alone is released.
    pub fn nexus_lost(&mut self, nexus: u64) {
        self.release(nexus);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_others_conflict_release_and_loss_free_it() {
        let mut reservations = Reservations::default();
        assert!(reservations.reserve(1));
        assert!(reservations.reserve(1), "the holder may reserve again");
        assert!(!reservations.reserve(2));
        assert!(reservations.conflicts(2) && !reservations.conflicts(1));
        reservations.release(2);
        assert_eq!(reservations.holder(), Some(1));
        reservations.nexus_lost(1);
        assert!(reservations.reserve(2));
        reservations.reset();
        assert_eq!(reservations.holder(), None);
    }
}
