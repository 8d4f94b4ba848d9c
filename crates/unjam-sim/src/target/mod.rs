//! The simulated target engine: receives commands and task management functions from a
//! transport adapter, lets the fault engine decide each one's fate, executes commands on
//! the logical units at their completion time, and hands out completions in virtual-time
//! order. It knows nothing of retries or dispositions.
//!
//! ```text
//!  queue_command ─► fate (faults) ─► timeline ─► advance(now) ─► execute ─► poll_event
//!  abort / reset ─► fate (faults) ─► drop commands, raise unit attentions ─► TMF answer
//!  poll_host ─► completions whose notification was lost
//! ```

mod complete;
pub mod config;
mod tables;
mod timeline;
mod tmf;

use std::collections::VecDeque;

use crate::fast_hash::FastMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;
use unjam_scsi::{HostByte, SamStatus};

use crate::address::{AddressSelector, LunAddress};
use crate::fault::{FaultAction, FaultEngine, QueueRejection, ResetScope, TaskManagement};
use crate::identity::{mix, Identity};
use crate::latency::LatencyModel;
use crate::logical_unit::{LogicalUnit, PathState};
use crate::media::{GeometryError, SparseMedia};
use crate::media_command::MediaCommand;
use crate::personality::Personality;
use crate::sense_data::{code, SenseData};
use crate::virtio::VirtioResponse;
use unjam_scsi::cdb::response::AccessState;

pub use config::{HostConfig, LunConfig, TargetConfig, UnitConfig};
use tables::Tables;
use timeline::{Timed, Timeline};

/// The most commands the target holds at once (a bound on its memory).
pub const MAX_COMMANDS_IN_TARGET: usize = 1 << 20;

/// Due commands taken at once, so their media lines load side by side (32 measured best
/// at 4096 LUNs: 16 and 64 gained less).
const WARM_BATCH: usize = 32;

/// The longest CDB the target accepts.
pub const MAX_CDB_LEN: usize = 32;

/// A finished command, as the transport reports it upward.
#[derive(Clone, PartialEq, Debug)]
pub struct Completion {
    pub tag: u64,
    pub address: LunAddress,
    pub host_byte: HostByte,
    pub status: SamStatus,
    pub sense: Option<Box<SenseData>>,
    pub data_in: Vec<u8>,
    /// Expected data-in bytes not transferred.
    pub resid: u32,
    /// The virtio-scsi response the device gave (virtio_scsi personality only).
    pub virtio_response: Option<VirtioResponse>,
    /// The block range, for media-access commands.
    pub media: Option<MediaCommand>,
    /// The command reached the logical unit (a write is on the media).
    pub executed: bool,
    /// Found by a poll after its notification was lost.
    pub polled: bool,
}

/// What the target reports.
#[derive(Clone, PartialEq, Debug)]
pub enum TargetEvent {
    Completed(Completion),
    TaskManagementDone {
        id: u64,
        function: TaskManagement,
        address: LunAddress,
        success: bool,
    },
    TransportDown {
        devices: AddressSelector,
        host_byte: HostByte,
    },
    TransportUp {
        devices: AddressSelector,
    },
}

/// queuecommand's answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Queued {
    Accepted,
    Rejected(QueueRejection),
}

/// Misuse of the target by its driver (never caused by the simulated device).
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum TargetError {
    #[error("tag {0} is already in the target")]
    DuplicateTag(u64),
    #[error("the target holds {MAX_COMMANDS_IN_TARGET} commands already")]
    Full,
    #[error("CDB of {0} bytes is longer than {MAX_CDB_LEN}")]
    CdbTooLong(usize),
    #[error("logical unit {lun}: {source}")]
    Geometry { lun: String, source: GeometryError },
    #[error("path {0} names a logical unit that does not exist")]
    NoSuchUnit(String),
    #[error("path {0} is declared twice")]
    DuplicatePath(String),
    #[error("path {0} is on host {1}, which is not declared")]
    NoSuchHost(String, u32),
}

/// Counters of what the target did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TargetStats {
    pub commands_received: u64,
    pub commands_executed: u64,
    pub completions_delivered: u64,
    pub completions_lost: u64,
    pub completions_polled: u64,
    pub commands_swallowed: u64,
    pub commands_dropped_by_tmf: u64,
    pub queue_rejections: u64,
}

