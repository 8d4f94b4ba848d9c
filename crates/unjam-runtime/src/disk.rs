//! A disk behind the mid-layer: callers submit CDBs; one driver task runs the `MidLayer`
//! against an `IscsiClient` on wall-clock time and answers each caller exactly once with the
//! core's completion (final `BlkStatus`, result, sense, attempts) and the data read.
//!
//! Owns the token → caller table, the tag → iSCSI request table and the clock mapping. The
//! core decides everything about retries, timeouts and recovery.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use unjam_core::action::{EhCommand, ResetKind, TmfOp, TmfResult};
use unjam_core::buffers::Cdb;
use unjam_core::config::{Capabilities, DeviceConfig, HostConfig, Personality};
use unjam_core::request::BlockInfo;
use unjam_core::topology::DeviceId;
use unjam_core::{Action, Completion, MidLayer, Request, Tag};
use unjam_iscsi::client::{ClientConfig, ClientError, CommandError, IscsiClient, RequestId};
use unjam_iscsi::pdu::{TaskAttribute, TaskManagementFunction};
use unjam_iscsi::session::{DataDirection, ScsiOutcome, TaskRequest};
use unjam_iscsi::url::IscsiUrl;
use unjam_scsi::{BlkStatus, ScsiResult};

use crate::outcome::transport_outcome;

/// Bound on caller requests waiting for the driver.
const REQUEST_CHANNEL: usize = 1024;
/// Bound on transport events waiting for the driver.
const EVENT_CHANNEL: usize = 4096;
/// Parameter data length of the error handler's REQUEST SENSE.
const REQUEST_SENSE_LENGTH: u32 = 96;

/// How to set up the disk.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    pub client: ClientConfig,
    /// Queue depth of the device (and `can_queue` of the host).
    pub queue_depth: u32,
    /// Per-command timeout (the kernel's default is 30 s).
    pub command_timeout: Duration,
    /// Retries allowed per command (the sd default is 5).
    pub allowed: i32,
    /// Timeout of the error handler's own commands: TEST UNIT READY, START UNIT, REQUEST
    /// SENSE (the kernel's 10 s).
    pub eh_timeout: Duration,
    /// Skip the kernel's 10 s settle after a host reset (session re-login).
    pub skip_settle_delay: bool,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            client: ClientConfig::default(),
            queue_depth: 32,
            command_timeout: Duration::from_secs(30),
            allowed: 5,
            eh_timeout: Duration::from_secs(10),
            skip_settle_delay: false,
        }
    }
}

/// The iSCSI transport's capability set: ABORT TASK, LOGICAL UNIT RESET, TARGET WARM RESET,
/// and host reset by session re-login. No bus reset, no completion polling.
pub fn iscsi_capabilities() -> Capabilities {
    Capabilities {
        abort: true,
        lun_reset: true,
        target_reset: true,
        bus_reset: false,
        host_reset: true,
        poll: false,
    }
}

/// The request could not reach the core or its answer was lost.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiskError {
    #[error("login: {0}")]
    Login(#[from] ClientError),
    #[error("CDB: {0}")]
    Cdb(String),
    #[error("the core refused the request: {0}")]
    Refused(String),
    #[error("the disk driver stopped")]
    Stopped,
}

/// The one completion of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCompletion {
    pub status: BlkStatus,
    pub result: ScsiResult,
    pub sense: Vec<u8>,
    pub attempts: u32,
    pub counted_retries: u32,
    pub data: Bytes,
    /// Why the last attempt ended without a SCSI status, if it did (a lost connection, an
    /// abort, an iSCSI protocol violation such as a gap in the data): the typed reason
    /// behind the host byte in `result`.
    pub transport_error: Option<CommandError>,
}

struct Submission {
    cdb: Cdb,
    direction: DataDirection,
    block: BlockInfo,
    reply: oneshot::Sender<Result<DiskCompletion, DiskError>>,
}

/// A handle to the disk; clone it to share.
#[derive(Debug, Clone)]
pub struct Disk {
    submissions: mpsc::Sender<Submission>,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("cdb", &self.cdb)
            .finish()
    }
}

impl Disk {
    /// Logs in and starts the driver task.
    pub async fn open(url: &IscsiUrl, config: DiskConfig) -> Result<Disk, DiskError> {
        let client = IscsiClient::connect(url, config.client.clone()).await?;
        let mut mid = MidLayer::with_capacity(config.queue_depth as usize * 2);
        let mut host = HostConfig::new(0, Personality::IscsiTcp);
        host.capabilities = iscsi_capabilities();
        host.can_queue = config.queue_depth;
        host.skip_settle_delay = config.skip_settle_delay;
        let host = mid.add_host(host);
        let mut device = DeviceConfig::disk(0, 0, u64::from(url.lun));
        device.queue_depth = config.queue_depth;
        device.max_outstanding = config.queue_depth.saturating_mul(4);
        device.timeout = config.command_timeout;
        device.allowed = config.allowed;
        device.eh_timeout = config.eh_timeout;
        let device = mid
            .add_device(host, device)
            .map_err(|error| DiskError::Refused(error.to_string()))?;
        let (submissions, requests) = mpsc::channel(REQUEST_CHANNEL);
        let (events_sender, events) = mpsc::channel(EVENT_CHANNEL);
        let driver = Driver {
            mid,
            device,
            client,
            epoch: tokio::time::Instant::now(),
            next_token: 1,
            callers: HashMap::new(),
            in_flight: HashMap::new(),
            events_sender,
        };
        tokio::spawn(driver.run(requests, events));
        Ok(Disk { submissions })
    }

