//! Reservations of one logical unit: the SPC-2 RESERVE/RELEASE holder and the SPC-4
//! persistent reservation (registrations, the reservation and its type, the generation),
//! each an I_T nexus's. Owns the state, who may do what, and the unit attentions other
//! nexuses are owed (drained by the front that owns the nexuses); the executor answers the
//! commands.

use std::collections::VecDeque;

/// The most registrations a logical unit keeps.
pub const MAX_REGISTRATIONS: usize = 256;
/// The most unit attentions waiting to be handed to other nexuses.
const MAX_PENDING_ATTENTIONS: usize = 256;

/// RESERVATIONS PREEMPTED and RESERVATIONS RELEASED (SPC-4 unit attentions).
pub const RESERVATIONS_PREEMPTED: (u8, u8) = (0x2a, 0x03);
pub const RESERVATIONS_RELEASED: (u8, u8) = (0x2a, 0x04);

/// Persistent reservation types (SPC-4 table 169).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReservationType {
    WriteExclusive = 1,
    ExclusiveAccess = 3,
    WriteExclusiveRegistrantsOnly = 5,
    ExclusiveAccessRegistrantsOnly = 6,
    WriteExclusiveAllRegistrants = 7,
    ExclusiveAccessAllRegistrants = 8,
}

impl ReservationType {
    pub fn from_code(code: u8) -> Option<ReservationType> {
        Some(match code {
            1 => ReservationType::WriteExclusive,
            3 => ReservationType::ExclusiveAccess,
            5 => ReservationType::WriteExclusiveRegistrantsOnly,
            6 => ReservationType::ExclusiveAccessRegistrantsOnly,
            7 => ReservationType::WriteExclusiveAllRegistrants,
            8 => ReservationType::ExclusiveAccessAllRegistrants,
            _ => return None,
        })
    }

    /// Registrants (not only the holder) have the access of a holder.
    pub fn registrants_share(self) -> bool {
        !matches!(
            self,
            ReservationType::WriteExclusive | ReservationType::ExclusiveAccess
        )
    }

    /// Every registrant holds the reservation (the all-registrants types).
    pub fn all_registrants_hold(self) -> bool {
        matches!(
            self,
            ReservationType::WriteExclusiveAllRegistrants
                | ReservationType::ExclusiveAccessAllRegistrants
        )
    }

    /// Others may not even read.
    pub fn exclusive_access(self) -> bool {
        matches!(
            self,
            ReservationType::ExclusiveAccess
                | ReservationType::ExclusiveAccessRegistrantsOnly
                | ReservationType::ExclusiveAccessAllRegistrants
        )
    }
}

/// One registered I_T nexus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub nexus: u64,
    pub key: u64,
    /// The initiator port name (iSCSI: `name,i,0xISID`), for READ FULL STATUS.
    pub initiator_port: String,
    pub relative_port: u16,
}

/// The persistent reservation itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistent {
    pub holder: u64,
    pub kind: ReservationType,
}

/// How a command would touch the medium, for the conflict rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Runs under any reservation (INQUIRY, REPORT LUNS, PR IN, ...).
    Always,
    /// Reads or otherwise looks at the unit.
    Read,
    /// Changes the medium.
    Write,
}

/// The reservation state of a logical unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Reservations {
    /// The nexus holding an SPC-2 reservation.
    reserved_by: Option<u64>,
    /// First with `reserved_by`: the conflict check of every command reads both.
    persistent: Option<Persistent>,
    registrations: Vec<Registration>,
    generation: u32,
    attentions: VecDeque<(u64, (u8, u8))>,
}

impl Reservations {
    pub fn holder(&self) -> Option<u64> {
        self.reserved_by
    }

    // ---- SPC-2 ----

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

    /// Whether a persistent registration or reservation exists (RESERVE and RELEASE then
    /// conflict, SPC-4 §5.9.1).
    pub fn persistent_in_use(&self) -> bool {
        !self.registrations.is_empty() || self.persistent.is_some()
    }

    /// Whether `nexus` is shut out of a command with `access` by a reservation.
    pub fn conflicts(&self, nexus: u64, access: Access) -> bool {
        if access == Access::Always {
            return false;
        }
        if self.reserved_by.is_some_and(|holder| holder != nexus) {
            return true;
        }
        let Some(reservation) = self.persistent else {
            return false;
        };
        let allowed = if reservation.kind.registrants_share() {
            self.registration(nexus).is_some()
        } else {
            reservation.holder == nexus
        };
        !allowed && (access == Access::Write || reservation.kind.exclusive_access())
    }

    /// A LUN or target reset ends the SPC-2 reservation; persistent state survives it.
    pub fn reset(&mut self) {
        self.reserved_by = None;
    }

    /// A nexus is gone (logout, connection loss): its SPC-2 reservation is released.
    pub fn nexus_lost(&mut self, nexus: u64) {
        self.release(nexus);
    }

    // ---- persistent reservations ----

    pub fn generation(&self) -> u32 {
        self.generation
    }

    pub fn registrations(&self) -> &[Registration] {
        &self.registrations
    }

    pub fn registration(&self, nexus: u64) -> Option<&Registration> {
        self.registrations.iter().find(|r| r.nexus == nexus)
    }

    pub fn persistent(&self) -> Option<Persistent> {
        self.persistent
    }

    /// Whether `nexus` holds the persistent reservation.
    pub fn is_holder(&self, nexus: u64) -> bool {
        self.persistent.is_some_and(|r| {
            r.holder == nexus
                || (r.kind.all_registrants_hold() && self.registration(nexus).is_some())
        })
    }

