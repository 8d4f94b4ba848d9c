//! The bounded queue from a client's handles to its driver: a mutex-guarded deque the driver
//! empties in one swap, and the driver's waker, taken by the first command after the driver
//! went to sleep. A command costs one short lock on each side and at most one wake-up; a
//! batch of commands sent while the driver runs costs none. (tokio's bounded `mpsc` takes a
//! semaphore permit per command, released under a lock, and re-polls its list twice per
//! empty receive.)
//!
//! Bounded: senders wait while `capacity` commands are queued; the driver holds at most one
//! swapped-out batch besides, so at most twice `capacity` commands exist between callers
//! and the session. The queue closes when the last handle is dropped; the driver sees the
//! end after the commands still queued.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    /// The driver's waker while it waits for commands.
    receiver: Option<Waker>,
    /// Live [`Sender`]s.
    senders: usize,
    /// The receiver is gone: sends fail.
    closed: bool,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Signalled when a full queue is emptied.
    space: Notify,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A bounded queue of `capacity` (at least 1).
pub(crate) fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            receiver: None,
            senders: 1,
            closed: false,
        }),
        capacity: capacity.max(1),
        space: Notify::new(),
    });
    let receiver = Receiver {
        shared: Arc::clone(&shared),
        batch: VecDeque::new(),
    };
    (Sender { shared }, receiver)
}

/// A client handle's end.
#[derive(Debug)]
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.receiver.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Sender<T> {
    /// Queues `item`, waiting while the queue is full; gives it back if the driver is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        let mut item = Some(item);
        loop {
            if let Some(result) = self.try_push(&mut item) {
                return result;
            }
            let space = self.shared.space.notified();
            tokio::pin!(space);
            // Registered before the second look, so an emptying in between is not missed.
            space.as_mut().enable();
            if let Some(result) = self.try_push(&mut item) {
                return result;
            }
            space.await;
        }
    }

    /// Queues the item (and wakes the driver if it sleeps), or gives it back when the
    /// driver is gone; `None` (the item left in place) while the queue is full.
    fn try_push(&self, slot: &mut Option<T>) -> Option<Result<(), T>> {
        let mut state = self.shared.lock();
        if state.items.len() >= self.shared.capacity && !state.closed {
            return None;
        }
        let item = slot.take()?;
        if state.closed {
            return Some(Err(item));
        }
        state.items.push_back(item);
        let waker = state.receiver.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Some(Ok(()))
    }
}

/// The driver's end.
#[derive(Debug)]
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Commands taken from the queue in one swap, not yet handed out.
    batch: VecDeque<T>,
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.items.clear();
        drop(state);
        self.shared.space.notify_waiters();
    }
}

impl<T> Receiver<T> {
    /// The next command; `Ready(None)` once every handle is dropped and the queue is empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(item) = self.batch.pop_front() {
            return Poll::Ready(Some(item));
        }
        let mut state = self.shared.lock();
        if state.items.is_empty() {
            if state.senders == 0 {
                return Poll::Ready(None);
            }
            match &state.receiver {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.receiver = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        let was_full = state.items.len() >= self.shared.capacity;
        std::mem::swap(&mut state.items, &mut self.batch);
        drop(state);
        if was_full {
            self.shared.space.notify_waiters();
        }
        Poll::Ready(self.batch.pop_front())
    }

    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::queue;

    fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_full_queue_holds_senders_until_the_driver_takes_a_batch() {
        let (sender, mut receiver) = queue::<u32>(2);
        assert!(poll_once(pin!(sender.send(1))).is_ready());
        assert!(poll_once(pin!(sender.send(2))).is_ready());
        let mut third = pin!(sender.send(3));
        assert!(poll_once(third.as_mut()).is_pending(), "bounded at 2");
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(poll_once(third.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some(2)));
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some(3)));
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Pending);
    }

    #[test]
    fn the_driver_sees_every_command_then_the_end_when_the_last_handle_goes() {
        let (sender, mut receiver) = queue::<u32>(4);
        let clone = sender.clone();
        assert!(poll_once(pin!(clone.send(7))).is_ready());
        drop(sender);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some(7)));
        assert_eq!(
            receiver.poll_recv(&mut cx),
            Poll::Pending,
            "a handle is left"
        );
        drop(clone);
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn sends_fail_once_the_driver_is_gone() {
        let (sender, receiver) = queue::<u32>(1);
        assert!(poll_once(pin!(sender.send(1))).is_ready());
        let mut waiting = pin!(sender.send(2));
        assert!(poll_once(waiting.as_mut()).is_pending());
        drop(receiver);
        assert_eq!(poll_once(waiting.as_mut()), Poll::Ready(Err(2)));
        assert_eq!(poll_once(pin!(sender.send(3))), Poll::Ready(Err(3)));
    }
}
