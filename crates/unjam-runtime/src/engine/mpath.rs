//! Multipath devices in the engine: `unjam-multipath`'s sans-I/O layer driven on the wall
//! clock, wired as the simulator's runner wires it.
//!
//! ```text
//!  Disk (multipath) ─► MpathSubmit ─► Multipath::submit ─► Action::Submit{path} ─► core device
//!  core completion (token with TOKEN_BIT) ─► Multipath::handle_completion ─► Complete ─► caller
//!  device / host states of each path (blocked, EH, transport-offline) ─► PathEvent
//!  Multipath::poll_timeout ─► the engine's one timer (checker TURs, no_path_retry, failback)
//! ```
//!
//! A request's buffers stay with its caller (the callers' slab); while the request is on a
//! path, the layer's token is an alias of the caller's token, so the transport finds them
//! on any path. The layer's own commands (INQUIRY, VPD, REPORT TARGET PORT GROUPS, the
//! checker's TUR) get an internal caller whose data goes back to the layer.
//!
//! Passthrough commands to a multipath device go to one path, as dm-multipath forwards an
//! SG_IO ioctl to its current path: never failed over, a CHECK CONDITION is returned as is.
//!
//! A lost connection on a path makes the path's devices transport-offline at once (as
//! `replacement_timeout = 0` does for a multipath session in open-iscsi, or FC's
//! `fast_io_fail_tmo`): their I/O fails fast and goes to the other paths, while the
//! session logs in again behind it and the checker reinstates the path.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::oneshot;
use unjam_core::fast_hash::FastMap;
use unjam_core::state::{DeviceState, HostState};
use unjam_core::topology::DeviceId;
use unjam_core::{Completion, Request};
use unjam_multipath::{
    is_multipath_token, Action, Config, DeviceView, MpathEvent, MpathId, Multipath, PathEvent,
};

use super::callers::{Caller, Reply};
use super::Engine;
use crate::command::{Command, IoError, Transfer, MAX_TRANSFER_BYTES};

/// Rounds of "core, then layer" per engine turn (each round the layer may submit more).
pub(super) const MAX_ROUNDS: usize = 16;
/// Actions of the layer carried out per round.
const MAX_ACTIONS_PER_ROUND: usize = 65_536;
/// The most multipath devices an initiator asks to set up at once.
const MAX_WAITERS: usize = 1024;

/// What identification found for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathIdentity {
    pub device: DeviceId,
    /// The multipath device it joined (`None`: it could not be identified).
    pub mpath: Option<MpathId>,
    /// Its logical unit's identity, or why it has none.
    pub identity: Result<String, String>,
}

/// A multipath device as reports show it, with the core device state of each path
/// (`running`, `blocked`, `transport-offline`, `offline`: `multipath -ll`'s last column).
pub(crate) type Snapshot = (DeviceView, Vec<(DeviceId, DeviceState)>);

pub(crate) type StartReply = oneshot::Sender<Result<Vec<PathIdentity>, String>>;

/// One path the engine watches for state changes.
#[derive(Debug)]
struct Watch {
    device: DeviceId,
    link: usize,
    held: bool,
    gone: Option<DeviceState>,
}

#[derive(Debug)]
struct Waiter {
    paths: Vec<DeviceId>,
    reply: StartReply,
    deadline: Instant,
}

/// The engine's multipath side (created by the first `MpathStart`).
pub(crate) struct MpathSide {
    mp: Multipath,
    /// Layer tokens of the layer's own commands → their internal caller's token.
    own: FastMap<u64, u64>,
    watches: Vec<Watch>,
    waiters: Vec<Waiter>,
    /// Why identification of a path ended without an identity.
    unidentified: FastMap<DeviceId, String>,
}

impl std::fmt::Debug for MpathSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpathSide")
            .field("mp", &self.mp)
            .field("paths", &self.watches.len())
            .finish()
    }
}

impl MpathSide {
    /// Whether `link` carries a path of a multipath device.
    pub fn has_link(&self, link: usize) -> bool {
        self.watches.iter().any(|watch| watch.link == link)
    }

    pub fn poll_timeout(&self) -> Option<unjam_core::Instant> {
        self.mp.poll_timeout()
    }

    fn earliest_waiter(&self) -> Option<Instant> {
        self.waiters.iter().map(|waiter| waiter.deadline).min()
    }
}

