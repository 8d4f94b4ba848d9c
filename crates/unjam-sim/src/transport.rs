//! The embedded target as a core [`Transport`]: each action of the core becomes a call on
//! [`SimTarget`], each target event an answer for the driver loop. It also holds each
//! request's data (per request token, like the memory an HBA's scatter list points at)
//! beside its caller's record of the request: a write's data is made at every dispatch
//! into the buffer the target keeps, and the data of a read's latest attempt lands in the
//! request's buffer. Notes (what each command did at the device,
//! task management answers, transport edges) go to the trace.
//!
//! Owns the mapping between core tags and target keys and between devices and addresses;
//! decides nothing about what an answer means.

use std::collections::VecDeque;

use serde::Serialize;
use unjam_core::action::{Action, EhCommand, ResetKind, TmfOp, TmfResult};
use unjam_core::buffers::SenseBuffer;
use unjam_core::harness::{Transport, TransportEvent};
use unjam_core::request::{BlockOp, TransportOutcome};
use unjam_core::topology::DeviceId;
use unjam_core::{Instant, Tag};
use unjam_scsi::disposition::QueueReason;
use unjam_scsi::{HostByte, MlStatus, ScsiResult};

use crate::address::LunAddress;
use crate::fault::{QueueRejection, ResetScope};
use crate::target::{Completion, Queued, SimTarget, TargetEvent};
use crate::token_map::TokenMap;
use crate::workload::fill_pattern;

/// Parameter data length of the error handler's REQUEST SENSE.
const REQUEST_SENSE_LENGTH: u32 = 96;

/// What the target did, for the trace (`source = "sim"`). The device is named beside the
/// note (`"device":"0:0:0:1"`), as for the core's events; tags are the core's.
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SimNote {
    /// A command finished at the target.
    TargetDone {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        host_byte: String,
        status: String,
        sense: Option<Vec<u8>>,
        /// The virtio-scsi response (virtio_scsi hosts only).
        virtio: Option<String>,
        /// The command reached the logical unit (a write is on the media).
        executed: bool,
        /// Found by a poll after its notification was lost.
        polled: bool,
    },
    /// An abort or reset was answered.
    TmfDone {
        #[serde(skip)]
        device: DeviceId,
        op: u32,
        function: String,
        success: bool,
    },
    /// A transport fault took the devices matching `devices` down.
    TransportDown {
        devices: String,
        host_byte: String,
    },
    TransportUp {
        devices: String,
    },
    /// The target refused a command as misuse (a driver bug, never a device answer).
    Misuse {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        error: String,
    },
}

/// What the transport knows of one core slot's current attempt.
#[derive(Clone, Copy, Debug, Default)]
struct SlotUse {
    generation: u32,
    live: bool,
    /// The request's token (I/O) or `None` (an error-handler command).
    token: Option<u64>,
    request_sense: bool,
}

/// A request's data as the transport holds it between dispatches.
#[derive(Debug)]
pub enum Staged {
    /// A read: empty until an attempt's data lands.
    In(Vec<u8>),
    /// A write, whose data is made at every dispatch straight into the buffer the target
    /// gets (no copy held while the request waits in the queues, where it would go cold).
    Out(WriteData),
}

impl Staged {
    /// Room for a read's data.
    pub fn read() -> Staged {
        Staged::In(Vec::new())
    }

    /// The data a read's latest attempt brought (empty for a write).
    pub fn into_read_data(self) -> Vec<u8> {
        match self {
            Staged::In(data) => data,
            Staged::Out(_) => Vec::new(),
        }
    }
}

/// What a write sends: `len` bytes, the workload pattern of (`key`, LBA, `write_id`) for
/// the blocks of `block_size` from `lba` when the unit's writes are checked, zeros when
/// they are not (an unchecked workload's data is unspecified).
#[derive(Clone, Copy, Debug)]
pub struct WriteData {
    pub len: u32,
    pub block_size: u32,
    pub lba: u64,
    pub write_id: u64,
    /// The unit's pattern key (`None`: zeros).
    pub key: Option<u64>,
}

/// One request the transport carries: its data and the caller's record of it.
#[derive(Debug)]
struct Carried<P> {
    staged: Staged,
    payload: Option<P>,
}