#[derive(Debug)]
struct Path {
    address: LunAddress,
    unit: usize,
    state: PathState,
    latency: LatencyModel,
    /// Boxed: its 300-odd bytes of state would spread the fields every command touches
    /// over several cache lines, and a fixed latency never draws from it.
    rng: Box<ChaCha8Rng>,
    in_flight: u32,
    task_set_size: u32,
    relative_port: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CommandState {
    Scheduled,
    Swallowed,
    Lost,
}

#[derive(Debug)]
struct Command {
    /// Index of the path, or `None` for a LUN that does not exist behind a known target.
    path: Option<usize>,
    address: LunAddress,
    cdb: [u8; MAX_CDB_LEN],
    cdb_len: u8,
    data_out: Vec<u8>,
    data_in_len: u32,
    /// What a fault made of it (boxed: rare, and commands move through a map).
    fate: Option<Box<FaultAction>>,
    state: CommandState,
    generation: u64,
    /// A lost completion waits here for a poll.
    finished: Option<Box<Completion>>,
}

/// The simulated SCSI target: every host, target and logical unit of one scenario.
#[derive(Debug)]
pub struct SimTarget {
    units: Vec<LogicalUnit>,
    paths: Vec<Path>,
    hosts: Vec<HostConfig>,
    tables: Tables,
    faults: FaultEngine,
    commands: FastMap<u64, Command>,
    timeline: Timeline,
    ready: VecDeque<TargetEvent>,
    tmf_latency_us: u64,
    generation: u64,
    now_us: u64,
    buffers: Vec<Vec<u8>>,
    pending_tmfs: FastMap<u64, (TaskManagement, LunAddress)>,
    hung_tmfs: u64,
    stats: TargetStats,
    /// ALUA port groups (one per host), empty when the target does not report ALUA.
    alua_groups: Vec<crate::execute::PortGroup>,
}

impl SimTarget {
    pub fn new(config: &TargetConfig) -> Result<Self, TargetError> {
        let mut units = Vec::with_capacity(config.units.len());
        for (index, unit) in config.units.iter().enumerate() {
            let media = SparseMedia::new(unit.block_size, unit.block_count, unit.ram_limit_bytes)
                .map_err(|source| TargetError::Geometry {
                lun: index.to_string(),
                source,
            })?;
            units.push(LogicalUnit::new(
                Identity::derive(config.seed, index as u32),
                media,
            ));
        }
        let paths = build_paths(config, units.len())?;
        let tables = Tables::new(paths.iter().map(|p| p.address))
            .map_err(|address| TargetError::DuplicatePath(address.to_string()))?;
        let mut target = SimTarget {
            units,
            paths,
            hosts: config.hosts.clone(),
            tables,
            faults: FaultEngine::new(config.faults.clone(), config.seed),
            commands: FastMap::default(),
            timeline: Timeline::default(),
            ready: VecDeque::new(),
            tmf_latency_us: config.tmf_latency_us,
            generation: 0,
            now_us: 0,
            buffers: Vec::new(),
            pending_tmfs: FastMap::default(),
            hung_tmfs: 0,
            stats: TargetStats::default(),
            alua_groups: Vec::new(),
        };
        if config.alua {
            target.alua_groups = config
                .hosts
                .iter()
                .map(|h| crate::execute::PortGroup {
                    id: (h.host as u16).wrapping_add(1),
                    state: AccessState::ActiveOptimized,
                    preferred: false,
                    relative_port: (h.host as u16).wrapping_add(1),
                })
                .collect();
        }
        for (at_us, rule, down) in target.faults.transport_edges() {
            target
                .timeline
                .schedule(at_us, Timed::Transport { rule, down });
        }
        if config.power_on_unit_attention {
            for path in &mut target.paths {
                path.state.raise_unit_attention(code::POWER_ON_OCCURRED);
            }
        }
        Ok(target)
    }

    /// Receives a command (the transport's queuecommand). `data_out` is the write data;
    /// `data_in_len` the initiator's data-in buffer length.
    pub fn queue_command(
        &mut self,
        now_us: u64,
        tag: u64,
        address: LunAddress,
        cdb: &[u8],
        data_out: Vec<u8>,
        data_in_len: u32,
    ) -> Result<Queued, TargetError> {
        let path = self.tables.path(&address);
        self.queue_command_on(now_us, tag, address, path, cdb, data_out, data_in_len)
    }

    /// The index of the path `address` names (see [`SimTarget::queue_command_on`]).
    pub fn path_index(&self, address: &LunAddress) -> Option<usize> {
        self.tables.path(address)
    }