impl Engine {
    /// Sets up the multipath layer (first call) and adds `paths`; answers once the layer
    /// has identified every one of them (or could not).
    pub(super) fn mpath_start(
        &mut self,
        paths: Vec<DeviceId>,
        config: Config,
        reply: StartReply,
        now: Instant,
    ) {
        if self.closing {
            let _ = reply.send(Err("the initiator has stopped".into()));
            return;
        }
        if self.mpath.is_none() {
            match Multipath::new(config) {
                Ok(mp) => {
                    self.mpath = Some(MpathSide {
                        mp,
                        own: FastMap::default(),
                        watches: Vec::new(),
                        waiters: Vec::new(),
                        unidentified: FastMap::default(),
                    })
                }
                Err(error) => {
                    let _ = reply.send(Err(format!("multipath settings: {error}")));
                    return;
                }
            }
        }
        let core_now = self.clock.to_core(now);
        let mut links = Vec::with_capacity(paths.len());
        for device in &paths {
            let Some(route) = self.driver.transport.route(*device) else {
                let _ = reply.send(Err(format!("no core device {}", device.0)));
                return;
            };
            links.push(route.link);
        }
        let Some(side) = self.mpath.as_mut() else {
            return;
        };
        if side.waiters.len() >= MAX_WAITERS {
            let _ = reply.send(Err("too many multipath set-ups at once".into()));
            return;
        }
        for (device, link) in paths.iter().zip(links) {
            if side.watches.iter().any(|watch| watch.device == *device) {
                continue;
            }
            if let Err(error) = side.mp.add_path(core_now, *device) {
                let _ = reply.send(Err(format!("multipath: {error}")));
                return;
            }
            side.watches.push(Watch {
                device: *device,
                link,
                held: false,
                gone: None,
            });
        }
        // Identification is a few INQUIRYs per path, each bounded by the checker timeout.
        let config = side.mp.config();
        let bound = config.checker_timeout.saturating_mul(12) + Duration::from_secs(5);
        side.waiters.push(Waiter {
            paths,
            reply,
            deadline: now + bound,
        });
        self.mpath_step(now);
    }

    /// A caller's command to a multipath device.
    pub(super) fn mpath_submit(
        &mut self,
        mpath: MpathId,
        command: Command,
        reply: Reply,
        now: Instant,
    ) {
        if self.closing {
            return self.refuse(reply, IoError::Stopped);
        }
        let length = command.transfer.length();
        if length > u64::from(MAX_TRANSFER_BYTES) {
            let text = format!("transfer of {length} bytes exceeds {MAX_TRANSFER_BYTES}");
            return self.refuse(reply, IoError::Invalid(text));
        }
        if command.is_passthrough() {
            // As dm-multipath's ioctl forwarding: one path, no failover.
            match self.mpath_passthrough_path(mpath) {
                Some(device) => self.submit(device, command, reply, now),
                None => {
                    let text = format!("no multipath device {}", mpath.0);
                    self.refuse(reply, IoError::Refused(text));
                }
            }
            return;
        }
        let caller = Caller::new(command.transfer, reply);
        let token = self.driver.transport.callers.insert(caller);
        let mut request = Request::new(command.cdb, token);
        request.data_len = length as u32;
        request.block = command.block;
        request.timeout = command.timeout;
        request.allowed = command.retries;
        let core_now = self.clock.to_core(now);
        let refused = match self.mpath.as_mut() {
            Some(side) => side.mp.submit(core_now, mpath, request).err(),
            None => Some(unjam_multipath::SubmitError::UnknownDevice(mpath)),
        };
        if let Some(error) = refused {
            if let Some(caller) = self.driver.transport.callers.remove(token) {
                caller.fail(IoError::Refused(error.to_string()), &self.mailbox);
            }
            return;
        }
        self.mpath_step(now);
    }

    /// The path a passthrough command takes: an active path of the current group, else
    /// any active path, else any path that is up, else the first path.
    fn mpath_passthrough_path(&self, mpath: MpathId) -> Option<DeviceId> {
        let view = self.mpath.as_ref()?.mp.device(mpath)?;
        let up = |state: &str| !matches!(state, "failed" | "removed" | "discovering");
        let current = view
            .paths
            .iter()
            .find(|p| p.group == view.current_group && p.state == "active");
        current
            .or_else(|| view.paths.iter().find(|p| p.state == "active"))
            .or_else(|| view.paths.iter().find(|p| up(p.state)))
            .or_else(|| view.paths.first())
            .map(|p| p.id)
    }

