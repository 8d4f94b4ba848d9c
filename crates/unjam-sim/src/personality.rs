//! Personalities: which task management functions and error-handling hooks a simulated HBA
//! offers, after the driver table of seed 001 (spec README §4).
//!
//! The core will own the capability type (its personality table); when it lands this
//! module maps [`Personality`] onto it instead of defining [`Capabilities`] itself. Keep all
//! personality knowledge here so that switch touches one file.

use std::fmt;

use serde::{Deserialize, Serialize};

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
}

/// The error-handling operations a driver implements.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Capabilities {
    pub abort: bool,
    pub lun_reset: bool,
    pub target_reset: bool,
    pub bus_reset: bool,
    pub host_reset: bool,
    /// The driver can reap completions it may have missed (spec §3 `poll_before_abort`).
    /// Opt-in per scenario; no personality has it by default.
    pub poll: bool,
}

impl Personality {
    pub const ALL: [Personality; 6] = [
        Personality::Mpt3sas,
        Personality::Smartpqi,
        Personality::MegaraidSas,
        Personality::VirtioScsi,
        Personality::IscsiTcp,
        Personality::HisiSas,
    ];

    /// The seed 001 table; every driver listed there can abort a command.
    pub fn capabilities(self) -> Capabilities {
        let (lun_reset, target_reset, bus_reset, host_reset) = match self {
            Personality::Mpt3sas => (true, true, false, true),
            Personality::Smartpqi => (true, false, false, false),
            Personality::MegaraidSas => (false, true, false, true),
            Personality::VirtioScsi => (true, false, false, false),
            Personality::IscsiTcp => (true, true, false, false),
            Personality::HisiSas => (true, true, false, false),
        };
        Capabilities {
            abort: true,
            lun_reset,
            target_reset,
            bus_reset,
            host_reset,
            poll: false,
        }
    }

    /// virtio_scsi's `eh_timed_out` always re-arms the timer (spec linux-midlayer §9.2):
    /// its commands never enter the error handler through a timeout.
    pub fn resets_timer_on_timeout(self) -> bool {
        self == Personality::VirtioScsi
    }

    /// Answers are expressed as `VIRTIO_SCSI_S_*` responses (spec README §6).
    pub fn speaks_virtio(self) -> bool {
        self == Personality::VirtioScsi
    }

    pub fn name(self) -> &'static str {
        match self {
            Personality::Mpt3sas => "mpt3sas",
            Personality::Smartpqi => "smartpqi",
            Personality::MegaraidSas => "megaraid_sas",
            Personality::VirtioScsi => "virtio_scsi",
            Personality::IscsiTcp => "iscsi_tcp",
            Personality::HisiSas => "hisi_sas",
        }
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
        assert!(Personality::ALL.iter().all(|p| !p.capabilities().bus_reset));
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