/// [`SimTarget`] behind the core's [`Transport`] trait. `P` is what the caller keeps per
/// request beside its data (the runner's I/O record): one map entry per request token, so
/// a completion finds the request's data and its caller's record on one line.
#[derive(Debug)]
pub struct SimTransport<P = ()> {
    target: SimTarget,
    /// Every core device's address and the target's index of its path (looked up once),
    /// side by side: a dispatch reads both, one cache line at 4096 LUNs instead of two.
    devices: Vec<(LunAddress, Option<usize>)>,
    slots: Vec<SlotUse>,
    requests: TokenMap<Carried<P>>,
    /// Requests with a payload.
    payloads: usize,
    /// Answers due now that the target does not schedule itself (refusals, poll ends).
    answers: VecDeque<TransportEvent>,
    notes: VecDeque<SimNote>,
    note_completions: bool,
    now: Instant,
    commands_completed: u64,
}

impl<P> SimTransport<P> {
    /// `addresses[device]` is the path of core device `device`.
    pub fn new(target: SimTarget, addresses: Vec<LunAddress>) -> SimTransport<P> {
        let devices = addresses
            .into_iter()
            .map(|a| (a, target.path_index(&a)))
            .collect();
        SimTransport {
            target,
            devices,
            slots: Vec::new(),
            requests: TokenMap::default(),
            payloads: 0,
            answers: VecDeque::new(),
            notes: VecDeque::new(),
            note_completions: false,
            now: Instant::ZERO,
            commands_completed: 0,
        }
    }

    /// Note every command completion for the trace (task management answers and transport
    /// edges are always noted).
    pub fn set_note_completions(&mut self, enabled: bool) {
        self.note_completions = enabled;
    }

    pub fn target(&self) -> &SimTarget {
        &self.target
    }

    /// Commands the target answered (every attempt and error-handler command).
    pub fn commands_completed(&self) -> u64 {
        self.commands_completed
    }

    /// Every fault ends now (the liveness phase).
    pub fn heal(&mut self, now: Instant) {
        self.target.heal(micros(now));
    }

    /// Gives request `token` its data (and `payload`, the caller's record of it; a
    /// payload already there stays when `payload` is `None`).
    pub fn stage(&mut self, token: u64, staged: Staged, payload: Option<P>) {
        match self.requests.get_mut(&token) {
            Some(carried) => {
                let old = std::mem::replace(&mut carried.staged, staged);
                self.target.recycle_buffer(old.into_read_data());
                if let Some(payload) = payload {
                    if carried.payload.replace(payload).is_none() {
                        self.payloads += 1;
                    }
                }
            }
            None => {
                self.payloads += usize::from(payload.is_some());
                self.requests.insert(token, Carried { staged, payload });
            }
        }
    }

    /// Takes request `token`'s data back (its payload stays): a read's data, or what a
    /// multipath device hands from its caller's token to a path's and back.
    pub fn take_staged(&mut self, token: u64) -> Option<Staged> {
        let carried = self.requests.get_mut(&token)?;
        if carried.payload.is_some() {
            return Some(std::mem::replace(&mut carried.staged, Staged::read()));
        }
        self.requests.remove(&token).map(|carried| carried.staged)
    }

    /// Request `token` is over: its data and payload.
    pub fn finish(&mut self, token: u64) -> Option<(Staged, Option<P>)> {
        let carried = self.requests.remove(&token)?;
        self.payloads -= usize::from(carried.payload.is_some());
        Some((carried.staged, carried.payload))
    }

    pub fn payload(&self, token: u64) -> Option<&P> {
        self.requests.get(&token)?.payload.as_ref()
    }

    /// Requests with a payload.
    pub fn payloads(&self) -> usize {
        self.payloads
    }

    /// Every request with a payload, in no particular order.
    pub fn iter_payloads(&self) -> impl Iterator<Item = (u64, &P)> {
        self.requests
            .iter()
            .filter_map(|(token, carried)| Some((*token, carried.payload.as_ref()?)))
    }

