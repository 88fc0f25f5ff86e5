//! [`Tracker`]: where one connection is in its request cycle, and the
//! deadline that follows from it.
//!
//! A connection is *waiting* (no request in flight, no byte of the next
//! one yet), *reading a head* (bytes arrived, the request head is not
//! complete) or *busy* (at least one response not finished). Waiting ends
//! at the idle deadline (the header deadline for a new connection),
//! reading a head at the header deadline; a busy connection has no
//! deadline. The transitions come from the connection's IO
//! ([`Tracker::bytes_received`]), the service ([`Tracker::request_started`])
//! and the end of each response body ([`RequestGuard`] dropped).
//!
//! HTTP/2 frames (pings, settings) count as the start of a request head,
//! so an idle HTTP/2 connection is closed after the header timeout.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The two timeouts a connection is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to send a complete request head, from connecting or from the
    /// first byte of a later request.
    pub header: Duration,
    /// Time a connection may wait between requests.
    pub idle: Duration,
}

/// Why a connection is to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A request head did not arrive in time: close at once.
    HeaderTimeout,
    /// Idle too long, or closed to make room: close gracefully (no
    /// request is in flight).
    Idle,
}

/// One connection's request cycle and deadline.
#[derive(Debug)]
pub struct Tracker {
    timeouts: Timeouts,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    /// Requests whose response has not finished.
    in_flight: usize,
    /// Bytes of a request head arrived while waiting.
    reading_head: bool,
    /// When the connection started waiting (connected, or last response finished).
    waiting_since: Instant,
    /// When the connection is to be closed; `None` while busy.
    deadline: Option<Instant>,
    /// Closed to make room for a new connection.
    evicted: bool,
    /// No request yet: the first head is due by the deadline set on accepting.
    fresh: bool,
}

impl State {
    fn waiting(&self) -> bool {
        self.in_flight == 0 && !self.reading_head
    }
}

