//! The null transport: every command completes GOOD after a fixed latency (zero by
//! default); aborts and resets succeed.

use std::time::Duration;

use super::transport::{EventQueue, Transport, TransportEvent};
use crate::action::{EhCommand, ResetKind, Tag, TmfOp, TmfResult};
use crate::buffers::Cdb;
use crate::request::{Request, TransportOutcome};
use crate::time::Instant;
use crate::topology::DeviceId;

#[derive(Clone, Copy, Debug, Default)]
pub struct NullTransport {
    pub latency: Duration,
}

impl Transport for NullTransport {
    fn dispatch(
        &mut self,
        now: Instant,
        tag: Tag,
        _device: DeviceId,
        _request: &Request,
        events: &mut EventQueue,
    ) {
        events.at(
            now + self.latency,
            TransportEvent::Done {
                tag,
                outcome: TransportOutcome::GOOD,
            },
        );
    }

    fn eh_command(
        &mut self,
        now: Instant,
        tag: Tag,
        _: DeviceId,
        _: EhCommand,
        _: &Cdb,
        events: &mut EventQueue,
    ) {
        events.at(
            now + self.latency,
            TransportEvent::Done {
                tag,
                outcome: TransportOutcome::GOOD,
            },
        );
    }

    fn abort(&mut self, now: Instant, op: TmfOp, _: Tag, _: DeviceId, events: &mut EventQueue) {
        events.at(
            now,
            TransportEvent::TmfDone {
                op,
                result: TmfResult::Success,
            },
        );
    }

    fn reset(
        &mut self,
        now: Instant,
        op: TmfOp,
        _: ResetKind,
        _: DeviceId,
        events: &mut EventQueue,
    ) {
        events.at(
            now,
            TransportEvent::TmfDone {
                op,
                result: TmfResult::Success,
            },
        );
    }

    fn poll(&mut self, now: Instant, tag: Tag, _: DeviceId, events: &mut EventQueue) {
        events.at(now, TransportEvent::PollDone { tag });
    }

    fn revoke(&mut self, _: Instant, _: Tag, _: DeviceId) {}

    fn holds(&self, _: Tag) -> bool {
        false
    }
}
