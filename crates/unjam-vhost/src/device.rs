//! The virtio-scsi device on the wall clock, without I/O: requests from the rings go in,
//! completions (the bytes to write back and whether to signal the guest) come out. The
//! embedded target's [`Engine`] (shared with the iSCSI front) decides every command's fate
//! and runs it when it is due; this module turns the outcome into virtio responses.
//!
//! ```text
//!  request queue ─► command(now) ─► Engine::admit ─► held until due (or swallowed)
//!  tick(now) ─► Engine::run_admitted ─► response OK/status/sense/data, or the fault's
//!               VIRTIO_SCSI_S_*; a lost notification completes without a signal
//!  control queue ─► control(now) ─► Engine::task_management ─► answered when due; the
//!               commands it reaches complete ABORTED (abort) or RESET (reset) first
//! ```
//!
//! Owns the held commands and task management answers (bounded) and the command log. Knows
//! nothing of descriptors, guest memory or threads: `T` is the caller's handle on a request.

use std::io::Write;

use unjam_iscsi::pdu::TaskManagementFunction;
use unjam_iscsi::target::CommandResult;
use unjam_scsi::virtio::Response;
use unjam_scsi::SamStatus;
use unjam_sim::media_command::{MediaAccess, MediaCommand};
use unjam_sim::scenario::Scenario;
use unjam_target::engine::{Engine, EngineError, Origin, Outcome, Plan, Reach, Scheduled};
use unjam_target::layout::Layout;

use crate::wire::{
    CommandHeader, CommandResponse, ControlRequest, TmfSubtype, VirtioLun, COMMAND_HEADER_LEN,
    RESPONSE_HEADER_LEN,
};

/// Commands held at once (admitted, not answered); past it new commands answer BUSY. The
/// rings bound them already (queue size × queues); this bound holds whatever the guest does.
pub const MAX_HELD_COMMANDS: usize = 4096;
/// Data-out bytes held at once; past it new commands answer BUSY.
pub const MAX_HELD_BYTES: usize = 256 << 20;
/// Task management requests waiting for their answer; past it they answer FUNCTION REJECTED.
pub const MAX_PENDING_TMFS: usize = 256;
/// The I_T nexus of the guest's virtio HBA (one initiator port).
const GUEST_NEXUS: u64 = 1;

/// A request taken from a ring: the device-readable bytes (header, CDB, data-out) and how
/// many device-writable bytes follow.
#[derive(Debug)]
pub struct Incoming<T> {
    pub token: T,
    pub readable: Vec<u8>,
    pub writable_len: usize,
}

/// A request answered: write `bytes` into its writable part, put it in the used ring, and
/// signal the guest unless `notify` is false (a lost notification).
#[derive(Debug, PartialEq, Eq)]
pub struct Completion<T> {
    pub token: T,
    pub bytes: Vec<u8>,
    pub notify: bool,
}

/// Counters a test or a summary reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCounters {
    pub commands: u64,
    pub malformed: u64,
    pub lost_notifications: u64,
    pub tmfs: u64,
}

#[derive(Debug)]
struct Held<T> {
    token: T,
    tag: u64,
    sam_lun: u64,
    origin: Origin,
    cdb: Vec<u8>,
    data_out: Vec<u8>,
    data_in_len: usize,
    scheduled: Scheduled,
    /// `None`: swallowed until task management ends it.
    due_us: Option<u64>,
    order: u64,
}

#[derive(Debug)]
struct PendingTmf<T> {
    token: T,
    /// `None`: never answered (a hang fault).
    answer_at_us: Option<u64>,
    response: Response,
    reach: Option<(Reach, Origin, u64, u64)>,
    ended_with: Response,
}

/// The device.
#[derive(Debug)]
pub struct Device<T> {
    engine: Engine,
    held: Vec<Held<T>>,
    held_bytes: usize,
    tmfs: Vec<PendingTmf<T>>,
    next_order: u64,
    counters: DeviceCounters,
    log: CommandLog,
}

