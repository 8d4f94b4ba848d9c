//! [`MidLayer`]: the deterministic state machine at the heart of unjam.
//!
//! Method taxonomy (after quinn-proto):
//! - getters (`device_state`, `stats`, `request`, ...);
//! - commands from the caller: [`MidLayer::submit`] (bounded: a full device queue is a
//!   typed error), [`MidLayer::set_device_state`];
//! - events from the transport: `handle_transport_done`, `handle_tmf_done`,
//!   `handle_poll_done`, `handle_dispatch_refused`; timers: `handle_timeout` (a spurious
//!   call is a no-op);
//! - outputs: [`MidLayer::poll_action`] (drain after every input) and
//!   [`MidLayer::poll_timeout`] (the earliest deadline).
//!
//! No clock, no threads, no I/O: `now` is an argument and must not go backwards (a smaller
//! value is treated as the latest seen).

mod complete;
mod console;
mod dispatch;
mod recovery;
mod request_timer;
mod timeout;
mod transition;

use std::collections::VecDeque;

use serde::Serialize;

use crate::action::{Action, Tag, TmfOp};
use crate::command::Slab;
use crate::config::{DeviceConfig, HostConfig};
use crate::disposition::DeviceView;
use crate::eh::{EhRun, ScopedEh};
use crate::request::Request;
use crate::state::{DeviceState, HostState, IllegalTransition};
use crate::time::Instant;
use crate::timers::RareTimers;
use crate::topology::{
    Device, DeviceId, DeviceLabel, DiskName, Hctl, Host, HostId, Target, TargetId,
};
use crate::trace::{TraceEvent, TraceRecord};

/// Why `submit` refused a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("no device {0:?}")]
    UnknownDevice(DeviceId),
    #[error("device queue full: {limit} requests outstanding")]
    QueueFull { limit: u32 },
    #[error("allowed retries {0}: must be 0 or more, or -1 for no limit")]
    InvalidAllowed(i32),
}

/// Why a topology change was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("no host {0:?}")]
    UnknownHost(HostId),
    #[error("no device {0:?}")]
    UnknownDevice(DeviceId),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("allowed retries {0}: must be 0 or more, or -1 for no limit")]
    InvalidAllowed(i32),
}

/// Counters, for reports and invariant checks.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
pub struct Stats {
    pub submitted: u64,
    pub completed: u64,
    pub dispatched: u64,
    pub rejected: u64,
    pub timeouts: u64,
    pub timer_resets: u64,
    pub aborts_sent: u64,
    pub polls: u64,
    /// Completions for a command whose timeout had already claimed it (never delivered).
    pub late_completions_dropped: u64,
    /// Completions whose tag names an earlier attempt or a freed command.
    pub stale_completions: u64,
    pub counted_retries: u64,
    pub uncounted_requeues: u64,
    pub eh_runs: u64,
    pub eh_commands: u64,
    pub resets_sent: u64,
}

/// An abort or reset waiting for the transport's answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingTmf {
    pub op: TmfOp,
    pub purpose: TmfPurpose,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum TmfPurpose {
    Abort {
        slot: u32,
        generation: u32,
    },
    EhReset {
        host: HostId,
        epoch: u32,
    },
    /// A step of a timed-out EH command's escalation (`scsi_abort_eh_cmnd`).
    EhCommandAbort {
        slot: u32,
        generation: u32,
        stage: u8,
    },
}

