//! A command's life as one typed state (spec §5, §6): where it is, and what matters there —
//! whether the transport may still touch its buffers (`owned`), whether an abort was
//! scheduled since it was last prepared (`aborted`, the kernel's SCSI_EH_ABORT_SCHEDULED),
//! whether the attempt in the error handler timed out (`timed_out`). Busy (counted in its
//! device's, target's and host's busy counters) follows from the state. Every change goes
//! through [`State::check_transition`] against [`TRANSITIONS`]; an illegal one is a bug
//! and panics, in release builds too.
//!
//! ```text
//!  Queued ─► InFlight ─► Completing ─► Done            (requeue: Completing ─► Queued | Delayed)
//!    ▲  ▲       │ ├─► Polling ─► (as InFlight)
//!    │  │       │ └─► AbortScheduled ─► Aborting ─► Completing | InEh
//!    │  └ Delayed     └─────────────────► InEh ─► Completing | Queued | Delayed
//!    └─ (refused at dispatch: InFlight ─► Queued | Delayed)
//! ```

/// Where a command is. `repr(u8)`: the variant is an explicit first byte, in the order of
/// [`StateKind`], so [`State::kind`] is one load rather than a decode of niches in the
/// variants' bools.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum State {
    /// In its device queue.
    Queued { aborted: bool },
    /// On the requeue list, or waiting for a delayed re-preparation.
    Delayed { aborted: bool },
    /// Sent: the transport owns it, its block timer runs.
    InFlight { aborted: bool },
    /// Timed out; the transport is asked to reap missed completions (a completion may still
    /// win the race).
    Polling { aborted: bool },
    /// Claimed by its timeout; the abort goes out after 10 ms.
    AbortScheduled { owned: bool },
    /// ABORT TASK sent (for an error-handler command: its escalation).
    Aborting { owned: bool },
    /// Answered or let go by the transport; the completion path decides what follows.
    Completing { aborted: bool },
    /// In the error handler.
    InEh {
        aborted: bool,
        owned: bool,
        /// This attempt timed out (the handler asks no REQUEST SENSE for it).
        timed_out: bool,
    },
    /// Completed upward (or, for an error-handler command, answered); its slot is freed.
    Done,
}

/// The states without their data, for the transition table (in the order of [`State`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum StateKind {
    Queued,
    Delayed,
    InFlight,
    Polling,
    AbortScheduled,
    Aborting,
    Completing,
    InEh,
    Done,
}

impl StateKind {
    pub const ALL: [StateKind; 9] = [
        Self::Queued,
        Self::Delayed,
        Self::InFlight,
        Self::Polling,
        Self::AbortScheduled,
        Self::Aborting,
        Self::Completing,
        Self::InEh,
        Self::Done,
    ];
}

/// Which states a state may become (besides itself, with other data).
pub const TRANSITIONS: &[(StateKind, &[StateKind])] = {
    use StateKind::*;
    &[
        // Dispatch, or rejected at dispatch (offline, dead, cancelled).
        (Queued, &[InFlight, Done]),
        // The requeue work or the delayed re-preparation puts it back in its queue.
        (Delayed, &[Queued]),
        // Answered; refused at dispatch (requeued, or on the requeue list); poll before
        // abort; claimed by its timeout (abort, or straight to the handler); an EH command
        // answered or escalated.
        (
            InFlight,
            &[
                Completing,
                Queued,
                Delayed,
                Polling,
                AbortScheduled,
                InEh,
                Aborting,
                Done,
            ],
        ),
        (Polling, &[Completing, AbortScheduled, InEh]),
        (AbortScheduled, &[Aborting, InEh]),
        // Abort answered: retry or finish, or the handler; an EH command's escalation ends.
        (Aborting, &[Completing, InEh, Done]),
        // Finished, requeued, re-prepared, or to the handler.
        (Completing, &[Done, Queued, Delayed, InEh]),
        // Flushed: finished, or retried.
        (InEh, &[Completing, Queued, Delayed]),
        (Done, &[]),
    ]
};

/// [`TRANSITIONS`] as one bit mask per state (bit `to as usize`), built at compile time so
/// that checking a transition costs one load.
const ALLOWED: [u16; StateKind::ALL.len()] = {
    let mut masks = [0u16; StateKind::ALL.len()];
    let mut row = 0;
    while row < TRANSITIONS.len() {
        let (from, tos) = TRANSITIONS[row];
        let mut index = 0;
        while index < tos.len() {
            masks[from as usize] |= 1 << tos[index] as usize;
            index += 1;
        }
        row += 1;
    }
    masks
};