impl<T> Device<T> {
    /// The device serving `scenario`'s host 0 (the guest's one virtio HBA); `log` receives
    /// one JSON line per command, completion and task management request.
    pub fn new(
        scenario: &Scenario,
        log: Option<Box<dyn Write + Send>>,
    ) -> Result<Self, DeviceError> {
        let layout = Layout::new(scenario, &[]).map_err(|e| DeviceError(e.to_string()))?;
        let mut engine =
            Engine::new(scenario, layout).map_err(|e: EngineError| DeviceError(e.to_string()))?;
        engine.nexus_logged_in(GUEST_NEXUS, "vhost-user-scsi guest".into());
        Ok(Device {
            engine,
            held: Vec::new(),
            held_bytes: 0,
            tmfs: Vec::new(),
            next_order: 0,
            counters: DeviceCounters::default(),
            log: CommandLog { sink: log },
        })
    }

    pub fn counters(&self) -> DeviceCounters {
        self.counters
    }

    /// When something held next falls due (a command or a task management answer).
    pub fn next_due_us(&self) -> Option<u64> {
        let commands = self.held.iter().filter_map(|h| h.due_us);
        let tmfs = self.tmfs.iter().filter_map(|t| t.answer_at_us);
        commands.chain(tmfs).min()
    }

    /// A request from a request queue arrived at `now_us`.
    pub fn command(&mut self, now_us: u64, request: Incoming<T>) -> Vec<Completion<T>> {
        self.counters.commands += 1;
        let mut done = Vec::new();
        let header = match CommandHeader::parse(&request.readable) {
            Ok(header) => header,
            Err(error) => {
                self.counters.malformed += 1;
                self.log.malformed(now_us, &error.to_string());
                done.push(answer(
                    request.token,
                    request.writable_len,
                    Response::FAILURE,
                    0,
                    &[],
                    &[],
                ));
                return done;
            }
        };
        let cdb = header.cdb().to_vec();
        self.log.command(now_us, &header, &cdb);
        let data_in_len = request.writable_len.saturating_sub(RESPONSE_HEADER_LEN);
        let Some((origin, sam_lun)) = self.origin(header.lun) else {
            done.push(answer(
                request.token,
                request.writable_len,
                Response::BAD_TARGET,
                0,
                &[],
                &[],
            ));
            return done;
        };
        let data_out = request.readable.get(COMMAND_HEADER_LEN..).unwrap_or(&[]);
        let too_many = self.held.len() >= MAX_HELD_COMMANDS
            || self.held_bytes.saturating_add(data_out.len()) > MAX_HELD_BYTES;
        if too_many || request.writable_len < RESPONSE_HEADER_LEN {
            if request.writable_len < RESPONSE_HEADER_LEN {
                self.counters.malformed += 1;
                self.log
                    .malformed(now_us, "no room for the response header");
            }
            let response = if too_many {
                Response::BUSY
            } else {
                Response::FAILURE
            };
            done.push(answer(
                request.token,
                request.writable_len,
                response,
                0,
                &[],
                &[],
            ));
            return done;
        }
        let (scheduled, due_us) = match self.engine.admit(now_us, origin, sam_lun, &cdb) {
            Plan::Run(scheduled) => (scheduled, Some(scheduled.due_us)),
            Plan::Swallow(scheduled) => (scheduled, None),
            // A transport fault (down, or a wire reset): the HBA reports a transport failure.
            Plan::ResetConnection => {
                done.push(answer(
                    request.token,
                    request.writable_len,
                    Response::TRANSPORT_FAILURE,
                    0,
                    &[],
                    &[],
                ));
                return done;
            }
            Plan::Reject(_) => {
                done.push(answer(
                    request.token,
                    request.writable_len,
                    Response::BAD_TARGET,
                    0,
                    &[],
                    &[],
                ));
                return done;
            }
        };
        self.held_bytes += data_out.len();
        self.held.push(Held {
            token: request.token,
            tag: header.tag,
            sam_lun,
            origin,
            cdb,
            data_out: data_out.to_vec(),
            data_in_len,
            scheduled,
            due_us,
            order: self.next_order,
        });
        self.next_order += 1;
        self.tick(now_us, &mut done);
        done
    }

