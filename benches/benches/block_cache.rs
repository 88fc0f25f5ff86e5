//! Block read latency through the RocksDB cache (feature `rocksdb-cache`):
//! the inner store alone, a cache miss (lookup + inner read + fill), and
//! cache hits from the memtable, from RocksDB's block cache, and from SST
//! files outside it (the read moves to tokio's blocking pool). Also the
//! bare cost of a `spawn_blocking` round trip, which inline reads avoid.
//!
//! The inner store is the in-memory one, so "cold" here is the cache's own
//! overhead on a miss; behind Postgres or SQLite a miss adds their latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use primal_pds_benches::post_record;
use primal_pds_engine::Cid;
use primal_pds_engine::data::cbor::encode_ipld;
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::store::{BlockMap, Blockstore, MemoryStore};
use primal_pds_engine::syntax::Did;
use primal_pds_storage::cache::{BlockCache, CachedStore};

const BLOCKS: u64 = 20_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

fn did() -> Did {
    Did::parse("did:plc:benchbenchbenchbenchbenc").expect("valid DID")
}

/// `BLOCKS` post records (about 150 bytes each), as a repo holds them.
fn blocks() -> Vec<(Cid, Bytes)> {
    (0..BLOCKS)
        .map(|i| {
            let bytes = encode_ipld(&post_record(i)).expect("encode");
            (cid_for_dag_cbor(&bytes), Bytes::from(bytes))
        })
        .collect()
}

/// A pseudo-random walk over the blocks (no two neighbouring reads share a data block).
struct Walk(u64);

impl Walk {
    fn next<'a>(&mut self, blocks: &'a [(Cid, Bytes)]) -> &'a Cid {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        &blocks[((self.0 >> 33) % blocks.len() as u64) as usize].0
    }
}

fn block_reads(c: &mut Criterion) {
    let rt = runtime();
    let did = did();
    let blocks = blocks();
    let map: BlockMap = blocks.iter().cloned().collect();
    let inner = Arc::new(MemoryStore::new());
    rt.block_on(inner.put_many(&did, &map)).expect("put");
    let mut group = c.benchmark_group("block_read");

    let mut walk = Walk(1);
    group.bench_function("inner_memory_store", |b| {
        b.to_async(&rt).iter(|| {
            let cid = *walk.next(&blocks);
            let inner = &inner;
            let did = &did;
            async move { inner.get(did, &cid).await.expect("get").expect("present") }
        })
    });

    // Hits: every block written through (put_many), so all reads hit.
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = BlockCache::open(dir.path(), 1 << 30).expect("open cache");
    let store = CachedStore::new(inner.clone(), cache.clone(), "bench").expect("store");
    rt.block_on(store.put_many(&did, &map)).expect("write through");
    let mut walk = Walk(2);
    group.bench_function("cached_hit_memtable", |b| {
        b.to_async(&rt).iter(|| {
            let cid = *walk.next(&blocks);
            let (store, did) = (&store, &did);
            async move { store.get(did, &cid).await.expect("get").expect("present") }
        })
    });
    rt.block_on(cache.flush()).expect("flush");
    let mut walk = Walk(3);
    group.bench_function("cached_hit_block_cache", |b| {
        b.to_async(&rt).iter(|| {
            let cid = *walk.next(&blocks);
            let (store, did) = (&store, &did);
            async move { store.get(did, &cid).await.expect("get").expect("present") }
        })
    });
    let cids: Vec<Cid> = blocks.iter().take(100).map(|(cid, _)| *cid).collect();
    group.bench_function("cached_get_many_100_hits", |b| {
        b.to_async(&rt).iter(|| {
            let (store, did, cids) = (&store, &did, &cids);
            async move { store.get_many(did, cids).await.expect("get_many") }
        })
    });
    group.bench_function("inner_get_many_100", |b| {
        b.to_async(&rt).iter(|| {
            let (inner, did, cids) = (&inner, &did, &cids);
            async move { inner.get_many(did, cids).await.expect("get_many") }
        })
    });

    // Misses: each read in a namespace never read before, so it misses,
    // reads the inner store and fills.
    let namespaces = AtomicU64::new(0);
    let mut walk = Walk(4);
    group.bench_function("cached_miss_and_fill", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let n = namespaces.fetch_add(1, Ordering::Relaxed);
                let store = CachedStore::new(inner.clone(), cache.clone(), &format!("miss{n}")).expect("store");
                (store, *walk.next(&blocks))
            },
            |(store, cid)| {
                let did = &did;
                async move { store.get(did, &cid).await.expect("get").expect("present") }
            },
            BatchSize::SmallInput,
        )
    });
    drop(store);
    drop(cache);

    // Hits from SST files outside RocksDB's block cache: a 16 MiB cache has
    // a 1 MiB block cache, the blocks take about 3.5 MiB, so most reads need
    // a file read (from the OS page cache here) on the blocking pool.
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = BlockCache::open(dir.path(), 16 << 20).expect("open cache");
    let store = CachedStore::new(inner.clone(), cache.clone(), "bench").expect("store");
    rt.block_on(store.put_many(&did, &map)).expect("write through");
    rt.block_on(cache.flush()).expect("flush");
    let mut walk = Walk(5);
    group.bench_function("cached_hit_sst_file", |b| {
        b.to_async(&rt).iter(|| {
            let cid = *walk.next(&blocks);
            let (store, did) = (&store, &did);
            async move { store.get(did, &cid).await.expect("get").expect("present") }
        })
    });

    group.bench_function("spawn_blocking_round_trip", |b| {
        b.to_async(&rt).iter(|| async { tokio::task::spawn_blocking(|| 1u8).await.expect("join") })
    });
    group.finish();
}

criterion_group!(benches, block_reads);
criterion_main!(benches);
