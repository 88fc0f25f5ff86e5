//! [`queue`]: the frames waiting for one subscriber's socket, bounded in
//! events and in bytes.
//!
//! A frame holds its share of the subscriber's byte budget from the moment
//! it is queued until the writer has sent it (or drops it), so the frames
//! of a subscriber in memory never exceed the budget, or one frame when a
//! single frame is larger. Every queued byte also counts in the node-wide
//! gauge [`Firehose::queued_bytes`](super::Firehose::queued_bytes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// What the writer is told to send.
pub enum Out {
    /// A frame, holding its share of the budget.
    Frame(Queued),
    /// Send this error frame, then close (not counted: tiny, and last).
    Fatal(Bytes),
}

/// A queued frame. Dropping it gives its bytes back.
pub struct Queued {
    bytes: Bytes,
    _room: OwnedSemaphorePermit,
    gauge: Arc<AtomicUsize>,
}

impl Queued {
    /// The frame.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.gauge.fetch_sub(self.bytes.len(), Ordering::AcqRel);
    }
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No room now (live events do not wait): the subscriber is too slow.
    Full,
    /// The connection is gone.
    Closed,
}

/// The feeding end of a subscriber's queue.
pub struct QueueSender {
    frames: mpsc::Sender<Out>,
    room: Arc<Semaphore>,
    budget: u32,
    gauge: Arc<AtomicUsize>,
}

/// A queue of at most `events` frames and `bytes` bytes (at least one
/// frame of any size), counting into `gauge`.
pub fn queue(events: usize, bytes: usize, gauge: Arc<AtomicUsize>) -> (QueueSender, mpsc::Receiver<Out>) {
    let budget = u32::try_from(bytes).unwrap_or(u32::MAX).max(1);
    let (frames, receiver) = mpsc::channel(events.max(1));
    let room = Arc::new(Semaphore::new(budget as usize));
    (QueueSender { frames, room, budget, gauge }, receiver)
}

impl QueueSender {
    /// The share of the budget `frame` holds: its size, or the whole budget
    /// for a larger frame (which then waits for an empty queue).
    fn share(&self, frame: &Bytes) -> u32 {
        u32::try_from(frame.len()).unwrap_or(u32::MAX).min(self.budget)
    }

    fn wrap(&self, bytes: Bytes, room: OwnedSemaphorePermit) -> Out {
        self.gauge.fetch_add(bytes.len(), Ordering::AcqRel);
        Out::Frame(Queued { bytes, _room: room, gauge: self.gauge.clone() })
    }

    /// Queue `frame`, waiting for room (replay: the client sets the pace).
    pub async fn send(&self, frame: Bytes) -> Result<(), Refused> {
        let room = self.room.clone().acquire_many_owned(self.share(&frame)).await.map_err(|_| Refused::Closed)?;
        let out = self.wrap(frame, room);
        self.frames.send(out).await.map_err(|_| Refused::Closed)
    }

    /// Queue `frame` if there is room now (live events never wait).
    pub fn try_send(&self, frame: Bytes) -> Result<(), Refused> {
        let room = match self.room.clone().try_acquire_many_owned(self.share(&frame)) {
            Ok(room) => room,
            Err(tokio::sync::TryAcquireError::NoPermits) => return Err(Refused::Full),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(Refused::Closed),
        };
        let out = self.wrap(frame, room);
        match self.frames.try_send(out) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Refused::Full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Refused::Closed),
        }
    }

    /// Queue the error frame that ends the stream, waiting for a free slot.
    pub async fn fatal(&self, frame: Bytes) {
        // The connection may be gone: nothing to tell then.
        let _ = self.frames.send(Out::Fatal(frame)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_in_bytes_and_given_back() {
        let gauge = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = queue(100, 1000, gauge.clone());
        tx.try_send(Bytes::from(vec![0; 600])).expect("fits");
        assert_eq!(tx.try_send(Bytes::from(vec![0; 600])), Err(Refused::Full));
        tx.try_send(Bytes::from(vec![0; 400])).expect("fits exactly");
        assert_eq!(gauge.load(Ordering::Acquire), 1000);
        drop(rx.recv().await);
        assert_eq!(gauge.load(Ordering::Acquire), 400);
        drop(rx.recv().await);
        // A frame larger than the budget goes alone.
        tx.try_send(Bytes::from(vec![0; 5000])).expect("alone");
        assert_eq!(tx.try_send(Bytes::from(vec![0; 1])), Err(Refused::Full));
        assert_eq!(gauge.load(Ordering::Acquire), 5000);
        drop(rx);
        assert_eq!(gauge.load(Ordering::Acquire), 0, "dropping the queue gives everything back");
    }

    #[tokio::test]
    async fn bounded_in_events() {
        let gauge = Arc::new(AtomicUsize::new(0));
        let (tx, _rx) = queue(2, 1000, gauge.clone());
        tx.try_send(Bytes::from_static(b"a")).expect("one");
        tx.try_send(Bytes::from_static(b"b")).expect("two");
        assert_eq!(tx.try_send(Bytes::from_static(b"c")), Err(Refused::Full));
        assert_eq!(gauge.load(Ordering::Acquire), 2, "a refused frame is not counted");
    }
}