    /// A request from the control queue arrived at `now_us`.
    pub fn control(&mut self, now_us: u64, request: Incoming<T>) -> Vec<Completion<T>> {
        self.counters.tmfs += 1;
        let mut done = Vec::new();
        let parsed = ControlRequest::parse(&request.readable);
        let (subtype, lun, tag) = match parsed {
            Ok(ControlRequest::Tmf { subtype, lun, tag }) => (subtype, lun, tag),
            Ok(ControlRequest::AsyncNotification { .. }) => {
                // No event is supported: event_actual 0, response OK.
                done.push(Completion {
                    token: request.token,
                    bytes: vec![0; 5],
                    notify: true,
                });
                return done;
            }
            Err(error) => {
                self.counters.malformed += 1;
                self.log.malformed(now_us, &error.to_string());
                let bytes = if request.writable_len >= 1 {
                    vec![Response::FAILURE.0]
                } else {
                    Vec::new()
                };
                done.push(Completion {
                    token: request.token,
                    bytes,
                    notify: true,
                });
                return done;
            }
        };
        let Some((origin, sam_lun)) = self.origin(lun) else {
            self.log.tmf(now_us, subtype, tag, Response::BAD_TARGET);
            done.push(Completion {
                token: request.token,
                bytes: vec![Response::BAD_TARGET.0],
                notify: true,
            });
            return done;
        };
        let found = self
            .held
            .iter()
            .find(|h| h.tag == tag && h.sam_lun == sam_lun);
        let function = match subtype {
            TmfSubtype::AbortTask => TaskManagementFunction::AbortTask,
            TmfSubtype::AbortTaskSet => TaskManagementFunction::AbortTaskSet,
            TmfSubtype::ClearTaskSet => TaskManagementFunction::ClearTaskSet,
            TmfSubtype::LogicalUnitReset => TaskManagementFunction::LogicalUnitReset,
            TmfSubtype::QueryTask => {
                let response = if found.is_some() {
                    Response::FUNCTION_SUCCEEDED
                } else {
                    Response::OK
                };
                self.log.tmf(now_us, subtype, tag, response);
                done.push(Completion {
                    token: request.token,
                    bytes: vec![response.0],
                    notify: true,
                });
                return done;
            }
            _ => {
                self.log
                    .tmf(now_us, subtype, tag, Response::FUNCTION_REJECTED);
                done.push(Completion {
                    token: request.token,
                    bytes: vec![Response::FUNCTION_REJECTED.0],
                    notify: true,
                });
                return done;
            }
        };
        if self.tmfs.len() >= MAX_PENDING_TMFS {
            done.push(Completion {
                token: request.token,
                bytes: vec![Response::FUNCTION_REJECTED.0],
                notify: true,
            });
            return done;
        }
        // The command the function is sent for: the aborted task, or one on the LUN.
        let cdb = found
            .or_else(|| self.held.iter().find(|h| h.sam_lun == sam_lun))
            .map(|h| h.cdb.clone())
            .unwrap_or_default();
        let plan = self
            .engine
            .task_management(now_us, origin, function, sam_lun, &cdb);
        let response = match plan.response {
            0 => Response::OK,
            5 => Response::FUNCTION_REJECTED,
            _ => Response::FAILURE,
        };
        let ended_with = if function == TaskManagementFunction::LogicalUnitReset {
            Response::RESET
        } else {
            Response::ABORTED
        };
        self.log.tmf(now_us, subtype, tag, response);
        self.tmfs.push(PendingTmf {
            token: request.token,
            answer_at_us: plan
                .answer_after_us
                .map(|after| now_us.saturating_add(after)),
            response,
            reach: plan.reach.map(|reach| (reach, origin, sam_lun, tag)),
            ended_with,
        });
        self.tick(now_us, &mut done);
        done
    }

