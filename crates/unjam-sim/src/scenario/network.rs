//! The network front of a scenario (`unjam target`): `[iscsi]` (target names, CHAP, the
//! limits offered at login), `[[portal]]` (the addresses the target listens on, each in a
//! target port group and serving one host's paths) and `[[port_group]]` (ALUA state per
//! group). `unjam run` ignores these tables.
//!
//! ```toml
//! [iscsi]
//! target_name = "iqn.2024-11.dev.unjam:target"
//! chap = { user = "alice", secret = "alice-secret" }
//! [[portal]]
//! address = "127.0.0.1:3260"
//! group = 1
//! [[port_group]]
//! id = 1
//! state = "active_optimized"
//! ```
//!
//! Owns the format and its checks; the front (crate `unjam-target`) builds the server.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::Scenario;
use crate::fault::{AluaStateName, FaultAction, WireAction};

/// The most portals and port groups a scenario may declare.
pub const MAX_PORTALS: usize = 64;

/// The default base name of the targets.
pub const DEFAULT_TARGET_NAME: &str = "iqn.2024-11.dev.unjam:target";

/// A CHAP name and secret.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChapSpec {
    pub user: String,
    pub secret: String,
}

/// `[iscsi]`: the iSCSI side of the network front.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IscsiSettings {
    /// The target name; with several scenario targets each gets `.hH.tT` appended.
    #[serde(default = "default_target_name")]
    pub target_name: String,
    /// Initiators must prove these credentials (CHAP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chap: Option<ChapSpec>,
    /// The target proves these when an initiator asks (mutual CHAP; needs `chap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutual_chap: Option<ChapSpec>,
    /// Discovery sessions need CHAP too.
    #[serde(default)]
    pub discovery_chap: bool,
    /// Commands one session may have in the target (the CmdSN window).
    #[serde(default = "default_command_window")]
    pub command_window: u32,
    /// Sessions the target serves at once.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: u32,
    #[serde(default = "default_max_recv_data_segment_length")]
    pub max_recv_data_segment_length: u32,
    #[serde(default = "default_max_burst_length")]
    pub max_burst_length: u32,
    #[serde(default = "default_first_burst_length")]
    pub first_burst_length: u32,
    #[serde(default = "default_max_outstanding_r2t")]
    pub max_outstanding_r2t: u32,
    #[serde(default)]
    pub initial_r2t: bool,
    #[serde(default = "yes")]
    pub immediate_data: bool,
    /// Accept CRC32C header digests when an initiator offers them.
    #[serde(default = "yes")]
    pub header_digest: bool,
    /// Accept CRC32C data digests when an initiator offers them.
    #[serde(default = "yes")]
    pub data_digest: bool,
    /// Send the status in the last Data-In PDU when there is no sense data.
    #[serde(default = "yes")]
    pub phase_collapse: bool,
}

/// `[[portal]]`: one address the target listens on.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSpec {
    /// `ip:port`; port 0 picks a free port (the real one is printed at start).
    pub address: String,
    /// Target portal group tag, also the ALUA target port group and the relative target
    /// port id of the port.
    #[serde(default = "one_u16")]
    pub group: u16,
    /// The scenario host whose paths (H:C:T:L) commands through this portal take: a
    /// `mirror_of` host gives a second path to the same logical units.
    #[serde(default)]
    pub host: u32,
}

/// `[[port_group]]`: the ALUA state of a target port group at start.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortGroupSpec {
    pub id: u16,
    #[serde(default = "active_optimized")]
    pub state: AluaStateName,
    /// PREF bit in REPORT TARGET PORT GROUPS.
    #[serde(default)]
    pub preferred: bool,
}

impl Default for IscsiSettings {
    fn default() -> Self {
        IscsiSettings {
            target_name: default_target_name(),
            chap: None,
            mutual_chap: None,
            discovery_chap: false,
            command_window: default_command_window(),
            max_sessions: default_max_sessions(),
            max_recv_data_segment_length: default_max_recv_data_segment_length(),
            max_burst_length: default_max_burst_length(),
            first_burst_length: default_first_burst_length(),
            max_outstanding_r2t: default_max_outstanding_r2t(),
            initial_r2t: false,
            immediate_data: true,
            header_digest: true,
            data_digest: true,
            phase_collapse: true,
        }
    }
}

type Check = Result<(), (String, String)>;

fn fail(field: impl Into<String>, message: impl Into<String>) -> Check {
    Err((field.into(), message.into()))
}