    /// Runs one CDB through the core; answers once, after every retry and recovery.
    pub async fn execute(
        &self,
        cdb: &[u8],
        direction: DataDirection,
        block: BlockInfo,
    ) -> Result<DiskCompletion, DiskError> {
        let cdb = Cdb::from_slice(cdb).map_err(|error| DiskError::Cdb(error.to_string()))?;
        let (reply, receiver) = oneshot::channel();
        let submission = Submission {
            cdb,
            direction,
            block,
            reply,
        };
        self.submissions
            .send(submission)
            .await
            .map_err(|_| DiskError::Stopped)?;
        receiver.await.unwrap_or(Err(DiskError::Stopped))
    }
}

/// What the transport side reports back to the driver.
enum Event {
    Done {
        tag: Tag,
        result: Result<ScsiOutcome, CommandError>,
    },
    Submitted {
        tag: Tag,
        id: Option<RequestId>,
    },
    TmfDone {
        op: TmfOp,
        result: TmfResult,
    },
}

struct Caller {
    direction: DataDirection,
    reply: oneshot::Sender<Result<DiskCompletion, DiskError>>,
    data: Bytes,
    transport_error: Option<CommandError>,
}

/// A command the transport holds.
struct InFlight {
    /// The caller's token; `None` for an error-handler command.
    token: Option<u64>,
    /// The iSCSI request, once the client took it (needed for ABORT TASK).
    request: Option<RequestId>,
    eh: Option<EhCommand>,
}

struct Driver {
    mid: MidLayer,
    device: DeviceId,
    client: IscsiClient,
    epoch: tokio::time::Instant,
    next_token: u64,
    callers: HashMap<u64, Caller>,
    in_flight: HashMap<Tag, InFlight>,
    events_sender: mpsc::Sender<Event>,
}

impl Driver {
    fn now(&self) -> unjam_core::Instant {
        let elapsed = self.epoch.elapsed().as_nanos();
        unjam_core::Instant::from_nanos(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    fn to_tokio(&self, at: unjam_core::Instant) -> tokio::time::Instant {
        self.epoch + Duration::from_nanos(at.as_nanos())
    }

    async fn run(
        mut self,
        mut requests: mpsc::Receiver<Submission>,
        mut events: mpsc::Receiver<Event>,
    ) {
        let mut requests_open = true;
        loop {
            while let Some(action) = self.mid.poll_action() {
                self.execute(action);
            }
            if !requests_open && self.callers.is_empty() {
                return;
            }
            let deadline = self.mid.poll_timeout().map(|at| self.to_tokio(at));
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                submission = requests.recv(), if requests_open => match submission {
                    Some(submission) => self.submit(submission),
                    None => requests_open = false,
                },
                Some(event) = events.recv() => self.deliver(event),
                _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                    let now = self.now();
                    self.mid.handle_timeout(now);
                }
            }
        }
    }

    fn submit(&mut self, submission: Submission) {
        let token = self.next_token;
        self.next_token += 1;
        let mut request = Request::new(submission.cdb, token);
        request.data_len = submission.direction.length();
        request.block = submission.block;
        let now = self.now();
        match self.mid.submit(now, self.device, request) {
            Ok(()) => {
                let caller = Caller {
                    direction: submission.direction,
                    reply: submission.reply,
                    data: Bytes::new(),
                    transport_error: None,
                };
                self.callers.insert(token, caller);
            }
            Err(error) => {
                let _ = submission
                    .reply
                    .send(Err(DiskError::Refused(error.to_string())));
            }
        }
    }

