//! The multipath layer in a run (`[multipath]`): every path is added at the start (the
//! layer identifies it with INQUIRY and VPD pages through the core, like any command);
//! the layer's `Submit`s go to the core devices, the core's completions of the layer's
//! tokens come back to it, and its completions go to the workloads. A request's buffer
//! follows it: staged under the layer's token while on a path, under the caller's token
//! otherwise. Events become `--trace` lines (source `mpath`) and lane records.

use unjam_core::topology::DeviceId;
use unjam_core::Completion;
use unjam_multipath::{Action, EventKind, MpathCompletion, MpathId, Multipath, PathEvent};
use unjam_scsi::BlkStatus;

use super::setup::address_of;
use super::{io, Runner};
use crate::fast_hash::FastMap;
use crate::report::{MpathLane, MpathPathSummary, MpathSummary};
use crate::transport::Staged;

/// The most path state changes drawn per device.
const MAX_STATE_CHANGES: usize = 4_000;
/// The most rate buckets per device lane.
const MAX_BUCKETS: usize = 4_000;

/// The multipath side of a run.
pub(super) struct MpathSide {
    pub mp: Multipath,
    /// The layer's token on a path → the caller's token (`None`: the layer's own command).
    tokens: FastMap<u64, Option<u64>>,
    lanes: FastMap<MpathId, MpathLane>,
    bucket_us: u64,
}

impl std::fmt::Debug for MpathSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpathSide").field("mp", &self.mp).finish()
    }
}

impl MpathSide {
    pub fn new(mp: Multipath, bucket_us: u64) -> MpathSide {
        MpathSide {
            mp,
            tokens: FastMap::default(),
            lanes: FastMap::default(),
            bucket_us: bucket_us.max(1),
        }
    }
}

/// Adds every path of the run.
pub(super) fn start(runner: &mut Runner) {
    let now = runner.now;
    let devices = runner.devices.clone();
    if let Some(side) = runner.mpath.as_mut() {
        for device in devices {
            if let Err(error) = side.mp.add_path(now, device) {
                runner.violations.push(format!("multipath: {error}"));
            }
        }
    }
    route(runner);
}

/// The multipath device a stream on `path` targets, once its paths are identified.
pub(super) fn device_of(runner: &Runner, path: usize) -> Option<MpathId> {
    let side = runner.mpath.as_ref()?;
    side.mp.device_of(*runner.devices.get(path)?)
}

/// Queues a caller's request on a multipath device; false when refused (queue full).
pub(super) fn submit(
    runner: &mut Runner,
    device: MpathId,
    request: unjam_core::request::Request,
) -> bool {
    let now = runner.now;
    let Some(side) = runner.mpath.as_mut() else {
        return false;
    };
    if side.mp.submit(now, device, request).is_err() {
        return false;
    }
    route(runner);
    true
}

/// Timers of the layer due now.
pub(super) fn on_time(runner: &mut Runner) {
    let now = runner.now;
    if let Some(side) = runner.mpath.as_mut() {
        if side.mp.poll_timeout().is_some_and(|at| at <= now) {
            side.mp.handle_timeout(now);
        }
    }
    route(runner);
}

pub(super) fn next_due(runner: &Runner) -> Option<u64> {
    runner
        .mpath
        .as_ref()
        .and_then(|side| side.mp.poll_timeout())
        .map(|at| at.as_nanos())
}

/// A core completion of one of the layer's requests.
pub(super) fn core_completed(runner: &mut Runner, completion: &Completion) {
    let now = runner.now;
    let Some(side) = runner.mpath.as_mut() else {
        return;
    };
    let entry = side.tokens.remove(&completion.token);
    let staged = runner.driver.transport.take_staged(completion.token);
    match (entry, staged) {
        (Some(Some(caller)), Some(staged)) => {
            runner.driver.transport.stage(caller, staged, None);
            side.mp.handle_completion(now, completion, &[]);
        }
        (Some(_), staged) => {
            let data = staged.map(Staged::into_read_data).unwrap_or_default();
            side.mp.handle_completion(now, completion, &data);
            runner.driver.transport.recycle(data);
        }
        (None, staged) => {
            let data = staged.map(Staged::into_read_data).unwrap_or_default();
            runner.driver.transport.recycle(data);
        }
    }
    route(runner);
}

/// A path's device started or stopped being held (error handling, a block) or went
/// offline: the layer sends no new I/O there meanwhile.
pub(super) fn path_event(runner: &mut Runner, lane: usize, event: PathEvent) {
    let now = runner.now;
    let Some(device) = runner.devices.get(lane).copied() else {
        return;
    };
    if let Some(side) = runner.mpath.as_mut() {
        let _ = side.mp.handle_path_event(now, device, event);
    }
    route(runner);
}

/// Carries out the layer's actions until none is left.
fn route(runner: &mut Runner) {
    for _ in 0..super::MAX_DRAIN_ROUNDS {
        let Some(action) = runner.mpath.as_mut().and_then(|s| s.mp.poll_action()) else {
            return;
        };
        match action {
            Action::Submit {
                path,
                request,
                caller_token,
            } => send(runner, path, request, caller_token),
            Action::Complete(completion) => completed(runner, &completion),
            Action::Event(event) => {
                let device = event.path.map(|p| address_of(&runner.luns, p).to_string());
                super::events::write_trace(
                    runner,
                    event.at.as_nanos(),
                    "mpath",
                    device.as_deref(),
                    &event,
                );
                record_state(runner, event.mpath, event.path, &event.kind);
            }
        }
    }
    runner.violation("multipath: more actions at one instant than the drain bound".into());
}