    /// Hands a buffer back to the pool.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        self.target.recycle_buffer(buffer);
    }

    fn address(&self, device: DeviceId) -> LunAddress {
        self.devices
            .get(device.0 as usize)
            .map(|(address, _)| *address)
            .unwrap_or_default()
    }

    fn device_of(&self, address: &LunAddress) -> DeviceId {
        let index = self.devices.iter().position(|(a, _)| a == address);
        DeviceId(index.unwrap_or(usize::MAX) as u32)
    }

    fn remember(&mut self, tag: Tag, token: Option<u64>, request_sense: bool) {
        let index = tag.slot as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, SlotUse::default());
        }
        self.slots[index] = SlotUse {
            generation: tag.generation,
            live: true,
            token,
            request_sense,
        };
    }

    /// The slot's record if it belongs to `tag`'s attempt; the record is cleared.
    fn forget(&mut self, tag: Tag) -> Option<SlotUse> {
        let slot = self.slots.get_mut(tag.slot as usize)?;
        if !slot.live || slot.generation != tag.generation {
            return None;
        }
        slot.live = false;
        Some(*slot)
    }

    /// Sends a request's attempt. A read (`data_in`) carries no data out, so its entry is
    /// not looked up here; a write's data is made into a pooled buffer the target keeps.
    fn dispatch(
        &mut self,
        tag: Tag,
        device: DeviceId,
        cdb: &[u8],
        token: u64,
        data_len: u32,
        data_in: bool,
    ) -> Option<QueueReason> {
        let write = match data_in {
            true => None,
            false => match self.requests.get(&token) {
                Some(Carried {
                    staged: Staged::Out(write),
                    ..
                }) => Some(*write),
                _ => None,
            },
        };
        let (data_out, data_in_len) = match write {
            Some(write) => {
                let mut data = self.target.buffer(write.len as usize);
                if let Some(key) = write.key {
                    fill_pattern(&mut data, write.block_size, write.lba, write.write_id, key);
                }
                (data, 0)
            }
            None => (Vec::new(), data_len),
        };
        self.remember(tag, Some(token), false);
        self.send(tag, device, cdb, data_out, data_in_len)
    }

    /// queuecommand: `Some` when the target refused the command at once.
    fn send(
        &mut self,
        tag: Tag,
        device: DeviceId,
        cdb: &[u8],
        data: Vec<u8>,
        data_in_len: u32,
    ) -> Option<QueueReason> {
        let now_us = micros(self.now);
        let queued = match self.devices.get(device.0 as usize) {
            Some(&(address, path)) => self.target.queue_command_on(
                now_us,
                key(tag),
                address,
                path,
                cdb,
                data,
                data_in_len,
            ),
            None => self.target.queue_command(
                now_us,
                key(tag),
                LunAddress::default(),
                cdb,
                data,
                data_in_len,
            ),
        };
        let reason = match queued {
            Ok(Queued::Accepted) => return None,
            Ok(Queued::Rejected(QueueRejection::HostBusy)) => QueueReason::HostBusy,
            Ok(Queued::Rejected(QueueRejection::DeviceBusy)) => QueueReason::DeviceBusy,
            Ok(Queued::Rejected(QueueRejection::TargetBusy)) => QueueReason::TargetBusy,
            Err(error) => {
                let error = error.to_string();
                self.notes.push_back(SimNote::Misuse { device, tag, error });
                self.forget(tag);
                let outcome = TransportOutcome::host(HostByte::DID_ERROR);
                self.answers
                    .push_back(TransportEvent::Done { tag, outcome });
                return None;
            }
        };
        self.forget(tag);
        Some(reason)
    }

    fn poll(&mut self, tag: Tag, device: DeviceId) {
        let host = self.address(device).host;
        self.target.poll_host(micros(self.now), host);
        while let Some(event) = self.target.poll_event() {
            if let Some(answer) = self.answer(event) {
                self.answers.push_back(answer);
            }
        }
        self.answers.push_back(TransportEvent::PollDone { tag });
    }

    /// Turns a target event into the core's answer (transport edges are only noted).
    fn answer(&mut self, event: TargetEvent) -> Option<TransportEvent> {
        match event {
            TargetEvent::Completed(completion) => Some(self.completed(completion)),
            TargetEvent::TaskManagementDone {
                id,
                function,
                address,
                success,
            } => {
                let device = self.device_of(&address);
                self.notes.push_back(SimNote::TmfDone {
                    device,
                    op: id as u32,
                    function: format!("{function:?}"),
                    success,
                });
                let result = if success {
                    TmfResult::Success
                } else {
                    TmfResult::Failed
                };
                Some(TransportEvent::TmfDone {
                    op: TmfOp(id as u32),
                    result,
                })
            }
            TargetEvent::TransportDown { devices, host_byte } => {
                self.notes.push_back(SimNote::TransportDown {
                    devices: devices.to_string(),
                    host_byte: host_byte.to_string(),
                });
                None
            }
            TargetEvent::TransportUp { devices } => {
                let devices = devices.to_string();
                self.notes.push_back(SimNote::TransportUp { devices });
                None
            }
        }
    }

    fn completed(&mut self, mut completion: Completion) -> TransportEvent {
        self.commands_completed += 1;
        let tag = tag_of(completion.tag);
        if self.note_completions {
            self.note_completion(tag, &completion);
        }
        let mut outcome = TransportOutcome {
            result: ScsiResult::new(completion.host_byte, MlStatus::OK, completion.status),
            sense: completion.sense.as_ref().map_or(SenseBuffer::EMPTY, |s| {
                SenseBuffer::from_slice(s.as_bytes())
            }),
            resid: completion.resid,
        };
        let data = std::mem::take(&mut completion.data_in);
        match self.forget(tag) {
            Some(slot) if slot.request_sense => {
                outcome.sense = SenseBuffer::from_slice(&data);
                self.target.recycle_buffer(data);
            }
            Some(SlotUse {
                token: Some(token), ..
            }) => self.keep_read_data(token, data),
            _ => self.target.recycle_buffer(data),
        }
        TransportEvent::Done { tag, outcome }
    }

    /// The data of a read's latest attempt is what its caller gets.
    fn keep_read_data(&mut self, token: u64, data: Vec<u8>) {
        match self.requests.get_mut(&token) {
            Some(Carried {
                staged: Staged::In(buffer),
                ..
            }) => {
                let old = std::mem::replace(buffer, data);
                self.target.recycle_buffer(old);
            }
            _ => self.target.recycle_buffer(data),
        }
    }

    fn note_completion(&mut self, tag: Tag, completion: &Completion) {
        let device = self.device_of(&completion.address);
        self.notes.push_back(SimNote::TargetDone {
            device,
            tag,
            host_byte: completion.host_byte.to_string(),
            status: completion.status.to_string(),
            sense: completion.sense.as_ref().map(|s| s.as_bytes().to_vec()),
            virtio: completion.virtio_response.map(|v| v.to_string()),
            executed: completion.executed,
            polled: completion.polled,
        });
    }
}

