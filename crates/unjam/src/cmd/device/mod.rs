//! What every device command shares: options into runtime settings (`args`), sg3_utils'
//! exit statuses (`exit`), and output (`output`: closed pipes, JSON, hex, errors).
//!
//! Device commands reach targets only through `unjam-runtime` (and so the core); this
//! module must not talk to the iSCSI client.

pub mod args;
pub mod exit;
pub mod output;
pub mod report;

pub use args::{run, DeviceArgs};
pub use exit::{ExitClass, Failure};
pub use output::{hex_string, Printer};

use unjam_runtime::{CommandOutcome, Disk, Initiator, Transfer};

/// Sends one passthrough CDB through the runtime (as sg3_utils' tools do through SG_IO);
/// anything but a good completion is a [`Failure`] with its exit class.
pub async fn passthrough(
    disk: &Disk,
    what: &str,
    cdb: &[u8],
    transfer: Transfer,
) -> Result<CommandOutcome, Failure> {
    let outcome = disk
        .passthrough(cdb, transfer)
        .await
        .map_err(|error| Failure::io(what, &error))?;
    if !outcome.is_ok() {
        return Err(Failure::outcome(what, &outcome));
    }
    Ok(outcome)
}

/// Logs out (within `logout_timeout`) and hands back the command's result.
pub async fn logout<T>(initiator: Initiator, result: T) -> T {
    initiator.logout().await;
    result
}
