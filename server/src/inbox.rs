//! [`Inbox`]: one socket's events, taken one at a time in arrival order.
//!
//! Handled as tasks of their own, two events of one socket would run concurrently on a
//! multi-thread runtime and finish in any order. But socketioxide calls a socket's event
//! handler synchronously, on the socket's read path. Pushing into an [`Inbox`] there
//! records the arrival order; the first push to find the inbox idle starts its drainer,
//! one task that handles every queued event in order; the other pushes only queue. An
//! idle inbox holds no task and no allocation.

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard, PoisonError},
};

use tokio::sync::Notify;

/// A bounded FIFO with a single drainer at a time.
#[derive(Debug)]
pub(crate) struct Inbox<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Woken when the drainer takes an item: for pushers waiting for room.
    room: Notify,
}

#[derive(Debug)]
struct State<T> {
    queue: VecDeque<T>,
    draining: bool,
}

/// What [`Inbox::push`] asks of its caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// The inbox was idle: the caller is now its drainer and must call [`Inbox::next`]
    /// until it returns `None`.
    Drain,
    /// A drainer is already running and will take the item.
    Queued,
}

impl<T> Inbox<T> {
    /// An empty inbox holding at most `capacity` waiting items.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                draining: false,
            }),
            capacity,
            room: Notify::new(),
        }
    }

    /// Queues `item`, or gives it back when `capacity` items are already waiting.
    pub(crate) fn push(&self, item: T) -> Result<Pushed, T> {
        let mut state = self.lock();
        if state.queue.len() >= self.capacity {
            return Err(item);
        }
        state.queue.push_back(item);
        if std::mem::replace(&mut state.draining, true) {
            Ok(Pushed::Queued)
        } else {
            Ok(Pushed::Drain)
        }
    }

    /// Queues the item `make` builds from `args`, waiting for room instead of giving up
    /// (back-pressure for a producer that must not drop what it holds). `make` runs only
    /// once there is room, so what it starts (a store write) never starts for an item
    /// that would then be refused.
    pub(crate) async fn push_when_room<A>(&self, args: A, make: impl FnOnce(A) -> T) -> Pushed {
        let mut held = Some((args, make));
        loop {
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            // Registered before looking, so a drain between the look and the wait wakes it.
            room.as_mut().enable();
            {
                let mut state = self.lock();
                if state.queue.len() < self.capacity
                    && let Some((args, make)) = held.take()
                {
                    state.queue.push_back(make(args));
                    return if std::mem::replace(&mut state.draining, true) {
                        Pushed::Queued
                    } else {
                        Pushed::Drain
                    };
                }
            }
            room.await;
        }
    }

    /// For the drainer: the next item, or `None` once the queue is empty, at which point
    /// the inbox is idle again and the next [`push`](Self::push) elects a new drainer.
    pub(crate) fn next(&self) -> Option<T> {
        let mut state = self.lock();
        let was_full = state.queue.len() >= self.capacity;
        let item = state.queue.pop_front();
        if was_full {
            self.room.notify_one();
        }
        if item.is_none() {
            state.draining = false;
            // Give back what a burst allocated: most sockets are idle most of the time.
            state.queue = VecDeque::new();
        }
        item
    }

    /// For a drainer that stops early (its task panicked or was cancelled): lets the next
    /// push elect a new drainer instead of leaving the socket stuck.
    pub(crate) fn abandon(&self) {
        self.lock().draining = false;
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state is consistent after every statement, so a panic elsewhere while the
        // lock was held leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Calls [`Inbox::abandon`] when dropped before [`DrainGuard::finish`].
pub(crate) struct DrainGuard<'a, T> {
    inbox: &'a Inbox<T>,
    finished: bool,
}

impl<'a, T> DrainGuard<'a, T> {
    /// Guards a drainer of `inbox`.
    pub(crate) fn new(inbox: &'a Inbox<T>) -> Self {
        Self {
            inbox,
            finished: false,
        }
    }

    /// The drainer saw `next` return `None`: the inbox is already idle.
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }
}

impl<T> Drop for DrainGuard<'_, T> {
    fn drop(&mut self) {
        if !self.finished {
            self.inbox.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_first_push_elects_the_drainer_and_order_is_kept() {
        let inbox = Inbox::new(8);
        assert_eq!(inbox.push(1), Ok(Pushed::Drain));
        assert_eq!(inbox.push(2), Ok(Pushed::Queued));
        assert_eq!(inbox.next(), Some(1));
        assert_eq!(inbox.push(3), Ok(Pushed::Queued));
        assert_eq!(inbox.next(), Some(2));
        assert_eq!(inbox.next(), Some(3));
        assert_eq!(inbox.next(), None);
        assert_eq!(inbox.push(4), Ok(Pushed::Drain), "idle again after None");
    }

    #[test]
    fn a_full_inbox_gives_the_item_back() {
        let inbox = Inbox::new(2);
        inbox.push('a').unwrap();
        inbox.push('b').unwrap();
        assert_eq!(inbox.push('c'), Err('c'));
        assert_eq!(inbox.next(), Some('a'));
        assert_eq!(inbox.push('c'), Ok(Pushed::Queued));
    }

    #[tokio::test]
    async fn a_pusher_waits_for_room_and_gets_it_when_the_drainer_takes_one() {
        let inbox = Arc::new(Inbox::new(1));
        assert_eq!(inbox.push(1), Ok(Pushed::Drain));
        let waiting = tokio::spawn({
            let inbox = inbox.clone();
            async move { inbox.push_when_room(2, |n| n).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room yet");
        assert_eq!(inbox.next(), Some(1));
        assert_eq!(waiting.await.unwrap(), Pushed::Queued);
        assert_eq!(inbox.next(), Some(2));
    }

    #[test]
    fn an_abandoned_drain_does_not_wedge_the_inbox() {
        let inbox = Inbox::new(4);
        assert_eq!(inbox.push(1), Ok(Pushed::Drain));
        {
            let _guard = DrainGuard::new(&inbox);
            assert_eq!(inbox.next(), Some(1));
            // dropped without finish(), as on a panic
        }
        assert_eq!(inbox.push(2), Ok(Pushed::Drain));
    }

    /// Many threads push while drainers come and go: every item is taken exactly once,
    /// in push order per pusher.
    #[test]
    fn concurrent_pushes_are_drained_once_in_order() {
        const PUSHERS: usize = 4;
        const EACH: usize = 20_000;
        let inbox = Arc::new(Inbox::new(usize::MAX));
        let taken = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let (inbox, taken) = (inbox.clone(), taken.clone());
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        if inbox.push((p, i)).unwrap() == Pushed::Drain {
                            let guard = DrainGuard::new(&*inbox);
                            while let Some(item) = inbox.next() {
                                taken.lock().unwrap().push(item);
                            }
                            guard.finish();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let taken = taken.lock().unwrap();
        assert_eq!(taken.len(), PUSHERS * EACH);
        for p in 0..PUSHERS {
            let mine: Vec<usize> = taken
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(mine, (0..EACH).collect::<Vec<_>>(), "pusher {p}");
        }
    }
}
