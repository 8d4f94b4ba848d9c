//! The callers' commands on their way in and their outcomes on their way out: one bounded
//! table of reply slots shared by the engine and every handle, in place of a channel
//! message and a oneshot reply (an allocation) per command.
//!
//! ```text
//!  Disk ── submit: a free slot + the queue, one lock ──► engine (woken only if asleep)
//!  Disk ◄── Reply polls its slot ◄── answer: the outcome into the slot, the caller woken
//! ```
//!
//! Owns the bound ([`SLOTS`] commands between a caller and its answer, queued or in the
//! core; a caller that finds no free slot waits for one), exactly one answer per slot, and
//! the answer every waiting caller gets when the engine stops or is dropped
//! ([`IoError::Stopped`]). A caller that stops waiting (its future dropped) leaves its slot
//! to the engine's answer, which frees it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;
use unjam_core::topology::DeviceId;

use crate::command::{Command, CommandOutcome, IoError};

/// Commands between a caller and its answer, per initiator.
pub(crate) const SLOTS: usize = 4096;

/// Where a command goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Device(DeviceId),
    Mpath(unjam_multipath::MpathId),
}

/// A command for the engine and the slot its answer goes to.
#[derive(Debug)]
pub(crate) struct Submission {
    pub target: Target,
    pub command: Command,
    pub reply: ReplyTo,
}

/// The slot a command's answer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    index: u32,
    generation: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Free,
    /// The command runs (the caller's waker in `waker` once it polled).
    Waiting,
    /// The outcome is in `answer`.
    Answered,
    /// The caller stopped waiting; the answer frees the slot.
    Abandoned,
}

/// One slot. The outcome stays in place (`answer`): a phase change moves nothing.
#[derive(Debug)]
struct Slot {
    generation: u32,
    phase: Phase,
    waker: Option<Waker>,
    answer: Option<Result<CommandOutcome, IoError>>,
}

#[derive(Debug, Default)]
struct State {
    /// Submissions the engine has not taken yet (each holds a slot: at most [`SLOTS`]).
    queue: VecDeque<Submission>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The engine's waker while it waits for submissions.
    engine: Option<Waker>,
    /// The engine stopped: submissions are refused.
    closed: bool,
    /// Callers waiting for a free slot (each free slot wakes one).
    waiting: usize,
    /// A handle sent the engine a message on its channel, or dropped.
    told: bool,
}

impl State {
    fn slot(&mut self, to: ReplyTo) -> &mut Slot {
        let slot = &mut self.slots[to.index as usize];
        assert_eq!(
            slot.generation, to.generation,
            "a reply slot answered twice"
        );
        slot
    }

    /// Frees a slot; true when a caller waiting for one must be woken.
    fn release(&mut self, to: ReplyTo) -> bool {
        let slot = self.slot(to);
        slot.phase = Phase::Free;
        slot.answer = None;
        self.free.push(to.index);
        if self.waiting > 0 {
            self.waiting -= 1;
            return true;
        }
        false
    }
}