    /// [`SimTarget::queue_command`] on a path already looked up with
    /// [`SimTarget::path_index`] (a transport resolves its devices once, not per command);
    /// `None` is an address without a path.
    #[allow(clippy::too_many_arguments)]
    pub fn queue_command_on(
        &mut self,
        now_us: u64,
        tag: u64,
        address: LunAddress,
        path: Option<usize>,
        cdb: &[u8],
        data_out: Vec<u8>,
        data_in_len: u32,
    ) -> Result<Queued, TargetError> {
        if let Some(index) = path {
            assert!(
                self.paths.get(index).is_some_and(|p| p.address == address),
                "path {index} is not {address}"
            );
        }
        self.advance(now_us);
        self.refresh_alua(now_us);
        if self.commands.contains_key(&tag) {
            return Err(TargetError::DuplicateTag(tag));
        }
        if self.commands.len() >= MAX_COMMANDS_IN_TARGET {
            return Err(TargetError::Full);
        }
        if cdb.len() > MAX_CDB_LEN {
            return Err(TargetError::CdbTooLong(cdb.len()));
        }
        self.stats.commands_received += 1;
        let mut fate = self.faults.decide_command(now_us, &address, cdb);
        if let Some(FaultAction::QueueReject { reason }) = fate.action {
            self.stats.queue_rejections += 1;
            return Ok(Queued::Rejected(reason));
        }
        if let Some(host_byte) = self.faults.transport_down(now_us, &address) {
            fate.action = Some(transport_failure(host_byte));
        }
        let latency_us = self.draw_latency(path).saturating_add(fate.extra_us);
        let mut command = Command {
            path,
            address,
            cdb: [0; MAX_CDB_LEN],
            cdb_len: cdb.len() as u8,
            data_out,
            data_in_len,
            fate: fate.action.map(Box::new),
            state: CommandState::Scheduled,
            generation: 0,
            finished: None,
        };
        command.cdb[..cdb.len()].copy_from_slice(cdb);
        if let Some(index) = path {
            self.paths[index].in_flight += 1;
            if self.paths[index].in_flight > self.paths[index].task_set_size
                && fate.action.is_none()
            {
                command.fate = Some(Box::new(FaultAction::Busy {
                    status: SamStatus::TASK_SET_FULL,
                }));
            }
        }
        if command.fate.as_deref() == Some(&FaultAction::Timeout) {
            command.state = CommandState::Swallowed;
            self.stats.commands_swallowed += 1;
        } else {
            self.generation += 1;
            command.generation = self.generation;
            self.timeline.schedule(
                now_us.saturating_add(latency_us),
                Timed::Complete {
                    tag,
                    generation: self.generation,
                },
            );
        }
        self.commands.insert(tag, command);
        Ok(Queued::Accepted)
    }

    /// Receives ABORT TASK for `tag` on `address`; the answer comes as a
    /// `TaskManagementDone` event with `id`.
    /// `cdb` is the aborted command's (fault rules may match on it).
    pub fn abort(&mut self, now_us: u64, id: u64, tag: u64, address: LunAddress, cdb: &[u8]) {
        self.advance(now_us);
        tmf::abort(self, now_us, id, tag, address, cdb);
    }

    /// Receives a reset of `scope` at `address`; answered as a `TaskManagementDone`
    /// event with `id`.
    /// `cdb` is that of the command the reset is sent with (fault rules may match on it).
    pub fn reset(
        &mut self,
        now_us: u64,
        id: u64,
        scope: ResetScope,
        address: LunAddress,
        cdb: &[u8],
    ) {
        self.advance(now_us);
        tmf::reset(self, now_us, id, scope, address, cdb);
    }

    /// Reaps completions on `host` whose notification was lost; they come out as
    /// `Completed` events (with `polled` set). Returns how many were found.
    pub fn poll_host(&mut self, now_us: u64, host: u32) -> usize {
        self.advance(now_us);
        let mut found: Vec<u64> = self
            .commands
            .iter()
            .filter(|(_, c)| c.state == CommandState::Lost && c.address.host == host)
            .map(|(tag, _)| *tag)
            .collect();
        found.sort_unstable();
        for tag in &found {
            if let Some(completion) = self.remove_command(*tag).and_then(|c| c.finished) {
                let mut completion = *completion;
                completion.polled = true;
                self.stats.completions_polled += 1;
                self.ready.push_back(TargetEvent::Completed(completion));
            }
        }
        found.len()
    }

    /// Forgets `tag` at once (the initiator stopped waiting for it): the command is never
    /// executed or answered. Returns whether the target held it.
    pub fn revoke(&mut self, now_us: u64, tag: u64) -> bool {
        self.advance(now_us);
        self.remove_command(tag).is_some()
    }