    /// Runs every held command and task management answer due at `now_us`.
    pub fn tick(&mut self, now_us: u64, done: &mut Vec<Completion<T>>) {
        loop {
            let next_command = self
                .held
                .iter()
                .enumerate()
                .filter_map(|(index, h)| {
                    h.due_us
                        .filter(|due| *due <= now_us)
                        .map(|due| (due, h.order, index))
                })
                .min();
            let next_tmf = self
                .tmfs
                .iter()
                .enumerate()
                .filter_map(|(index, t)| {
                    t.answer_at_us
                        .filter(|at| *at <= now_us)
                        .map(|at| (at, index))
                })
                .min();
            match (next_command, next_tmf) {
                (Some((due, _, index)), tmf) if tmf.is_none_or(|(at, _)| due <= at) => {
                    let held = self.held.swap_remove(index);
                    done.push(self.run(now_us, held));
                }
                (_, Some((_, index))) => {
                    let tmf = self.tmfs.swap_remove(index);
                    self.answer_tmf(now_us, tmf, done);
                }
                _ => return,
            }
        }
    }

    fn run(&mut self, now_us: u64, held: Held<T>) -> Completion<T> {
        self.held_bytes = self.held_bytes.saturating_sub(held.data_out.len());
        let writable_len = held.data_in_len + RESPONSE_HEADER_LEN;
        let outcome = self.engine.run_admitted(
            held.origin,
            held.sam_lun,
            &held.cdb,
            &held.data_out,
            &held.scheduled,
        );
        let completion = match outcome {
            Outcome::Answer { result, lost } => {
                let residual = residual(&result, held.data_in_len, held.data_out.len());
                let mut completion = answer(
                    held.token,
                    writable_len,
                    Response::OK,
                    result.status,
                    &result.sense,
                    &result.data_in,
                );
                set_residual(&mut completion.bytes, residual);
                completion.notify = !lost;
                if lost {
                    self.counters.lost_notifications += 1;
                }
                completion
            }
            Outcome::Fault(fault) => {
                let response = fault
                    .virtio
                    .unwrap_or_else(|| Response::for_host_byte(fault.host_byte));
                let sense = fault
                    .sense
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default();
                answer(
                    held.token,
                    writable_len,
                    response,
                    fault.status.0,
                    &sense,
                    &[],
                )
            }
            Outcome::Terminated => answer(held.token, writable_len, Response::RESET, 0, &[], &[]),
        };
        self.log
            .done(now_us, held.tag, &completion.bytes, completion.notify);
        completion
    }

    fn answer_tmf(&mut self, now_us: u64, tmf: PendingTmf<T>, done: &mut Vec<Completion<T>>) {
        if let Some((reach, origin, sam_lun, tag)) = tmf.reach {
            let reached = |h: &Held<T>| match reach {
                Reach::Task => h.tag == tag && h.sam_lun == sam_lun,
                Reach::Lun(lun) => h.sam_lun == lun,
                Reach::Target | Reach::TargetCold => h.origin.target == origin.target,
            };
            let mut index = 0;
            while index < self.held.len() {
                if reached(&self.held[index]) {
                    let held = self.held.remove(index);
                    self.engine.release(&held.scheduled);
                    self.held_bytes = self.held_bytes.saturating_sub(held.data_out.len());
                    let completion = answer(
                        held.token,
                        held.data_in_len + RESPONSE_HEADER_LEN,
                        tmf.ended_with,
                        0,
                        &[],
                        &[],
                    );
                    self.log.done(now_us, held.tag, &completion.bytes, true);
                    done.push(completion);
                } else {
                    index += 1;
                }
            }
        }
        done.push(Completion {
            token: tmf.token,
            bytes: vec![tmf.response.0],
            notify: true,
        });
    }

    /// The device was reset or the guest went away: everything held is dropped unanswered
    /// (the rings it came from are gone).
    pub fn reset(&mut self) {
        for held in self.held.drain(..) {
            self.engine.release(&held.scheduled);
        }
        self.held_bytes = 0;
        self.tmfs.clear();
    }

    /// The engine origin and SAM LUN field of a virtio LUN field (`None`: no such target).
    fn origin(&self, lun: [u8; 8]) -> Option<(Origin, u64)> {
        let lun = VirtioLun::parse(lun)?;
        let target =
            self.engine.layout().targets_of(0).find(|index| {
                self.engine.layout().targets[*index].target == u32::from(lun.target)
            })?;
        Some((
            Origin {
                nexus: GUEST_NEXUS,
                portal: 0,
                target,
            },
            lun.sam_field,
        ))
    }
}