/// The slots and the queue, shared by the engine and its handles.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    state: Mutex<State>,
    /// The last [`Mailbox::take`] emptied the queue (reporting any message) and registered
    /// the engine's waker, and no caller has submitted or told since: the engine's next take
    /// would find nothing ([`Mailbox::is_idle`]). Written under the lock.
    idle: AtomicBool,
    /// A slot became free (or the engine stopped).
    room: Notify,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `command` (taking it) if a slot is free: `Ok(None)` leaves it where it is,
    /// every slot being taken.
    pub fn try_submit<T>(
        &self,
        target: Target,
        command: &mut Option<Command>,
        take: Take<T>,
    ) -> Result<Option<Reply<'_, T>>, IoError> {
        self.try_submit_waking(target, command, take, None)
    }

    /// [`Mailbox::try_submit`], with the waker of the task that polls the [`Reply`] next,
    /// in this same poll: it goes into the slot under the submission's lock, and the
    /// reply's first poll returns `Pending` without taking the lock again (the answer wakes
    /// that waker, or already did).
    pub fn try_submit_waking<T>(
        &self,
        target: Target,
        command: &mut Option<Command>,
        take: Take<T>,
        waker: Option<&Waker>,
    ) -> Result<Option<Reply<'_, T>>, IoError> {
        let mut state = self.lock();
        if state.closed {
            return Err(IoError::Stopped);
        }
        let index = match state.free.pop() {
            Some(index) => index,
            None if state.slots.len() < SLOTS => {
                state.slots.push(Slot {
                    generation: 0,
                    phase: Phase::Free,
                    waker: None,
                    answer: None,
                });
                (state.slots.len() - 1) as u32
            }
            None => {
                state.waiting += 1;
                return Ok(None);
            }
        };
        let Some(command) = command.take() else {
            state.free.push(index);
            return Err(IoError::Invalid("no command to submit".into()));
        };
        let slot = &mut state.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.phase = Phase::Waiting;
        if let Some(waker) = waker {
            slot.waker = Some(waker.clone());
        }
        let reply = ReplyTo {
            index,
            generation: slot.generation,
        };
        state.queue.push_back(Submission {
            target,
            command,
            reply,
        });
        self.idle.store(false, Ordering::Release);
        let engine = state.engine.take();
        drop(state);
        if let Some(engine) = engine {
            engine.wake();
        }
        Ok(Some(Reply {
            mailbox: self,
            to: reply,
            done: false,
            registered: waker.is_some(),
            take,
        }))
    }

    /// Queues `command` (taking it), waiting while every slot is taken.
    pub async fn submit<T>(
        &self,
        target: Target,
        command: &mut Option<Command>,
        take: Take<T>,
    ) -> Result<Reply<'_, T>, IoError> {
        loop {
            // Enabled before the attempt: a slot freed (or a stop) after it is not missed.
            let mut room = std::pin::pin!(self.room.notified());
            room.as_mut().enable();
            if let Some(reply) = self.try_submit(target, command, take)? {
                return Ok(reply);
            }
            room.await;
        }
    }

    /// A handle sent the engine a message on its channel (or dropped): wakes the engine,
    /// whose next [`Mailbox::take`] says so.
    pub fn note_message(&self) {
        let mut state = self.lock();
        state.told = true;
        self.idle.store(false, Ordering::Release);
        let engine = state.engine.take();
        drop(state);
        if let Some(engine) = engine {
            engine.wake();
        }
    }

    /// The engine takes up to `max` submissions into `into` (empty): whether more wait, and
    /// whether a handle told of a message since the last take. With none left, the
    /// engine's waker stays registered for the next.
    pub fn take(&self, into: &mut VecDeque<Submission>, max: usize, waker: &Waker) -> (bool, bool) {
        debug_assert!(into.is_empty());
        let mut state = self.lock();
        let told = std::mem::take(&mut state.told);
        if state.queue.len() <= max {
            std::mem::swap(&mut state.queue, into);
            if !state
                .engine
                .as_ref()
                .is_some_and(|engine| engine.will_wake(waker))
            {
                state.engine = Some(waker.clone());
            }
            self.idle.store(true, Ordering::Release);
            return (false, told);
        }
        into.extend(state.queue.drain(..max));
        (true, told)
    }

    /// Nothing to take: the last take emptied the queue and registered the engine's waker
    /// (the one it was given), and no caller submitted or told since. A
    /// caller that does so after this answer wakes that waker.
    pub fn is_idle(&self) -> bool {
        self.idle.load(Ordering::Acquire)
    }

    /// Answers a caller (once per submission).
    pub fn answer(&self, to: ReplyTo, result: Result<CommandOutcome, IoError>) {
        self.answer_with(to, move |answer| *answer = Some(result));
    }

    /// Answers a caller (once per submission), `fill` writing the answer in place into the
    /// slot's (empty) answer under the lock; a caller that stopped waiting frees its slot
    /// and `fill` is not called.
    pub fn answer_with(
        &self,
        to: ReplyTo,
        fill: impl FnOnce(&mut Option<Result<CommandOutcome, IoError>>),
    ) {
        let mut state = self.lock();
        let slot = state.slot(to);
        match slot.phase {
            Phase::Waiting => {
                slot.phase = Phase::Answered;
                fill(&mut slot.answer);
                assert!(slot.answer.is_some(), "a reply slot answered with nothing");
                let waker = slot.waker.take();
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            Phase::Abandoned => {
                let wake = state.release(to);
                drop(state);
                if wake {
                    self.room.notify_one();
                }
            }
            Phase::Free | Phase::Answered => panic!("a reply slot answered twice"),
        }
    }

    /// The engine stopped (or was dropped): submissions are refused from now on, and every
    /// caller still waiting (queued or in flight) is answered [`IoError::Stopped`].
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.engine = None;
        self.idle.store(false, Ordering::Release);
        state.queue.clear();
        let mut wakers = Vec::new();
        let mut freed = Vec::new();
        for (index, slot) in state.slots.iter_mut().enumerate() {
            match slot.phase {
                Phase::Waiting => {
                    slot.phase = Phase::Answered;
                    slot.answer = Some(Err(IoError::Stopped));
                    wakers.extend(slot.waker.take());
                }
                Phase::Abandoned => {
                    slot.phase = Phase::Free;
                    freed.push(index as u32);
                }
                Phase::Free | Phase::Answered => {}
            }
        }
        state.free.extend(freed);
        drop(state);
        for waker in wakers {
            waker.wake();
        }
        self.room.notify_waiters();
    }
}