/// The SCSI mid-layer for any number of hosts.
pub struct MidLayer {
    pub(crate) hosts: Vec<Host>,
    pub(crate) targets: Vec<Target>,
    pub(crate) devices: Vec<Device>,
    pub(crate) slab: Slab,
    pub(crate) rare_timers: RareTimers,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) tracing: bool,
    pub(crate) now: Instant,
    pub(crate) next_tmf: u32,
    pub(crate) tmfs: Vec<PendingTmf>,
    /// Runs parked while they wait for an answer (at most one per active scope).
    pub(crate) eh_runs: Vec<EhRun>,
    /// Active LUN- and target-scope handlers (at most one per device and per target).
    pub(crate) scoped_eh: Vec<ScopedEh>,
    pub(crate) eh_queues: Vec<Vec<u32>>,
    pub(crate) eh_running: Vec<bool>,
    pub(crate) eh_epoch: u32,
    pub(crate) pending_runs: VecDeque<DeviceId>,
    pub(crate) pending_wakes: Vec<HostId>,
    /// Hosts whose starved devices run at the next deferred-work pass.
    pub(crate) pending_starved: Vec<HostId>,
    /// Reused by [`MidLayer::run_starved`] (no allocation in steady state).
    pub(crate) starved_scratch: VecDeque<DeviceId>,
    pub(crate) stats: Stats,
    /// Reused by a queue timer's expiry scan (no allocation in steady state).
    pub(crate) expired_scratch: Vec<crate::action::Tag>,
    pub(crate) console: console::Console,
}

impl std::fmt::Debug for MidLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MidLayer")
            .field("hosts", &self.hosts.len())
            .field("devices", &self.devices.len())
            .field("live_commands", &self.slab.live())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for MidLayer {
    fn default() -> MidLayer {
        MidLayer::new()
    }
}

impl MidLayer {
    pub fn new() -> MidLayer {
        MidLayer::with_capacity(1024)
    }

    /// A mid-layer whose command slab and action queue are sized for `commands` live commands.
    pub fn with_capacity(commands: usize) -> MidLayer {
        MidLayer {
            hosts: Vec::new(),
            targets: Vec::new(),
            devices: Vec::new(),
            slab: Slab::with_capacity(commands),
            expired_scratch: Vec::with_capacity(64),
            rare_timers: RareTimers::new(),
            actions: VecDeque::with_capacity(commands * 4),
            tracing: false,
            now: Instant::ZERO,
            next_tmf: 0,
            tmfs: Vec::new(),
            eh_runs: Vec::new(),
            scoped_eh: Vec::new(),
            eh_queues: Vec::new(),
            eh_running: Vec::new(),
            eh_epoch: 0,
            pending_runs: VecDeque::with_capacity(16),
            pending_wakes: Vec::new(),
            pending_starved: Vec::new(),
            starved_scratch: VecDeque::new(),
            stats: Stats::default(),
            console: console::Console::new(),
        }
    }

    /// Emit [`Action::Trace`] events (needed for log lines and explanations).
    pub fn set_tracing(&mut self, enabled: bool) {
        self.tracing = enabled;
    }

    /// The time the kernel's console takes per line printed on the completion path: a
    /// request whose failure is printed ends that much later per line (zero, the default:
    /// at once). See [`console`](self::console).
    pub fn set_console_line_time(&mut self, line_time: std::time::Duration) {
        self.console.set_line_time(line_time);
    }

    pub fn add_host(&mut self, config: HostConfig) -> HostId {
        self.hosts.push(Host::new(config));
        self.eh_queues.push(Vec::new());
        self.eh_running.push(false);
        HostId(self.hosts.len() as u32 - 1)
    }

    /// Adds a LUN (its target is created on first use). Disks are named sda, sdb, ...
    pub fn add_device(
        &mut self,
        host: HostId,
        config: DeviceConfig,
    ) -> Result<DeviceId, TopologyError> {
        if config.allowed < crate::disposition::RETRIES_NO_LIMIT {
            return Err(TopologyError::InvalidAllowed(config.allowed));
        }
        let host_number = self
            .hosts
            .get(host.0 as usize)
            .ok_or(TopologyError::UnknownHost(host))?
            .config
            .host_number;
        let target = self.target_for(host, config.channel, config.target);
        let id = DeviceId(self.devices.len() as u32);
        let disk = DiskName::sd(self.devices.len() as u32);
        self.devices
            .push(Device::new(config, host, host_number, target, disk));
        self.targets[target.0 as usize].devices.push(id);
        self.hosts[host.0 as usize].devices.push(id);
        Ok(id)
    }

