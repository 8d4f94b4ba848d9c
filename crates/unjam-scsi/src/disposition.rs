//! The mid-layer's dispositions (`enum scsi_disposition`, spec §1.5): the verdict of
//! `decide_disposition` on a completed command. SUCCESS means "stop processing", not that
//! the command succeeded.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum Disposition {
    /// Requeue at the head; counted against `allowed` (the counting happened in maybe_retry).
    NeedsRetry,
    /// Stop: finish the command upward with whatever its result says.
    Success,
    /// Hand the command to the error handler.
    Failed,
    Queued,
    SoftError,
    /// Requeue without counting (BUSY, DID_REQUEUE).
    AddToMlQueue,
    TimeoutError,
    ReturnNotHandled,
    FastIoFail,
}

impl Disposition {
    /// The kernel's numeric value (0x2001..0x2009).
    pub fn code(self) -> u16 {
        match self {
            Self::NeedsRetry => 0x2001,
            Self::Success => 0x2002,
            Self::Failed => 0x2003,
            Self::Queued => 0x2004,
            Self::SoftError => 0x2005,
            Self::AddToMlQueue => 0x2006,
            Self::TimeoutError => 0x2007,
            Self::ReturnNotHandled => 0x2008,
            Self::FastIoFail => 0x2009,
        }
    }

    /// The name the kernel prints in log lines, e.g. `NEEDS_RETRY`.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Self::NeedsRetry => "NEEDS_RETRY",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
            Self::Queued => "QUEUED",
            Self::SoftError => "SOFT_ERROR",
            Self::AddToMlQueue => "ADD_TO_MLQUEUE",
            Self::TimeoutError => "TIMEOUT_ERROR",
            Self::ReturnNotHandled => "SCSI_RETURN_NOT_HANDLED",
            Self::FastIoFail => "FAST_IO_FAIL",
        }
    }

    pub fn from_code(code: u16) -> Option<Disposition> {
        Some(match code {
            0x2001 => Self::NeedsRetry,
            0x2002 => Self::Success,
            0x2003 => Self::Failed,
            0x2004 => Self::Queued,
            0x2005 => Self::SoftError,
            0x2006 => Self::AddToMlQueue,
            0x2007 => Self::TimeoutError,
            0x2008 => Self::ReturnNotHandled,
            0x2009 => Self::FastIoFail,
            _ => return None,
        })
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}

/// Requeue reasons (`SCSI_MLQUEUE_*`, spec §1.5) and the blocked counter each one sets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueReason {
    HostBusy,
    DeviceBusy,
    EhRetry,
    TargetBusy,
}

impl QueueReason {
    pub fn code(self) -> u16 {
        match self {
            Self::HostBusy => 0x1055,
            Self::DeviceBusy => 0x1056,
            Self::EhRetry => 0x1057,
            Self::TargetBusy => 0x1058,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0x2001..=0x2009u16 {
            let d = Disposition::from_code(code).unwrap();
            assert_eq!(d.code(), code);
        }
        assert_eq!(Disposition::from_code(0x2010), None);
        assert_eq!(Disposition::Failed.to_string(), "FAILED");
    }
}
