//! What the network front serves where, derived once from a scenario: the iSCSI targets (one
//! per target of every plain host), the portals (each in a target port group, serving one
//! host's paths), the port groups with their ALUA state at start, CHAP and the limits offered
//! at login.
//!
//! ```text
//!  [[host]] 0 (targets T, luns L) ─► targets  iqn…(.h0.tT) with LUNs 0..L
//!  [[host]] 1 mirror_of = 0       ─► same targets, paths 1:0:T:L (other faults, same media)
//!  [[portal]] address, group, host ─► listeners; commands through it take paths host:0:T:L
//! ```
//!
//! Owns naming and the mapping from (portal, target, LUN) to a path address. Immutable once
//! built; the server reads it.

use std::net::SocketAddr;

use thiserror::Error;
use unjam_iscsi::chap::ChapCredentials;
use unjam_iscsi::params::OperationalProposal;
use unjam_iscsi::target::AuthPolicy;
use unjam_scsi::cdb::response::AccessState;
use unjam_sim::address::LunAddress;
use unjam_sim::execute::PortGroup;
use unjam_sim::scenario::{ChapSpec, PortalSpec, Scenario};

/// The portal used when neither the scenario nor the command line names one.
pub const DEFAULT_PORTAL: &str = "127.0.0.1:3260";

/// One address the target listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Portal {
    pub address: SocketAddr,
    /// Target portal group tag = ALUA target port group = relative target port id.
    pub group: u16,
    /// The scenario host whose paths commands through this portal take.
    pub host: u32,
}

/// One iSCSI target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedTarget {
    pub name: String,
    /// The plain (not mirror) host and the target number it stands for.
    pub host: u32,
    pub target: u32,
    pub luns: Vec<u64>,
}

/// Everything the front serves.
#[derive(Clone, Debug)]
pub struct Layout {
    pub portals: Vec<Portal>,
    pub targets: Vec<ServedTarget>,
    /// The plain host each scenario host's paths reach (itself, or its `mirror_of`).
    pub primary_of_host: Vec<u32>,
    pub groups: Vec<PortGroup>,
    pub auth: AuthPolicy,
    pub discovery_auth: AuthPolicy,
    pub proposal: OperationalProposal,
    pub command_window: u32,
    pub max_sessions: u32,
    pub phase_collapse: bool,
}

/// A scenario that cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LayoutError {
    #[error("--portal {0:?}: not an ip:port address")]
    Portal(String),
    #[error("the scenario declares no LUN")]
    NoLuns,
}

impl Layout {
    /// The layout of `scenario`; `portal_overrides` replace the scenario's portal addresses
    /// in order (extra ones join group 1 on host 0).
    pub fn new(scenario: &Scenario, portal_overrides: &[String]) -> Result<Layout, LayoutError> {
        let portals = portals(&scenario.portals, portal_overrides)?;
        let primary_of_host: Vec<u32> = scenario
            .hosts
            .iter()
            .enumerate()
            .map(|(index, host)| host.mirror_of.unwrap_or(index as u32))
            .collect();
        let targets = targets(scenario);
        if targets.iter().all(|target| target.luns.is_empty()) {
            return Err(LayoutError::NoLuns);
        }
        let iscsi = &scenario.iscsi;
        let auth = match &iscsi.chap {
            None => AuthPolicy::None,
            Some(chap) => AuthPolicy::Chap {
                initiator: credentials(chap),
                target: iscsi.mutual_chap.as_ref().map(credentials),
            },
        };
        let discovery_auth = if iscsi.discovery_chap {
            auth.clone()
        } else {
            AuthPolicy::None
        };
        Ok(Layout {
            groups: groups(scenario, &portals),
            portals,
            targets,
            primary_of_host,
            auth,
            discovery_auth,
            proposal: OperationalProposal {
                header_digest: iscsi.header_digest,
                data_digest: iscsi.data_digest,
                initial_r2t: iscsi.initial_r2t,
                immediate_data: iscsi.immediate_data,
                max_recv_data_segment_length: iscsi.max_recv_data_segment_length,
                max_burst_length: iscsi.max_burst_length,
                first_burst_length: iscsi.first_burst_length,
                max_outstanding_r2t: iscsi.max_outstanding_r2t,
            },
            command_window: iscsi.command_window,
            max_sessions: iscsi.max_sessions,
            phase_collapse: iscsi.phase_collapse,
        })
    }