fn send(
    runner: &mut Runner,
    path: DeviceId,
    request: unjam_core::request::Request,
    caller: Option<u64>,
) {
    let token = request.token;
    let staged = caller
        .and_then(|caller| runner.driver.transport.take_staged(caller))
        .unwrap_or_else(Staged::read);
    runner.driver.transport.stage(token, staged, None);
    let entry = caller;
    if let Some(side) = runner.mpath.as_mut() {
        side.tokens.insert(token, entry);
    }
    if runner.driver.submit(path, request).is_ok() {
        return;
    }
    let staged = runner.driver.transport.take_staged(token);
    match (entry, staged) {
        (Some(caller), Some(staged)) => runner.driver.transport.stage(caller, staged, None),
        (_, staged) => {
            let data = staged.map(Staged::into_read_data).unwrap_or_default();
            runner.driver.transport.recycle(data);
        }
    }
    let now = runner.now;
    if let Some(side) = runner.mpath.as_mut() {
        side.tokens.remove(&token);
        side.mp.handle_submit_refused(now, token);
    }
}

/// A caller's request finished: count it on the device's lane, hand it to its workload.
fn completed(runner: &mut Runner, completion: &MpathCompletion) {
    let now_us = runner.now_us();
    if let Some(side) = runner.mpath.as_mut() {
        let bucket_us = side.bucket_us;
        let lane = side.lanes.entry(completion.mpath).or_default();
        let bucket = ((now_us / bucket_us) as usize).min(MAX_BUCKETS - 1);
        let buckets = if completion.status == BlkStatus::Ok {
            &mut lane.ok_per_bucket
        } else {
            &mut lane.failed_per_bucket
        };
        if buckets.len() <= bucket {
            buckets.resize(bucket + 1, 0);
        }
        buckets[bucket] += 1;
    }
    let core = Completion {
        token: completion.token,
        device: completion.path.unwrap_or(DeviceId(u32::MAX)),
        status: completion.status,
        result: completion.result,
        sense: completion.sense,
        attempts: completion.attempts,
        counted_retries: 0,
        good_bytes: completion.good_bytes,
        resid: 0,
        tag_number: 0,
    };
    runner.last_activity_ns = runner.now.as_nanos();
    io::completed(runner, &core);
}

/// A path's state after an event, for the device's lane.
fn record_state(
    runner: &mut Runner,
    device: Option<MpathId>,
    path: Option<DeviceId>,
    kind: &EventKind,
) {
    let (Some(device), Some(path)) = (device, path) else {
        return;
    };
    if matches!(kind, EventKind::FailedOver { .. }) {
        return;
    }
    let now_us = runner.now_us();
    let address = address_of(&runner.luns, path).to_string();
    let Some(side) = runner.mpath.as_mut() else {
        return;
    };
    let Some(state) = side.mp.path(path).map(|p| p.state) else {
        return;
    };
    let lane = side.lanes.entry(device).or_default();
    let index = match lane.paths.iter().position(|p| *p == address) {
        Some(index) => index,
        None => {
            lane.paths.push(address);
            lane.paths.len() - 1
        }
    };
    let unchanged = lane
        .path_states
        .iter()
        .rev()
        .find(|(_, i, _)| *i == index)
        .is_some_and(|(_, _, s)| *s == state);
    if !unchanged && lane.path_states.len() < MAX_STATE_CHANGES {
        lane.path_states.push((now_us, index, state));
    }
}

/// The `mpaths` list and the lanes, one per multipath device in the order of the
/// logical units.
pub(super) fn finish(runner: &mut Runner) -> (Vec<MpathSummary>, Vec<MpathLane>) {
    let mut order: Vec<(usize, MpathId)> = Vec::new();
    for (lane, lun) in runner.luns.iter().enumerate() {
        if let Some(id) = device_of(runner, lane) {
            if !order.iter().any(|(_, d)| *d == id) {
                order.push((lun.unit, id));
            }
        }
    }
    order.sort_by_key(|(unit, id)| (*unit, *id));
    let Some(side) = runner.mpath.as_mut() else {
        return (Vec::new(), Vec::new());
    };
    let mut summaries = Vec::with_capacity(order.len());
    let mut lanes = Vec::with_capacity(order.len());
    for (_, id) in order {
        let Some(view) = side.mp.device(id) else {
            continue;
        };
        let mut sorted = view.paths.clone();
        sorted.sort_by_key(|p| p.id);
        let paths: Vec<MpathPathSummary> = sorted
            .iter()
            .map(|p| MpathPathSummary {
                id: address_of(&runner.luns, p.id).to_string(),
                state: p.state.to_string(),
            })
            .collect();
        let mut lane = side.lanes.remove(&id).unwrap_or_default();
        lane.id = view.identity.clone();
        for path in &paths {
            if !lane.paths.contains(&path.id) {
                lane.paths.push(path.id.clone());
            }
        }
        lanes.push(lane);
        summaries.push(MpathSummary {
            id: view.identity,
            paths,
            ios_ok: view.stats.ios_ok,
            ios_failed: view.stats.ios_failed,
            failovers: view.stats.failovers,
            no_path_ms: view.no_path_ms,
        });
    }
    (summaries, lanes)
}