    /// A multipath device as reports show it, with its paths' device states.
    pub(super) fn mpath_view(&self, mpath: MpathId) -> Option<Snapshot> {
        let view = self.mpath.as_ref()?.mp.device(mpath)?;
        let mid = &self.driver.mid;
        let states = view
            .paths
            .iter()
            .filter_map(|path| Some((path.id, mid.device_state(path.id)?)))
            .collect();
        Some((view, states))
    }

    /// A core completion: true when it was one of the layer's (and is handled here).
    pub(super) fn mpath_completed(&mut self, completion: &Completion, now: Instant) -> bool {
        if !is_multipath_token(completion.token) {
            return false;
        }
        let core_now = self.clock.to_core(now);
        let Some(side) = self.mpath.as_mut() else {
            return true;
        };
        let callers = &mut self.driver.transport.callers;
        callers.unalias(completion.token);
        match side.own.remove(&completion.token) {
            Some(internal) => {
                let data = callers
                    .remove(internal)
                    .map(Caller::into_data)
                    .unwrap_or_default();
                side.mp.handle_completion(core_now, completion, &data);
            }
            None => {
                side.mp.handle_completion(core_now, completion, &[]);
            }
        }
        true
    }

    /// The layer's turn: path state changes, due timers, then its actions. True when it
    /// submitted to the core (the core must run again).
    pub(super) fn mpath_step(&mut self, now: Instant) -> bool {
        if self.mpath.is_none() {
            return false;
        }
        self.mpath_watch(now);
        let core_now = self.clock.to_core(now);
        if let Some(side) = self.mpath.as_mut() {
            if side.mp.poll_timeout().is_some_and(|at| at <= core_now) {
                side.mp.handle_timeout(core_now);
            }
        }
        let submitted = self.mpath_route(now);
        self.mpath_answer_waiters(now);
        submitted
    }

    /// Tells the layer what happened to its paths' devices: blocked (a lost connection,
    /// error handling on the host), transport-offline or offline.
    fn mpath_watch(&mut self, now: Instant) {
        let core_now = self.clock.to_core(now);
        let mid = &self.driver.mid;
        let Some(side) = self.mpath.as_mut() else {
            return;
        };
        for watch in &mut side.watches {
            let state = mid.device_state(watch.device);
            let host = mid
                .device_host(watch.device)
                .and_then(|h| mid.host_state(h));
            let in_eh = matches!(
                host,
                Some(HostState::Recovery | HostState::CancelRecovery | HostState::DelRecovery)
            );
            let held =
                in_eh || matches!(state, Some(DeviceState::Block | DeviceState::CreatedBlock));
            let gone =
                state.filter(|s| matches!(s, DeviceState::TransportOffline | DeviceState::Offline));
            if gone != watch.gone {
                watch.gone = gone;
                let event = match gone {
                    Some(DeviceState::TransportOffline) => Some(PathEvent::TransportOffline),
                    Some(_) => Some(PathEvent::Offline),
                    None => None,
                };
                if let Some(event) = event {
                    let _ = side.mp.handle_path_event(core_now, watch.device, event);
                }
            }
            if held != watch.held {
                watch.held = held;
                let event = if held {
                    PathEvent::Blocked
                } else {
                    PathEvent::Unblocked
                };
                let _ = side.mp.handle_path_event(core_now, watch.device, event);
            }
        }
    }

    /// Carries out the layer's actions; true when any went to the core.
    fn mpath_route(&mut self, now: Instant) -> bool {
        let mut submitted = false;
        for _ in 0..MAX_ACTIONS_PER_ROUND {
            let Some(action) = self.mpath.as_mut().and_then(|side| side.mp.poll_action()) else {
                break;
            };
            match action {
                Action::Submit {
                    path,
                    request,
                    caller_token,
                } => {
                    self.mpath_send(path, request, caller_token, now);
                    submitted = true;
                }
                Action::Complete(done) => {
                    let no_path = done.no_path.then(|| self.mpath_no_path_text());
                    if let Some(mut caller) = self.driver.transport.callers.remove(done.token) {
                        if no_path.is_some() {
                            caller.attempt_done(bytes::Bytes::new(), no_path);
                        }
                        let completion = Completion {
                            token: done.token,
                            device: done.path.unwrap_or(DeviceId(u32::MAX)),
                            status: done.status,
                            result: done.result,
                            sense: done.sense,
                            attempts: done.attempts,
                            counted_retries: 0,
                            good_bytes: done.good_bytes,
                            resid: 0,
                            tag_number: 0,
                        };
                        caller.complete(&completion, &self.mailbox);
                    }
                }
                Action::Event(event) => self.mpath_event(&event),
            }
        }
        submitted
    }

