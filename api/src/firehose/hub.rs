//! [`Firehose`]: the in-process side shared by the write path, the
//! sequencer and the subscribers.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use primal_pds_storage::{DomainName, SequencedEvent};
use tokio::sync::{Notify, broadcast, mpsc};

use super::per_ip::{IpSlot, PerIpSlots};
use super::queue::{Out, QueueSender, queue};
use crate::config::Config;

/// How long after a subscriber leaves the heap is trimmed.
const TRIM_DELAY: Duration = Duration::from_secs(1);

/// Live events of this node and the work queue of its sequencer.
#[derive(Debug)]
pub struct Firehose {
    /// Each live event, once, in `seq` order.
    live: broadcast::Sender<SequencedEvent>,
    /// How many events a subscriber may fall behind.
    buffer: usize,
    /// How many bytes of frames a subscriber may have queued.
    subscriber_bytes: usize,
    /// Bytes queued for all subscribers of this node.
    queued: Arc<AtomicUsize>,
    /// Open subscriptions per client IP.
    per_ip: PerIpSlots,
    /// A heap trim is scheduled (see [`Firehose::subscriber_left`]).
    trim_pending: Arc<AtomicBool>,
    /// Tenants whose outbox has events to sequence.
    dirty: Mutex<HashSet<DomainName>>,
    /// Wakes the sequencer.
    pub(crate) sequence_now: Notify,
    /// Wakes the tail reader (new events in the log).
    pub(crate) tail_now: Notify,
    /// The highest `seq` broadcast so far.
    pub(crate) published: AtomicI64,
    /// Whether the background tasks run.
    pub(crate) started: AtomicBool,
    /// requestCrawl rate limiting.
    pub(crate) crawls: super::crawl::CrawlLog,
}

impl Firehose {
    /// A firehose with the subscriber limits of `config`
    /// (`firehoseSubscriberBuffer`, `firehoseSubscriberBytes`, `firehoseSubscribersPerIp`).
    pub fn new(config: &Config) -> Firehose {
        let buffer = config.firehose_subscriber_buffer.max(1);
        // The broadcast ring only feeds each subscriber's own queue, which
        // it drains without waiting; twice the buffer leaves slack.
        let (live, _) = broadcast::channel(buffer.saturating_mul(2).max(16));
        Firehose {
            live,
            buffer,
            subscriber_bytes: config.firehose_subscriber_bytes.max(1),
            queued: Arc::new(AtomicUsize::new(0)),
            per_ip: PerIpSlots::new(config.firehose_subscribers_per_ip),
            trim_pending: Arc::new(AtomicBool::new(false)),
            dirty: Mutex::new(HashSet::new()),
            sequence_now: Notify::new(),
            tail_now: Notify::new(),
            published: AtomicI64::new(0),
            started: AtomicBool::new(false),
            crawls: super::crawl::CrawlLog::default(),
        }
    }

    /// The per-subscriber buffer, in events.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// The per-subscriber budget of queued frames, in bytes.
    pub fn subscriber_bytes(&self) -> usize {
        self.subscriber_bytes
    }

    /// A new subscriber's queue (see [`super::queue`]).
    pub(crate) fn subscriber_queue(&self) -> (QueueSender, mpsc::Receiver<Out>) {
        queue(self.buffer, self.subscriber_bytes, self.queued.clone())
    }

    /// Bytes of frames queued for (or being written to) the subscribers of
    /// this node.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// A subscription slot for `ip`, or `None` when it holds
    /// `firehoseSubscribersPerIp` already.
    pub fn take_ip_slot(&self, ip: IpAddr) -> Option<IpSlot> {
        self.per_ip.take(ip)
    }

    /// A subscriber left: give the memory its frames took back to the
    /// system a moment later, once for all that leave meanwhile (see
    /// [`crate::malloc_tuning::give_back_free_memory`]).
    pub(crate) fn subscriber_left(&self) {
        if self.trim_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let pending = self.trim_pending.clone();
        tokio::spawn(async move {
            tokio::time::sleep(TRIM_DELAY).await;
            pending.store(false, Ordering::Release);
            // Walking the arenas takes their locks: not on an async worker.
            let _ = tokio::task::spawn_blocking(crate::malloc_tuning::give_back_free_memory).await;
        });
    }

    /// Subscriptions `ip` holds.
    pub fn ip_subscriptions(&self, ip: IpAddr) -> usize {
        self.per_ip.held(ip)
    }

    /// Events were written to `domain`'s outbox: sequence them soon.
    pub fn notify_tenant(&self, domain: &DomainName) {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner()).insert(domain.clone());
        self.sequence_now.notify_one();
    }

    /// Take the tenants marked since the last call.
    pub(crate) fn take_dirty(&self) -> Vec<DomainName> {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner()).drain().collect()
    }

    /// A receiver of live events.
    pub fn subscribe(&self) -> broadcast::Receiver<SequencedEvent> {
        self.live.subscribe()
    }

    /// Broadcast events read from the log (in `seq` order); older ones are skipped.
    pub(crate) fn publish(&self, events: Vec<SequencedEvent>) {
        for event in events {
            if event.seq > self.published.load(Ordering::Acquire) {
                self.published.store(event.seq, Ordering::Release);
                // No receiver is not an error.
                let _ = self.live.send(event);
            }
        }
    }

    /// How many subscribers are connected to this node.
    pub fn subscribers(&self) -> usize {
        self.live.receiver_count()
    }
}
