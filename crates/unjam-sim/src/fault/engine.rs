//! The fault engine: evaluates the rules in order against each command and task management
//! function, keeps their hit counts, and draws rate-based faults from its own seeded stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unjam_scsi::HostByte;

use super::rule::{FaultAction, FaultRule, TaskManagement};
use crate::address::LunAddress;
use crate::media_command::MediaCommand;

/// What happens to one command.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct CommandFate {
    /// The outcome-deciding action, if a rule fired (never `Slow` or a TMF action).
    pub action: Option<FaultAction>,
    /// The index of the rule that decided the outcome.
    pub rule: Option<usize>,
    /// Extra latency from every `Slow` rule that fired.
    pub extra_us: u64,
}

/// What happens to one task management function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TmfFate {
    Succeed,
    Fail,
    /// Never answers, or answers FAILED after `after_us`.
    Hang {
        after_us: Option<u64>,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct RuleState {
    matches: u64,
    fired: u64,
}

/// One firing of a rule, kept for the report's timeline when hit recording is on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FaultHit {
    pub at_us: u64,
    pub rule: usize,
    pub address: LunAddress,
}

/// The firings kept (at most a bound) and how many were not kept.
#[derive(Clone, Debug, Default)]
struct HitLog {
    limit: usize,
    hits: Vec<FaultHit>,
    not_kept: u64,
    /// Per rule: the first and the last firing.
    spans: Vec<Option<(u64, u64)>>,
}

/// The rules of one simulation and their counters.
#[derive(Debug)]
pub struct FaultEngine {
    rules: Vec<FaultRule>,
    state: Vec<RuleState>,
    rng: ChaCha8Rng,
    /// From this time on no rule fires (the liveness phase).
    healed_at_us: Option<u64>,
    hit_log: HitLog,
}

