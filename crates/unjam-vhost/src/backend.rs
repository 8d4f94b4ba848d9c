//! The vhost-user side: QEMU connects on a unix socket, shares the guest's memory and the
//! rings, and kicks; the rust-vmm `vhost-user-backend` crate runs the protocol and calls
//! [`VhostUserBackend::handle_event`] for every kick. Chains are taken off the rings there
//! and handed to one worker thread, which owns the [`Device`] and the wall clock, writes the
//! answers back and signals the guest (or, for a lost notification, does not).
//!
//! Owns the threads, the socket and the queue handles. Queue 0 is the control queue, 1 the
//! event queue (its buffers are never used: the device sends no events), 2.. the request
//! queues.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use unjam_sim::scenario::Scenario;
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackend, VhostUserDaemon, VringRwLock, VringT};
use virtio_bindings::bindings::virtio_config::{
    VIRTIO_F_ANY_LAYOUT, VIRTIO_F_NOTIFY_ON_EMPTY, VIRTIO_F_VERSION_1,
};
use virtio_bindings::bindings::virtio_ring::VIRTIO_RING_F_INDIRECT_DESC;
use virtio_queue::QueueOwnedT;
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{
    new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier,
};

use crate::chain::{take, write_back, Region};
use crate::device::{Completion, Device, Incoming};
use crate::wire::config_space;

/// Request queues offered (the guest may use fewer).
pub const REQUEST_QUEUES: usize = 4;
/// Descriptors per ring at most.
pub const MAX_QUEUE_SIZE: usize = 1024;
/// Requests in transit from the rings to the worker; a full channel makes the ring thread
/// wait (the rings themselves bound what the guest can have outstanding).
const CHANNEL_BOUND: usize = 4 * MAX_QUEUE_SIZE;
/// The longest the worker sleeps without looking at the clock.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Feature bits of the virtio-scsi device type (virtio spec, "Feature bits").
const VIRTIO_SCSI_F_HOTPLUG: u32 = 1;
const VIRTIO_SCSI_F_CHANGE: u32 = 2;
const CONTROL_QUEUE: u16 = 0;
const EVENT_QUEUE: u16 = 1;

type Memory = GuestMemoryAtomic<GuestMemoryMmap<()>>;
type Vring = VringRwLock<Memory>;

/// Where an answer goes: the ring, the chain's head and its writable regions.
pub struct Token {
    vring: Vring,
    memory: Memory,
    head: u16,
    regions: Vec<Region>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("head", &self.head)
            .field("regions", &self.regions)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Message {
    Command(Incoming<Token>),
    Control(Incoming<Token>),
    /// The guest reset the device (or stopped a ring): drop what is held.
    Reset,
    Stop,
}

/// The device as `vhost-user-backend` sees it.
struct ScsiBackend {
    memory: Mutex<Option<Memory>>,
    to_worker: SyncSender<Message>,
}

impl VhostUserBackend for ScsiBackend {
    type Bitmap = ();
    type Vring = Vring;

    fn num_queues(&self) -> usize {
        2 + REQUEST_QUEUES
    }

    fn max_queue_size(&self) -> usize {
        MAX_QUEUE_SIZE
    }