    /// Registers `registration` (replacing the nexus's key); `false` when the table is full.
    pub fn register(&mut self, registration: Registration) -> bool {
        let full = self.registrations.len() >= MAX_REGISTRATIONS;
        match self
            .registrations
            .iter_mut()
            .find(|r| r.nexus == registration.nexus)
        {
            Some(existing) => existing.key = registration.key,
            None if full => return false,
            None => self.registrations.push(registration),
        }
        self.generation = self.generation.wrapping_add(1);
        true
    }

    /// Removes the nexus's registration; a reservation it held alone goes with it.
    pub fn unregister(&mut self, nexus: u64) {
        self.registrations.retain(|r| r.nexus != nexus);
        self.generation = self.generation.wrapping_add(1);
        let Some(reservation) = self.persistent else {
            return;
        };
        let gone = if reservation.kind.all_registrants_hold() {
            self.registrations.is_empty()
        } else {
            reservation.holder == nexus
        };
        if gone {
            self.persistent = None;
        }
    }

    pub fn set_persistent(&mut self, reservation: Option<Persistent>) {
        self.persistent = reservation;
    }

    /// The holder releases: registrants of a shared type are told RESERVATIONS RELEASED.
    pub fn release_persistent(&mut self, nexus: u64) {
        let Some(reservation) = self.persistent.take() else {
            return;
        };
        if reservation.kind.registrants_share() {
            self.tell_registrants(nexus, RESERVATIONS_RELEASED);
        }
    }

    /// CLEAR: every registration and the reservation go; the others are told PREEMPTED.
    pub fn clear_persistent(&mut self, nexus: u64) {
        self.tell_registrants(nexus, RESERVATIONS_PREEMPTED);
        self.registrations.clear();
        self.persistent = None;
        self.generation = self.generation.wrapping_add(1);
    }

    /// Removes the registrations of `key` (all but `nexus`'s when `key` is `None`), telling
    /// their nexuses PREEMPTED. Returns how many went.
    pub fn remove_registrations(&mut self, nexus: u64, key: Option<u64>) -> usize {
        let removed: Vec<u64> = self
            .registrations
            .iter()
            .filter(|r| r.nexus != nexus && key.is_none_or(|key| r.key == key))
            .map(|r| r.nexus)
            .collect();
        for other in &removed {
            self.owe(*other, RESERVATIONS_PREEMPTED);
        }
        self.registrations.retain(|r| !removed.contains(&r.nexus));
        if !removed.is_empty() {
            self.generation = self.generation.wrapping_add(1);
        }
        removed.len()
    }

    /// Unit attentions owed to other nexuses, for the front to raise.
    pub fn take_attentions(&mut self) -> Option<(u64, (u8, u8))> {
        self.attentions.pop_front()
    }

    fn tell_registrants(&mut self, except: u64, code: (u8, u8)) {
        let others: Vec<u64> = self
            .registrations
            .iter()
            .map(|r| r.nexus)
            .filter(|n| *n != except)
            .collect();
        for other in others {
            self.owe(other, code);
        }
    }

    fn owe(&mut self, nexus: u64, code: (u8, u8)) {
        if self.attentions.len() >= MAX_PENDING_ATTENTIONS {
            self.attentions.pop_front();
        }
        self.attentions.push_back((nexus, code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(nexus: u64, key: u64) -> Registration {
        Registration {
            nexus,
            key,
            initiator_port: format!("iqn.i{nexus},i,0x000000000000"),
            relative_port: 1,
        }
    }

    #[test]
    fn spc2_one_holder_others_conflict_release_and_loss_free_it() {
        let mut reservations = Reservations::default();
        assert!(reservations.reserve(1));
        assert!(reservations.reserve(1), "the holder may reserve again");
        assert!(!reservations.reserve(2));
        assert!(reservations.conflicts(2, Access::Read));
        assert!(!reservations.conflicts(2, Access::Always));
        assert!(!reservations.conflicts(1, Access::Write));
        reservations.release(2);
        assert_eq!(reservations.holder(), Some(1));
        reservations.nexus_lost(1);
        assert!(reservations.reserve(2));
        reservations.reset();
        assert_eq!(reservations.holder(), None);
    }

    #[test]
    fn persistent_types_decide_who_reads_and_writes() {
        let mut reservations = Reservations::default();
        reservations.register(registration(1, 0xa));
        reservations.register(registration(2, 0xb));
        reservations.set_persistent(Some(Persistent {
            holder: 1,
            kind: ReservationType::WriteExclusive,
        }));
        assert!(!reservations.conflicts(2, Access::Read));
        assert!(reservations.conflicts(2, Access::Write));
        assert!(!reservations.conflicts(1, Access::Write));
        reservations.set_persistent(Some(Persistent {
            holder: 1,
            kind: ReservationType::ExclusiveAccessRegistrantsOnly,
        }));
        assert!(!reservations.conflicts(2, Access::Write), "a registrant");
        assert!(reservations.conflicts(3, Access::Read), "not registered");
        reservations.unregister(1);
        assert_eq!(reservations.persistent(), None, "the holder left");
        assert_eq!(reservations.remove_registrations(1, Some(0xb)), 1);
        assert_eq!(
            reservations.take_attentions(),
            Some((2, RESERVATIONS_PREEMPTED))
        );
        assert!(!reservations.persistent_in_use());
        assert_eq!(reservations.generation(), 4);
    }
}
