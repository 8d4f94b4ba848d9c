//! Stable, distinct identities of simulated logical units: the NAA designator of VPD page
//! 83h and the unit serial number of VPD page 80h, derived from the scenario seed and the
//! logical unit's index. Two paths to one logical unit share its identity (multipath groups
//! paths by it); two logical units never do.

/// The IEEE company identifier in the designator. 0x00_0000 is not assigned to any vendor
/// we could be mistaken for; the simulator never claims to be real hardware.
const COMPANY_ID: u64 = 0x00_0000;

/// The identity of one logical unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Identity {
    /// NAA 5 (IEEE Registered) designator, 8 bytes big-endian.
    pub naa: u64,
}

impl Identity {
    /// The identity of logical unit number `index` of a simulator seeded with `seed`.
    /// Distinct for distinct indexes below 2^24 under one seed: the low 24 bits of the
    /// vendor-specific field are the index, the upper 12 bits come from the seed.
    pub fn derive(seed: u64, index: u32) -> Identity {
        let seed_bits = mix(seed) & 0xfff;
        let vendor_specific = (seed_bits << 24) | (index as u64 & 0xff_ffff);
        Identity {
            naa: (0x5u64 << 60) | (COMPANY_ID << 36) | vendor_specific,
        }
    }

    /// The NAA designator's eight bytes.
    pub fn naa_bytes(&self) -> [u8; 8] {
        self.naa.to_be_bytes()
    }

    /// The unit serial number (VPD 80h): 16 ASCII hex digits of the designator.
    pub fn serial(&self) -> [u8; 16] {
        let mut serial = [b'0'; 16];
        for (index, slot) in serial.iter_mut().enumerate() {
            let nibble = (self.naa >> (60 - 4 * index)) & 0xf;
            *slot = b"0123456789ABCDEF"[nibble as usize];
        }
        serial
    }
}

/// SplitMix64's finaliser: spreads a seed over all bits.
pub(crate) fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn identities_are_stable_and_distinct() {
        assert_eq!(Identity::derive(7, 3), Identity::derive(7, 3));
        let all: HashSet<_> = (0..10_000).map(|i| Identity::derive(7, i)).collect();
        assert_eq!(all.len(), 10_000);
        let identity = Identity::derive(7, 3);
        assert_eq!(identity.naa_bytes()[0] >> 4, 5, "NAA 5");
        let serial = identity.serial();
        assert!(serial.iter().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(serial[0], b'5');
        assert_ne!(Identity::derive(7, 3), Identity::derive(8, 3));
    }
}
