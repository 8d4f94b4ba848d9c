//! The embedded target on the wall clock: the scenario's logical units, the state of every
//! I_T nexus, the fault rules and the ALUA states, shared by every connection. Commands are
//! admitted (their fate and due time decided) when they arrive and executed by the pure
//! executor of `unjam-sim` when they are due, so an aborted write never lands.
//!
//! ```text
//!  connection ─► admit(now) ─► Plan: Run { due } | Swallow | ResetConnection | Reject
//!                  (faults: command, wire; latency; task set size)
//!  connection ─► execute(now, plan) ─► executor ─► CommandResult | Terminated | Reset
//!  connection ─► task_management(now) ─► fate ─► apply: epochs, unit attentions
//! ```
//!
//! Owns units, paths, per-nexus state, epochs (a reset anywhere terminates what other
//! connections hold for the unit), faults and ALUA. Knows nothing of PDUs or sockets.

mod nexus;

use std::collections::HashMap;

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use unjam_iscsi::pdu::TaskManagementFunction;
use unjam_iscsi::target::CommandResult;
use unjam_scsi::cdb::response::AccessState;
use unjam_scsi::sense::SenseKey;
use unjam_scsi::{HostByte, SamStatus};
use unjam_sim::address::LunAddress;
use unjam_sim::execute::PortGroup;
use unjam_sim::fault::{FaultAction, ResetScope, TaskManagement, TmfFate, WireAction};
use unjam_sim::identity::Identity;
use unjam_sim::latency::LatencyModel;
use unjam_sim::media::SparseMedia;
use unjam_sim::media_command::{MediaAccess, MediaCommand};
use unjam_sim::scenario::{target_config, Scenario};
use unjam_sim::sense_data::SenseData;
use unjam_sim::virtio::VirtioResponse;
use unjam_sim::{cut_write, data_out_length, execute, execute_absent, LogicalUnit, PortView};

use crate::faults::Faults;
use crate::layout::Layout;
use nexus::NexusStates;

/// Where a command came from: the I_T nexus and the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The I_T nexus (initiator port × target port), stable across re-logins.
    pub nexus: u64,
    pub portal: usize,
    /// The target (index into the layout's targets).
    pub target: usize,
}

/// What to do with an arriving command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plan {
    /// Execute it at `due_us`.
    Run(Scheduled),
    /// Hold it without an answer until a task management function ends it.
    Swallow(Scheduled),
    /// Reset the connection instead.
    ResetConnection,
    /// Answer with a Reject PDU of this reason instead.
    Reject(u8),
}

/// A command admitted to run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scheduled {
    pub due_us: u64,
    fate: Option<FaultAction>,
    medium_range: Option<(u64, u64)>,
    /// The wire fault its answer suffers (drop, duplicate, corrupt digest).
    pub wire: Option<WireAction>,
    unit: Option<usize>,
    path: Option<usize>,
    epoch: u64,
}

/// What executing a command gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Executed {
    Answer(CommandResult),
    /// It ran (a write is on the media) but its answer is lost.
    Lost,
    /// A reset elsewhere ended it first: no answer.
    Terminated,
    /// The fault takes the transport down: reset the connection.
    ResetConnection,
}

/// What running a command gave, before a front turns it into its protocol's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The device's answer (the executor's, or a status a fault chose). `lost`: the command
    /// ran (a write is on the media) but the notification of its answer is lost.
    Answer { result: CommandResult, lost: bool },
    /// A fault answers instead of the device: not executed.
    Fault(FaultAnswer),
    /// A reset elsewhere ended it first: no answer.
    Terminated,
}

/// A fault's answer in front-neutral terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultAnswer {
    /// The host byte the initiator should see (for a virtio fault: the Linux driver's
    /// mapping of `virtio`).
    pub host_byte: HostByte,
    /// The `VIRTIO_SCSI_S_*` response the fault named, if it named one.
    pub virtio: Option<VirtioResponse>,
    /// The device status the fault carries (before any virtio mapping).
    pub status: SamStatus,
    /// Sense data delivered with the answer (autosense).
    pub sense: Option<SenseData>,
}

