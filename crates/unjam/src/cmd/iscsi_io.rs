//! Helpers shared by `unjam read` and `unjam write`: the block size from READ CAPACITY(16),
//! transfer length checks, and residuals in JSON.

use serde_json::json;
use unjam_iscsi::client::IscsiClient;
use unjam_iscsi::pdu::Residual;
use unjam_iscsi::session::DataDirection;
use unjam_runtime::Capacity;
use unjam_scsi::cdb::ReadCapacity16;

use super::iscsi_common::{execute, require_good, TargetArgs};

/// Largest transfer one CLI command moves (the session's own limit).
pub const MAX_TRANSFER_BYTES: u64 = 64 * 1024 * 1024;

pub async fn block_size(client: &IscsiClient, target: &TargetArgs) -> anyhow::Result<u32> {
    let length = ReadCapacity16::RESPONSE_LEN as u32;
    let cdb = ReadCapacity16 {
        allocation_length: length,
    }
    .build()?;
    let outcome = execute(
        client,
        cdb,
        DataDirection::Read { length },
        target.timeout(),
    )
    .await?;
    require_good(&outcome, "READ CAPACITY(16)")?;
    // A block length of 0 is a device error, never a READ with transfer length 0.
    Ok(Capacity::from_read_capacity16(&outcome.data)?.block_length)
}

pub fn transfer_length(blocks: u32, block_size: u32) -> anyhow::Result<u32> {
    let bytes = u64::from(blocks) * u64::from(block_size);
    if blocks == 0 || bytes > MAX_TRANSFER_BYTES {
        anyhow::bail!(
            "{blocks} blocks of {block_size} bytes: must be 1 block to {MAX_TRANSFER_BYTES} bytes"
        );
    }
    Ok(bytes as u32)
}

pub fn residual_json(residual: Residual) -> serde_json::Value {
    match residual {
        Residual::None => json!(null),
        Residual::Underflow(count) => json!({ "underflow": count }),
        Residual::Overflow(count) => json!({ "overflow": count }),
    }
}