    /// Why a request failed with no path to send it on.
    fn mpath_no_path_text(&self) -> String {
        let retry = self
            .mpath
            .as_ref()
            .map(|side| side.mp.config().no_path_retry);
        match retry {
            Some(unjam_multipath::NoPathRetry::Intervals(count)) => format!(
                "no usable path: no_path_retry exhausted ({count} checker intervals without one)"
            ),
            Some(unjam_multipath::NoPathRetry::Fail) => {
                "no usable path (no_path_retry=fail)".to_string()
            }
            _ => "no usable path".to_string(),
        }
    }

    fn mpath_send(
        &mut self,
        path: DeviceId,
        request: Request,
        caller_token: Option<u64>,
        now: Instant,
    ) {
        let token = request.token;
        let callers = &mut self.driver.transport.callers;
        let internal = match caller_token {
            Some(caller) => {
                callers.alias(token, caller);
                None
            }
            None => {
                let transfer = if request.data_len > 0 {
                    Transfer::In {
                        length: request.data_len,
                        buffer: BytesMut::new(),
                    }
                } else {
                    Transfer::None
                };
                // Nobody waits on the reply: the data goes back to the layer.
                let internal = callers.insert(Caller::new(transfer, None));
                callers.alias(token, internal);
                Some(internal)
            }
        };
        if let (Some(internal), Some(side)) = (internal, self.mpath.as_mut()) {
            side.own.insert(token, internal);
        }
        self.driver.now = self.driver.now.max(self.clock.to_core(now));
        if self.driver.submit(path, request).is_ok() {
            return;
        }
        let callers = &mut self.driver.transport.callers;
        callers.unalias(token);
        if let Some(internal) = internal {
            callers.remove(internal);
        }
        let core_now = self.clock.to_core(now);
        if let Some(side) = self.mpath.as_mut() {
            side.own.remove(&token);
            side.mp.handle_submit_refused(core_now, token);
        }
    }

    fn mpath_event(&mut self, event: &MpathEvent) {
        if let unjam_multipath::EventKind::PathUnidentified { reason } = event.kind {
            if let (Some(path), Some(side)) = (event.path, self.mpath.as_mut()) {
                side.unidentified.insert(path, reason.to_string());
            }
        }
        let device = event
            .path
            .and_then(|path| self.driver.mid.device_hctl(path))
            .map(|hctl| hctl.to_string());
        self.observer.mpath(event, device);
    }

    /// Answers the set-ups whose paths are all identified (or whose time ran out).
    fn mpath_answer_waiters(&mut self, now: Instant) {
        let Some(side) = self.mpath.as_mut() else {
            return;
        };
        let mut index = 0;
        while index < side.waiters.len() {
            let waiter = &side.waiters[index];
            let discovering = waiter.paths.iter().any(|path| {
                side.mp
                    .path(*path)
                    .is_some_and(|view| view.state == "discovering")
            });
            if discovering && waiter.deadline > now {
                index += 1;
                continue;
            }
            let waiter = side.waiters.swap_remove(index);
            let found = waiter
                .paths
                .iter()
                .map(|path| {
                    let mpath = side.mp.device_of(*path);
                    let identity = match mpath.and_then(|m| side.mp.device(m)) {
                        Some(view) => Ok(view.identity),
                        None if discovering => Err("identification did not finish".to_string()),
                        None => Err(side
                            .unidentified
                            .get(path)
                            .cloned()
                            .unwrap_or_else(|| "no identity".to_string())),
                    };
                    PathIdentity {
                        device: *path,
                        mpath,
                        identity,
                    }
                })
                .collect();
            let _ = waiter.reply.send(Ok(found));
        }
    }

    /// The earliest time the multipath side needs the engine (layer timers, set-up bounds).
    pub(super) fn mpath_deadline(&self) -> Option<Instant> {
        let side = self.mpath.as_ref()?;
        let layer = side.poll_timeout().map(|at| self.clock.to_std(at));
        layer.into_iter().chain(side.earliest_waiter()).min()
    }

    /// Whether a lost connection on `link` should fail its devices over at once.
    pub(super) fn mpath_fast_fail(&self, link: usize) -> bool {
        self.mpath.as_ref().is_some_and(|side| side.has_link(link))
    }
}
