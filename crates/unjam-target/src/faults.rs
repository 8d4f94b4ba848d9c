//! The fault rules in force on the wall clock: the scenario's, from the start, and those added
//! through the control socket, whose windows count from the moment they were added. Command
//! and task management faults are decided by the simulator's fault engine; wire faults are
//! evaluated here with the same hit counting.
//!
//! Owns the list of added rules (bounded) and the questions the front asks: what happens to
//! this command, this TMF, this login; what holds on this portal now; when does something
//! next change.

use unjam_scsi::cdb::response::AccessState;
use unjam_scsi::HostByte;
use unjam_sim::address::LunAddress;
use unjam_sim::fault::{
    CommandFate, FaultAction, FaultEngine, FaultRule, FaultSpec, TaskManagement, TmfFate,
    WireAction,
};

/// The most rules the control socket may add.
pub const MAX_ADDED_FAULTS: usize = 256;

/// What holds on one portal at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortalWindow {
    pub delay_us: u64,
    pub stall_cmd_sn: bool,
    pub ignore_nops: bool,
    pub down: bool,
    /// A `blackhole`: connections neither read nor send, logins get no answer.
    pub silent: bool,
}

/// A rule added at run time.
#[derive(Debug)]
struct Added {
    id: u32,
    engine: FaultEngine,
    added_at_us: u64,
    text: String,
}

/// One line of `fault list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedFault {
    pub id: u32,
    pub source: &'static str,
    pub text: String,
    pub fired: u64,
}

/// Every rule in force.
#[derive(Debug)]
pub struct Faults {
    scenario: FaultEngine,
    scenario_texts: Vec<String>,
    added: Vec<Added>,
    next_id: u32,
    seed: u64,
}

/// Why a rule could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    #[error("at most {MAX_ADDED_FAULTS} faults may be added")]
    Full,
}

impl Faults {
    pub fn new(specs: &[FaultSpec], seed: u64) -> Faults {
        let rules: Vec<FaultRule> = specs.iter().map(|spec| spec.rule).collect();
        let texts = specs.iter().map(describe).collect();
        Faults {
            scenario: FaultEngine::new(rules, seed),
            scenario_texts: texts,
            added: Vec::new(),
            next_id: 1,
            seed,
        }
    }

    /// Adds a rule whose window starts counting at `now_us`; returns its id.
    pub fn add(&mut self, spec: &FaultSpec, now_us: u64) -> Result<u32, AddError> {
        if self.added.len() >= MAX_ADDED_FAULTS {
            return Err(AddError::Full);
        }
        let id = self.next_id;
        self.next_id += 1;
        let seed = self.seed ^ u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.added.push(Added {
            id,
            engine: FaultEngine::new(vec![spec.rule], seed),
            added_at_us: now_us,
            text: describe(spec),
        });
        Ok(id)
    }

    /// Removes added rule `id` (every added rule when `None`); returns how many went.
    pub fn clear(&mut self, id: Option<u32>) -> usize {
        let before = self.added.len();
        self.added
            .retain(|added| id.is_some_and(|id| id != added.id));
        before - self.added.len()
    }

    pub fn list(&self) -> Vec<ListedFault> {
        let scenario = self
            .scenario_texts
            .iter()
            .enumerate()
            .map(|(index, text)| ListedFault {
                id: 0,
                source: "scenario",
                text: text.clone(),
                fired: self.scenario.fired(index),
            });
        let added = self.added.iter().map(|added| ListedFault {
            id: added.id,
            source: "added",
            text: added.text.clone(),
            fired: added.engine.fired(0),
        });
        scenario.chain(added).collect()
    }

    /// Every engine with the time its windows count from.
    fn engines(&mut self) -> impl Iterator<Item = (&mut FaultEngine, u64)> {
        std::iter::once((&mut self.scenario, 0)).chain(
            self.added
                .iter_mut()
                .map(|a| (&mut a.engine, a.added_at_us)),
        )
    }

    /// The fate of a command: the first outcome rule wins, `slow` rules add up. Also the LBA
    /// range of the deciding rule (for a medium error's information field).
    pub fn decide_command(
        &mut self,
        now_us: u64,
        address: &LunAddress,
        cdb: &[u8],
    ) -> (CommandFate, Option<(u64, u64)>) {
        let mut fate = CommandFate::default();
        let mut range = None;
        for (engine, since) in self.engines() {
            let part = engine.decide_command(now_us.saturating_sub(since), address, cdb);
            fate.extra_us = fate.extra_us.saturating_add(part.extra_us);
            if fate.action.is_none() && part.action.is_some() {
                fate.action = part.action;
                range = part
                    .rule
                    .and_then(|index| engine.rules().get(index))
                    .and_then(|rule| rule.lba_range);
            }
        }
        (fate, range)
    }