impl State {
    #[inline]
    pub fn kind(self) -> StateKind {
        match self {
            Self::Queued { .. } => StateKind::Queued,
            Self::Delayed { .. } => StateKind::Delayed,
            Self::InFlight { .. } => StateKind::InFlight,
            Self::Polling { .. } => StateKind::Polling,
            Self::AbortScheduled { .. } => StateKind::AbortScheduled,
            Self::Aborting { .. } => StateKind::Aborting,
            Self::Completing { .. } => StateKind::Completing,
            Self::InEh { .. } => StateKind::InEh,
            Self::Done => StateKind::Done,
        }
    }

    /// The transport may still touch the command's buffers.
    #[inline]
    pub fn owned(self) -> bool {
        match self {
            Self::InFlight { .. } | Self::Polling { .. } => true,
            Self::AbortScheduled { owned } | Self::Aborting { owned } => owned,
            Self::InEh { owned, .. } => owned,
            Self::Queued { .. } | Self::Delayed { .. } | Self::Completing { .. } | Self::Done => {
                false
            }
        }
    }

    /// A request in this state counts in the busy counters (from dispatch until it is
    /// finished or requeued). Error-handler commands are never counted.
    #[inline]
    pub fn busy(self) -> bool {
        const IDLE: u16 = 1 << StateKind::Queued as usize
            | 1 << StateKind::Delayed as usize
            | 1 << StateKind::Done as usize;
        IDLE & (1 << self.kind() as usize) == 0
    }

    /// An abort was scheduled since the command was last prepared (SCSI_EH_ABORT_SCHEDULED;
    /// it survives retries and is cleared by a fresh preparation).
    pub fn aborted(self) -> bool {
        match self {
            Self::Queued { aborted }
            | Self::Delayed { aborted }
            | Self::InFlight { aborted }
            | Self::Polling { aborted }
            | Self::Completing { aborted }
            | Self::InEh { aborted, .. } => aborted,
            Self::AbortScheduled { .. } | Self::Aborting { .. } => true,
            Self::Done => false,
        }
    }

    /// The same state without the transport's ownership (a late completion, a reset that
    /// covered it, a revoke). States the transport cannot own are returned unchanged.
    pub fn released(self) -> State {
        match self {
            Self::AbortScheduled { .. } => Self::AbortScheduled { owned: false },
            Self::Aborting { .. } => Self::Aborting { owned: false },
            Self::InEh {
                aborted, timed_out, ..
            } => Self::InEh {
                aborted,
                owned: false,
                timed_out,
            },
            other => other,
        }
    }

    /// Panics when `self` may not become `to`: a kind change the table does not allow, the
    /// transport's ownership reappearing other than by a dispatch, or a command ending
    /// (Done) or waiting in a queue while the transport still owns it.
    ///
    /// The three rules are folded into bit tests on the states' kinds and ownership (a few
    /// instructions per transition, always on); a failure re-checks them one by one on a
    /// cold path to name the rule broken.
    #[inline]
    #[track_caller]
    pub fn check_transition(self, to: State) {
        let (from_kind, to_kind) = (self.kind(), to.kind());
        let (from_owned, to_owned) = (self.owned(), to.owned());
        let to_bit = 1u16 << to_kind as usize;
        let same = from_kind == to_kind;
        let allowed = same || ALLOWED[from_kind as usize] & to_bit != 0;
        let ownership_ok = !to_owned || from_owned || to_kind == StateKind::InFlight;
        let release_ok =
            !from_owned || to_owned || same || ANSWERED[from_kind as usize] & to_bit != 0;
        if !(allowed && ownership_ok && release_ok) {
            illegal_transition(self, to);
        }
    }
}

/// Per state kind, the kinds an owned command may become without being released first:
/// the transport's answer (completion, refusal, a completed abort) or the claim of a
/// timeout. `InFlight` and `Polling` may become anything the table allows; `Aborting`
/// only `Completing`.
const ANSWERED: [u16; StateKind::ALL.len()] = {
    let mut masks = [0u16; StateKind::ALL.len()];
    masks[StateKind::InFlight as usize] = u16::MAX;
    masks[StateKind::Polling as usize] = u16::MAX;
    masks[StateKind::Aborting as usize] = 1 << StateKind::Completing as usize;
    masks
};