/// What a caller takes from its answer, in place in the slot: the whole outcome
/// ([`whole`]), or only what a read or write returns ([`data`], [`nothing`]) without
/// moving the outcome out.
pub(crate) type Take<T> = fn(&mut Result<CommandOutcome, IoError>) -> Result<T, IoError>;

/// The whole outcome.
pub(crate) fn whole(
    answer: &mut Result<CommandOutcome, IoError>,
) -> Result<CommandOutcome, IoError> {
    std::mem::replace(answer, Err(IoError::Stopped))
}

/// A read's data, for a good completion; else the failure.
pub(crate) fn data(answer: &mut Result<CommandOutcome, IoError>) -> Result<bytes::Bytes, IoError> {
    match answer {
        Ok(outcome) if outcome.is_ok() => Ok(std::mem::take(&mut outcome.data)),
        _ => whole(answer)?.into_result().map(|outcome| outcome.data),
    }
}

/// Nothing but whether the command completed good.
pub(crate) fn nothing(answer: &mut Result<CommandOutcome, IoError>) -> Result<(), IoError> {
    match answer {
        Ok(outcome) if outcome.is_ok() => Ok(()),
        _ => whole(answer)?.into_result().map(|_| ()),
    }
}

/// A caller's wait for its answer. Dropping it stops waiting; the command still runs to
/// its end in the engine (as a dropped oneshot receiver would).
#[derive(Debug)]
pub(crate) struct Reply<'a, T> {
    mailbox: &'a Mailbox,
    to: ReplyTo,
    done: bool,
    /// The slot already holds the waker of the poll that submitted (and this future is
    /// polled first in that same poll, `EngineHandle::execute_with`).
    registered: bool,
    take: Take<T>,
}

impl<T> Future for Reply<'_, T> {
    type Output = Result<T, IoError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "a reply polled after it was answered");
        if std::mem::take(&mut self.registered) {
            return Poll::Pending;
        }
        let to = self.to;
        let mut state = self.mailbox.lock();
        let slot = state.slot(to);
        match (slot.phase, &mut slot.answer) {
            (Phase::Waiting, _) => {
                if !slot
                    .waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    slot.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            (Phase::Answered, Some(answer)) => {
                let result = (self.take)(answer);
                let wake = state.release(to);
                drop(state);
                if wake {
                    self.mailbox.room.notify_one();
                }
                self.done = true;
                Poll::Ready(result)
            }
            _ => panic!("a reply slot lost its caller"),
        }
    }
}