    /// Every fault ends at `now_us` (the liveness phase): no rule fires afterwards and
    /// every transport that was down comes back up now. Commands already swallowed or
    /// with a lost completion stay so until an abort, a reset or a poll reaches them.
    pub fn heal(&mut self, now_us: u64) {
        self.advance(now_us);
        for rule in self.faults.heal(now_us) {
            if let Some(devices) = self.faults.rules().get(rule).map(|r| r.devices) {
                self.ready.push_back(TargetEvent::TransportUp { devices });
            }
        }
    }

    /// A buffer of `len` bytes from the pool (its content is unspecified).
    pub fn buffer(&mut self, len: usize) -> Vec<u8> {
        let mut buffer = self.take_buffer();
        buffer.resize(len, 0);
        buffer
    }

    /// Does all the work due at or before `now_us`.
    pub fn advance(&mut self, now_us: u64) {
        self.now_us = self.now_us.max(now_us);
        let mut due = [None; WARM_BATCH];
        loop {
            // Doing due work never schedules more (only queue_command and task management
            // requests do), so taking a batch first keeps the order of a one-by-one loop.
            let mut count = 0;
            while let Some(slot) = due.get_mut(count) {
                let Some(item) = self.timeline.pop_due(now_us) else {
                    break;
                };
                *slot = Some(item);
                count += 1;
            }
            if count == 0 {
                return;
            }
            self.warm(&due[..count]);
            let scheduled = self.timeline.scheduled();
            for (at_us, work) in due[..count].iter_mut().filter_map(Option::take) {
                match work {
                    Timed::Complete { tag, generation } => {
                        complete::finish(self, at_us, tag, generation)
                    }
                    Timed::TaskManagement { id, success } => tmf::answer(self, id, success),
                    Timed::Transport { rule, down } => tmf::transport_edge(self, at_us, rule, down),
                }
            }
            assert_eq!(
                self.timeline.scheduled(),
                scheduled,
                "due work scheduled more work (a batch would run out of order)"
            );
        }
    }

    /// Loads the media lines the commands of `due` will copy (one byte of each line), all
    /// at once: at 4096 LUNs (256 MiB of media in bench64) each is a DRAM miss, and one
    /// after another they cost a full memory latency each while loaded side by side they
    /// overlap. Reads only; nothing changes.
    fn warm(&self, due: &[Option<(u64, Timed)>]) {
        let mut held: [&[u8]; WARM_BATCH] = [&[]; WARM_BATCH];
        for (bytes, item) in held.iter_mut().zip(due) {
            let Some((_, Timed::Complete { tag, .. })) = item else {
                continue;
            };
            let Some(command) = self.commands.get(tag) else {
                continue;
            };
            let unit = command
                .path
                .and_then(|index| self.paths.get(index))
                .and_then(|path| self.units.get(path.unit));
            let cdb = command.cdb.get(..command.cdb_len as usize).unwrap_or(&[]);
            if let (Some(unit), Some(media)) = (unit, MediaCommand::parse(cdb)) {
                *bytes = unit
                    .media
                    .held_bytes(media.lba, media.blocks)
                    .unwrap_or(&[]);
            }
        }
        let sum = held
            .iter()
            .flat_map(|bytes| bytes.iter().step_by(64))
            .fold(0u8, |sum, byte| sum ^ byte);
        std::hint::black_box(sum);
    }

    /// The next event, once [`SimTarget::advance`] has been called for the current time.
    pub fn poll_event(&mut self) -> Option<TargetEvent> {
        let event = unjam_core::ring::pop_front_rewinding(&mut self.ready)?;
        if let TargetEvent::Completed(_) = &event {
            self.stats.completions_delivered += 1;
        }
        Some(event)
    }

    /// When the target next has work of its own.
    pub fn next_due_us(&self) -> Option<u64> {
        if self.ready.is_empty() {
            self.timeline.next_due_us()
        } else {
            Some(self.now_us)
        }
    }

    /// Nothing due and nothing ready: only swallowed or lost commands (if any) remain.
    pub fn is_quiet(&self) -> bool {
        self.ready.is_empty() && self.timeline.is_empty()
    }

    /// Hands a data buffer back for reuse (bounded pool).
    pub fn recycle_buffer(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() > 0 && self.buffers.len() < 4096 {
            buffer.clear();
            self.buffers.push(buffer);
        }
    }