    fn deliver(&mut self, event: Event) {
        let now = self.now();
        match event {
            Event::Submitted { tag, id } => {
                if let Some(entry) = self.in_flight.get_mut(&tag) {
                    entry.request = id;
                }
            }
            Event::Done { tag, result } => {
                let Some(InFlight { token, eh, .. }) = self.in_flight.remove(&tag) else {
                    debug!(?tag, "completion for a revoked command dropped");
                    return;
                };
                let mut outcome = transport_outcome(&result);
                if let (Some(EhCommand::RequestSense), Ok(scsi)) = (eh, &result) {
                    outcome.sense = unjam_core::buffers::SenseBuffer::from_slice(&scsi.data);
                }
                if let Err(CommandError::Protocol(violation)) = &result {
                    warn!(?tag, reason = violation.reason(), %violation,
                        "iSCSI protocol violation; the command fails with DID_ERROR");
                }
                if let Some(caller) = token.and_then(|token| self.callers.get_mut(&token)) {
                    match &result {
                        Ok(scsi) => {
                            caller.data = scsi.data.clone();
                            caller.transport_error = None;
                        }
                        Err(error) => {
                            caller.data = Bytes::new();
                            caller.transport_error = Some(error.clone());
                        }
                    }
                }
                self.mid.handle_transport_done(now, tag, outcome);
            }
            Event::TmfDone { op, result } => self.mid.handle_tmf_done(now, op, result),
        }
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::Dispatch { tag, request, .. } => {
                let direction = self
                    .callers
                    .get(&request.token)
                    .map(|caller| caller.direction.clone())
                    .unwrap_or(DataDirection::None);
                self.send(tag, Some(request.token), None, request.cdb, direction);
            }
            Action::SendEhCommand {
                tag, command, cdb, ..
            } => {
                let direction = match command {
                    EhCommand::RequestSense => DataDirection::Read {
                        length: REQUEST_SENSE_LENGTH,
                    },
                    EhCommand::TestUnitReady | EhCommand::StartUnit => DataDirection::None,
                };
                self.send(tag, None, Some(command), cdb, direction);
            }
            Action::Abort { op, tag, .. } => self.abort(op, tag),
            Action::Reset { op, kind, .. } => self.reset(op, kind),
            Action::Poll { tag, .. } => {
                // iSCSI delivers completions as they arrive: there is nothing missed to reap.
                let now = self.now();
                self.mid.handle_poll_done(now, tag);
            }
            Action::Revoke { tag, .. } => {
                self.in_flight.remove(&tag);
            }
            Action::Complete(completion) => self.complete(completion),
            Action::Trace(_) => {}
        }
    }

    fn send(
        &mut self,
        tag: Tag,
        token: Option<u64>,
        eh: Option<EhCommand>,
        cdb: Cdb,
        direction: DataDirection,
    ) {
        let entry = InFlight {
            token,
            request: None,
            eh,
        };
        self.in_flight.insert(tag, entry);
        let request = TaskRequest {
            lun: self.client.lun(),
            cdb: Bytes::copy_from_slice(cdb.as_slice()),
            direction,
            attribute: TaskAttribute::Simple,
        };
        let client = self.client.clone();
        let events = self.events_sender.clone();
        tokio::spawn(async move {
            let result = match client.submit(request).await {
                Ok(pending) => {
                    let id = Some(pending.id);
                    let _ = events.send(Event::Submitted { tag, id }).await;
                    pending.wait().await
                }
                Err(error) => Err(error),
            };
            let _ = events.send(Event::Done { tag, result }).await;
        });
    }

    fn abort(&mut self, op: TmfOp, tag: Tag) {
        let id = self.in_flight.get(&tag).and_then(|entry| entry.request);
        let client = self.client.clone();
        let events = self.events_sender.clone();
        tokio::spawn(async move {
            let result = match id {
                // 0 = function complete; 1 = the task no longer exists (it completed).
                Some(id) => match client.abort(id).await {
                    Ok(0) | Ok(1) => TmfResult::Success,
                    _ => TmfResult::Failed,
                },
                None => TmfResult::Failed,
            };
            let _ = events.send(Event::TmfDone { op, result }).await;
        });
    }

    fn reset(&mut self, op: TmfOp, kind: ResetKind) {
        let client = self.client.clone();
        let events = self.events_sender.clone();
        let lun = client.lun();
        tokio::spawn(async move {
            let result = match kind {
                ResetKind::Lun => tmf(&client, TaskManagementFunction::LogicalUnitReset, lun).await,
                ResetKind::Target => {
                    tmf(&client, TaskManagementFunction::TargetWarmReset, lun).await
                }
                ResetKind::Host => match client.reconnect().await {
                    Ok(()) => TmfResult::Success,
                    Err(_) => TmfResult::Failed,
                },
                ResetKind::Bus => TmfResult::Failed,
            };
            let _ = events.send(Event::TmfDone { op, result }).await;
        });
    }

    fn complete(&mut self, completion: Completion) {
        let Some(caller) = self.callers.remove(&completion.token) else {
            return;
        };
        let result = DiskCompletion {
            status: completion.status,
            result: completion.result,
            sense: completion.sense.as_slice().to_vec(),
            attempts: completion.attempts,
            counted_retries: completion.counted_retries,
            data: if completion.status == BlkStatus::Ok {
                caller.data
            } else {
                Bytes::new()
            },
            transport_error: caller.transport_error,
        };
        let _ = caller.reply.send(Ok(result));
    }
}

async fn tmf(client: &IscsiClient, function: TaskManagementFunction, lun: u64) -> TmfResult {
    match client.manage(function, lun, None).await {
        Ok(0) => TmfResult::Success,
        _ => TmfResult::Failed,
    }
}