    /// The fate of a task management function sent for the command with `cdb` (a rule's
    /// `commands` match it).
    pub fn decide_tmf(
        &mut self,
        now_us: u64,
        address: &LunAddress,
        function: TaskManagement,
        cdb: &[u8],
    ) -> TmfFate {
        for (engine, since) in self.engines() {
            let fate = engine.decide_tmf(now_us.saturating_sub(since), address, function, cdb);
            if fate != TmfFate::Succeed {
                return fate;
            }
        }
        TmfFate::Succeed
    }

    pub fn transport_down(&mut self, now_us: u64, address: &LunAddress) -> Option<HostByte> {
        self.engines().find_map(|(engine, since)| {
            engine.transport_down(now_us.saturating_sub(since), address)
        })
    }

    /// The first per-command wire fault that fires for a command through `portal`.
    pub fn wire_command(
        &mut self,
        now_us: u64,
        address: &LunAddress,
        cdb: &[u8],
        portal: usize,
    ) -> Option<WireAction> {
        let media = unjam_sim::media_command::MediaCommand::parse(cdb);
        for (engine, since) in self.engines() {
            let now = now_us.saturating_sub(since);
            for index in 0..engine.rules().len() {
                let rule = engine.rules()[index];
                let FaultAction::Wire {
                    action,
                    portal: only,
                } = rule.action
                else {
                    continue;
                };
                let applies = action.is_per_command()
                    && on_portal(only, portal)
                    && rule.applies(now, address, cdb, media.as_ref());
                if applies && engine.fire(index) {
                    return Some(action);
                }
            }
        }
        None
    }

    /// The status a login through `portal` is refused with, if a rule fires.
    pub fn reject_login(&mut self, now_us: u64, portal: usize) -> Option<(u8, u8)> {
        for (engine, since) in self.engines() {
            let now = now_us.saturating_sub(since);
            for index in 0..engine.rules().len() {
                let rule = engine.rules()[index];
                let FaultAction::Wire {
                    action: WireAction::RejectLogin { class, detail },
                    portal: only,
                } = rule.action
                else {
                    continue;
                };
                if on_portal(only, portal) && rule.trigger.in_window(now) && engine.fire(index) {
                    return Some((class, detail));
                }
            }
        }
        None
    }

    /// The window faults in force on `portal` at `now_us`.
    pub fn portal_window(&self, now_us: u64, portal: usize) -> PortalWindow {
        let mut window = PortalWindow::default();
        for (rule, since) in self.all_rules() {
            let FaultAction::Wire {
                action,
                portal: only,
            } = rule.action
            else {
                continue;
            };
            if !on_portal(only, portal) || !rule.trigger.in_window(now_us.saturating_sub(since)) {
                continue;
            }
            match action {
                WireAction::DelayPdus { delay_us } => {
                    window.delay_us = window.delay_us.max(delay_us)
                }
                WireAction::StallCmdSn => window.stall_cmd_sn = true,
                WireAction::IgnoreNops => window.ignore_nops = true,
                WireAction::PortalDown => window.down = true,
                WireAction::Blackhole => window.silent = true,
                _ => {}
            }
        }
        window
    }

    /// The ALUA state rules in force at `now_us` override the groups' states (the last rule
    /// wins).
    pub fn alua_overrides(&self, now_us: u64) -> Vec<(u16, AccessState)> {
        self.all_rules()
            .filter(|(rule, since)| rule.trigger.in_window(now_us.saturating_sub(*since)))
            .filter_map(|(rule, _)| match rule.action {
                FaultAction::Wire {
                    action: WireAction::AluaState { group, state },
                    ..
                } => Some((group, state)),
                _ => None,
            })
            .collect()
    }

    /// Logout requests whose window opens in `(after_us, up_to_us]`, with their portal.
    pub fn logout_requests(&self, after_us: u64, up_to_us: u64) -> Vec<(Option<u16>, u16)> {
        self.all_rules()
            .filter_map(|(rule, since)| match rule.action {
                FaultAction::Wire {
                    action: WireAction::LogoutRequest { within_s },
                    portal,
                } => {
                    let at = since.saturating_add(rule.trigger.from_us);
                    (at > after_us && at <= up_to_us).then_some((portal, within_s))
                }
                _ => None,
            })
            .collect()
    }