/// A scenario the device cannot serve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(String);

/// A command completion: the response header, then as much data-in as fits.
fn answer<T>(
    token: T,
    writable_len: usize,
    response: Response,
    status: u8,
    sense: &[u8],
    data_in: &[u8],
) -> Completion<T> {
    if writable_len < RESPONSE_HEADER_LEN {
        return Completion {
            token,
            bytes: Vec::new(),
            notify: true,
        };
    }
    let room = writable_len - RESPONSE_HEADER_LEN;
    let data = &data_in[..data_in.len().min(room)];
    let header = CommandResponse {
        response: response.0,
        status,
        residual: u32::try_from(room - data.len()).unwrap_or(u32::MAX),
        sense,
    }
    .encode();
    let mut bytes = Vec::with_capacity(RESPONSE_HEADER_LEN + data.len());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(data);
    Completion {
        token,
        bytes,
        notify: true,
    }
}

/// Bytes of the data buffer not transferred: the data-in room not filled, or the data-out
/// a write did not use.
fn residual(result: &CommandResult, data_in_room: usize, data_out_len: usize) -> u32 {
    let unused = if data_out_len > 0 {
        let used = result
            .write_length
            .map_or(data_out_len, |n| (n as usize).min(data_out_len));
        data_out_len - used
    } else {
        data_in_room.saturating_sub(result.data_in.len())
    };
    u32::try_from(unused).unwrap_or(u32::MAX)
}

fn set_residual(bytes: &mut [u8], residual: u32) {
    if let Some(field) = bytes.get_mut(4..8) {
        field.copy_from_slice(&residual.to_le_bytes());
    }
}

/// JSON lines for the guest harness (`sends`) and for a person reading what happened.
struct CommandLog {
    sink: Option<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for CommandLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandLog")
            .field("enabled", &self.sink.is_some())
            .finish()
    }
}

impl CommandLog {
    fn write(&mut self, value: serde_json::Value) {
        if let Some(sink) = &mut self.sink {
            let written = writeln!(sink, "{value}").and_then(|()| sink.flush());
            if let Err(error) = written {
                tracing::warn!("command log: {error}; no more lines are written");
                self.sink = None;
            }
        }
    }

    fn command(&mut self, now_us: u64, header: &CommandHeader, cdb: &[u8]) {
        let lun = VirtioLun::parse(header.lun);
        let media = MediaCommand::parse(cdb);
        let op = match media.map(|m| m.access) {
            Some(MediaAccess::Read) => "read",
            Some(MediaAccess::Write) => "write",
            Some(MediaAccess::Synchronize) => "sync",
            None => "other",
        };
        self.write(serde_json::json!({
            "event": "command",
            "t_us": now_us,
            "tag": header.tag,
            "target": lun.map(|l| l.target),
            "lun": lun.and_then(|l| unjam_target::engine::lun_from_field(l.sam_field)),
            "opcode": cdb.first().copied().unwrap_or(0),
            "op": op,
            "lba": media.map(|m| m.lba),
            "blocks": media.map(|m| m.blocks),
        }));
    }

    fn done(&mut self, now_us: u64, tag: u64, bytes: &[u8], notified: bool) {
        self.write(serde_json::json!({
            "event": "done",
            "t_us": now_us,
            "tag": tag,
            "response": bytes.get(11).map(|r| Response(*r).to_string()),
            "status": bytes.get(10).map(|s| SamStatus(*s).0),
            "notified": notified,
        }));
    }

    fn tmf(&mut self, now_us: u64, subtype: TmfSubtype, tag: u64, response: Response) {
        self.write(serde_json::json!({
            "event": "tmf",
            "t_us": now_us,
            "subtype": format!("{subtype:?}"),
            "tag": tag,
            "response": response.to_string(),
        }));
    }

    fn malformed(&mut self, now_us: u64, why: &str) {
        tracing::warn!("malformed request: {why}");
        self.write(serde_json::json!({ "event": "malformed", "t_us": now_us, "why": why }));
    }
}