    /// VERSION_1, indirect descriptors, any layout and notify-on-empty; HOTPLUG and CHANGE
    /// because QEMU passes the guest's acknowledgement of them through (the device never
    /// sends an event). No EVENT_IDX: every completion not lost is signalled.
    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_RING_F_INDIRECT_DESC)
            | (1 << VIRTIO_F_ANY_LAYOUT)
            | (1 << VIRTIO_F_NOTIFY_ON_EMPTY)
            | (1 << VIRTIO_SCSI_F_HOTPLUG)
            | (1 << VIRTIO_SCSI_F_CHANGE)
            | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        VhostUserProtocolFeatures::MQ
    }

    fn reset_device(&self) {
        let _ = self.to_worker.send(Message::Reset);
    }

    fn set_event_idx(&self, _enabled: bool) {}

    /// The event that stops the ring thread when the connection ends.
    fn exit_event(&self, _thread_index: usize) -> Option<(EventConsumer, EventNotifier)> {
        new_event_consumer_and_notifier(EventFlag::NONBLOCK).ok()
    }

    fn get_config(&self, offset: u32, size: u32) -> Vec<u8> {
        let config = config_space(REQUEST_QUEUES as u32, MAX_QUEUE_SIZE as u32, 0xffff);
        let start = (offset as usize).min(config.len());
        let end = start.saturating_add(size as usize).min(config.len());
        config[start..end].to_vec()
    }

    fn update_memory(&self, memory: Memory) -> std::io::Result<()> {
        *lock(&self.memory) = Some(memory);
        Ok(())
    }

    fn stop_vring(&self, _queue_index: u32) -> std::io::Result<()> {
        let _ = self.to_worker.send(Message::Reset);
        Ok(())
    }

    fn handle_event(
        &self,
        device_event: u16,
        _evset: EventSet,
        vrings: &[Vring],
        _thread_id: usize,
    ) -> std::io::Result<()> {
        if device_event == EVENT_QUEUE {
            return Ok(());
        }
        let Some(vring) = vrings.get(usize::from(device_event)) else {
            return Ok(());
        };
        let Some(memory) = lock(&self.memory).clone() else {
            return Ok(());
        };
        for message in take_requests(device_event, vring, &memory) {
            if self.to_worker.send(message).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Every chain available on `vring`, as messages for the worker. A malformed chain becomes
/// a request the device answers with an error (its readable bytes dropped).
fn take_requests(queue: u16, vring: &Vring, memory: &Memory) -> Vec<Message> {
    let guard = memory.memory();
    let mut state = vring.get_mut();
    let Ok(iter) = state.get_queue_mut().iter(guard.clone()) else {
        return Vec::new();
    };
    let mut messages = Vec::new();
    for chain in iter {
        let head = chain.head_index();
        let (readable, regions) = match take(chain) {
            Ok(taken) => (taken.readable, taken.writable),
            Err(error) => {
                tracing::warn!("queue {queue}: descriptor chain {head}: {error}");
                (Vec::new(), Vec::new())
            }
        };
        let writable_len = regions.iter().map(|r| r.len as usize).sum();
        let incoming = Incoming {
            token: Token {
                vring: vring.clone(),
                memory: memory.clone(),
                head,
                regions,
            },
            readable,
            writable_len,
        };
        messages.push(if queue == CONTROL_QUEUE {
            Message::Control(incoming)
        } else {
            Message::Command(incoming)
        });
    }
    messages
}

/// The worker: the device on the wall clock.
fn run_worker(mut device: Device<Token>, inbox: Receiver<Message>, start: Instant) {
    loop {
        let now_us = || start.elapsed().as_micros() as u64;
        let wait = device
            .next_due_us()
            .map_or(MAX_SLEEP, |due| {
                Duration::from_micros(due.saturating_sub(now_us()))
            })
            .min(MAX_SLEEP);
        let completions = match inbox.recv_timeout(wait) {
            Ok(Message::Command(request)) => device.command(now_us(), request),
            Ok(Message::Control(request)) => device.control(now_us(), request),
            Ok(Message::Reset) => {
                device.reset();
                Vec::new()
            }
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut done = Vec::new();
                device.tick(now_us(), &mut done);
                done
            }
        };
        for completion in completions {
            complete(completion);
        }
    }
}

/// Writes an answer, puts it in the used ring and signals the guest unless the notification
/// is to be lost.
fn complete(completion: Completion<Token>) {
    let token = completion.token;
    let memory = token.memory.memory();
    let used_len = write_back(&*memory, &token.regions, &completion.bytes);
    if let Err(error) = token.vring.add_used(token.head, used_len) {
        tracing::warn!("used ring: {error}");
        return;
    }
    if completion.notify {
        if let Err(error) = token.vring.signal_used_queue() {
            tracing::warn!("signalling the guest: {error}");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why the device could not be served.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error("{0}")]
    Scenario(String),
    #[error("vhost-user: {0}")]
    VhostUser(String),
    #[error("starting the worker thread: {0}")]
    Thread(std::io::Error),
}

/// Serves `scenario` as a vhost-user-scsi device on the unix socket `socket` until the
/// frontend (QEMU) disconnects. `log` receives the device's JSON lines.
pub fn serve(
    scenario: &Scenario,
    socket: &Path,
    log: Option<Box<dyn Write + Send>>,
) -> Result<(), ServeError> {
    let device = Device::new(scenario, log).map_err(|e| ServeError::Scenario(e.to_string()))?;
    let (to_worker, inbox) = sync_channel(CHANNEL_BOUND);
    let start = Instant::now();
    let worker = std::thread::Builder::new()
        .name("unjam-vhost-device".into())
        .spawn(move || run_worker(device, inbox, start))
        .map_err(ServeError::Thread)?;
    let backend = Arc::new(ScsiBackend {
        memory: Mutex::new(None),
        to_worker: to_worker.clone(),
    });
    let served = VhostUserDaemon::new(
        "unjam-vhost-user-scsi".into(),
        backend,
        GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    )
    .map_err(|e| ServeError::VhostUser(e.to_string()))
    .and_then(|mut daemon| {
        let mut listener = vhost::vhost_user::Listener::new(socket, true).map_err(|e| {
            ServeError::VhostUser(format!("listening on {}: {e}", socket.display()))
        })?;
        daemon
            .start(&mut listener)
            .map_err(|e| ServeError::VhostUser(e.to_string()))?;
        match daemon.wait() {
            Ok(()) => Ok(()),
            Err(vhost_user_backend::Error::HandleRequest(
                vhost::vhost_user::Error::Disconnected | vhost::vhost_user::Error::PartialMessage,
            )) => Ok(()),
            Err(error) => Err(ServeError::VhostUser(format!("{error}: {error:?}"))),
        }
    });
    let _ = to_worker.send(Message::Stop);
    let _ = worker.join();
    let _ = std::fs::remove_file(socket);
    served
}