    fn target_for(&mut self, host: HostId, channel: u32, id: u32) -> TargetId {
        let found = self
            .targets
            .iter()
            .position(|t| t.host == host && t.channel == channel && t.id == id);
        if let Some(index) = found {
            return TargetId(index as u32);
        }
        self.targets.push(Target {
            host,
            channel,
            id,
            busy: 0,
            blocked: 0,
            blocked_jiffy: 0,
            held_by_host_eh: false,
            expecting_lun_change: false,
            devices: Vec::new(),
        });
        TargetId(self.targets.len() as u32 - 1)
    }

    // ---- getters ----

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn device_state(&self, device: DeviceId) -> Option<DeviceState> {
        self.devices.get(device.0 as usize).map(|d| d.state)
    }

    pub fn host_state(&self, host: HostId) -> Option<HostState> {
        self.hosts.get(host.0 as usize).map(|h| h.state)
    }

    pub fn device_hctl(&self, device: DeviceId) -> Option<Hctl> {
        self.devices.get(device.0 as usize).map(|d| d.hctl)
    }

    /// How log lines name `device` (`sd 0:0:0:0: [sda]`).
    pub fn device_label(&self, device: DeviceId) -> Option<DeviceLabel> {
        self.devices.get(device.0 as usize).map(|d| DeviceLabel {
            driver: "sd",
            hctl: d.hctl,
            disk: d.disk,
        })
    }

    pub fn device_host(&self, device: DeviceId) -> Option<HostId> {
        self.devices.get(device.0 as usize).map(|d| d.host)
    }

    pub fn host_number(&self, host: HostId) -> Option<u32> {
        self.hosts
            .get(host.0 as usize)
            .map(|h| h.config.host_number)
    }

    pub fn device_queue_depth(&self, device: DeviceId) -> Option<u32> {
        self.devices.get(device.0 as usize).map(|d| d.queue_depth)
    }

    /// The device's default retry limit.
    pub fn device_allowed(&self, device: DeviceId) -> Option<i32> {
        self.devices
            .get(device.0 as usize)
            .map(|d| d.config.allowed)
    }

    /// The configuration `device` was added with.
    pub fn device_config(&self, device: DeviceId) -> Option<&DeviceConfig> {
        self.devices.get(device.0 as usize).map(|d| &d.config)
    }

    /// The configuration `host` was added with (`eh_deadline` off without host reset).
    pub fn host_config(&self, host: HostId) -> Option<&HostConfig> {
        self.hosts.get(host.0 as usize).map(|h| &h.config)
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// The request behind `tag`, while that tag is current.
    pub fn request(&self, tag: Tag) -> Option<&Request> {
        self.slab.by_tag(tag).map(|c| &c.request)
    }

    /// Requests submitted and not yet completed.
    pub fn outstanding(&self) -> u32 {
        self.slab
            .iter()
            .filter(|(_, c)| matches!(c.kind, crate::command::CommandKind::Io))
            .count() as u32
    }

    /// No live command and no pending action.
    pub fn is_idle(&self) -> bool {
        self.slab.live() == 0 && self.actions.is_empty()
    }

    // ---- commands from the caller ----

    /// Changes a device's state (e.g. a transport blocking or offlining it).
    pub fn set_device_state(
        &mut self,
        now: Instant,
        device: DeviceId,
        to: DeviceState,
    ) -> Result<(), TopologyError> {
        let now = self.advance_clock(now);
        let dev = self
            .devices
            .get_mut(device.0 as usize)
            .ok_or(TopologyError::UnknownDevice(device))?;
        let from = dev.state;
        dev.state = from.transition(to)?;
        if from != to {
            dev.offline_logged = false;
            self.trace(now, || TraceEvent::DeviceStateChanged { device, from, to });
        }
        self.schedule_run(device);
        self.run_pending(now);
        Ok(())
    }

    /// Lets a transport change its timed-out answer at run time (e.g. ResetTimer while a
    /// session is recovering).
    pub fn set_timed_out_hook(
        &mut self,
        host: HostId,
        hook: crate::config::TimedOutHook,
    ) -> Result<(), TopologyError> {
        let host = self
            .hosts
            .get_mut(host.0 as usize)
            .ok_or(TopologyError::UnknownHost(host))?;
        host.config.timed_out_hook = hook;
        Ok(())
    }

    // ---- outputs ----

    /// The next action, or `None` when there is nothing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        // At 4096 LUNs an action written a slot further on each time lands on three cold
        // cache lines.
        crate::ring::pop_front_rewinding(&mut self.actions)
    }

