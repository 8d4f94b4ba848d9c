//! [`Multipath`]: the state machine. Method taxonomy as the core's: getters; commands
//! (`add_path`, `add_known_path`, `remove_path`, `submit`); events (`handle_completion`,
//! `handle_submit_refused`, `handle_path_event`, `handle_timeout`); outputs
//! (`poll_action`, `poll_timeout`).

mod checker;
mod io;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use serde::Serialize;
use thiserror::Error;
use unjam_core::request::Request;
use unjam_core::Instant;
use unjam_scsi::BlkStatus;

use crate::config::{Config, ConfigError, MAX_DEVICES, MAX_PATHS, MAX_PATHS_PER_DEVICE};
use crate::event::{Action, EventKind, MpathEvent, MpathId, PathId};
use crate::identity::LuIdentity;
use crate::path::{access_name, PathEntry, Phase};

/// Tokens of the layer's own requests to paths have this bit set; a driver routes a core
/// completion whose token has it to [`Multipath::handle_completion`].
pub const TOKEN_BIT: u64 = 1 << 63;

/// True for a token the multipath layer gave a path request.
pub fn is_multipath_token(token: u64) -> bool {
    token & TOKEN_BIT != 0
}

/// Why `submit` refused a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum SubmitError {
    #[error("no multipath device {0:?}")]
    UnknownDevice(MpathId),
    #[error("multipath queue full: {limit} requests queued")]
    QueueFull { limit: usize },
}

/// Why a path could not be added.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum PathError {
    #[error("path {0:?} is already known")]
    Duplicate(PathId),
    #[error("at most {MAX_PATHS} paths")]
    TooManyPaths,
    #[error("no path {0:?}")]
    Unknown(PathId),
}

/// What the core (or the transport) says about a path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PathEvent {
    /// Error handling or a transport block holds the path: send no new I/O there
    /// (per-path EH isolation: the other paths carry the load meanwhile).
    Blocked,
    /// The block ended.
    Unblocked,
    /// The transport says the path is gone (`SDEV_TRANSPORT_OFFLINE`): fail over at once.
    TransportOffline,
    /// The device was set offline.
    Offline,
}

/// What a driver tells the layer about a path it identified itself.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PathInfo {
    pub identity: LuIdentity,
    /// The unit reports ALUA (TPGS): the layer asks REPORT TARGET PORT GROUPS.
    pub alua: bool,
    pub relative_port: Option<u16>,
    pub port_group: Option<u16>,
}

/// A request waiting for a path (new, or failed over).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub request: Request,
    pub failovers: u32,
    pub attempts: u32,
    pub last_path: Option<PathId>,
}

/// The layer's request on a path.
#[derive(Clone, Copy, Debug)]
pub(crate) enum InFlight {
    Io {
        device: usize,
        seq: u64,
        pending: Pending,
        path: usize,
        sent_at: Instant,
    },
    Probe {
        path: usize,
        kind: ProbeKind,
    },
    /// A probe the layer stopped waiting for (its answer is dropped).
    Stale,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ProbeKind {
    Checker,
    Identify,
    PortGroups,
}

/// Counters of one multipath device.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct DeviceStats {
    pub ios_ok: u64,
    /// Failed requests by `BlkStatus` kernel name.
    pub ios_failed: BTreeMap<String, u64>,
    /// Requests sent again on another path after a path error.
    pub failovers: u64,
    pub group_switches: u64,
}

pub(crate) struct Device {
    pub id: MpathId,
    pub identity: LuIdentity,
    pub paths: Vec<usize>,
    /// Queued requests by submission order (failed-over requests keep theirs, so they go
    /// first and in their original order).
    pub waiting: BTreeMap<u64, Pending>,
    pub current_group: Option<u32>,
    pub switched_at: Instant,
    pub last_path: Option<usize>,
    pub rr_sent: u32,
    pub no_path_since: Option<Instant>,
    pub no_path_total_ns: u64,
    pub no_path_deadline: Option<Instant>,
    /// `no_path_retry` ran out: I/O fails at once until a path is back.
    pub failing: bool,
    pub failback_due: Option<Instant>,
    pub stats: DeviceStats,
}

/// A timer in the heap (checked again when it fires; stale entries are skipped).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Timer {
    Check(usize),
    ProbeDeadline(usize, u64),
    NoPath(usize),
    Failback(usize),
    Marginal(usize),
}

/// A path as reports show it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct PathView {
    pub id: PathId,
    pub state: &'static str,
    pub access: &'static str,
    pub prio: u32,
    pub group: Option<u32>,
    pub port_group: Option<u16>,
    pub marginal: bool,
    pub in_flight: u32,
}

