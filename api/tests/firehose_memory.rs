//! Process memory with firehose subscribers that never read (a benchmark,
//! ignored by default; release build for figures that mean something):
//! `FIREHOSE_MEM_SUBSCRIBERS` (default 20) WebSocket clients on 127.0.0.1
//! subscribe from cursor 0 to a log of `FIREHOSE_MEM_EVENTS` (default 2000)
//! events of about 50 KB and never read; prints the RSS before, while they
//! are connected, and after they left.
//! `cargo test --release -p primal-pds --test firehose_memory -- --ignored --nocapture`.

mod common;
mod firehose;

use std::time::Duration;

use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::firehose::PendingEvent;
use primal_pds_engine::syntax::{Datetime, Did, TidClock};
use primal_pds_storage::{EventLog, OutboxEvent};

use firehose::{Cluster, Subscriber};

/// The resident set size of this process, in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn rss_with_subscribers_that_never_read() {
    primal_pds_api::malloc_tuning::keep_large_blocks_out_of_the_heap();
    let subscribers = env("FIREHOSE_MEM_SUBSCRIBERS", 20);
    let events = env("FIREHOSE_MEM_EVENTS", 2000);
    let mut cluster = Cluster::sqlite(500);
    cluster.config.rate_limits.enabled = false;
    let node = cluster.node().await;
    let time = Datetime::now();
    let clock = TidClock::new();
    for start in (0..events).step_by(100) {
        let batch: Vec<OutboxEvent> = (start..(start + 100).min(events))
            .map(|i| {
                let did = Did::parse(&format!("did:plc:bench{i:019}")).expect("did");
                let block = vec![(i % 251) as u8; 50_000];
                let event =
                    PendingEvent::sync(&did, &clock.next(), &cid_for_dag_cbor(&block), &block, &time).expect("event");
                OutboxEvent { id: i as i64, event }
            })
            .collect();
        node.state.backend.append_events(&batch).await.expect("append");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_mib();
    let mut stalled = Vec::new();
    for _ in 0..subscribers {
        stalled.push(Subscriber::connect_small_from(&node, Some(0)).await);
    }
    let mut peak = before;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_mib());
    }
    drop(stalled);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_mib();
    eprintln!(
        "{subscribers} subscribers that never read, from cursor 0 over {events} events of ~50 KB: \
         RSS before {before} MiB, peak {peak} MiB (+{}), after they left {after} MiB (+{})",
        peak - before,
        after.saturating_sub(before)
    );
    cluster.finish(vec![node]).await;
}