    /// Drops the next action (one read where it lies, `actions.front()`, by the driver).
    #[inline]
    pub(crate) fn drop_action(&mut self) {
        crate::ring::drop_front_rewinding(&mut self.actions);
    }

    /// The earliest instant at which `handle_timeout` has work.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.earliest_timer(None)
    }

    /// A deadline no later than [`MidLayer::poll_timeout`]'s, exact when it is at or
    /// before `limit`: past `limit` it is the earliest entry of the timer heap, which may be
    /// a queue timer with nothing to time out (the true deadline is then later). Entries
    /// past `limit` are not dropped. At 4096 LUNs most devices have nothing in flight at
    /// any moment, and dropping their queue timers' entries from the top of the heap (which
    /// their next dispatch puts back, arming anew) cost a heap pop and push per command.
    pub fn poll_timeout_bound(&mut self, limit: Instant) -> Option<Instant> {
        self.earliest_timer(Some(limit))
    }

    /// The earliest timer entry that matters, dropping the entries before it that do not;
    /// with `limit`, the first entry past it is given as it is (a lower bound).
    fn earliest_timer(&mut self, limit: Option<Instant>) -> Option<Instant> {
        while let Some((at, timer)) = self.rare_timers.peek() {
            if limit.is_some_and(|limit| at > limit) {
                return Some(at);
            }
            match timer {
                crate::timers::RareTimer::QueueTimer { device, at: armed }
                    if !self.queue_timer_matters(device, armed) =>
                {
                    self.rare_timers.pop()
                }
                _ => return Some(at),
            }
        }
        None
    }

    /// Changes whenever a timer is armed: the only way [`MidLayer::poll_timeout`] can move
    /// earlier (entries that fire or stop mattering only move it later). A caller that read
    /// `poll_timeout` at one generation may keep that deadline while the generation stays:
    /// it is never later than the current one, so at worst its timer fires early and finds
    /// nothing due (a spurious `handle_timeout` is a no-op).
    pub fn timer_generation(&self) -> u64 {
        self.rare_timers.armed_count()
    }

    // ---- internals shared by the submodules ----

    pub(crate) fn advance_clock(&mut self, now: Instant) -> Instant {
        debug_assert!(
            now >= self.now,
            "time went backwards: {now:?} < {:?}",
            self.now
        );
        self.now = self.now.max(now);
        self.now
    }

    #[inline]
    pub(crate) fn trace(&mut self, now: Instant, event: impl FnOnce() -> TraceEvent) {
        if self.tracing {
            self.actions.push_back(Action::Trace(TraceRecord {
                at: now,
                event: event(),
            }));
        }
    }

    pub(crate) fn device_view(&self, device: DeviceId) -> DeviceView {
        let dev = &self.devices[device.0 as usize];
        let target = &self.targets[dev.target.0 as usize];
        DeviceView {
            online: dev.state.is_online(),
            expecting_cc_ua: dev.expecting_cc_ua,
            expecting_lun_change: target.expecting_lun_change,
            allow_restart: dev.config.allow_restart,
            retry_hwerror: dev.config.retry_hwerror,
            retry_itf: dev.config.retry_itf,
            retry_asc_c1: dev.config.retry_asc_c1,
            removable: dev.config.removable,
            use_10_for_rw: dev.use_10_for_rw,
            sector_size: dev.config.sector_size,
        }
    }

    pub(crate) fn host_of(&self, device: DeviceId) -> HostId {
        self.devices[device.0 as usize].host
    }

    /// Queues a run of `device`'s queue for `run_pending`, once until it runs (a flag on
    /// the device, not a scan of the list: thousands of LUNs may be pending).
    pub(crate) fn schedule_run(&mut self, device: DeviceId) {
        let dev = &mut self.devices[device.0 as usize];
        if !dev.run_scheduled {
            dev.run_scheduled = true;
            self.pending_runs.push_back(device);
        }
    }

    /// Runs deferred work: error-handler wake-ups and device queue runs, until none is left.
    /// Inline: after most submissions there is none.
    #[inline]
    pub(crate) fn run_pending(&mut self, now: Instant) {
        if self.pending_wakes.is_empty()
            && self.pending_starved.is_empty()
            && self.pending_runs.is_empty()
        {
            return;
        }
        self.run_pending_work(now);
    }

    #[inline(never)]
    fn run_pending_work(&mut self, now: Instant) {
        loop {
            if let Some(host) = self.pending_wakes.pop() {
                self.maybe_wake_eh(now, host);
                continue;
            }
            if let Some(host) = self.pending_starved.pop() {
                self.run_starved(now, host);
                continue;
            }
            let Some(device) = self.pending_runs.pop_front() else {
                break;
            };
            let dev = &mut self.devices[device.0 as usize];
            dev.run_scheduled = false;
            // An empty queue has nothing to dispatch (`try_dispatch_head`'s first test).
            if !dev.queue.is_empty() {
                self.run_device(now, device);
            }
        }
    }

    /// `scsi_starved_list_run`: runs the host's starved devices in order while the host
    /// could take a command (not full, not blocked with commands outstanding). A device that
    /// is refused again goes back on the list; the ones not reached keep their place ahead
    /// of it. Each device is run at most once per pass.
    fn run_starved(&mut self, now: Instant, host: HostId) {
        let mut list = std::mem::take(&mut self.starved_scratch);
        std::mem::swap(&mut list, &mut self.hosts[host.0 as usize].starved);
        while let Some(&device) = list.front() {
            let entry = &self.hosts[host.0 as usize];
            if entry.busy >= entry.config.can_queue || (entry.blocked > 0 && entry.busy > 0) {
                break;
            }
            list.pop_front();
            self.devices[device.0 as usize].starved = false;
            self.run_device(now, device);
        }
        // Unreached devices first, then those starved again during the pass.
        let again = &mut self.hosts[host.0 as usize].starved;
        list.extend(again.drain(..));
        std::mem::swap(&mut list, again);
        self.starved_scratch = list;
    }

    pub(crate) fn set_device_state_internal(
        &mut self,
        now: Instant,
        device: DeviceId,
        to: DeviceState,
    ) {
        let dev = &mut self.devices[device.0 as usize];
        let from = dev.state;
        if let Ok(state) = from.transition(to) {
            dev.state = state;
            if from != to {
                dev.offline_logged = false;
                self.trace(now, || TraceEvent::DeviceStateChanged { device, from, to });
            }
        }
    }

    pub(crate) fn set_host_state(&mut self, now: Instant, host: HostId, to: HostState) -> bool {
        let entry = &mut self.hosts[host.0 as usize];
        let from = entry.state;
        match from.transition(to) {
            Ok(state) => {
                entry.state = state;
                if from != to {
                    self.trace(now, || TraceEvent::HostStateChanged { host, from, to });
                }
                true
            }
            Err(_) => false,
        }
    }
}