/// A multipath device as reports show it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct DeviceView {
    pub id: MpathId,
    pub identity: String,
    pub paths: Vec<PathView>,
    pub queued: usize,
    pub current_group: Option<u32>,
    pub no_path_ms: u64,
    pub stats: DeviceStats,
}

/// The multipath layer for any number of logical units.
pub struct Multipath {
    pub(crate) config: Config,
    pub(crate) paths: Vec<PathEntry>,
    pub(crate) path_index: HashMap<PathId, usize>,
    pub(crate) devices: Vec<Device>,
    pub(crate) by_identity: HashMap<LuIdentity, usize>,
    pub(crate) in_flight: HashMap<u64, InFlight>,
    pub(crate) next_token: u64,
    pub(crate) next_seq: u64,
    pub(crate) timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) now: Instant,
}

impl std::fmt::Debug for Multipath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipath")
            .field("paths", &self.paths.len())
            .field("devices", &self.devices.len())
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl Multipath {
    pub fn new(config: Config) -> Result<Multipath, ConfigError> {
        config.validate()?;
        Ok(Multipath {
            config,
            paths: Vec::new(),
            path_index: HashMap::new(),
            devices: Vec::new(),
            by_identity: HashMap::new(),
            in_flight: HashMap::new(),
            next_token: 1,
            next_seq: 1,
            timers: BinaryHeap::new(),
            actions: VecDeque::with_capacity(64),
            now: Instant::ZERO,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- getters ----

    /// The multipath device a path belongs to (once identified).
    pub fn device_of(&self, path: PathId) -> Option<MpathId> {
        let index = *self.path_index.get(&path)?;
        self.paths[index].device.map(|d| self.devices[d].id)
    }

    pub fn device_by_identity(&self, identity: &LuIdentity) -> Option<MpathId> {
        self.by_identity.get(identity).map(|d| self.devices[*d].id)
    }

    pub fn device_ids(&self) -> impl Iterator<Item = MpathId> + '_ {
        self.devices.iter().map(|d| d.id)
    }

    /// A device with its paths and counters; `no_path_ms` includes a window still open.
    pub fn device(&self, id: MpathId) -> Option<DeviceView> {
        let device = self.devices.get(id.0 as usize)?;
        let open = device.no_path_since.map_or(0, |since| {
            self.now.saturating_duration_since(since).as_nanos() as u64
        });
        Some(DeviceView {
            id,
            identity: device.identity.to_string(),
            paths: device.paths.iter().map(|p| self.path_view(*p)).collect(),
            queued: device.waiting.len(),
            current_group: device.current_group,
            no_path_ms: (device.no_path_total_ns + open) / 1_000_000,
            stats: device.stats.clone(),
        })
    }

    pub fn path(&self, path: PathId) -> Option<PathView> {
        self.path_index.get(&path).map(|p| self.path_view(*p))
    }

    fn path_view(&self, index: usize) -> PathView {
        let path = &self.paths[index];
        PathView {
            id: path.id,
            state: path.state_name(),
            access: access_name(path.access),
            prio: path.prio(),
            group: path.device.map(|_| self.group_key(index)),
            port_group: path.port_group,
            marginal: path.marginal(),
            in_flight: path.in_flight,
        }
    }

    /// Requests the layer holds: queued and on paths.
    pub fn outstanding(&self) -> usize {
        let queued: usize = self.devices.iter().map(|d| d.waiting.len()).sum();
        let on_paths = self
            .in_flight
            .values()
            .filter(|f| matches!(f, InFlight::Io { .. }))
            .count();
        queued + on_paths
    }

    // ---- commands ----

    /// Adds a path; the layer identifies it (INQUIRY, VPD 83h, VPD 80h when needed,
    /// REPORT TARGET PORT GROUPS when ALUA) and then groups it with the other paths of
    /// its logical unit.
    pub fn add_path(&mut self, now: Instant, path: PathId) -> Result<(), PathError> {
        self.advance(now);
        let index = self.new_path(path)?;
        self.send_identify(index);
        Ok(())
    }

    /// Adds a path the driver identified itself.
    pub fn add_known_path(
        &mut self,
        now: Instant,
        path: PathId,
        info: PathInfo,
    ) -> Result<(), PathError> {
        self.advance(now);
        let index = self.new_path(path)?;
        let entry = &mut self.paths[index];
        entry.alua = info.alua;
        entry.relative_port = info.relative_port;
        entry.port_group = info.port_group;
        self.attach(index, info.identity);
        Ok(())
    }

    fn new_path(&mut self, path: PathId) -> Result<usize, PathError> {
        if self.path_index.contains_key(&path) {
            return Err(PathError::Duplicate(path));
        }
        if self.paths.len() >= MAX_PATHS {
            return Err(PathError::TooManyPaths);
        }
        let index = self.paths.len();
        self.paths.push(PathEntry::new(path, self.now));
        self.path_index.insert(path, index);
        Ok(index)
    }

    /// Removes a path: it takes no new I/O; requests on it complete through the core and
    /// fail over if they fail.
    pub fn remove_path(&mut self, now: Instant, path: PathId) -> Result<(), PathError> {
        self.advance(now);
        let index = *self.path_index.get(&path).ok_or(PathError::Unknown(path))?;
        self.paths[index].phase = Phase::Removed;
        if let Some(token) = self.paths[index].probe.take() {
            self.in_flight.insert(token, InFlight::Stale);
        }
        let device = self.paths[index].device;
        self.emit(device, Some(index), EventKind::PathRemoved);
        if let Some(device) = device {
            self.devices[device].paths.retain(|p| *p != index);
            self.pump(device);
        }
        Ok(())
    }

    /// Queues a request on a multipath device (bounded by `max_queued`). Its one
    /// completion comes as [`Action::Complete`].
    pub fn submit(
        &mut self,
        now: Instant,
        mpath: MpathId,
        request: Request,
    ) -> Result<(), SubmitError> {
        self.advance(now);
        let device = mpath.0 as usize;
        let Some(entry) = self.devices.get(device) else {
            return Err(SubmitError::UnknownDevice(mpath));
        };
        if entry.waiting.len() >= self.config.max_queued {
            return Err(SubmitError::QueueFull {
                limit: self.config.max_queued,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let pending = Pending {
            request,
            failovers: 0,
            attempts: 0,
            last_path: None,
        };
        self.devices[device].waiting.insert(seq, pending);
        self.pump(device);
        Ok(())
    }

    // ---- events ----

    /// What the core said about a path's device.
    pub fn handle_path_event(
        &mut self,
        now: Instant,
        path: PathId,
        event: PathEvent,
    ) -> Result<(), PathError> {
        self.advance(now);
        let index = *self.path_index.get(&path).ok_or(PathError::Unknown(path))?;
        match event {
            PathEvent::Blocked => self.paths[index].recovering = true,
            PathEvent::Unblocked => self.paths[index].recovering = false,
            PathEvent::TransportOffline => {
                self.paths[index].recovering = false;
                self.fail_path(index, "transport_offline");
            }
            PathEvent::Offline => {
                self.paths[index].recovering = false;
                self.fail_path(index, "offline");
            }
        }
        if let Some(device) = self.paths[index].device {
            self.pump(device);
        }
        Ok(())
    }

    /// Timers due at `now` (a spurious call is a no-op).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let mut budget = self.timers.len();
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now || budget == 0 {
                break;
            }
            budget -= 1;
            self.timers.pop();
            match timer {
                Timer::Check(path) => self.check_due(path),
                Timer::ProbeDeadline(path, token) => self.probe_deadline(path, token),
                Timer::NoPath(device) => self.no_path_due(device),
                Timer::Failback(device) => {
                    if self.devices[device]
                        .failback_due
                        .is_some_and(|due| due <= now)
                    {
                        self.devices[device].failback_due = None;
                        self.pump(device);
                    }
                }
                Timer::Marginal(path) => self.marginal_due(path),
            }
        }
    }

    // ---- outputs ----

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest timer (may be one that turns out stale: `handle_timeout` skips it).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    // ---- internals shared by the submodules ----

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    pub(crate) fn schedule(&mut self, at: Instant, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    pub(crate) fn fresh_token(&mut self) -> u64 {
        let token = TOKEN_BIT | self.next_token;
        self.next_token = (self.next_token + 1) & !TOKEN_BIT;
        token
    }

    pub(crate) fn emit(&mut self, device: Option<usize>, path: Option<usize>, kind: EventKind) {
        let event = MpathEvent {
            at: self.now,
            mpath: device.map(|d| self.devices[d].id),
            path: path.map(|p| self.paths[p].id),
            kind,
        };
        self.actions.push_back(Action::Event(event));
    }

    /// Puts an identified path into the device of its identity (created on first use).
    pub(crate) fn attach(&mut self, index: usize, identity: LuIdentity) {
        let device = match self.by_identity.get(&identity) {
            Some(device) => *device,
            None if self.devices.len() >= MAX_DEVICES => {
                self.unidentified(index, "too many multipath devices");
                return;
            }
            None => {
                let device = self.devices.len();
                self.devices.push(Device {
                    id: MpathId(device as u32),
                    identity: identity.clone(),
                    paths: Vec::new(),
                    waiting: BTreeMap::new(),
                    current_group: None,
                    switched_at: self.now,
                    last_path: None,
                    rr_sent: 0,
                    no_path_since: None,
                    no_path_total_ns: 0,
                    no_path_deadline: None,
                    failing: false,
                    failback_due: None,
                    stats: DeviceStats::default(),
                });
                self.by_identity.insert(identity.clone(), device);
                device
            }
        };
        if self.devices[device].paths.len() >= MAX_PATHS_PER_DEVICE {
            self.unidentified(index, "too many paths to one logical unit");
            return;
        }
        self.devices[device].paths.push(index);
        self.paths[index].device = Some(device);
        self.emit(
            Some(device),
            Some(index),
            EventKind::PathAdded {
                identity: identity.to_string(),
            },
        );
        if self.paths[index].alua {
            self.paths[index].phase = Phase::Identifying(crate::path::IdentifyStep::PortGroups);
            self.send_identify(index);
        } else {
            self.path_up(index);
        }
    }

    /// The path ends identification: it never carries I/O.
    pub(crate) fn unidentified(&mut self, index: usize, reason: &'static str) {
        self.paths[index].phase = Phase::Removed;
        let device = self.paths[index].device;
        self.emit(device, Some(index), EventKind::PathUnidentified { reason });
    }

    /// The path carries I/O from now on; its checker starts.
    pub(crate) fn path_up(&mut self, index: usize) {
        let now = self.now;
        let path = &mut self.paths[index];
        path.phase = Phase::Up;
        path.up_since = Some(now);
        path.identify_attempts = 0;
        path.next_check = now + self.config.polling_interval;
        let at = path.next_check;
        self.schedule(at, Timer::Check(index));
        if let Some(device) = self.paths[index].device {
            self.pump(device);
        }
    }

    /// Fails the path (no more I/O until the checker reinstates it); a path failing too
    /// often becomes marginal.
    pub(crate) fn fail_path(&mut self, index: usize, reason: &'static str) {
        if self.paths[index].phase != Phase::Up {
            return;
        }
        let now = self.now;
        let marginal = self.config.marginal;
        let path = &mut self.paths[index];
        path.phase = Phase::Failed;
        path.up_since = None;
        let flapping = path.record_failure(now, marginal.as_ref());
        let device = path.device;
        self.emit(device, Some(index), EventKind::PathFailed { reason });
        if flapping {
            self.make_marginal(index, "flapping");
        }
    }

    pub(crate) fn make_marginal(&mut self, index: usize, reason: &'static str) {
        let Some(marginal) = self.config.marginal else {
            return;
        };
        let until = self.now + marginal.recovery;
        let path = &mut self.paths[index];
        let newly = path.marginal_until.is_none();
        path.marginal_until = Some(until);
        if newly {
            let device = path.device;
            self.emit(device, Some(index), EventKind::Marginal { reason });
        }
        self.schedule(until, Timer::Marginal(index));
    }

    fn marginal_due(&mut self, index: usize) {
        let now = self.now;
        let path = &mut self.paths[index];
        if path.marginal_until.is_none_or(|until| until > now) {
            return;
        }
        path.marginal_until = None;
        path.window = crate::path::Window {
            start: now,
            ..Default::default()
        };
        path.last_mean_ns = None;
        let device = path.device;
        self.emit(device, Some(index), EventKind::MarginalCleared);
        if let Some(device) = device {
            self.pump(device);
        }
    }

    /// Completes a caller's request upward and counts it.
    pub(crate) fn complete(
        &mut self,
        device: usize,
        pending: Pending,
        status: BlkStatus,
        outcome: Option<&unjam_core::Completion>,
    ) {
        let stats = &mut self.devices[device].stats;
        if status == BlkStatus::Ok {
            stats.ios_ok += 1;
        } else {
            *stats
                .ios_failed
                .entry(status.kernel_name().to_string())
                .or_insert(0) += 1;
        }
        let completion = crate::event::MpathCompletion {
            token: pending.request.token,
            mpath: self.devices[device].id,
            status,
            result: outcome.map_or(unjam_scsi::ScsiResult::OK, |c| c.result),
            sense: outcome.map_or(unjam_core::buffers::SenseBuffer::EMPTY, |c| c.sense),
            path: pending.last_path,
            failovers: pending.failovers,
            attempts: pending.attempts,
            good_bytes: outcome.map_or(0, |c| c.good_bytes),
            no_path: status == BlkStatus::Transport && outcome.is_none(),
        };
        self.actions.push_back(Action::Complete(completion));
    }
}
