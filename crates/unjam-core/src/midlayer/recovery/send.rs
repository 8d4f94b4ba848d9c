//! Sending task management: the one place an abort or a reset becomes an action, is counted
//! in the statistics and traced. Callers choose the step and make its `TmfOp`; this module
//! must not decide anything.

use unjam_scsi::cdb::Cdb;

use crate::action::Action;
use crate::ids::{DeviceId, ResetKind, Tag, TmfOp};
use crate::midlayer::MidLayer;
use crate::time::Instant;
use crate::trace::TraceEvent;

impl MidLayer {
    /// Emits ABORT TASK for `tag`; `escalation` says it is a step of a timed-out EH
    /// command's escalation rather than the asynchronous abort of a request.
    pub(crate) fn emit_abort(
        &mut self,
        now: Instant,
        op: TmfOp,
        tag: Tag,
        device: DeviceId,
        cdb: Cdb,
        escalation: bool,
    ) {
        self.stats.aborts_sent += 1;
        self.actions.push_back(Action::Abort {
            op,
            tag,
            device,
            cdb,
        });
        self.trace(now, || TraceEvent::AbortSent {
            device,
            tag,
            op,
            escalation,
        });
    }

    /// Emits a reset of `kind` for `device`, sent with the command `for_tag` (whose CDB is
    /// `cdb`); `escalation` as for [`MidLayer::emit_abort`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit_reset(
        &mut self,
        now: Instant,
        op: TmfOp,
        kind: ResetKind,
        device: DeviceId,
        cdb: Cdb,
        for_tag: Tag,
        escalation: bool,
    ) {
        self.stats.resets_sent += 1;
        self.actions.push_back(Action::Reset {
            op,
            kind,
            device,
            cdb,
        });
        self.trace(now, || TraceEvent::ResetSent {
            device,
            kind,
            op,
            for_tag,
            escalation,
        });
    }
}
