//! A 200 MB upload streams through the server: the process (server and
//! client both) grows by a few MB at most, and the blob reads back with
//! the right size. Alone in its test binary, so no other test's memory is
//! counted.

#[path = "support/blob_client.rs"]
mod blob_client;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use blob_client::{cid_of, login, png, upload_ok};
use bytes::Bytes;
use cid::Cid;
use cid::multihash::Multihash;
use common::TestPds;
use primal_pds_storage::blob::{BlobKey, BlobStore};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The process's resident set size in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// See the module documentation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_upload_streams() {
    const SIZE: usize = 200 * 1024 * 1024;
    const CHUNK: usize = 256 * 1024;
    let pds = TestPds::sqlite_with(|config| config.blobs.max_upload_bytes = 300 * 1024 * 1024).await;
    let domain = pds.add_domain().await;
    let (alice, token) = login(&pds, &domain, "big").await;
    // Warm up the paths (first upload allocates pools, TLS-free HTTP buffers, ...).
    upload_ok(&pds, &token, png(11, 1_000_000)).await;

    let before = rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let chunk = Bytes::from(png(12, CHUNK - 16));
    let sent = chunk.clone();
    let chunks = futures::stream::iter((0..SIZE / CHUNK).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.uploadBlob"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .header("content-length", SIZE.to_string())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("upload");
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    assert_eq!(resp.status(), StatusCode::OK);
    let blob: Value = resp.json().await.expect("json");
    assert_eq!(blob["blob"]["size"], SIZE);
    let grown_mib = peak.load(Ordering::Relaxed).saturating_sub(before) / 1024;
    eprintln!("a_200_mb_upload_streams: RSS grew by {grown_mib} MiB at most (from {} MiB)", before / 1024);
    assert!(grown_mib <= 16, "the upload grew the process by {grown_mib} MiB");
    // The CID is that of the bytes sent, and the store holds all of them.
    let mut hasher = Sha256::new();
    for _ in 0..SIZE / CHUNK {
        hasher.update(&sent);
    }
    let expected = Cid::new_v1(0x55, Multihash::<64>::wrap(0x12, &hasher.finalize()).expect("multihash"));
    assert_eq!(cid_of(&blob["blob"]), expected.to_string());
    let key = BlobKey { tenant: domain.clone(), did: alice.did.clone(), cid: expected };
    let read = pds.state.blobs.store.get(&key, None).await.expect("get").expect("stored");
    assert_eq!(read.size, SIZE as u64);
    pds.finish().await;
}
