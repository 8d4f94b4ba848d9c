//! The one place a command's state changes (`lifecycle.rs` holds the table). A request
//! entering or leaving a busy state moves the busy counters of its device, target and host
//! here, with pair assertions; leaving one wakes the error handler and starved devices
//! and runs the device's queue if it holds anything.

use super::MidLayer;
use crate::command::CommandKind;
use crate::lifecycle::State;
use crate::topology::DeviceId;

impl MidLayer {
    /// Moves `slot` to `to`; panics on a transition the table does not allow. Always inline
    /// (it runs three times per command, each time with a constant `to`, so the target
    /// state's half of the check folds away); the counter updates stay out of line.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn set_state(&mut self, slot: u32, to: State) {
        let cmd = self.slab.command_mut(slot);
        let from = cmd.state;
        from.check_transition(to);
        cmd.state = to;
        let (device, counted) = (cmd.device, cmd.kind == CommandKind::Io);
        if !counted || from.busy() == to.busy() {
            return;
        }
        if to.busy() {
            self.count_busy(device);
        } else {
            self.uncount_busy(device);
        }
    }

    #[inline(never)]
    fn count_busy(&mut self, device: DeviceId) {
        let dev = &mut self.devices[device.0 as usize];
        dev.busy += 1;
        let (target, host) = (dev.target, dev.host);
        self.targets[target.0 as usize].busy += 1;
        self.hosts[host.0 as usize].busy += 1;
    }

    /// `scsi_device_unbusy`: wakes the error handler (busy == failed may now hold) and the
    /// host's starved devices (run first, `scsi_run_queue`), and runs the device's queue.
    #[inline(never)]
    fn uncount_busy(&mut self, device: DeviceId) {
        let dev = &mut self.devices[device.0 as usize];
        assert!(dev.busy > 0, "device {device:?} busy count underflow");
        dev.busy -= 1;
        let (target, host_id) = (dev.target, dev.host);
        let target = &mut self.targets[target.0 as usize];
        assert!(target.busy > 0, "target busy count underflow");
        target.busy -= 1;
        let host = &mut self.hosts[host_id.0 as usize];
        assert!(host.busy > 0, "host busy count underflow");
        host.busy -= 1;
        let recovering = host.state.in_recovery() || host.eh_partial || !self.scoped_eh.is_empty();
        if recovering && !self.pending_wakes.contains(&host_id) {
            self.pending_wakes.push(host_id);
        }
        if !host.starved.is_empty() && !self.pending_starved.contains(&host_id) {
            self.pending_starved.push(host_id);
        }
        // A run of an empty queue does nothing (`run_pending` skips it), and whoever queues
        // a command on this device next runs or schedules the queue itself (`submit`,
        // `requeue`, the delayed requeue): most completions leave the queue empty and need
        // no run scheduled.
        if !self.devices[device.0 as usize].queue.is_empty() {
            self.schedule_run(device);
        }
    }
}
