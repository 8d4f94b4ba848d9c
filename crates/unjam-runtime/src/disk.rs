//! [`Disk`]: an async handle to one logical unit with the whole core underneath — timeouts,
//! ABORT TASK, LUN / target reset, session re-login, retries as sd and the SCSI mid-layer
//! decide them. Reads and writes are block-layer requests (READ/WRITE(10), or (16) beyond
//! their reach); [`Disk::execute`] and [`Disk::passthrough`] send any CDB.
//!
//! Owns the block-request shapes (CDB, sectors, range checks). Everything after submission
//! is the engine's and the core's.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use unjam_core::request::{BlockInfo, BlockOp};
use unjam_core::state::DeviceState;
use unjam_core::topology::DeviceId;
use unjam_scsi::cdb::{read_write, SynchronizeCache10};

use crate::capacity::Capacity;
use crate::command::{Command, CommandOutcome, IoError, Transfer, MAX_TRANSFER_BYTES};
use crate::engine::{self, EngineHandle, Target, UserReset};
use crate::probe::LunInfo;

/// An async handle to one logical unit; clone it to share (every clone talks to the same
/// engine task and core device).
#[derive(Debug, Clone)]
pub struct Disk {
    engine: EngineHandle,
    info: Arc<LunInfo>,
    /// A multipath device (`Initiator::open_paths`): block requests go through the
    /// multipath layer; `info` is its first path's.
    mpath: Option<unjam_multipath::MpathId>,
}

/// Which reset [`Disk::reset`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetKind {
    /// LOGICAL UNIT RESET.
    Lun,
    /// TARGET WARM RESET.
    Target,
    /// The session's host reset: log out the connection and log in again.
    Host,
}

impl ResetKind {
    /// What `sg_reset` calls it.
    pub fn name(self) -> &'static str {
        match self {
            ResetKind::Lun => "device",
            ResetKind::Target => "target",
            ResetKind::Host => "host",
        }
    }
}

impl Disk {
    pub(crate) fn new(engine: EngineHandle, info: LunInfo) -> Disk {
        Disk {
            engine,
            info: Arc::new(info),
            mpath: None,
        }
    }

    pub(crate) fn multipath(
        engine: EngineHandle,
        info: LunInfo,
        mpath: unjam_multipath::MpathId,
    ) -> Disk {
        Disk {
            engine,
            info: Arc::new(info),
            mpath: Some(mpath),
        }
    }

    /// The multipath device this handle drives, if it is one.
    pub fn mpath(&self) -> Option<unjam_multipath::MpathId> {
        self.mpath
    }

    /// The multipath device's paths and counters now (`None` for a single-path disk).
    pub async fn mpath_view(&self) -> Option<unjam_multipath::DeviceView> {
        Some(self.engine.mpath_view(self.mpath?).await?.0)
    }

    /// [`Disk::mpath_view`] with the core device state of each path (`multipath -ll`'s
    /// last column: `running`, `blocked`, `transport-offline`, `offline`).
    pub async fn mpath_view_with_states(
        &self,
    ) -> Option<(unjam_multipath::DeviceView, Vec<(DeviceId, DeviceState)>)> {
        self.engine.mpath_view(self.mpath?).await
    }

    /// What the probe learned (INQUIRY, VPD 80h/83h, READ CAPACITY).
    pub fn info(&self) -> &LunInfo {
        &self.info
    }

    fn device(&self) -> DeviceId {
        self.info.device
    }

    /// The LUN's capacity, or why it has none.
    pub fn capacity(&self) -> Result<Capacity, IoError> {
        self.capacity_ref().copied()
    }

    /// [`Disk::capacity`] without the copy (the per-I/O checks of `read` and `write`).
    fn capacity_ref(&self) -> Result<&Capacity, IoError> {
        self.info
            .capacity
            .as_ref()
            .map_err(|error| IoError::Invalid(error.to_string()))
    }

    /// Runs one command through the core; answers once, after every retry and recovery.
    /// A final error status is `Ok` with that status (see [`CommandOutcome::into_result`]).
    /// On a multipath device, block requests go through the multipath layer (a path error
    /// fails over); a passthrough command goes to one path, as an SG_IO to a dm device.
    pub async fn execute(&self, command: Command) -> Result<CommandOutcome, IoError> {
        self.engine.execute(self.target(), command).await
    }

    /// Where block requests go: the multipath device, or the one core device.
    fn target(&self) -> Target {
        match self.mpath {
            Some(mpath) => Target::Mpath(mpath),
            None => Target::Device(self.device()),
        }
    }

    /// An SG_IO-style command: no retries, a CHECK CONDITION comes back as it is.
    pub async fn passthrough(
        &self,
        cdb: &[u8],
        transfer: Transfer,
    ) -> Result<CommandOutcome, IoError> {
        self.execute(Command::passthrough(cdb, transfer)?).await
    }