impl Tracker {
    /// A just-accepted connection: waiting, with the header deadline.
    pub fn new(timeouts: Timeouts) -> Tracker {
        let now = Instant::now();
        Tracker {
            timeouts,
            state: Mutex::new(State {
                in_flight: 0,
                reading_head: false,
                waiting_since: now,
                deadline: Some(now + timeouts.header),
                evicted: false,
                fresh: true,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent under any panic (plain assignments).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: a waiting connection starts reading a request head
    /// and must complete it within the header timeout.
    pub fn bytes_received(&self) {
        let mut state = self.state();
        if !state.waiting() {
            return;
        }
        state.reading_head = true;
        if !state.fresh {
            state.deadline = Some(Instant::now() + self.timeouts.header);
        }
        drop(state);
        self.changed.notify_one();
    }

    /// A request head was parsed: the connection is busy until the
    /// returned guard (kept with the response body) is dropped.
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.state();
        state.in_flight += 1;
        state.fresh = false;
        state.reading_head = false;
        state.deadline = None;
        state.evicted = false;
        drop(state);
        self.changed.notify_one();
        RequestGuard { tracker: self.clone() }
    }

    fn request_finished(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight > 0 {
            return;
        }
        let now = Instant::now();
        state.reading_head = false;
        state.waiting_since = now;
        state.deadline = Some(now + self.timeouts.idle);
        drop(state);
        self.changed.notify_one();
    }

    /// Since when the connection has been waiting, if it is (and is not
    /// already being closed).
    pub fn waiting_since(&self) -> Option<Instant> {
        let state = self.state();
        (state.waiting() && !state.evicted).then_some(state.waiting_since)
    }

    /// Close the connection now if it is waiting; `false` when it is not.
    pub fn evict(&self) -> bool {
        let mut state = self.state();
        if !state.waiting() || state.evicted {
            return false;
        }
        state.evicted = true;
        drop(state);
        self.changed.notify_one();
        true
    }

    /// Resolves when the connection is to be closed, and why.
    pub async fn expired(&self) -> Expiry {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the state is read: no change is missed.
            changed.as_mut().enable();
            let (deadline, expiry) = {
                let state = self.state();
                if state.evicted {
                    return Expiry::Idle;
                }
                let expiry = if state.reading_head { Expiry::HeaderTimeout } else { Expiry::Idle };
                (state.deadline, expiry)
            };
            match deadline {
                Some(deadline) if deadline <= Instant::now() => return expiry,
                Some(deadline) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// Keeps a connection busy while a response is being sent.
#[derive(Debug)]
pub struct RequestGuard {
    tracker: Arc<Tracker>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.tracker.request_finished();
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use super::*;

    const TIMEOUTS: Timeouts = Timeouts { header: Duration::from_secs(10), idle: Duration::from_secs(75) };
    const NO_TIME: Timeouts = Timeouts { header: Duration::ZERO, idle: Duration::ZERO };

    fn deadline(tracker: &Tracker) -> Option<Instant> {
        tracker.state().deadline
    }

    /// `tracker`'s deadline lies `after` past some instant in `[from, now]`.
    fn due_after(tracker: &Tracker, from: Instant, after: Duration) -> bool {
        deadline(tracker).is_some_and(|d| d >= from + after && d <= Instant::now() + after)
    }

    #[test]
    fn deadlines_follow_the_request_cycle() {
        let start = Instant::now();
        let tracker = Arc::new(Tracker::new(TIMEOUTS));
        assert!(due_after(&tracker, start, TIMEOUTS.header), "a new connection must send a head soon");
        let first = deadline(&tracker);
        assert!(tracker.waiting_since().is_some());

        tracker.bytes_received();
        assert_eq!(deadline(&tracker), first, "bytes do not extend the first deadline");
        assert_eq!(tracker.waiting_since(), None);
        assert!(!tracker.evict(), "a connection sending a head is not idle");

        let guard = tracker.request_started();
        assert_eq!(deadline(&tracker), None, "a busy connection has no deadline");
        tracker.bytes_received();
        assert_eq!(deadline(&tracker), None, "a request body does not start a head");
        assert!(!tracker.evict(), "a busy connection is not idle");

        let finished = Instant::now();
        drop(guard);
        assert!(due_after(&tracker, finished, TIMEOUTS.idle));
        assert!(tracker.waiting_since().is_some_and(|since| since >= finished));

        let next = Instant::now();
        tracker.bytes_received();
        assert!(due_after(&tracker, next, TIMEOUTS.header), "the next head has the header timeout");
    }

    #[tokio::test]
    async fn expiry_says_why() {
        let tracker = Arc::new(Tracker::new(NO_TIME));
        assert_eq!(tracker.expired().await, Expiry::Idle, "nothing sent: idle");
        tracker.bytes_received();
        assert_eq!(tracker.expired().await, Expiry::HeaderTimeout);

        let first = tracker.request_started();
        let second = tracker.request_started();
        drop(first);
        let expired = tracker.expired();
        tokio::pin!(expired);
        assert!(futures::poll!(expired.as_mut()).is_pending(), "a pipelined request is still in flight");
        drop(second);
        assert_eq!(futures::poll!(expired.as_mut()), Poll::Ready(Expiry::Idle), "woken when the last one ends");
    }

    #[tokio::test]
    async fn eviction_wakes_the_connection() {
        let tracker = Arc::new(Tracker::new(TIMEOUTS));
        drop(tracker.request_started());
        let expired = tracker.expired();
        tokio::pin!(expired);
        assert!(futures::poll!(expired.as_mut()).is_pending());
        assert!(tracker.evict());
        assert!(!tracker.evict(), "evicted once");
        assert_eq!(tracker.waiting_since(), None);
        assert_eq!(futures::poll!(expired.as_mut()), Poll::Ready(Expiry::Idle));
    }
}
