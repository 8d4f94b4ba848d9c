//! Kernel-format log lines (spec §4.6), built from trace events, byte for byte as a
//! ≈v6.x kernel prints them with default logging (`driverbyte=DRIVER_OK`, no
//! `blk_update_request: ` prefix). The per-site rate limits (5 s, burst 10) run in the
//! core, in virtual time: a suppressed print has no event. With `eh_logging` the
//! error-recovery lines that `scsi_logging_level` would add are printed too.

mod format;

pub use format::{additional_sense, cdb_line, result_line, sense_key_line};

use crate::ids::{ResetKind, TmfResult};
use crate::midlayer::MidLayer;
use crate::topology::{DeviceId, DeviceLabel, HostId};
use crate::trace::{RejectReason, TraceEvent, TraceRecord};

/// Turns trace records into log lines.
#[derive(Debug)]
pub struct KernelLog {
    eh_logging: bool,
    lines: Vec<String>,
}

impl Default for KernelLog {
    fn default() -> KernelLog {
        KernelLog::new(false)
    }
}

impl KernelLog {
    pub fn new(eh_logging: bool) -> KernelLog {
        KernelLog {
            eh_logging,
            lines: Vec::new(),
        }
    }

    /// The lines so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn take_lines(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lines)
    }

    /// Adds the lines `record` prints; `names` resolves devices to `sd H:C:T:L` / `[sdX]`.
    pub fn record(&mut self, record: &TraceRecord, names: &MidLayer) {
        let label = |device: DeviceId| names.device_label(device);
        let host_number = |host: HostId| names.host_number(host).unwrap_or(0);
        match record.event {
            TraceEvent::FailurePrinted {
                device,
                tag,
                result,
                cmd_age_s,
                sense,
                cdb,
            } => {
                let Some(label) = label(device) else { return };
                let head = command_prefix(&label, tag.number());
                self.push(format!("{head}{}", result_line(result, cmd_age_s)));
                if let Some(key_line) = sense_key_line(&sense) {
                    self.push(format!("{head}{key_line}"));
                    self.push(format!("{head}{}", additional_sense(&sense)));
                }
                self.push(format!("{head}{}", cdb_line(cdb.as_slice())));
            }
            TraceEvent::RecoveredPrinted { device, tag, sense } => {
                let Some(label) = label(device) else { return };
                let head = command_prefix(&label, tag.number());
                if let Some(key_line) = sense_key_line(&sense) {
                    self.push(format!("{head}{key_line}"));
                    self.push(format!("{head}{}", additional_sense(&sense)));
                }
            }
            TraceEvent::BlockError {
                device,
                status,
                block,
            } => {
                let disk = label(device).map_or_else(|| "?".to_string(), |l| l.disk.to_string());
                self.push(format!(
                    "{} error, dev {disk}, sector {} op 0x{:x}:({}) flags 0x{:x} phys_seg {} prio class {}",
                    status.log_string(),
                    block.start_sector,
                    block.op.code(),
                    block.op.name(),
                    block.cmd_flags & !0xff,
                    block.phys_segments,
                    block.prio_class,
                ));
            }
            _ => self.device_lines(record, &label, &host_number),
        }
    }

    fn device_lines(
        &mut self,
        record: &TraceRecord,
        label: &dyn Fn(DeviceId) -> Option<DeviceLabel>,
        host_number: &dyn Fn(HostId) -> u32,
    ) {
        let device_line = |device: DeviceId, text: &str| {
            label(device).map(|l| format!("{}{text}", device_prefix(&l)))
        };
        let command_line = |device: DeviceId, tag: u32, text: &str| {
            label(device).map(|l| format!("{}{text}", command_prefix(&l, tag)))
        };
        let line = match record.event {
            TraceEvent::Rejected {
                device,
                reason,
                logged: true,
                ..
            } => {
                let text = match reason {
                    RejectReason::Dead => "rejecting I/O to dead device",
                    _ => "rejecting I/O to offline device",
                };
                (reason != RejectReason::Cancelled)
                    .then(|| device_line(device, text))
                    .flatten()
            }
            TraceEvent::ReservationConflict { device, .. } => {
                device_line(device, "reservation conflict")
            }
            TraceEvent::RuntimeExceeded {
                device,
                tag,
                waited_s,
            } => command_line(
                device,
                tag.number(),
                &format!("timing out command, waited {waited_s}s"),
            ),
            TraceEvent::SenseReported { device, report } => device_line(device, report.message()),
            TraceEvent::DeviceOfflined { device } => {
                device_line(device, "Device offlined - not ready after error recovery")
            }
            // The RFC's `"%s:luneh: Device offlined - not ready after error recovery"`
            // with `%s` the handler's worker, `sdev_eh_work`.
            TraceEvent::ScopeOfflined { device } => device_line(
                device,
                "sdev_eh_work:luneh: Device offlined - not ready after error recovery",
            ),
            TraceEvent::MediumAccessOffline { device, tag } => command_line(
                device,
                tag.number(),
                "Medium access timeout failure. Offlining disk!",
            ),
            TraceEvent::UnalignedResid {
                device,
                tag,
                resid,
                sector_size,
            } => command_line(
                device,
                tag.number(),
                &format!("Unaligned partial completion (resid={resid}, sector_sz={sector_size})"),
            ),
            _ if self.eh_logging => self.eh_line(record, label, host_number),
            _ => None,
        };
        if let Some(line) = line {
            self.push(line);
        }
    }

    /// Lines printed only with error-recovery logging on.
    fn eh_line(
        &self,
        record: &TraceRecord,
        label: &dyn Fn(DeviceId) -> Option<DeviceLabel>,
        host_number: &dyn Fn(HostId) -> u32,
    ) -> Option<String> {
        let command_line = |device: DeviceId, tag: u32, text: &str| {
            label(device).map(|l| format!("{}{text}", command_prefix(&l, tag)))
        };
        let host_line =
            |host: HostId, text: String| format!("scsi host{}: {text}", host_number(host));
        match record.event {
            TraceEvent::AbortScheduled { device, tag } => {
                command_line(device, tag.number(), "abort scheduled")
            }
            // scsi_abort_eh_cmnd (a timed-out EH command) logs no "aborting command".
            TraceEvent::AbortSent {
                device,
                tag,
                escalation: false,
                ..
            } => command_line(device, tag.number(), "aborting command"),
            TraceEvent::AbortDone {
                device,
                tag,
                result,
                escalation: false,
            } => match result {
                TmfResult::Success => None,
                TmfResult::Failed => command_line(device, tag.number(), "cmd abort failed"),
                TmfResult::FastIoFail => command_line(device, tag.number(), "cmd abort not send"),
            },
            TraceEvent::AbortRetry { device, tag } => {
                command_line(device, tag.number(), "retry aborted command")
            }
            TraceEvent::AbortFinish { device, tag } => {
                command_line(device, tag.number(), "finish aborted command")
            }
            TraceEvent::Escalated { device, tag, why } => command_line(device, tag.number(), why),
            TraceEvent::EhWake {
                host,
                failed,
                devices,
                ..
            } => Some(format!(
                "{}\n{}",
                host_line(host, "Waking error handler thread".to_string()),
                host_line(
                    host,
                    format!("Total of {failed} commands on {devices} devices require eh work")
                )
            )),
            TraceEvent::ResetSent {
                device,
                kind,
                for_tag,
                escalation,
                ..
            } => reset_sent_lines(&label(device)?, kind, for_tag.number(), escalation),
            TraceEvent::ResetDone {
                device,
                kind,
                result: TmfResult::Failed | TmfResult::FastIoFail,
                escalation: false,
                ..
            } => Some(reset_failed_line(&label(device)?, kind)),
            TraceEvent::EhCommandDone {
                device,
                for_tag,
                command: crate::action::EhCommand::TestUnitReady,
                verdict,
                ..
            } => command_line(
                device,
                for_tag.number(),
                &format!("scsi_eh_tur return: {:x}", verdict.code()),
            ),
            TraceEvent::FlushRetry { device, tag } => {
                let host = label(device)?.hctl.host;
                command_line(
                    device,
                    tag.number(),
                    &format!("scsi_eh_{host}: flush retry cmd"),
                )
            }
            TraceEvent::FlushFinish { device, tag } => {
                let host = label(device)?.hctl.host;
                command_line(
                    device,
                    tag.number(),
                    &format!("scsi_eh_{host}: flush finish cmd"),
                )
            }
            TraceEvent::HostRestart { host } => {
                Some(host_line(host, "waking up host to restart".to_string()))
            }
            _ => None,
        }
    }

    fn push(&mut self, line: String) {
        for part in line.split('\n') {
            self.lines.push(part.to_string());
        }
    }
}

