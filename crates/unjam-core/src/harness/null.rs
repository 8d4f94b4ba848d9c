//! The null transport: every command completes GOOD after a fixed latency (zero by
//! default); aborts and resets succeed; it never holds a command past its answer.

use std::time::Duration;

use super::transport::{EventQueue, Transport, TransportEvent};
use unjam_scsi::disposition::QueueReason;

use crate::action::{Action, Tag, TmfResult};
use crate::request::TransportOutcome;
use crate::time::Instant;

#[derive(Debug, Default)]
pub struct NullTransport {
    latency: Duration,
    events: EventQueue,
}

impl NullTransport {
    /// Every command answers GOOD `latency` after it was sent.
    pub fn with_latency(latency: Duration) -> NullTransport {
        NullTransport {
            latency,
            events: EventQueue::default(),
        }
    }
}

impl Transport for NullTransport {
    type Note = ();

    fn execute(&mut self, now: Instant, action: &Action) -> Option<QueueReason> {
        let event = match *action {
            Action::Dispatch { tag, .. } | Action::SendEhCommand { tag, .. } => {
                let outcome = TransportOutcome::GOOD;
                self.events
                    .at(now + self.latency, TransportEvent::Done { tag, outcome });
                return None;
            }
            Action::Abort { op, .. } | Action::Reset { op, .. } => TransportEvent::TmfDone {
                op,
                result: TmfResult::Success,
            },
            Action::Poll { tag, .. } => TransportEvent::PollDone { tag },
            Action::Revoke { .. } | Action::Complete(_) | Action::Trace(_) => return None,
        };
        self.events.at(now, event);
        None
    }

    fn poll_event(&mut self, now: Instant) -> Option<TransportEvent> {
        self.events.pop_due(now)
    }

    fn next_due(&self) -> Option<Instant> {
        self.events.next_time()
    }

    fn holds(&self, _: Tag) -> bool {
        false
    }
}
