//! Lookup tables of the target: which path an address names and which LUNs a target has.

use std::collections::BTreeMap;

use crate::fast_hash::FastMap;

use crate::address::LunAddress;

#[derive(Debug, Default)]
pub struct Tables {
    paths: FastMap<LunAddress, usize>,
    /// (host, channel, target) to its index in `luns_of_target`.
    targets: BTreeMap<(u32, u32, u32), usize>,
    /// The sorted LUNs of each target.
    luns_of_target: Vec<Vec<u64>>,
    /// The index in `luns_of_target` of each path's target: a command's path finds its
    /// target's LUN list without a tree search.
    target_of_path: Vec<usize>,
}

impl Tables {
    /// Indexes the addresses in order; a duplicate is returned as the error.
    pub fn new(addresses: impl Iterator<Item = LunAddress>) -> Result<Tables, LunAddress> {
        let mut tables = Tables::default();
        for (index, address) in addresses.enumerate() {
            if tables.paths.insert(address, index).is_some() {
                return Err(address);
            }
            let next = tables.luns_of_target.len();
            let target = *tables
                .targets
                .entry((address.host, address.channel, address.target))
                .or_insert(next);
            if target == next {
                tables.luns_of_target.push(Vec::new());
            }
            tables.luns_of_target[target].push(address.lun);
            tables.target_of_path.push(target);
        }
        for luns in &mut tables.luns_of_target {
            luns.sort_unstable();
        }
        Ok(tables)
    }

    pub fn path(&self, address: &LunAddress) -> Option<usize> {
        self.paths.get(address).copied()
    }

    /// The LUNs of the target `address` is on, or `None` when no such target exists.
    pub fn target_luns(&self, address: &LunAddress) -> Option<&[u64]> {
        let target = self
            .targets
            .get(&(address.host, address.channel, address.target))?;
        self.luns_of_target.get(*target).map(Vec::as_slice)
    }

    /// The LUNs of the target path `path` (an index from [`Tables::path`]) is on.
    pub fn target_luns_of_path(&self, path: usize) -> Option<&[u64]> {
        let target = self.target_of_path.get(path)?;
        self.luns_of_target.get(*target).map(Vec::as_slice)
    }
}
