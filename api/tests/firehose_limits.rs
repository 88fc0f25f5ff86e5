//! Firehose subscriber limits on a real server on 127.0.0.1 with real
//! WebSocket clients: each subscriber's queue is bounded in bytes (a replay
//! waits for a reader that does not read, a live stream cuts it off with
//! `ConsumerTooSlow`), everything queued is given back when it leaves, and
//! each client IP holds a bounded number of subscriptions.

mod common;
mod firehose;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::firehose::PendingEvent;
use primal_pds_engine::syntax::{Datetime, Did, TidClock};
use primal_pds_storage::{EventLog, OutboxEvent};

use firehose::{Cluster, Node, Subscriber};

/// The per-subscriber byte budget of these tests.
const BUDGET: usize = 256 * 1024;
/// The commit block of each test event: frames of about 100 KB.
const BLOCK: usize = 100_000;
/// A bound on the size of one test frame (block, CAR and CBOR framing).
const FRAME_MAX: usize = BLOCK + 1_000;
const WAIT: Duration = Duration::from_secs(20);

/// `n` `#sync` events of about [`BLOCK`] bytes each, outbox ids from `first`.
fn big_events(first: usize, n: usize) -> Vec<OutboxEvent> {
    let time = Datetime::now();
    let clock = TidClock::new();
    (first..first + n)
        .map(|i| {
            let did = Did::parse(&format!("did:plc:bench{i:019}")).expect("did");
            let block = vec![(i % 251) as u8; BLOCK];
            let event =
                PendingEvent::sync(&did, &clock.next(), &cid_for_dag_cbor(&block), &block, &time).expect("event");
            assert!(event.frame().len() < FRAME_MAX);
            OutboxEvent { id: i as i64, event }
        })
        .collect()
}

/// Append `n` big events to the log in batches.
async fn append_big(node: &Node, first: usize, n: usize) {
    for start in (first..first + n).step_by(10) {
        let batch = big_events(start, 10.min(first + n - start));
        node.state.backend.append_events(&batch).await.expect("append");
    }
}

/// The highest value of the queued-bytes gauge until `stop` is set.
fn watch_gauge(node: &Node, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    let state = node.state.clone();
    tokio::spawn(async move {
        let peak = AtomicUsize::new(0);
        while !stop.load(Ordering::Acquire) {
            peak.fetch_max(state.firehose.queued_bytes(), Ordering::AcqRel);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        peak.load(Ordering::Acquire)
    })
}

/// Wait until the gauge is back to 0 (the connection's tasks ending).
async fn wait_until_nothing_queued(node: &Node) {
    let started = std::time::Instant::now();
    while node.state.firehose.queued_bytes() != 0 {
        assert!(started.elapsed() < WAIT, "{} bytes still queued", node.state.firehose.queued_bytes());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A reader that never reads, replaying a 30 MB log from cursor 0: the
/// replay stalls with at most the budget (and one frame) queued, and all
/// of it is given back when the reader leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_to_a_reader_that_never_reads_is_bounded_in_bytes() {
    let mut cluster = Cluster::sqlite(500);
    cluster.config.firehose_subscriber_bytes = BUDGET;
    let node = cluster.node().await;
    append_big(&node, 0, 300).await;
    // Pages of the log are bounded in bytes as well.
    let page = node.state.backend.read_events(0, 500, BUDGET / 4).await.expect("read");
    assert!(!page.is_empty() && page.len() <= BUDGET / 4 / BLOCK + 1, "a page of {} events", page.len());
    assert_eq!(node.state.backend.read_events(0, 500, 1).await.expect("read").len(), 1, "at least one event");

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_gauge(&node, stop.clone());
    let stalled = Subscriber::connect_small_from(&node, Some(0)).await;
    // The replay fills the socket and the queue, then waits.
    let started = std::time::Instant::now();
    while node.state.firehose.queued_bytes() < BUDGET / 2 {
        assert!(started.elapsed() < WAIT, "the replay queued only {} bytes", node.state.firehose.queued_bytes());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    let peak = watcher.await.expect("watcher");
    assert!(peak <= BUDGET + FRAME_MAX, "{peak} bytes queued for one subscriber (budget {BUDGET})");

    drop(stalled);
    wait_until_nothing_queued(&node).await;
    cluster.finish(vec![node]).await;
}

/// A live reader that never reads is cut off with `ConsumerTooSlow` once
/// its budget in bytes is spent, however few events that is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_reader_that_never_reads_is_cut_off_by_bytes() {
    // 500 events of room: only the byte budget can cut it off.
    let mut cluster = Cluster::sqlite(500);
    cluster.config.firehose_subscriber_bytes = BUDGET;
    let node = cluster.node().await;
    let mut stalled = Subscriber::connect_small(&node).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_gauge(&node, stop.clone());
    const EVENTS: usize = 100;
    append_big(&node, 0, EVENTS).await;

    let mut got = 0;
    let mut last = None;
    while let Some(frame) = stalled.next(Duration::from_secs(10)).await {
        last = Some(frame.kind());
        if frame.header.op == -1 {
            break;
        }
        got += 1;
    }
    stop.store(true, Ordering::Release);
    let peak = watcher.await.expect("watcher");
    assert_eq!(last.as_deref(), Some("error:ConsumerTooSlow"), "after {got} of {EVENTS} events");
    assert!(got < EVENTS, "cut off before the end ({got})");
    assert!(peak <= BUDGET + FRAME_MAX, "{peak} bytes queued for one subscriber (budget {BUDGET})");
    drop(stalled);
    wait_until_nothing_queued(&node).await;
    cluster.finish(vec![node]).await;
}

/// At most `firehoseSubscribersPerIp` subscriptions per client IP: one more
/// is refused with 429 before the upgrade, and admitted again once one
/// leaves. Behind a trusted proxy the forwarded IP counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_client_ip_holds_a_bounded_number_of_subscriptions() {
    let mut cluster = Cluster::sqlite(500);
    cluster.config.firehose_subscribers_per_ip = 2;
    cluster.config.rate_limits.trust_forwarded_for = true;
    let node = cluster.node().await;
    let local: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let first = Subscriber::try_connect(&node, &[]).await.expect("first");
    let _second = Subscriber::try_connect(&node, &[]).await.expect("second");
    let refused = Subscriber::try_connect(&node, &[]).await.err();
    assert_eq!(refused, Some((429, "RateLimitExceeded".to_owned())));
    // Another client behind the proxy has its own slots.
    let forwarded = [("x-forwarded-for", "198.51.100.7")];
    let _other = Subscriber::try_connect(&node, &forwarded).await.expect("another IP");
    assert_eq!(node.state.firehose.ip_subscriptions(local), 2);

    drop(first);
    let started = std::time::Instant::now();
    while node.state.firehose.ip_subscriptions(local) != 1 {
        assert!(started.elapsed() < WAIT, "the slot of a closed subscription is not freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _third = Subscriber::try_connect(&node, &[]).await.expect("admitted again after one left");
    cluster.finish(vec![node]).await;
}
