//! Personalities of a simulated HBA, by their scenario-file names. The capability table
//! itself (seed 001's driver table, spec README §4) is the core's
//! [`unjam_core::config::Personality`]; this module only names it for serde and adds what
//! the target side needs (whether answers are virtio-scsi responses).

use std::fmt;

use serde::{Deserialize, Serialize};
pub use unjam_core::config::Capabilities;
use unjam_core::config::Personality as CorePersonality;

/// A simulated host bus adapter driver.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Personality {
    Mpt3sas,
    Smartpqi,
    MegaraidSas,
    #[default]
    VirtioScsi,
    IscsiTcp,
    HisiSas,
    /// The kernel's scsi_debug module (kernel-observed.md): abort, LUN, target, bus and host
    /// reset; its disks have `allow_restart` off.
    ScsiDebug,
}

impl Personality {
    pub const ALL: [Personality; 7] = [
        Personality::Mpt3sas,
        Personality::Smartpqi,
        Personality::MegaraidSas,
        Personality::VirtioScsi,
        Personality::IscsiTcp,
        Personality::HisiSas,
        Personality::ScsiDebug,
    ];

    /// The core's personality of the same name.
    pub fn to_core(self) -> CorePersonality {
        match self {
            Personality::Mpt3sas => CorePersonality::Mpt3sas,
            Personality::Smartpqi => CorePersonality::Smartpqi,
            Personality::MegaraidSas => CorePersonality::MegaraidSas,
            Personality::VirtioScsi => CorePersonality::VirtioScsi,
            Personality::IscsiTcp => CorePersonality::IscsiTcp,
            Personality::HisiSas => CorePersonality::HisiSas,
            Personality::ScsiDebug => CorePersonality::ScsiDebug,
        }
    }

    /// The seed 001 table (from the core).
    pub fn capabilities(self) -> Capabilities {
        self.to_core().capabilities()
    }

    /// Answers are expressed as `VIRTIO_SCSI_S_*` responses (spec README §6).
    pub fn speaks_virtio(self) -> bool {
        self == Personality::VirtioScsi
    }

    pub fn name(self) -> &'static str {
        self.to_core().name()
    }
}

impl fmt::Display for Personality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_001_table() {
        let row = |p: Personality| {
            let c = p.capabilities();
            (c.lun_reset, c.target_reset, c.bus_reset, c.host_reset)
        };
        assert_eq!(row(Personality::Mpt3sas), (true, true, false, true));
        assert_eq!(row(Personality::Smartpqi), (true, false, false, false));
        assert_eq!(row(Personality::MegaraidSas), (false, true, false, true));
        assert_eq!(row(Personality::VirtioScsi), (true, false, false, false));
        assert_eq!(row(Personality::IscsiTcp), (true, true, false, false));
        assert_eq!(row(Personality::HisiSas), (true, true, false, false));
        assert_eq!(row(Personality::ScsiDebug), (true, true, true, true));
        let with_bus_reset: Vec<Personality> = Personality::ALL
            .into_iter()
            .filter(|p| p.capabilities().bus_reset)
            .collect();
        assert_eq!(with_bus_reset, vec![Personality::ScsiDebug]);
    }

    #[test]
    fn names_parse_from_toml() {
        for personality in Personality::ALL {
            let text = format!("p = \"{}\"", personality.name());
            let table: toml::Table = toml::from_str(&text).unwrap();
            let parsed: Personality = table["p"].clone().try_into().unwrap();
            assert_eq!(parsed, personality);
        }
    }
}