impl FaultEngine {
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        let state = vec![RuleState::default(); rules.len()];
        FaultEngine {
            rules,
            state,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
            healed_at_us: None,
            hit_log: HitLog::default(),
        }
    }

    /// Keeps the first `limit` firings (time, rule, path) for [`FaultEngine::hits`]; off
    /// (0) by default.
    pub fn record_hits(&mut self, limit: usize) {
        self.hit_log.limit = limit;
    }

    /// The firings kept, in order, and how many more fired but were not kept.
    pub fn hits(&self) -> (&[FaultHit], u64) {
        (&self.hit_log.hits, self.hit_log.not_kept)
    }

    /// When rule `index` fired first and last (with hit recording on).
    pub fn fired_span_us(&self, index: usize) -> Option<(u64, u64)> {
        self.hit_log.spans.get(index).copied().flatten()
    }

    fn note_hit(&mut self, at_us: u64, rule: usize, address: &LunAddress) {
        let log = &mut self.hit_log;
        if log.limit == 0 {
            return;
        }
        if log.spans.len() < self.rules.len() {
            log.spans.resize(self.rules.len(), None);
        }
        if let Some(span) = log.spans.get_mut(rule) {
            let (first, _) = span.unwrap_or((at_us, at_us));
            *span = Some((first, at_us));
        }
        if log.hits.len() < log.limit {
            log.hits.push(FaultHit {
                at_us,
                rule,
                address: *address,
            });
        } else {
            log.not_kept += 1;
        }
    }

    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Every fault ends at `now_us`: no rule fires afterwards and every transport is up.
    /// Returns the transport rules that were down (their devices come back up now).
    pub fn heal(&mut self, now_us: u64) -> Vec<usize> {
        let down = (0..self.rules.len())
            .filter(|index| {
                let rule = &self.rules[*index];
                matches!(rule.action, FaultAction::TransportDown { .. })
                    && rule.trigger.in_window(now_us)
            })
            .collect();
        self.healed_at_us = Some(self.healed_at_us.unwrap_or(now_us).min(now_us));
        down
    }

    /// Whether faults have healed by `now_us`.
    pub fn is_healed(&self, now_us: u64) -> bool {
        self.healed_at_us.is_some_and(|at| now_us >= at)
    }

    /// How often rule `index` has fired.
    pub fn fired(&self, index: usize) -> u64 {
        self.state.get(index).map_or(0, |s| s.fired)
    }

    /// Decides the fate of a command arriving at `now_us`.
    pub fn decide_command(&mut self, now_us: u64, address: &LunAddress, cdb: &[u8]) -> CommandFate {
        let mut fate = CommandFate::default();
        if self.rules.is_empty() || self.is_healed(now_us) {
            return fate;
        }
        let media = MediaCommand::parse(cdb);
        for index in 0..self.rules.len() {
            let rule = self.rules[index];
            if rule.is_task_management()
                || rule.is_wire()
                || matches!(rule.action, FaultAction::TransportDown { .. })
                || (fate.action.is_some() && !matches!(rule.action, FaultAction::Slow { .. }))
                || !rule.applies(now_us, address, cdb, media.as_ref())
                || !self.fire(index)
            {
                continue;
            }
            self.note_hit(now_us, index, address);
            match rule.action {
                FaultAction::Slow { extra_us } => {
                    fate.extra_us = fate.extra_us.saturating_add(extra_us)
                }
                action => {
                    fate.action = Some(action);
                    fate.rule = Some(index);
                }
            }
        }
        fate
    }

    /// Decides the fate of a task management function arriving at `now_us` for `address`,
    /// sent for the command with `cdb` (a rule's `commands` match it: scsi_debug's error
    /// types 3 and 4 fail the abort or LUN reset only of commands with their opcode).
    pub fn decide_tmf(
        &mut self,
        now_us: u64,
        address: &LunAddress,
        function: TaskManagement,
        cdb: &[u8],
    ) -> TmfFate {
        if self.is_healed(now_us) {
            return TmfFate::Succeed;
        }
        if self.transport_down(now_us, address).is_some() {
            return TmfFate::Fail;
        }
        for index in 0..self.rules.len() {
            let rule = self.rules[index];
            let kind = match rule.action {
                FaultAction::TmfFails { function } | FaultAction::TmfHangs { function, .. } => {
                    function
                }
                _ => continue,
            };
            if !kind.matches(function)
                || !rule
                    .commands
                    .matches(cdb, MediaCommand::parse(cdb).as_ref())
                || !rule.devices.matches(address)
                || !rule.trigger.in_window(now_us)
                || !self.fire(index)
            {
                continue;
            }
            self.note_hit(now_us, index, address);
            return match rule.action {
                FaultAction::TmfHangs { after_us, .. } => TmfFate::Hang { after_us },
                _ => TmfFate::Fail,
            };
        }
        TmfFate::Succeed
    }

    /// The host byte commands to `address` get if its transport is down at `now_us`.
    pub fn transport_down(&self, now_us: u64, address: &LunAddress) -> Option<HostByte> {
        if self.is_healed(now_us) {
            return None;
        }
        self.rules.iter().find_map(|rule| match rule.action {
            FaultAction::TransportDown { host_byte }
                if rule.devices.matches(address) && rule.trigger.in_window(now_us) =>
            {
                Some(host_byte)
            }
            _ => None,
        })
    }

    /// The times at which a transport goes down (`true`) or comes back up (`false`), with
    /// the rule index, in rule order.
    pub fn transport_edges(&self) -> Vec<(u64, usize, bool)> {
        let mut edges = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if let FaultAction::TransportDown { .. } = rule.action {
                edges.push((rule.trigger.from_us, index, true));
                if let Some(until) = rule.trigger.until_us {
                    edges.push((until, index, false));
                }
            }
        }
        edges
    }

    /// Counts a match of rule `index` and says whether it fires: past its skip, within its
    /// count, and lucky if it has a probability. Public so that a front evaluating its own
    /// kinds of rule (the wire faults) counts hits the same way.
    pub fn fire(&mut self, index: usize) -> bool {
        let Some(rule) = self.rules.get(index) else {
            return false;
        };
        let trigger = rule.trigger;
        let Some(state) = self.state.get_mut(index) else {
            return false;
        };
        state.matches += 1;
        if state.matches <= trigger.skip as u64 {
            return false;
        }
        if let super::Count::Times(times) = trigger.count {
            if state.fired >= times as u64 {
                return false;
            }
        }
        if let Some(probability) = trigger.probability {
            if !self.rng.gen_bool(probability.clamp(0.0, 1.0)) {
                return false;
            }
        }
        state.fired += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::AddressSelector;
    use crate::fault::rule::{CommandMatch, Count, ResetScope, TmfKind, Trigger};
    use crate::media_command::{rw16, MediaAccess};
    use unjam_scsi::SamStatus;

    const LUN0: LunAddress = LunAddress::new(0, 0, 0, 0);
    const LUN1: LunAddress = LunAddress::new(0, 0, 0, 1);

    fn busy() -> FaultAction {
        FaultAction::Busy {
            status: SamStatus::BUSY,
        }
    }

    #[test]
    fn next_n_times_then_never() {
        let mut rule = FaultRule::new(AddressSelector::exact(LUN0), busy());
        rule.trigger.count = Count::Times(2);
        rule.trigger.skip = 1;
        let mut engine = FaultEngine::new(vec![rule], 1);
        let read = rw16(MediaAccess::Read, 0, 1);
        let fired: Vec<bool> = (0..5)
            .map(|_| engine.decide_command(0, &LUN0, &read).action.is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false, false]);
        assert!(engine.decide_command(0, &LUN1, &read).action.is_none());
        assert_eq!(engine.fired(0), 2);
    }

    #[test]
    fn windows_opcodes_and_lba_ranges() {
        let mut rule = FaultRule::new(AddressSelector::ANY, FaultAction::MediumError);
        rule.commands = CommandMatch::Reads;
        rule.lba_range = Some((100, 199));
        rule.trigger = Trigger {
            from_us: 1000,
            until_us: Some(2000),
            ..Trigger::default()
        };
        let mut engine = FaultEngine::new(vec![rule], 1);
        let hit = rw16(MediaAccess::Read, 190, 20);
        assert!(engine.decide_command(999, &LUN0, &hit).action.is_none());
        assert!(engine.decide_command(1000, &LUN0, &hit).action.is_some());
        assert!(engine.decide_command(2000, &LUN0, &hit).action.is_none());
        let miss = rw16(MediaAccess::Read, 200, 20);
        assert!(engine.decide_command(1500, &LUN0, &miss).action.is_none());
        let write = rw16(MediaAccess::Write, 150, 1);
        assert!(engine.decide_command(1500, &LUN0, &write).action.is_none());
        assert!(engine
            .decide_command(1500, &LUN0, &[0x12, 0, 0, 0, 36, 0])
            .action
            .is_none());
    }

    #[test]
    fn slow_rules_add_up_and_the_first_outcome_wins() {
        let slow = FaultRule::new(AddressSelector::ANY, FaultAction::Slow { extra_us: 500 });
        let timeout = FaultRule::new(AddressSelector::ANY, FaultAction::Timeout);
        let engine_rules = vec![slow, timeout, busy_rule(), slow];
        let mut engine = FaultEngine::new(engine_rules, 1);
        let fate = engine.decide_command(0, &LUN0, &[0; 6]);
        assert_eq!(fate.action, Some(FaultAction::Timeout));
        assert_eq!(fate.rule, Some(1));
        assert_eq!(fate.extra_us, 1000);
        assert_eq!(engine.fired(2), 0, "a later outcome rule is not consumed");
    }

    fn busy_rule() -> FaultRule {
        FaultRule::new(AddressSelector::ANY, busy())
    }

    #[test]
    fn rates_are_drawn_from_the_seed() {
        let mut rule = busy_rule();
        rule.trigger.probability = Some(0.25);
        let draw = |seed| {
            let mut engine = FaultEngine::new(vec![rule], seed);
            (0..4000)
                .map(|_| engine.decide_command(0, &LUN0, &[0; 6]).action.is_some())
                .collect::<Vec<_>>()
        };
        let first = draw(5);
        assert_eq!(first, draw(5));
        assert_ne!(first, draw(6));
        let hits = first.iter().filter(|f| **f).count();
        assert!((850..1150).contains(&hits), "{hits} hits of 4000 at 25 %");
    }

    #[test]
    fn task_management_rules() {
        let mut fails = FaultRule::new(
            AddressSelector::exact(LUN0),
            FaultAction::TmfFails {
                function: TmfKind::Reset(Some(ResetScope::Lun)),
            },
        );
        fails.trigger.count = Count::Times(1);
        let hangs = FaultRule::new(
            AddressSelector::ANY,
            FaultAction::TmfHangs {
                function: TmfKind::Abort,
                after_us: None,
            },
        );
        let mut engine = FaultEngine::new(vec![fails, hangs], 1);
        let lun_reset = TaskManagement::Reset(ResetScope::Lun);
        let read = rw16(MediaAccess::Read, 0, 1);
        assert_eq!(engine.decide_tmf(0, &LUN0, lun_reset, &read), TmfFate::Fail);
        assert_eq!(
            engine.decide_tmf(0, &LUN0, lun_reset, &read),
            TmfFate::Succeed
        );
        assert_eq!(
            engine.decide_tmf(0, &LUN0, TaskManagement::Reset(ResetScope::Target), &read),
            TmfFate::Succeed
        );
        assert_eq!(
            engine.decide_tmf(0, &LUN1, TaskManagement::Abort, &read),
            TmfFate::Hang { after_us: None }
        );
        assert!(engine.decide_command(0, &LUN0, &[0; 6]).action.is_none());
    }

    #[test]
    fn scsi_debug_abort_and_lun_reset_failures_match_their_opcode() {
        // "3 -1 0x28": only aborts of READ(10) fail, so a timed-out TUR's abort succeeds;
        // "4 1 0x28": a LUN reset sent with a TUR succeeds, one sent with the READ fails.
        let any = AddressSelector::ANY;
        let abort = crate::fault::scsi_debug::parse_line("3 1 0x28", any).unwrap();
        let reset = crate::fault::scsi_debug::parse_line("4 1 0x28", any).unwrap();
        let mut engine = FaultEngine::new(vec![abort, reset], 1);
        let (read10, tur) = ([0x28, 0, 0, 0, 8, 0, 0, 0, 8, 0], [0u8; 6]);
        let lun_reset = TaskManagement::Reset(ResetScope::Lun);
        assert_eq!(
            engine.decide_tmf(0, &LUN0, TaskManagement::Abort, &tur),
            TmfFate::Succeed
        );
        assert_eq!(
            engine.decide_tmf(0, &LUN0, TaskManagement::Abort, &read10),
            TmfFate::Fail
        );
        assert_eq!(
            engine.decide_tmf(0, &LUN0, lun_reset, &tur),
            TmfFate::Succeed
        );
        assert_eq!(
            engine.decide_tmf(0, &LUN0, lun_reset, &read10),
            TmfFate::Fail
        );
    }

    #[test]
    fn transport_down_windows() {
        let mut rule = FaultRule::new(
            "0:*:*:*".parse().unwrap(),
            FaultAction::TransportDown {
                host_byte: HostByte::DID_TRANSPORT_DISRUPTED,
            },
        );
        rule.trigger = Trigger {
            from_us: 10,
            until_us: Some(20),
            ..Trigger::default()
        };
        let mut engine = FaultEngine::new(vec![rule], 1);
        assert_eq!(engine.transport_down(9, &LUN0), None);
        assert_eq!(
            engine.transport_down(10, &LUN0),
            Some(HostByte::DID_TRANSPORT_DISRUPTED)
        );
        assert_eq!(
            engine.transport_down(10, &LunAddress::new(1, 0, 0, 0)),
            None
        );
        assert_eq!(
            engine.transport_edges(),
            vec![(10, 0, true), (20, 0, false)]
        );
        assert_eq!(
            engine.decide_tmf(15, &LUN0, TaskManagement::Abort, &[0x28; 10]),
            TmfFate::Fail
        );
        assert!(engine.decide_command(15, &LUN0, &[0; 6]).action.is_none());
        assert_eq!(engine.heal(15), vec![0], "the transport was down");
        assert_eq!(engine.transport_down(16, &LUN0), None);
        assert_eq!(
            engine.decide_tmf(16, &LUN0, TaskManagement::Abort, &[0x28]),
            TmfFate::Succeed
        );
    }

    #[test]
    fn nothing_fires_once_healed() {
        let mut engine = FaultEngine::new(vec![busy_rule()], 1);
        assert!(engine.decide_command(0, &LUN0, &[0; 6]).action.is_some());
        assert!(engine.heal(10).is_empty());
        assert!(engine.decide_command(9, &LUN0, &[0; 6]).action.is_some());
        assert!(engine.decide_command(10, &LUN0, &[0; 6]).action.is_none());
    }

    #[test]
    fn firings_are_kept_when_asked_and_counted_past_the_bound() {
        let rule = FaultRule {
            trigger: Trigger {
                count: Count::Times(3),
                ..Trigger::default()
            },
            ..FaultRule::new(AddressSelector::ANY, busy())
        };
        let read = rw16(MediaAccess::Read, 0, 1);
        let mut quiet = FaultEngine::new(vec![rule], 1);
        quiet.decide_command(5, &LUN0, &read);
        assert_eq!(quiet.hits().0.len(), 0, "off by default");
        let mut engine = FaultEngine::new(vec![rule], 1);
        engine.record_hits(2);
        for t in [5, 7, 9, 11] {
            engine.decide_command(t, &LUN1, &read);
        }
        let (hits, not_kept) = engine.hits();
        assert_eq!(hits.len(), 2);
        assert_eq!((hits[0].at_us, hits[0].rule, hits[0].address), (5, 0, LUN1));
        assert_eq!(
            not_kept, 1,
            "the third firing; the fourth match did not fire"
        );
        assert_eq!(engine.fired_span_us(0), Some((5, 9)));
    }
}