    pub fn stats(&self) -> TargetStats {
        self.stats
    }

    /// Task management functions that will never be answered (a hang fault).
    pub fn hung_task_management(&self) -> u64 {
        self.hung_tmfs
    }

    /// Commands the target holds (scheduled, swallowed or with a lost completion).
    pub fn commands_held(&self) -> usize {
        self.commands.len()
    }

    /// Whether the target still holds `tag` (it may still touch the command's buffers).
    pub fn holds(&self, tag: u64) -> bool {
        self.commands.contains_key(&tag)
    }

    /// The personality of `host`.
    pub fn personality(&self, host: u32) -> Option<Personality> {
        self.hosts
            .iter()
            .find(|h| h.host == host)
            .map(|h| h.personality)
    }

    /// Every path address, in order.
    pub fn addresses(&self) -> impl Iterator<Item = LunAddress> + '_ {
        self.paths.iter().map(|p| p.address)
    }

    /// The logical unit behind `address`, to inspect media directly (the write checker).
    pub fn unit(&self, address: &LunAddress) -> Option<&LogicalUnit> {
        let path = self.tables.path(address)?;
        self.units.get(self.paths.get(path)?.unit)
    }

    pub fn fault_engine(&self) -> &FaultEngine {
        &self.faults
    }

    /// The fault engine, to switch on hit recording before a run.
    pub fn fault_engine_mut(&mut self) -> &mut FaultEngine {
        &mut self.faults
    }

    fn draw_latency(&mut self, path: Option<usize>) -> u64 {
        match path.and_then(|index| self.paths.get_mut(index)) {
            Some(path) => path.latency.sample(&mut *path.rng),
            None => self.tmf_latency_us,
        }
    }

    fn remove_command(&mut self, tag: u64) -> Option<Command> {
        let command = self.commands.remove(&tag)?;
        let counted = command.state != CommandState::Lost;
        if let Some(path) = command.path.and_then(|index| self.paths.get_mut(index)) {
            if counted {
                path.in_flight = path.in_flight.saturating_sub(1);
            }
        }
        Some(command)
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        self.buffers.pop().unwrap_or_default()
    }
}

impl SimTarget {
    /// The port groups' states at `now_us`: active/optimized, or the state of the last
    /// `alua_state` fault whose window holds `now_us`. A change raises unit attention 2A/06
    /// (asymmetric access state changed) on every path, as an implicit transition does.
    fn refresh_alua(&mut self, now_us: u64) {
        if self.alua_groups.is_empty() {
            return;
        }
        let healed = self.faults.is_healed(now_us);
        let mut changed = false;
        for group in &mut self.alua_groups {
            let mut state = AccessState::ActiveOptimized;
            if !healed {
                for rule in self.faults.rules() {
                    if let FaultAction::Wire {
                        action:
                            crate::fault::WireAction::AluaState {
                                group: id,
                                state: s,
                            },
                        ..
                    } = rule.action
                    {
                        if id == group.id && rule.trigger.in_window(now_us) {
                            state = s;
                        }
                    }
                }
            }
            if group.state != state {
                group.state = state;
                changed = true;
            }
        }
        if changed {
            for path in &mut self.paths {
                path.state.raise_unit_attention((0x2a, 0x06));
            }
        }
    }
}

fn transport_failure(host_byte: HostByte) -> FaultAction {
    FaultAction::Fail {
        host_byte,
        status: SamStatus::GOOD,
        sense: None,
        autosense: true,
    }
}

fn build_paths(config: &TargetConfig, unit_count: usize) -> Result<Vec<Path>, TargetError> {
    let mut paths = Vec::with_capacity(config.luns.len());
    for (index, lun) in config.luns.iter().enumerate() {
        if lun.unit >= unit_count {
            return Err(TargetError::NoSuchUnit(lun.address.to_string()));
        }
        if !config.hosts.iter().any(|h| h.host == lun.address.host) {
            return Err(TargetError::NoSuchHost(
                lun.address.to_string(),
                lun.address.host,
            ));
        }
        paths.push(Path {
            address: lun.address,
            unit: lun.unit,
            state: PathState::default(),
            latency: lun.latency,
            rng: Box::new(ChaCha8Rng::seed_from_u64(mix(
                config.seed ^ mix(index as u64)
            ))),
            in_flight: 0,
            task_set_size: lun.task_set_size.max(1),
            relative_port: (lun.address.host as u16).wrapping_add(1),
        });
    }
    Ok(paths)
}

#[cfg(test)]
mod tests;