impl FaultAnswer {
    /// The iSCSI front's answer: a lost transport resets the connection, any other host
    /// byte is an iSCSI "target failure" response (the Linux initiator reports DID_ERROR).
    fn for_iscsi(self) -> Executed {
        let (host_byte, status) = match self.virtio {
            Some(response) => {
                let mapped = response.to_result(self.status);
                (mapped.host, mapped.status)
            }
            None => (self.host_byte, self.status),
        };
        failure(host_byte, status, self.sense)
    }
}

/// The outcome of a task management function: an RFC 7143 §11.6.1 response code, when to
/// answer, and what it reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TmfPlan {
    /// `None`: never answered (a hang fault).
    pub answer_after_us: Option<u64>,
    pub response: u8,
    /// The scope of tasks it terminates when it succeeds.
    pub reach: Option<Reach>,
}

/// Which tasks a successful task management function ends on the requesting connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    Task,
    Lun(u64),
    Target,
    /// TARGET COLD RESET: every connection to the target is dropped after the answer.
    TargetCold,
}

/// What the target has seen, for tests and the control socket's `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetStats {
    /// Normal sessions logged in.
    pub logins: u64,
    pub commands: u64,
    /// Task management functions received, by kind (answered or not).
    pub aborts: u64,
    pub task_set_aborts: u64,
    pub lun_resets: u64,
    pub target_resets: u64,
    /// Task management functions a fault failed or hung.
    pub tmf_failed: u64,
}

#[derive(Debug)]
struct Path {
    unit: usize,
    latency: LatencyModel,
    rng: ChaCha8Rng,
    in_flight: u32,
    task_set_size: u32,
}

/// The shared target.
#[derive(Debug)]
pub struct Engine {
    layout: Layout,
    units: Vec<LogicalUnit>,
    epochs: Vec<u64>,
    paths: Vec<Path>,
    path_of: HashMap<LunAddress, usize>,
    target_luns: HashMap<(u32, u32), Vec<u64>>,
    nexus: NexusStates,
    faults: Faults,
    groups: Vec<PortGroup>,
    tmf_latency_us: u64,
    /// Initiator port names of the nexuses (persistent reservations report them).
    initiator_ports: HashMap<u64, String>,
    stats: TargetStats,
}

/// A scenario whose units cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("scenario: {0}")]
pub struct EngineError(String);