impl Scenario {
    /// The checks of `[iscsi]`, `[[portal]]`, `[[port_group]]` and of the wire faults that
    /// name portals and groups.
    pub(super) fn check_network(&self) -> Check {
        self.check_iscsi()?;
        if self.portals.len() > MAX_PORTALS || self.port_groups.len() > MAX_PORTALS {
            return fail(
                "portal",
                format!("at most {MAX_PORTALS} portals and port groups"),
            );
        }
        for (index, portal) in self.portals.iter().enumerate() {
            let field = |name: &str| format!("portal[{index}].{name}");
            if let Err(error) = portal.address.parse::<SocketAddr>() {
                return fail(field("address"), format!("`{}`: {error}", portal.address));
            }
            if portal.group == 0 {
                return fail(field("group"), "port group ids start at 1");
            }
            if portal.host as usize >= self.hosts.len() {
                return fail(field("host"), format!("no host {}", portal.host));
            }
        }
        for (index, group) in self.port_groups.iter().enumerate() {
            let duplicate = self.port_groups[..index].iter().any(|g| g.id == group.id);
            if group.id == 0 || duplicate {
                return fail(
                    format!("port_group[{index}].id"),
                    "ids are distinct and start at 1",
                );
            }
        }
        self.check_wire_faults()
    }

    fn check_iscsi(&self) -> Check {
        let iscsi = &self.iscsi;
        let name = &iscsi.target_name;
        let valid_name = (name.starts_with("iqn.") || name.starts_with("eui."))
            && name.len() <= 200
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-:".contains(&b));
        if !valid_name {
            return fail(
                "iscsi.target_name",
                "an iqn. or eui. name of lower-case letters, digits, '.', '-' and ':'",
            );
        }
        if iscsi.mutual_chap.is_some() && iscsi.chap.is_none() {
            return fail("iscsi.mutual_chap", "needs `chap`");
        }
        let ranges: [(&str, u32, u32, u32); 6] = [
            ("command_window", iscsi.command_window, 1, 4096),
            ("max_sessions", iscsi.max_sessions, 1, 1024),
            (
                "max_recv_data_segment_length",
                iscsi.max_recv_data_segment_length,
                512,
                16_777_215,
            ),
            ("max_burst_length", iscsi.max_burst_length, 512, 16_777_215),
            (
                "first_burst_length",
                iscsi.first_burst_length,
                512,
                16_777_215,
            ),
            ("max_outstanding_r2t", iscsi.max_outstanding_r2t, 1, 65_535),
        ];
        for (field, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return fail(
                    format!("iscsi.{field}"),
                    format!("must lie in {min}..={max}"),
                );
            }
        }
        if iscsi.first_burst_length > iscsi.max_burst_length {
            return fail(
                "iscsi.first_burst_length",
                "must not exceed max_burst_length",
            );
        }
        Ok(())
    }

    fn check_wire_faults(&self) -> Check {
        let portals = self.portals.len().max(1);
        for (index, fault) in self.faults.iter().enumerate() {
            let FaultAction::Wire { action, portal } = fault.rule.action else {
                continue;
            };
            if portal.is_some_and(|portal| portal as usize >= portals) {
                return fail(
                    format!("fault[{index}].portal"),
                    format!("no portal {}", portal.unwrap_or(0)),
                );
            }
            if let WireAction::AluaState { group, .. } = action {
                if !self.port_group_ids().contains(&group) {
                    return fail(
                        format!("fault[{index}].group"),
                        format!("no port group {group}"),
                    );
                }
            }
        }
        Ok(())
    }

    /// Every target port group: those of the portals and those declared.
    pub fn port_group_ids(&self) -> Vec<u16> {
        let mut ids: Vec<u16> = self.portals.iter().map(|p| p.group).collect();
        ids.extend(self.port_groups.iter().map(|g| g.id));
        if self.portals.is_empty() {
            ids.push(1);
        }
        if self.target.alua {
            // `unjam run` with `[target] alua`: one group per host, id = host + 1.
            ids.extend((0..self.hosts.len()).map(|h| (h as u16).wrapping_add(1)));
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn default_target_name() -> String {
    DEFAULT_TARGET_NAME.to_string()
}
fn default_command_window() -> u32 {
    128
}
fn default_max_sessions() -> u32 {
    64
}
fn default_max_recv_data_segment_length() -> u32 {
    262_144
}
fn default_max_burst_length() -> u32 {
    1_048_576
}
fn default_first_burst_length() -> u32 {
    262_144
}
fn default_max_outstanding_r2t() -> u32 {
    4
}
fn yes() -> bool {
    true
}
fn one_u16() -> u16 {
    1
}
fn active_optimized() -> AluaStateName {
    AluaStateName::ActiveOptimized
}
