//! The null-transport throughput loop shared by `unjam bench` and the criterion bench:
//! submit → dispatch → complete GOOD at once → disposition → finish, with `queue_depth`
//! requests outstanding. It reads no clock (the caller times it).

use crate::action::Action;
use crate::midlayer::MidLayer;
use crate::request::{Request, TransportOutcome};
use crate::topology::DeviceId;

/// What one run did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BenchReport {
    pub submitted: u64,
    pub completed: u64,
    pub failed: u64,
}

/// Runs `commands` copies of `template` through `mid` on `device` with `queue_depth`
/// outstanding; the transport answers every dispatch GOOD immediately.
pub fn run_null_bench(
    mid: &mut MidLayer,
    device: DeviceId,
    template: Request,
    commands: u64,
    queue_depth: u32,
) -> BenchReport {
    let now = crate::time::Instant::ZERO;
    let mut report = BenchReport::default();
    let initial = commands.min(u64::from(queue_depth.max(1)));
    for _ in 0..initial {
        let request = Request {
            token: report.submitted,
            ..template
        };
        if mid.submit(now, device, request).is_err() {
            return report;
        }
        report.submitted += 1;
    }
    while report.completed < report.submitted {
        let Some(action) = mid.poll_action() else {
            break;
        };
        match action {
            Action::Dispatch { tag, .. } => {
                mid.handle_transport_done(now, tag, &TransportOutcome::GOOD)
            }
            Action::Complete(completion) => {
                report.completed += 1;
                if completion.status != unjam_scsi::BlkStatus::Ok {
                    report.failed += 1;
                }
                if report.submitted < commands {
                    let request = Request {
                        token: report.submitted,
                        ..template
                    };
                    if mid.submit(now, device, request).is_ok() {
                        report.submitted += 1;
                    }
                }
            }
            _ => {}
        }
    }
    report
}
