//! The state of one simulated logical unit (its media, identity and power state) and of one
//! path to it (its pending unit attentions). Owns state only; the executor reads and
//! changes it in answer to commands.

use crate::identity::Identity;
use crate::media::SparseMedia;
use crate::reservation::Reservations;
use crate::sense_data::SenseData;

/// The most unit attentions queued on one path; a new one past that replaces the newest
/// (SPC-4 lets a device collapse them).
pub const MAX_PENDING_UNIT_ATTENTIONS: usize = 4;

/// One logical unit: shared by every path that reaches it. `repr(C)` on aligned lines:
/// what a media command reads (started, the media's geometry and chunk table, the
/// reservation holders) sits on the first two; at 4096 LUNs a unit is cold whenever its
/// turn comes, and these fields were spread over four.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct LogicalUnit {
    /// START STOP UNIT state: a stopped unit answers media access with NOT READY 04/02.
    pub started: bool,
    /// Caching mode page WCE bit.
    pub write_cache_enabled: bool,
    pub media: SparseMedia,
    /// RESERVE/RELEASE and persistent reservations.
    pub reservations: Reservations,
    pub identity: Identity,
}

impl LogicalUnit {
    pub fn new(identity: Identity, media: SparseMedia) -> Self {
        LogicalUnit {
            identity,
            media,
            started: true,
            write_cache_enabled: true,
            reservations: Reservations::default(),
        }
    }
}

/// The state of one I_T_L nexus: what this initiator has still to be told.
#[derive(Debug, Default, Clone)]
pub struct PathState {
    unit_attentions: [(u8, u8); MAX_PENDING_UNIT_ATTENTIONS],
    pending: u8,
    /// Sense withheld from a CHECK CONDITION (a fault without autosense), handed out by the
    /// next REQUEST SENSE. Boxed: rare, and inline it would triple the size of the path
    /// state every command reads.
    pub withheld_sense: Option<Box<SenseData>>,
}

impl PathState {
    /// Queues a unit attention with the given ASC/ASCQ unless the same one is pending.
    pub fn raise_unit_attention(&mut self, code: (u8, u8)) {
        let pending = &self.unit_attentions[..self.pending as usize];
        if pending.contains(&code) {
            return;
        }
        if (self.pending as usize) < MAX_PENDING_UNIT_ATTENTIONS {
            self.pending += 1;
        }
        self.unit_attentions[self.pending as usize - 1] = code;
    }

    /// Takes the oldest pending unit attention.
    pub fn take_unit_attention(&mut self) -> Option<(u8, u8)> {
        if self.pending == 0 {
            return None;
        }
        let first = self.unit_attentions[0];
        self.unit_attentions.copy_within(1.., 0);
        self.pending -= 1;
        Some(first)
    }

    pub fn pending_unit_attentions(&self) -> usize {
        self.pending as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_attentions_queue_in_order_without_duplicates_and_bounded() {
        let mut path = PathState::default();
        path.raise_unit_attention((0x29, 0x01));
        path.raise_unit_attention((0x29, 0x01));
        path.raise_unit_attention((0x29, 0x03));
        assert_eq!(path.pending_unit_attentions(), 2);
        for ascq in 4..10 {
            path.raise_unit_attention((0x2a, ascq));
        }
        assert_eq!(path.pending_unit_attentions(), MAX_PENDING_UNIT_ATTENTIONS);
        assert_eq!(path.take_unit_attention(), Some((0x29, 0x01)));
        assert_eq!(path.take_unit_attention(), Some((0x29, 0x03)));
        assert_eq!(path.take_unit_attention(), Some((0x2a, 0x04)));
        assert_eq!(path.take_unit_attention(), Some((0x2a, 0x09)));
        assert_eq!(path.take_unit_attention(), None);
    }
}
