//! Lookup tables of the target: which path an address names and which LUNs a target has.

use std::collections::BTreeMap;

use crate::fast_hash::FastMap;

use crate::address::LunAddress;

#[derive(Debug, Default)]
pub struct Tables {
    paths: FastMap<LunAddress, usize>,
    target_luns: BTreeMap<(u32, u32, u32), Vec<u64>>,
}

impl Tables {
    /// Indexes the addresses in order; a duplicate is returned as the error.
    pub fn new(addresses: impl Iterator<Item = LunAddress>) -> Result<Tables, LunAddress> {
        let mut tables = Tables::default();
        for (index, address) in addresses.enumerate() {
            if tables.paths.insert(address, index).is_some() {
                return Err(address);
            }
            tables
                .target_luns
                .entry((address.host, address.channel, address.target))
                .or_default()
                .push(address.lun);
        }
        for luns in tables.target_luns.values_mut() {
            luns.sort_unstable();
        }
        Ok(tables)
    }

    pub fn path(&self, address: &LunAddress) -> Option<usize> {
        self.paths.get(address).copied()
    }

    /// The LUNs of the target `address` is on, or `None` when no such target exists.
    pub fn target_luns(&self, address: &LunAddress) -> Option<&[u64]> {
        self.target_luns
            .get(&(address.host, address.channel, address.target))
            .map(Vec::as_slice)
    }
}