    /// The targets a portal exposes (those of its host's plain host), by index.
    pub fn targets_of(&self, portal: usize) -> impl Iterator<Item = usize> + '_ {
        let primary = self
            .portals
            .get(portal)
            .and_then(|p| self.primary_of_host.get(p.host as usize))
            .copied();
        self.targets
            .iter()
            .enumerate()
            .filter(move |(_, target)| Some(target.host) == primary)
            .map(|(index, _)| index)
    }

    /// The path a command to `lun` of target `target` through `portal` takes.
    pub fn address(&self, portal: usize, target: usize, lun: u64) -> Option<LunAddress> {
        let host = self.portals.get(portal)?.host;
        let target = self.targets.get(target)?.target;
        Some(LunAddress::new(host, 0, target, lun))
    }
}

fn credentials(chap: &ChapSpec) -> ChapCredentials {
    ChapCredentials {
        user: chap.user.clone(),
        secret: chap.secret.as_bytes().to_vec(),
    }
}

fn portals(specs: &[PortalSpec], overrides: &[String]) -> Result<Vec<Portal>, LayoutError> {
    let mut portals: Vec<Portal> = specs
        .iter()
        .map(|spec| Portal {
            address: spec
                .address
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 3260))),
            group: spec.group,
            host: spec.host,
        })
        .collect();
    for (index, text) in overrides.iter().enumerate() {
        let address: SocketAddr = text
            .parse()
            .map_err(|_| LayoutError::Portal(text.clone()))?;
        match portals.get_mut(index) {
            Some(portal) => portal.address = address,
            None => portals.push(Portal {
                address,
                group: 1,
                host: 0,
            }),
        }
    }
    if portals.is_empty() {
        portals.push(Portal {
            address: SocketAddr::from(([127, 0, 0, 1], 3260)),
            group: 1,
            host: 0,
        });
    }
    Ok(portals)
}

/// One target per target of every plain host; named `target_name` when there is only one,
/// else `target_name.hH.tT`.
fn targets(scenario: &Scenario) -> Vec<ServedTarget> {
    let plain: Vec<(u32, u32, u64)> = scenario
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, host)| host.mirror_of.is_none())
        .flat_map(|(index, host)| (0..host.targets).map(move |t| (index as u32, t, host.luns)))
        .collect();
    let base = &scenario.iscsi.target_name;
    let single = plain.len() == 1;
    plain
        .into_iter()
        .map(|(host, target, luns)| ServedTarget {
            name: if single {
                base.clone()
            } else {
                format!("{base}.h{host}.t{target}")
            },
            host,
            target,
            luns: (0..luns).collect(),
        })
        .collect()
}

fn groups(scenario: &Scenario, portals: &[Portal]) -> Vec<PortGroup> {
    let mut ids: Vec<u16> = portals.iter().map(|p| p.group).collect();
    ids.extend(scenario.port_groups.iter().map(|g| g.id));
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let spec = scenario.port_groups.iter().find(|g| g.id == id);
            PortGroup {
                id,
                state: spec.map_or(AccessState::ActiveOptimized, |g| g.state.access_state()),
                preferred: spec.is_some_and(|g| g.preferred),
                relative_port: id,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::from_toml(text, "t.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn one_target_keeps_the_name_and_mirrors_share_targets() {
        let single = scenario("[[host]]\nluns = 3\n");
        let layout = Layout::new(&single, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(layout.targets.len(), 1);
        assert_eq!(layout.targets[0].name, "iqn.2024-11.dev.unjam:target");
        assert_eq!(layout.targets[0].luns, [0, 1, 2]);
        assert_eq!(layout.portals[0].address.port(), 3260);
        let two = scenario(
            "[[host]]\ntargets = 2\n[[host]]\ntargets = 2\nmirror_of = 0\n\
             [[portal]]\naddress = \"127.0.0.1:0\"\n\
             [[portal]]\naddress = \"127.0.0.1:0\"\ngroup = 2\nhost = 1\n",
        );
        let layout =
            Layout::new(&two, &["127.0.0.1:4000".into()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(layout.targets.len(), 2);
        assert_eq!(layout.targets[1].name, "iqn.2024-11.dev.unjam:target.h0.t1");
        assert_eq!(layout.portals[0].address.port(), 4000);
        assert_eq!(layout.targets_of(1).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(layout.address(1, 1, 0), Some(LunAddress::new(1, 0, 1, 0)));
        assert_eq!(layout.groups.len(), 2);
        assert!(Layout::new(&two, &["nonsense".into()]).is_err());
    }
}
