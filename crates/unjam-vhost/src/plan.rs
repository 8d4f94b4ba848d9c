//! The guest's side of a scenario: which I/Os the guest harness's reader/writer issues
//! (`scripts/guest.sh`), on which disks, with which per-device timeouts, and how long it
//! waits for them. Derived from the scenario's `[[workload]]` tables for host 0 (the LUNs the
//! vhost-user device serves), one serial stream per workload and LUN.
//!
//! Owns the plan and its text form (one line per item, read by a small static program in
//! the guest). Knows nothing of QEMU or of the device.

use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;
use unjam_sim::address::{AddressSelector, LunAddress};
use unjam_sim::scenario::{AccessPattern, Scenario};

/// I/Os per stream when the workload sets no `io_count`.
pub const MAX_GUEST_IOS_PER_STREAM: u64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestOp {
    Read,
    Write,
}

/// One disk the guest uses, with the mid-layer knobs the guest sets in sysfs (whole seconds:
/// the kernel's `timeout` and `eh_timeout` files take no fraction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestDevice {
    pub address: LunAddress,
    pub timeout_s: u64,
    pub eh_timeout_s: u64,
}

/// One I/O of one stream (streams run in parallel, each one I/O at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestIo {
    pub stream: usize,
    pub address: LunAddress,
    pub op: GuestOp,
    pub lba: u64,
    pub bytes: u32,
}

/// Everything the guest does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestPlan {
    /// How long after the workload starts the guest stops waiting for I/Os.
    pub deadline_ms: u64,
    pub devices: Vec<GuestDevice>,
    pub ios: Vec<GuestIo>,
}

/// A scenario the guest cannot run.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("`{field}`: {message}")]
    Field { field: String, message: String },
}

impl GuestPlan {
    pub fn new(scenario: &Scenario) -> Result<GuestPlan, PlanError> {
        let luns = scenario
            .resolved_luns()
            .map_err(|(field, message)| PlanError::Field { field, message })?;
        let served: Vec<_> = luns.iter().filter(|lun| lun.address.host == 0).collect();
        let mut devices: Vec<GuestDevice> = Vec::new();
        let mut ios = Vec::new();
        let mut stream = 0;
        for (index, workload) in scenario.workloads.iter().enumerate() {
            let selector: AddressSelector =
                workload.luns.parse().map_err(|_| PlanError::Field {
                    field: format!("workload[{index}].luns"),
                    message: format!("`{}` is not a LUN selector", workload.luns),
                })?;
            for lun in served.iter().filter(|lun| selector.matches(&lun.address)) {
                if !devices.iter().any(|d| d.address == lun.address) {
                    devices.push(GuestDevice {
                        address: lun.address,
                        timeout_s: whole_seconds(lun.limits.timeout_ms),
                        eh_timeout_s: whole_seconds(lun.limits.eh_timeout_ms),
                    });
                }
                let block_size = u64::from(lun.block_size.max(1));
                let blocks = (u64::from(workload.io_bytes) / block_size).max(1);
                let span_blocks = (workload.span_bytes() / block_size).max(blocks);
                let slots = (span_blocks / blocks).max(1);
                let count = workload.io_count.unwrap_or(MAX_GUEST_IOS_PER_STREAM);
                let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed ^ (stream as u64) << 32);
                for number in 0..count.min(MAX_GUEST_IOS_PER_STREAM) {
                    let slot = match workload.pattern {
                        AccessPattern::Sequential => number % slots,
                        AccessPattern::Random => rng.gen_range(0..slots),
                    };
                    let read = rng.gen_range(0..100u8) < workload.read_percent;
                    ios.push(GuestIo {
                        stream,
                        address: lun.address,
                        op: if read { GuestOp::Read } else { GuestOp::Write },
                        lba: workload.first_lba + slot * blocks,
                        bytes: workload.io_bytes,
                    });
                }
                stream += 1;
            }
        }
        Ok(GuestPlan {
            deadline_ms: scenario.duration_ms,
            devices,
            ios,
        })
    }

    /// The text the guest program reads: `deadline_ms N`, `device H:C:T:L TIMEOUT_S
    /// EH_TIMEOUT_S`, `io STREAM H:C:T:L r|w LBA BYTES`.
    pub fn to_text(&self) -> String {
        let mut text = format!("deadline_ms {}\n", self.deadline_ms);
        for device in &self.devices {
            let _ = writeln!(
                text,
                "device {} {} {}",
                device.address, device.timeout_s, device.eh_timeout_s
            );
        }
        for io in &self.ios {
            let op = match io.op {
                GuestOp::Read => 'r',
                GuestOp::Write => 'w',
            };
            let _ = writeln!(
                text,
                "io {} {} {op} {} {}",
                io.stream, io.address, io.lba, io.bytes
            );
        }
        text
    }
}

/// Milliseconds rounded up to whole seconds, at least 1.
fn whole_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed000_plan_is_one_read() {
        let scenario = Scenario::from_toml(
            "duration_ms = 20000\n[command]\ntimeout_ms = 2500\n[[host]]\npersonality = \"virtio_scsi\"\nluns = 2\nblock_size = 512\n\
             [[workload]]\nluns = \"0:0:0:0\"\nread_percent = 100\nio_bytes = 8192\npattern = \"sequential\"\n\
             first_lba = 0x055870\nspan_kib = 8\nqueue_depth = 1\nio_count = 1\n",
            "t.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let plan = GuestPlan::new(&scenario).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.to_text(),
            "deadline_ms 20000\ndevice 0:0:0:0 3 10\nio 0 0:0:0:0 r 350320 8192\n"
        );
    }

    #[test]
    fn sequential_wraps_in_the_span_and_writes_follow_read_percent() {
        let scenario = Scenario::from_toml(
            "[[host]]\nluns = 1\nblock_size = 4096\n[[workload]]\nread_percent = 0\nio_bytes = 4096\n\
             pattern = \"sequential\"\nspan_kib = 8\nio_count = 3\n",
            "t.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let plan = GuestPlan::new(&scenario).unwrap_or_else(|e| panic!("{e}"));
        let lbas: Vec<u64> = plan.ios.iter().map(|io| io.lba).collect();
        assert_eq!(lbas, [0, 1, 0]);
        assert!(plan.ios.iter().all(|io| io.op == GuestOp::Write));
    }
}