    /// The first moment after `after_us` at which a window opens or closes.
    pub fn next_edge_us(&self, after_us: u64) -> Option<u64> {
        self.all_rules()
            .filter(|(rule, _)| {
                matches!(
                    rule.action,
                    FaultAction::Wire { .. } | FaultAction::TransportDown { .. }
                )
            })
            .flat_map(|(rule, since)| {
                let from = since.saturating_add(rule.trigger.from_us);
                let until = rule
                    .trigger
                    .until_us
                    .map(|until| since.saturating_add(until));
                [Some(from), until]
            })
            .flatten()
            .filter(|edge| *edge > after_us)
            .min()
    }

    /// Transport-down rules in force now: the hosts whose connections must drop.
    pub fn transport_down_selectors(
        &self,
        now_us: u64,
    ) -> Vec<unjam_sim::address::AddressSelector> {
        self.all_rules()
            .filter(|(rule, since)| {
                matches!(rule.action, FaultAction::TransportDown { .. })
                    && rule.trigger.in_window(now_us.saturating_sub(*since))
            })
            .map(|(rule, _)| rule.devices)
            .collect()
    }

    fn all_rules(&self) -> impl Iterator<Item = (&FaultRule, u64)> {
        self.scenario
            .rules()
            .iter()
            .map(|rule| (rule, 0))
            .chain(self.added.iter().flat_map(|a| {
                a.engine
                    .rules()
                    .iter()
                    .map(move |rule| (rule, a.added_at_us))
            }))
    }
}

fn on_portal(only: Option<u16>, portal: usize) -> bool {
    only.is_none_or(|only| usize::from(only) == portal)
}

/// A rule as one line of TOML (`kind = "timeout", device = "0:0:0:0", ...`).
fn describe(spec: &FaultSpec) -> String {
    let table =
        toml::Value::try_from(&spec.fields).unwrap_or(toml::Value::Table(Default::default()));
    let Some(table) = table.as_table() else {
        return String::new();
    };
    table
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> FaultSpec {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    const LUN0: LunAddress = LunAddress::new(0, 0, 0, 0);
    const READ: [u8; 10] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];

    #[test]
    fn added_rules_count_from_when_they_were_added() {
        let mut faults = Faults::new(&[], 1);
        let id = faults
            .add(
                &spec("kind = \"timeout\"\nfrom_ms = 10\ntimes = 1"),
                1_000_000,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(faults
            .decide_command(1_005_000, &LUN0, &READ)
            .0
            .action
            .is_none());
        assert!(faults
            .decide_command(1_010_000, &LUN0, &READ)
            .0
            .action
            .is_some());
        let after = faults.decide_command(1_020_000, &LUN0, &READ).0;
        assert!(after.action.is_none(), "times = 1");
        let listed = faults.list();
        assert_eq!((listed[0].id, listed[0].fired), (id, 1));
        assert!(
            listed[0].text.contains("kind=\"timeout\""),
            "{}",
            listed[0].text
        );
        assert_eq!(faults.clear(None), 1);
        assert!(faults.list().is_empty());
    }

    #[test]
    fn wire_rules_by_command_portal_and_window() {
        let mut faults = Faults::new(
            &[
                spec("kind = \"drop_response\"\ncommands = \"reads\"\ntimes = 1"),
                spec("kind = \"stall_cmdsn\"\nportal = 1\nfrom_ms = 5\nuntil_ms = 9"),
                spec("kind = \"reject_login\"\nstatus_class = 2\nstatus_detail = 6\ntimes = 1"),
                spec("kind = \"alua_state\"\ngroup = 2\nstate = \"standby\"\nfrom_ms = 3"),
                spec("kind = \"logout_request\"\nfrom_ms = 4\nwithin_s = 2"),
            ],
            1,
        );
        assert_eq!(faults.wire_command(0, &LUN0, &[0; 6], 0), None);
        assert_eq!(
            faults.wire_command(0, &LUN0, &READ, 0),
            Some(WireAction::DropResponse)
        );
        assert_eq!(faults.wire_command(0, &LUN0, &READ, 0), None);
        assert!(!faults.portal_window(6_000, 0).stall_cmd_sn);
        assert!(faults.portal_window(6_000, 1).stall_cmd_sn);
        assert!(!faults.portal_window(9_000, 1).stall_cmd_sn);
        assert_eq!(faults.reject_login(0, 0), Some((2, 6)));
        assert_eq!(faults.reject_login(0, 0), None);
        assert!(faults.alua_overrides(2_000).is_empty());
        assert_eq!(faults.alua_overrides(3_000), [(2, AccessState::Standby)]);
        assert_eq!(faults.logout_requests(0, 4_000), [(None, 2)]);
        assert!(faults.logout_requests(4_000, 9_000).is_empty());
        assert_eq!(faults.next_edge_us(0), Some(3_000));
        assert_eq!(faults.next_edge_us(5_000), Some(9_000));
    }
}