impl<P> Transport for SimTransport<P> {
    type Note = SimNote;

    fn execute(&mut self, now: Instant, action: &Action) -> Option<QueueReason> {
        self.now = self.now.max(now);
        let now_us = micros(self.now);
        match *action {
            Action::Dispatch {
                tag,
                device,
                ref request,
            } => {
                return self.dispatch(
                    tag,
                    device,
                    request.cdb.as_slice(),
                    request.token,
                    request.data_len,
                    matches!(request.block.op, BlockOp::Read | BlockOp::DriverIn),
                )
            }
            Action::SendEhCommand {
                tag,
                device,
                command,
                ref cdb,
                ..
            } => {
                let request_sense = command == EhCommand::RequestSense;
                let length = if request_sense {
                    REQUEST_SENSE_LENGTH
                } else {
                    0
                };
                self.remember(tag, None, request_sense);
                return self.send(tag, device, cdb.as_slice(), Vec::new(), length);
            }
            Action::Abort {
                op,
                tag,
                device,
                ref cdb,
            } => {
                let address = self.address(device);
                let (id, key) = (u64::from(op.0), key(tag));
                self.target.abort(now_us, id, key, address, cdb.as_slice());
            }
            Action::Reset {
                op,
                kind,
                device,
                ref cdb,
            } => {
                let address = self.address(device);
                let (id, scope) = (u64::from(op.0), scope_of(kind));
                self.target
                    .reset(now_us, id, scope, address, cdb.as_slice());
            }
            Action::Poll { tag, device } => self.poll(tag, device),
            Action::Revoke { tag, .. } => {
                self.target.revoke(now_us, key(tag));
                self.forget(tag);
            }
            Action::Complete(_) | Action::Trace(_) => {}
        }
        None
    }

    fn poll_event(&mut self, now: Instant) -> Option<TransportEvent> {
        self.now = self.now.max(now);
        if let Some(answer) = self.answers.pop_front() {
            return Some(answer);
        }
        self.target.advance(micros(self.now));
        while let Some(event) = self.target.poll_event() {
            if let Some(answer) = self.answer(event) {
                return Some(answer);
            }
        }
        None
    }

    fn next_due(&self) -> Option<Instant> {
        if !self.answers.is_empty() {
            return Some(self.now);
        }
        let due_us = self.target.next_due_us()?;
        Some(Instant::from_nanos(due_us.saturating_mul(1000)).max(self.now))
    }

    fn holds(&self, tag: Tag) -> bool {
        self.target.holds(key(tag))
    }

    fn poll_note(&mut self) -> Option<SimNote> {
        self.notes.pop_front()
    }
}

/// Virtual microseconds (the target's clock).
fn micros(now: Instant) -> u64 {
    now.as_nanos() / 1000
}

/// The key the target knows a core tag by.
fn key(tag: Tag) -> u64 {
    (u64::from(tag.slot) << 32) | u64::from(tag.generation)
}

/// The core tag behind a target key.
fn tag_of(key: u64) -> Tag {
    Tag {
        slot: (key >> 32) as u32,
        generation: key as u32,
    }
}

fn scope_of(kind: ResetKind) -> ResetScope {
    match kind {
        ResetKind::Lun => ResetScope::Lun,
        ResetKind::Target => ResetScope::Target,
        ResetKind::Bus => ResetScope::Bus,
        ResetKind::Host => ResetScope::Host,
    }
}