/// The cold path of [`State::check_transition`]: panics naming the rule `from -> to` broke.
#[cold]
#[inline(never)]
#[track_caller]
fn illegal_transition(from: State, to: State) -> ! {
    let (from_kind, to_kind) = (from.kind(), to.kind());
    let allowed =
        from_kind == to_kind || ALLOWED[from_kind as usize] & (1 << to_kind as usize) != 0;
    assert!(allowed, "illegal command transition {from:?} -> {to:?}");
    assert!(
        !to.owned() || from.owned() || to_kind == StateKind::InFlight,
        "the transport's ownership came back without a dispatch: {from:?} -> {to:?}"
    );
    // Only the transport's answer (completion, refusal, a completed abort) or the claim
    // of a timeout moves an owned command on; anything else releases it first.
    let answered = matches!(
        (from_kind, to_kind),
        (StateKind::InFlight | StateKind::Polling, _)
            | (StateKind::Aborting, StateKind::Completing)
    );
    assert!(
        !from.owned() || to.owned() || from_kind == to_kind || answered,
        "{to:?} while the transport owns the command ({from:?})"
    );
    unreachable!("check_transition refused {from:?} -> {to:?} but no rule names it");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legal(from: StateKind, to: StateKind) -> bool {
        let in_table = TRANSITIONS
            .iter()
            .any(|(f, tos)| *f == from && tos.contains(&to));
        assert_eq!(
            in_table,
            ALLOWED[from as usize] & (1 << to as usize) != 0,
            "the masks are the table"
        );
        in_table
    }

    #[test]
    fn the_table_covers_every_state_and_has_the_edges_of_the_diagram() {
        use StateKind::*;
        for kind in StateKind::ALL {
            assert_eq!(
                TRANSITIONS.iter().filter(|(from, _)| *from == kind).count(),
                1,
                "{kind:?} has one row"
            );
        }
        let edges: Vec<(StateKind, StateKind)> = StateKind::ALL
            .iter()
            .flat_map(|from| StateKind::ALL.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| from != to && legal(*from, *to))
            .collect();
        assert_eq!(edges.len(), 2 + 1 + 8 + 3 + 2 + 3 + 4 + 3, "{edges:?}");
        assert!(legal(Queued, InFlight) && legal(InFlight, Completing));
        assert!(legal(InEh, Queued), "the flush retries");
        assert!(!legal(Done, Queued), "a completed command stays completed");
        assert!(
            !legal(Queued, InEh),
            "only a dispatched command enters the handler"
        );
        assert!(
            !legal(Delayed, InFlight),
            "a delayed requeue goes through the queue"
        );
        assert!(!legal(Completing, InFlight));
    }

    #[test]
    fn the_answered_masks_are_the_rule() {
        for from in StateKind::ALL {
            for to in StateKind::ALL {
                let rule = matches!(
                    (from, to),
                    (StateKind::InFlight | StateKind::Polling, _)
                        | (StateKind::Aborting, StateKind::Completing)
                );
                assert_eq!(ANSWERED[from as usize] & (1 << to as usize) != 0, rule);
            }
        }
    }

    #[test]
    #[should_panic(expected = "illegal command transition")]
    fn an_illegal_kind_change_panics() {
        State::Done.check_transition(State::Queued { aborted: false });
    }

    #[test]
    #[should_panic(expected = "ownership came back")]
    fn ownership_only_comes_with_a_dispatch() {
        let released = State::InEh {
            aborted: true,
            owned: false,
            timed_out: true,
        };
        released.check_transition(State::InEh {
            aborted: true,
            owned: true,
            timed_out: true,
        });
    }

    #[test]
    #[should_panic(expected = "while the transport owns")]
    fn nothing_owned_is_requeued() {
        State::InEh {
            aborted: false,
            owned: true,
            timed_out: false,
        }
        .check_transition(State::Queued { aborted: false });
    }

    #[test]
    fn derived_properties() {
        let in_flight = State::InFlight { aborted: false };
        assert!(in_flight.owned() && in_flight.busy() && !in_flight.aborted());
        let scheduled = State::AbortScheduled { owned: true };
        assert!(scheduled.aborted() && scheduled.busy());
        assert!(!scheduled.released().owned());
        let queued = State::Queued { aborted: true };
        assert!(!queued.busy() && !queued.owned() && queued.aborted());
        assert_eq!(queued.released(), queued);
        in_flight.check_transition(State::Completing { aborted: false });
        State::InEh {
            aborted: true,
            owned: true,
            timed_out: true,
        }
        .check_transition(State::InEh {
            aborted: true,
            owned: false,
            timed_out: true,
        });
    }
}