    /// Reads `blocks` logical blocks at `lba` into `buffer` (its contents are discarded;
    /// give back the `Bytes` of an earlier read with `try_into_mut` to read without
    /// allocating). Only data that arrived is returned, and only for a good completion.
    pub async fn read(&self, lba: u64, blocks: u32, buffer: BytesMut) -> Result<Bytes, IoError> {
        let capacity = self.capacity_ref()?;
        let length = transfer_length(capacity, lba, blocks)?;
        let command = block_command(capacity, BlockOp::Read, lba, blocks)?;
        let command = Command {
            transfer: Transfer::In { length, buffer },
            ..command
        };
        // Straight to the engine (one future fewer than `execute`), taking only the data.
        self.engine
            .execute_with(self.target(), command, engine::data)
            .await
    }

    /// Writes `data` (a whole number of blocks) at `lba`; `Ok` only when the target took
    /// every byte and answered GOOD.
    pub async fn write(&self, lba: u64, data: Bytes) -> Result<(), IoError> {
        let capacity = self.capacity_ref()?;
        let block_length = capacity.block_length;
        if data.is_empty() || data.len() % block_length as usize != 0 {
            return Err(IoError::Invalid(format!(
                "{} bytes is not a whole number of {block_length}-byte blocks",
                data.len()
            )));
        }
        let blocks = u32::try_from(data.len() / block_length as usize)
            .map_err(|_| IoError::Invalid("write too long".into()))?;
        transfer_length(capacity, lba, blocks)?;
        let command = block_command(capacity, BlockOp::Write, lba, blocks)?;
        let command = Command {
            transfer: Transfer::Out(data),
            ..command
        };
        self.engine
            .execute_with(self.target(), command, engine::nothing)
            .await
    }

    /// SYNCHRONIZE CACHE(10) of the whole LUN (the block layer's flush).
    pub async fn flush(&self) -> Result<(), IoError> {
        let whole_lun = SynchronizeCache10 {
            immed: false,
            lba: 0,
            blocks: 0,
        };
        let cdb = whole_lun
            .build()
            .map_err(|error| IoError::Invalid(error.to_string()))?;
        let command = Command {
            cdb,
            transfer: Transfer::None,
            block: BlockInfo {
                op: BlockOp::Flush,
                ..BlockInfo::default()
            },
            timeout: None,
            retries: None,
        };
        self.execute(command).await?.into_result().map(|_| ())
    }

    /// A reset asked for directly (as `sg_reset` does): LOGICAL UNIT RESET, TARGET WARM
    /// RESET or a session re-login, each within its open-iscsi timeout. Commands it
    /// terminates end as the core decides; the UNIT ATTENTION that follows is the core's.
    pub async fn reset(&self, kind: ResetKind) -> Result<(), String> {
        let kind = match kind {
            ResetKind::Lun => UserReset::Lun,
            ResetKind::Target => UserReset::Target,
            ResetKind::Host => UserReset::Host,
        };
        self.engine.reset(self.device(), kind).await
    }
}

fn transfer_length(capacity: &Capacity, lba: u64, blocks: u32) -> Result<u32, IoError> {
    let bytes = u64::from(blocks) * u64::from(capacity.block_length);
    if blocks == 0 || bytes > u64::from(MAX_TRANSFER_BYTES) {
        return Err(IoError::Invalid(format!(
            "{blocks} blocks of {} bytes: must be 1 block to {MAX_TRANSFER_BYTES} bytes",
            capacity.block_length
        )));
    }
    let end = lba.checked_add(u64::from(blocks));
    if end.is_none_or(|end| end > capacity.blocks()) {
        return Err(IoError::Invalid(format!(
            "blocks {lba}..{} lie beyond the last LBA {}",
            lba.saturating_add(u64::from(blocks)),
            capacity.last_lba
        )));
    }
    Ok(bytes as u32)
}

/// READ/WRITE(10) or (16), as sd picks them (`unjam_scsi::cdb::read_write`).
fn block_command(
    capacity: &Capacity,
    op: BlockOp,
    lba: u64,
    blocks: u32,
) -> Result<Command, IoError> {
    let cdb = read_write(op == BlockOp::Write, lba, blocks)
        .map_err(|error| IoError::Invalid(error.to_string()))?;
    let sectors_per_block = u64::from(capacity.block_length / 512).max(1);
    Ok(Command {
        cdb,
        transfer: Transfer::None,
        block: BlockInfo {
            op,
            start_sector: lba.saturating_mul(sectors_per_block),
            ..BlockInfo::default()
        },
        timeout: None,
        retries: None,
    })
}