impl<T> Drop for Reply<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.mailbox.lock();
        let slot = state.slot(self.to);
        match slot.phase {
            Phase::Waiting => {
                slot.phase = Phase::Abandoned;
                slot.waker = None;
            }
            Phase::Answered => {
                if state.release(self.to) {
                    drop(state);
                    self.mailbox.room.notify_one();
                }
            }
            Phase::Free | Phase::Abandoned => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Transfer;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn command() -> Command {
        Command::passthrough(&[0; 6], Transfer::None).unwrap()
    }

    /// Takes every slot with a command for device 0.
    fn fill(mailbox: &Mailbox) -> Vec<Reply<'_, CommandOutcome>> {
        (0..SLOTS)
            .map(|_| {
                mailbox
                    .try_submit(Target::Device(DeviceId(0)), &mut Some(command()), whole)
                    .unwrap()
                    .unwrap()
            })
            .collect()
    }

    fn outcome() -> CommandOutcome {
        CommandOutcome {
            status: unjam_scsi::BlkStatus::Ok,
            result: unjam_scsi::ScsiResult::OK,
            sense: Default::default(),
            attempts: 1,
            counted_retries: 0,
            resid: 0,
            data: bytes::Bytes::new(),
            transport_error: None,
        }
    }

    #[test]
    fn an_answer_reaches_its_caller_once_and_frees_the_slot() {
        let mailbox = Mailbox::default();
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut reply = mailbox
            .try_submit(Target::Device(DeviceId(0)), &mut Some(command()), whole)
            .unwrap()
            .unwrap();
        let engine_waker = Waker::noop();
        let mut taken = VecDeque::new();
        assert_eq!(mailbox.take(&mut taken, 8, engine_waker), (false, false));
        assert_eq!(taken.len(), 1);
        assert!(Pin::new(&mut reply).poll(&mut cx).is_pending());
        mailbox.answer(taken[0].reply, Ok(outcome()));
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        match Pin::new(&mut reply).poll(&mut cx) {
            Poll::Ready(Ok(answer)) => assert_eq!(answer, outcome()),
            other => panic!("{other:?}"),
        }
        drop(reply);
        assert_eq!(mailbox.lock().free, vec![0], "the slot is free again");
    }

    #[test]
    fn a_waker_given_at_submission_is_woken_by_the_answer_and_by_a_stop() {
        for stop in [false, true] {
            let mailbox = Mailbox::default();
            let count = Arc::new(Count(0.into()));
            let waker = Waker::from(Arc::clone(&count));
            let mut cx = Context::from_waker(&waker);
            let target = Target::Device(DeviceId(0));
            let mut reply = mailbox
                .try_submit_waking(target, &mut Some(command()), whole, Some(&waker))
                .unwrap()
                .unwrap();
            assert!(Pin::new(&mut reply).poll(&mut cx).is_pending());
            let mut taken = VecDeque::new();
            mailbox.take(&mut taken, 8, Waker::noop());
            if stop {
                mailbox.close();
            } else {
                mailbox.answer(taken[0].reply, Ok(outcome()));
            }
            assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
            match Pin::new(&mut reply).poll(&mut cx) {
                Poll::Ready(Ok(answer)) => assert!(!stop && answer == outcome()),
                Poll::Ready(Err(IoError::Stopped)) => assert!(stop),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn idle_only_while_nothing_came_since_a_take_that_emptied_the_queue() {
        let mailbox = Mailbox::default();
        let mut taken = VecDeque::new();
        assert!(!mailbox.is_idle(), "not before the first take");
        mailbox.take(&mut taken, 8, Waker::noop());
        assert!(mailbox.is_idle());
        let target = Target::Device(DeviceId(0));
        let reply = mailbox.try_submit(target, &mut Some(command()), whole);
        assert!(!mailbox.is_idle(), "a submission");
        mailbox.take(&mut taken, 8, Waker::noop());
        assert_eq!(taken.len(), 1);
        assert!(mailbox.is_idle(), "that take emptied the queue");
        mailbox.note_message();
        assert!(!mailbox.is_idle(), "a message");
        let mut none = VecDeque::new();
        assert_eq!(mailbox.take(&mut none, 8, Waker::noop()), (false, true));
        assert!(mailbox.is_idle(), "that take reported the message");
        let replies: Vec<_> = (0..3)
            .map(|_| mailbox.try_submit(target, &mut Some(command()), whole))
            .collect();
        assert_eq!(mailbox.take(&mut none, 2, Waker::noop()), (true, false));
        assert!(!mailbox.is_idle(), "one is left");
        drop(replies);
        mailbox.answer(taken[0].reply, Ok(outcome()));
        drop(reply);
    }

    #[test]
    fn a_dropped_caller_leaves_the_slot_to_the_answer() {
        let mailbox = Mailbox::default();
        let reply = mailbox
            .try_submit(Target::Device(DeviceId(0)), &mut Some(command()), whole)
            .unwrap()
            .unwrap();
        let mut taken = VecDeque::new();
        mailbox.take(&mut taken, 8, Waker::noop());
        drop(reply);
        assert!(mailbox.lock().free.is_empty(), "the command still runs");
        mailbox.answer(taken[0].reply, Ok(outcome()));
        assert_eq!(mailbox.lock().free, vec![0]);
    }

    #[test]
    fn a_caller_without_a_free_slot_waits_for_one() {
        let mailbox = Mailbox::default();
        let mut replies = fill(&mailbox);
        let mut taken = VecDeque::new();
        mailbox.take(&mut taken, SLOTS, Waker::noop());
        let mut command = Some(command());
        let mut waiting =
            std::pin::pin!(mailbox.submit(Target::Device(DeviceId(1)), &mut command, whole));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        mailbox.answer(taken[0].reply, Ok(outcome()));
        assert!(Pin::new(&mut replies[0]).poll(&mut cx).is_ready());
        assert!(matches!(waiting.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
        let mut next = VecDeque::new();
        mailbox.take(&mut next, SLOTS, Waker::noop());
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].target, Target::Device(DeviceId(1)));
    }

    #[test]
    fn the_slots_are_bounded_and_a_stop_answers_every_caller() {
        let mailbox = Mailbox::default();
        let replies = fill(&mailbox);
        let mut waiting = Some(command());
        assert!(matches!(
            mailbox.try_submit(Target::Device(DeviceId(0)), &mut waiting, whole),
            Ok(None)
        ));
        assert!(waiting.is_some(), "the command stays with its caller");
        mailbox.close();
        let mut cx = Context::from_waker(Waker::noop());
        for mut reply in replies {
            assert!(matches!(
                Pin::new(&mut reply).poll(&mut cx),
                Poll::Ready(Err(IoError::Stopped))
            ));
        }
        assert!(matches!(
            mailbox.try_submit(Target::Device(DeviceId(0)), &mut Some(command()), whole),
            Err(IoError::Stopped)
        ));
    }
}