impl Engine {
    pub fn new(scenario: &Scenario, layout: Layout) -> Result<Engine, EngineError> {
        let config = target_config(scenario).map_err(|e| EngineError(e.to_string()))?;
        let mut units = Vec::with_capacity(config.units.len());
        for (index, unit) in config.units.iter().enumerate() {
            let media = SparseMedia::new(unit.block_size, unit.block_count, unit.ram_limit_bytes)
                .map_err(|e| EngineError(format!("logical unit {index}: {e}")))?;
            units.push(LogicalUnit::new(
                Identity::derive(config.seed, index as u32),
                media,
            ));
        }
        let mut paths = Vec::with_capacity(config.luns.len());
        let mut path_of = HashMap::new();
        let mut target_luns: HashMap<(u32, u32), Vec<u64>> = HashMap::new();
        for (index, lun) in config.luns.iter().enumerate() {
            path_of.insert(lun.address, index);
            target_luns
                .entry((lun.address.host, lun.address.target))
                .or_default()
                .push(lun_as_report_luns_number(lun.address.lun));
            paths.push(Path {
                unit: lun.unit,
                latency: lun.latency,
                rng: ChaCha8Rng::seed_from_u64(config.seed ^ (index as u64 + 1) << 20),
                in_flight: 0,
                task_set_size: lun.task_set_size.max(1),
            });
        }
        for luns in target_luns.values_mut() {
            luns.sort_unstable();
        }
        Ok(Engine {
            epochs: vec![0; units.len()],
            units,
            paths,
            path_of,
            target_luns,
            // No I_T nexus exists at power on: a nexus that logs in later sees no 29/01.
            nexus: NexusStates::new(false),
            faults: Faults::new(&scenario.faults, scenario.seed),
            groups: layout.groups.clone(),
            tmf_latency_us: config.tmf_latency_us,
            initiator_ports: HashMap::new(),
            stats: TargetStats::default(),
            layout,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn faults_mut(&mut self) -> &mut Faults {
        &mut self.faults
    }

    pub fn groups(&self) -> &[PortGroup] {
        &self.groups
    }

    pub fn stats(&self) -> TargetStats {
        self.stats
    }

    /// Decides what happens to a command arriving at `now_us`.
    pub fn admit(&mut self, now_us: u64, origin: Origin, lun: u64, cdb: &[u8]) -> Plan {
        self.stats.commands += 1;
        let Some(address) = self.address(origin, lun) else {
            return Plan::Reject(0x09);
        };
        let wire = self
            .faults
            .wire_command(now_us, &address, cdb, origin.portal);
        match wire {
            Some(WireAction::ResetConnection) => return Plan::ResetConnection,
            Some(WireAction::RejectPdu { reason }) => return Plan::Reject(reason),
            _ => {}
        }
        if self.faults.transport_down(now_us, &address).is_some() {
            return Plan::ResetConnection;
        }
        let (fate, medium_range) = self.faults.decide_command(now_us, &address, cdb);
        let path = self.path_of.get(&address).copied();
        let unit = path.and_then(|index| self.paths.get(index)).map(|p| p.unit);
        let mut fate_action = fate.action;
        let latency_us = match path.and_then(|index| self.paths.get_mut(index)) {
            Some(path) => {
                path.in_flight += 1;
                if path.in_flight > path.task_set_size && fate_action.is_none() {
                    fate_action = Some(FaultAction::Busy {
                        status: SamStatus::TASK_SET_FULL,
                    });
                }
                sample(&path.latency, &mut path.rng)
            }
            None => 0,
        };
        let scheduled = Scheduled {
            due_us: now_us
                .saturating_add(latency_us)
                .saturating_add(fate.extra_us),
            fate: fate_action,
            medium_range,
            wire,
            unit,
            path,
            epoch: unit.and_then(|u| self.epochs.get(u)).copied().unwrap_or(0),
        };
        if fate_action == Some(FaultAction::Timeout) {
            return Plan::Swallow(scheduled);
        }
        Plan::Run(scheduled)
    }

    /// A held command is gone without running (aborted, reset, connection closed).
    pub fn release(&mut self, scheduled: &Scheduled) {
        if let Some(path) = scheduled.path.and_then(|index| self.paths.get_mut(index)) {
            path.in_flight = path.in_flight.saturating_sub(1);
        }
    }

    /// Runs an admitted command now and gives the iSCSI front's answer: a fault's host
    /// byte becomes an iSCSI "target failure" response, a lost transport a connection reset.
    pub fn execute(
        &mut self,
        origin: Origin,
        lun: u64,
        cdb: &[u8],
        data_out: &[u8],
        scheduled: &Scheduled,
    ) -> Executed {
        match self.run_admitted(origin, lun, cdb, data_out, scheduled) {
            Outcome::Answer { lost: true, .. } => Executed::Lost,
            Outcome::Answer {
                result,
                lost: false,
            } => Executed::Answer(result),
            Outcome::Fault(fault) => fault.for_iscsi(),
            Outcome::Terminated => Executed::Terminated,
        }
    }

    /// Runs an admitted command now and gives the front-neutral outcome (each front turns a
    /// fault's answer into its own protocol: iSCSI in [`Engine::execute`], virtio in
    /// `unjam-vhost`).
    pub fn run_admitted(
        &mut self,
        origin: Origin,
        lun: u64,
        cdb: &[u8],
        data_out: &[u8],
        scheduled: &Scheduled,
    ) -> Outcome {
        self.release(scheduled);
        let current = scheduled.unit.and_then(|u| self.epochs.get(u)).copied();
        if scheduled.unit.is_some() && current != Some(scheduled.epoch) {
            return Outcome::Terminated;
        }
        let result = match scheduled.fate {
            Some(FaultAction::Fail {
                host_byte,
                status,
                sense,
                autosense,
            }) => {
                if !autosense {
                    if let Some(unit) = scheduled.unit {
                        self.nexus.state(origin.nexus, unit).withheld_sense = sense.map(Box::new);
                    }
                }
                return Outcome::Fault(FaultAnswer {
                    host_byte,
                    virtio: None,
                    status,
                    sense: if autosense { sense } else { None },
                });
            }
            Some(FaultAction::Virtio {
                response,
                status,
                sense,
            }) => {
                return Outcome::Fault(FaultAnswer {
                    host_byte: response.to_result(status).host,
                    virtio: Some(response),
                    status,
                    sense,
                });
            }
            Some(FaultAction::Busy { status }) => status_only(status),
            Some(FaultAction::QueueReject { .. }) => status_only(SamStatus::BUSY),
            Some(FaultAction::MediumError) => medium_error(cdb, scheduled.medium_range),
            _ => self.run(origin, lun, cdb, data_out),
        };
        let lost = scheduled.fate == Some(FaultAction::LostCompletion)
            || scheduled.wire == Some(WireAction::DropResponse);
        Outcome::Answer { result, lost }
    }

    fn run(&mut self, origin: Origin, lun: u64, cdb: &[u8], data_out: &[u8]) -> CommandResult {
        let Some(address) = self.address(origin, lun) else {
            return status_only(SamStatus::CHECK_CONDITION);
        };
        let group = self
            .layout
            .portals
            .get(origin.portal)
            .map_or(1, |portal| portal.group);
        let luns = self
            .target_luns
            .get(&(address.host, address.target))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let initiator_port = self
            .initiator_ports
            .get(&origin.nexus)
            .map_or("", String::as_str);
        let port = PortView {
            target_luns: luns,
            relative_port: group,
            nexus: origin.nexus,
            port_groups: &self.groups,
            port_group: group,
            initiator_port,
        };
        let mut data_in = Vec::new();
        let path = self.path_of.get(&address).and_then(|i| self.paths.get(*i));
        let unit_of_path = path.map(|p| p.unit);
        let (reply, write_length) = match path {
            Some(path) => {
                let unit_index = path.unit;
                let state = self.nexus.state(origin.nexus, unit_index);
                match self.units.get_mut(unit_index) {
                    Some(unit) => {
                        let needed = data_out_length(unit, cdb);
                        let short = needed.is_some_and(|n| (data_out.len() as u64) < n);
                        let reply = match short.then(|| cut_write(unit, cdb, data_out.len() as u64))
                        {
                            // Overflow: the write runs on the whole blocks that arrived.
                            Some(Some(cut)) => {
                                execute(unit, state, port, &cut, data_out, &mut data_in)
                            }
                            Some(None) if is_write(cdb) => unjam_sim::Reply::GOOD,
                            _ => execute(unit, state, port, cdb, data_out, &mut data_in),
                        };
                        (reply, needed)
                    }
                    None => (execute_absent(port, cdb, &mut data_in), None),
                }
            }
            None => (execute_absent(port, cdb, &mut data_in), None),
        };
        if let Some(unit) = unit_of_path {
            self.hand_out_attentions(unit);
        }
        CommandResult {
            response: 0,
            status: reply.status.0,
            sense: reply
                .sense
                .map(|sense| Bytes::copy_from_slice(sense.as_bytes()))
                .unwrap_or_default(),
            data_in: Bytes::from(data_in),
            write_length: write_length.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }

    /// Decides a task management function arriving at `now_us`, sent for the command with
    /// `cdb` (the aborted task, or a task on the LUN), and, when it succeeds, applies its
    /// effect on the units (epochs, unit attentions).
    pub fn task_management(
        &mut self,
        now_us: u64,
        origin: Origin,
        function: TaskManagementFunction,
        lun: u64,
        cdb: &[u8],
    ) -> TmfPlan {
        use TaskManagementFunction as F;
        let (kind, reach) = match function {
            F::AbortTask => (TaskManagement::Abort, Reach::Task),
            F::AbortTaskSet | F::ClearTaskSet => (TaskManagement::Abort, Reach::Lun(lun)),
            F::LogicalUnitReset => (TaskManagement::Reset(ResetScope::Lun), Reach::Lun(lun)),
            F::TargetWarmReset => (TaskManagement::Reset(ResetScope::Target), Reach::Target),
            F::TargetColdReset => (TaskManagement::Reset(ResetScope::Target), Reach::TargetCold),
            F::ClearAca | F::TaskReassign => {
                return TmfPlan {
                    answer_after_us: Some(0),
                    response: 5,
                    reach: None,
                }
            }
        };
        let counter = match function {
            F::AbortTask => &mut self.stats.aborts,
            F::AbortTaskSet | F::ClearTaskSet => &mut self.stats.task_set_aborts,
            F::LogicalUnitReset => &mut self.stats.lun_resets,
            _ => &mut self.stats.target_resets,
        };
        *counter += 1;
        let address = self.address(origin, lun).unwrap_or_default();
        let fate = self.faults.decide_tmf(now_us, &address, kind, cdb);
        let (answer_after_us, success) = match fate {
            TmfFate::Succeed => (Some(self.tmf_latency_us), true),
            TmfFate::Fail => (Some(self.tmf_latency_us), false),
            TmfFate::Hang { after_us } => (after_us, false),
        };
        if !success {
            self.stats.tmf_failed += 1;
            return TmfPlan {
                answer_after_us,
                response: 255,
                reach: None,
            };
        }
        self.apply(origin, function, &address);
        TmfPlan {
            answer_after_us,
            response: 0,
            reach: Some(reach),
        }
    }

    /// The effect of a successful task management function on the units it reaches.
    fn apply(&mut self, origin: Origin, function: TaskManagementFunction, address: &LunAddress) {
        use TaskManagementFunction as F;
        let units: Vec<usize> = match function {
            F::AbortTask | F::AbortTaskSet => return,
            F::ClearTaskSet | F::LogicalUnitReset => self.unit_of(address).into_iter().collect(),
            _ => self.units_of_target(address),
        };
        let unit_attention = match function {
            F::ClearTaskSet => None,
            F::TargetColdReset => Some((0x29, 0x01)),
            _ => Some((0x29, 0x03)),
        };
        for unit in units {
            if let Some(epoch) = self.epochs.get_mut(unit) {
                *epoch += 1;
            }
            if function != F::ClearTaskSet {
                if let Some(unit) = self.units.get_mut(unit) {
                    unit.reservations.reset();
                }
            }
            if let Some(code) = unit_attention {
                self.nexus.raise_all(unit, code, None);
            }
        }
        let _ = origin;
    }

    /// The path a command through `origin` to the 8-byte LUN field `lun` takes (a LUN that
    /// cannot be decoded gets an address that names no logical unit).
    fn address(&self, origin: Origin, lun: u64) -> Option<LunAddress> {
        let lun = lun_from_field(lun).unwrap_or(u64::MAX);
        self.layout.address(origin.portal, origin.target, lun)
    }

    fn unit_of(&self, address: &LunAddress) -> Option<usize> {
        let path = self.path_of.get(address)?;
        self.paths.get(*path).map(|p| p.unit)
    }

    fn units_of_target(&self, address: &LunAddress) -> Vec<usize> {
        let mut units: Vec<usize> = self
            .path_of
            .iter()
            .filter(|(a, _)| a.host == address.host && a.target == address.target)
            .filter_map(|(_, path)| self.paths.get(*path).map(|p| p.unit))
            .collect();
        units.sort_unstable();
        units.dedup();
        units
    }

    /// Recomputes the ALUA states at `now_us`; a group that changed raises 2A/06 on every
    /// nexus. Returns whether anything changed.
    pub fn refresh_alua(&mut self, now_us: u64) -> bool {
        let overrides = self.faults.alua_overrides(now_us);
        let mut changed = false;
        for (group, base) in self.groups.iter_mut().zip(&self.layout.groups) {
            let state = overrides
                .iter()
                .rev()
                .find(|(id, _)| *id == group.id)
                .map_or(base.state, |(_, state)| *state);
            if group.state != state {
                group.state = state;
                changed = true;
            }
        }
        if changed {
            for unit in 0..self.units.len() {
                self.nexus.raise_all(unit, (0x2a, 0x06), None);
            }
        }
        changed
    }

    /// The ALUA state of `group`.
    pub fn group_state(&self, group: u16) -> Option<AccessState> {
        self.groups.iter().find(|g| g.id == group).map(|g| g.state)
    }

    /// Unit attentions a reservation change owes other nexuses go to their state.
    fn hand_out_attentions(&mut self, unit: usize) {
        let Some(logical_unit) = self.units.get_mut(unit) else {
            return;
        };
        while let Some((nexus, code)) = logical_unit.reservations.take_attentions() {
            self.nexus.state(nexus, unit).raise_unit_attention(code);
        }
    }

    /// A nexus logged in: its initiator port name (`name,i,0xISID`) for reservations.
    pub fn nexus_logged_in(&mut self, nexus: u64, initiator_port: String) {
        self.stats.logins += 1;
        if self.initiator_ports.len() >= nexus::MAX_NEXUS_STATES {
            self.initiator_ports.clear();
        }
        self.initiator_ports.insert(nexus, initiator_port);
    }

    /// An I_T nexus ended (its session closed): its reservations are released.
    pub fn nexus_lost(&mut self, nexus: u64) {
        for unit in &mut self.units {
            unit.reservations.nexus_lost(nexus);
        }
    }
}

/// The LUN number of an 8-byte LUN field (SAM-5 §4.7): peripheral device addressing on bus 0
/// (`00 LL`) or flat space addressing (`01LL LLLL`), single level. `None` for anything else.
pub fn lun_from_field(field: u64) -> Option<u64> {
    let [first, second, rest @ ..] = field.to_be_bytes();
    if rest.iter().any(|byte| *byte != 0) {
        return None;
    }
    match first >> 6 {
        0 if first == 0 => Some(u64::from(second)),
        1 => Some(u64::from(first & 0x3f) << 8 | u64::from(second)),
        _ => None,
    }
}

/// WRITE and WRITE AND VERIFY of every size (the commands an overflow may cut).
fn is_write(cdb: &[u8]) -> bool {
    matches!(
        cdb.first(),
        Some(0x0a | 0x2a | 0xaa | 0x8a | 0x2e | 0xae | 0x8e)
    )
}

/// A LUN number as the executor's REPORT LUNS writes it (the kernel's `int_to_scsilun`
/// convention): numbers from 256 carry the flat space addressing bits.
fn lun_as_report_luns_number(lun: u64) -> u64 {
    if lun < 256 {
        lun
    } else {
        0x4000 | (lun & 0x3fff)
    }
}

fn sample(latency: &LatencyModel, rng: &mut ChaCha8Rng) -> u64 {
    match latency {
        LatencyModel::Fixed { us } => *us,
        other => other.sample(rng),
    }
}

fn status_only(status: SamStatus) -> CommandResult {
    CommandResult {
        status: status.0,
        ..CommandResult::default()
    }
}

/// A fault's host byte on iSCSI (see [`FaultAnswer::for_iscsi`]).
fn failure(host_byte: HostByte, status: SamStatus, sense: Option<SenseData>) -> Executed {
    let transport = matches!(
        host_byte,
        HostByte::DID_TRANSPORT_DISRUPTED
            | HostByte::DID_NO_CONNECT
            | HostByte::DID_TRANSPORT_FAILFAST
            | HostByte::DID_TRANSPORT_MARGINAL
    );
    if transport {
        return Executed::ResetConnection;
    }
    if host_byte != HostByte::DID_OK {
        return Executed::Answer(CommandResult {
            response: 1,
            ..CommandResult::default()
        });
    }
    Executed::Answer(CommandResult {
        status: status.0,
        sense: sense
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .unwrap_or_default(),
        ..CommandResult::default()
    })
}

/// MEDIUM ERROR with the first bad LBA of the command inside the fault's range.
fn medium_error(cdb: &[u8], range: Option<(u64, u64)>) -> CommandResult {
    let media = MediaCommand::parse(cdb);
    let first = media.map_or(0, |m| m.lba.max(range.map_or(0, |(first, _)| first)));
    let code = match media.map(|m| m.access) {
        Some(MediaAccess::Write) => (0x0c, 0x00),
        _ => (0x11, 0x00),
    };
    let sense = SenseData::fixed(SenseKey::MEDIUM_ERROR, code, Some(first));
    CommandResult {
        status: SamStatus::CHECK_CONDITION.0,
        sense: Bytes::copy_from_slice(sense.as_bytes()),
        ..CommandResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lun_fields_decode_peripheral_and_flat_addressing() {
        assert_eq!(lun_from_field(0), Some(0));
        assert_eq!(lun_from_field(0x0001_0000_0000_0000), Some(1));
        assert_eq!(lun_from_field(0x4101_0000_0000_0000), Some(257));
        assert_eq!(lun_from_field(0x0101_0000_0000_0000), None, "bus 1");
        assert_eq!(lun_from_field(0x0001_0001_0000_0000), None, "second level");
        assert_eq!(
            lun_from_field(0x8001_0000_0000_0000),
            None,
            "logical unit addressing"
        );
        assert_eq!(lun_as_report_luns_number(257), 0x4101);
    }
}
