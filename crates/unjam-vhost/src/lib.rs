//! unjam's embedded fault-injecting target as a vhost-user-scsi device: a guest kernel's
//! `virtio_scsi` driver talks to the scenario's logical units through QEMU's
//! `vhost-user-scsi-pci`, and the scenario's faults (every `VIRTIO_SCSI_S_*` response, SCSI
//! faults, lost notifications, task management faults) reach it as a real device would
//! send them.
//!
//! ```text
//!  QEMU ─(unix socket: vhost-user)─► backend (rust-vmm vhost-user-backend)
//!    kicks ─► chain: descriptor chain ─► Incoming (readable bytes, writable regions)
//!           ─► worker thread ─► Device (wall clock; unjam-target's Engine) ─► Completion
//!           ─► chain: write response, used ring, signal (or not: a lost notification)
//! ```
//!
//! `wire` owns the byte layouts, `device` the device's decisions, `chain` guest memory,
//! `backend` the vhost-user protocol and the worker thread.

pub mod backend;
pub mod chain;
pub mod device;
pub mod plan;
pub mod wire;

pub use backend::{serve, ServeError};