/// The lines a reset prints when it is sent: the ladder's "Sending ..." (not for a
/// timed-out EH command's escalation, `scsi_abort_eh_cmnd`), then what `scsi_try_bus_reset`
/// and `scsi_try_host_reset` print themselves, for both.
fn reset_sent_lines(
    label: &DeviceLabel,
    kind: ResetKind,
    for_tag: u32,
    escalation: bool,
) -> Option<String> {
    let host = label.hctl.host;
    let eh = format!("scsi_eh_{host}");
    let sending = match kind {
        ResetKind::Lun => format!("{}{eh}: Sending BDR", device_prefix(label)),
        ResetKind::Target => format!(
            "scsi host{host}: {eh}: Sending target reset to target {}",
            label.hctl.target
        ),
        ResetKind::Bus => format!(
            "scsi host{host}: {eh}: Sending BRST chan: {}",
            label.hctl.channel
        ),
        ResetKind::Host => format!("scsi host{host}: {eh}: Sending HRST"),
    };
    let tried = match kind {
        ResetKind::Bus => Some(format!(
            "{}scsi_try_bus_reset: Snd Bus RST",
            command_prefix(label, for_tag)
        )),
        ResetKind::Host => Some(format!("scsi host{host}: Snd Host RST")),
        _ => None,
    };
    match (escalation, tried) {
        (false, Some(tried)) => Some(format!("{sending}\n{tried}")),
        (false, None) => Some(sending),
        (true, tried) => tried,
    }
}

/// The ladder's line for a reset that failed.
fn reset_failed_line(label: &DeviceLabel, kind: ResetKind) -> String {
    let host = label.hctl.host;
    let eh = format!("scsi_eh_{host}");
    match kind {
        ResetKind::Lun => format!("{}{eh}: BDR failed", device_prefix(label)),
        ResetKind::Target => format!(
            "scsi host{host}: {eh}: Target reset failed target: {}",
            label.hctl.target
        ),
        ResetKind::Bus => format!(
            "scsi host{host}: {eh}: BRST failed chan: {}",
            label.hctl.channel
        ),
        ResetKind::Host => format!("scsi host{host}: {eh}: HRST failed"),
    }
}

/// `sd H:C:T:L: ` (`sdev_printk`).
fn device_prefix(label: &DeviceLabel) -> String {
    format!("{} {}: ", label.driver, label.hctl)
}

/// `sd H:C:T:L: [sdX] tag#N ` (`scmd_printk`).
fn command_prefix(label: &DeviceLabel, tag: u32) -> String {
    format!(
        "{} {}: [{}] tag#{tag} ",
        label.driver, label.hctl, label.disk
    )
}
