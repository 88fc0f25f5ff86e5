//! The Postgres backend: single-record commits per second (one repo
//! sequentially, 16 repos concurrently), full export of a 10k-record repo,
//! and block read latency.
//!
//! Needs a durable PostgreSQL (fsync and synchronous_commit on, as
//! installed) in PRIMAL_PDS_BENCH_PG_URL, with a role that has CREATEDB;
//! the benchmark refuses a server that is not durable. Under `cargo test`
//! (criterion's test mode, one iteration each) it also accepts the test
//! clusters' PRIMAL_PDS_TEST_PG_URL. It creates a management database and
//! one tenant database of its own and drops both at the end.
//!
//! PRIMAL_PDS_BENCH_PER_TENANT sets the tenant pool size (default 16: a
//! connection per concurrent repo, so PostgreSQL flushes their commits together).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt;
use primal_pds_benches::create_post;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{Repo, export_car};
use primal_pds_engine::store::{Blockstore, RepoStore};
use primal_pds_engine::syntax::{Did, TidClock};
use primal_pds_engine::{Cid, store::BlockMap};
use primal_pds_storage::postgres::{PgStore, PostgresBackend, PostgresConfig, quote_identifier};
use primal_pds_storage::{DomainName, TenantBackend};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};
use tokio::runtime::Runtime;

/// Repos written concurrently.
const CONCURRENT_REPOS: usize = 16;

/// Records in the export repo and in each commit repo: full size when
/// measuring, small in test mode (debug builds are slow to fill them).
fn sizes() -> (u64, u64) {
    if measuring() { (10_000, 1_000) } else { (500, 100) }
}

/// Whether criterion measures (`cargo bench`) rather than tests once (`cargo test`).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The server URL, checked to be durable when measuring.
fn server_url(rt: &Runtime) -> String {
    let url = match (std::env::var("PRIMAL_PDS_BENCH_PG_URL"), std::env::var("PRIMAL_PDS_TEST_PG_URL")) {
        (Ok(url), _) => url,
        (Err(_), Ok(url)) if !measuring() => url,
        _ => panic!(
            "PRIMAL_PDS_BENCH_PG_URL is not set: point it at a durable PostgreSQL (fsync and synchronous_commit \
             on) whose role may create databases, e.g. postgres://primal_pds:PASSWORD@127.0.0.1:5432/primal_pds \
             (see README, Benchmarks)"
        ),
    };
    let settings: Vec<(String, String)> = rt.block_on(async {
        let mut conn = PgConnection::connect(&url).await.expect("connect to the benchmark server");
        sqlx::query_as("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')")
            .fetch_all(&mut conn)
            .await
            .expect("read settings")
    });
    let durable = settings.iter().all(|(_, value)| value == "on") && settings.len() == 2;
    if measuring() && !durable {
        panic!(
            "the benchmark server is not durable ({settings:?}); benchmarks run with fsync and synchronous_commit on"
        );
    }
    if !durable {
        eprintln!("storage_postgres: test mode on a non-durable server ({settings:?}); figures mean nothing");
    }
    url
}

fn did(i: usize) -> Did {
    let letters: String = format!("{i:04}").bytes().map(|d| (b'a' + (d - b'0')) as char).collect();
    Did::parse(&format!("did:plc:benchrepo{letters}aaaa")).expect("valid DID")
}

struct Fixture {
    rt: Runtime,
    url: String,
    config: PostgresConfig,
    backend: PostgresBackend,
    domain: DomainName,
    store: PgStore,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let url = server_url(&rt);
        let mut config = PostgresConfig::single(url.clone());
        config.management_db = format!("pds_bench_mgmt_{}", std::process::id());
        config.max_per_tenant =
            std::env::var("PRIMAL_PDS_BENCH_PER_TENANT").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
        let domain = DomainName::parse(&format!("bench{}.example", std::process::id())).expect("domain");
        let (backend, store) = rt.block_on(async {
            let backend = PostgresBackend::connect(config.clone()).await.expect("connect backend");
            backend.create_tenant(&domain).await.expect("create tenant");
            let store = backend.tenant_store(&domain).await.expect("store");
            (backend, store)
        });
        Fixture { rt, url, config, backend, domain, store }
    }

    /// A repo of `records` posts, written 200 a commit.
    fn repo(&self, did: &Did, records: u64, clock: &TidClock) -> (Repo, Keypair) {
        self.rt.block_on(async {
            let key = Keypair::generate(Algorithm::K256);
            let (mut repo, _) = Repo::create(&self.store, did, &key, clock).await.expect("create repo");
            let mut i = 0;
            while i < records {
                let n = (records - i).min(200);
                let writes = (i..i + n).map(|j| create_post(clock, j)).collect();
                repo.apply_writes(&self.store, &key, clock, writes, None).await.expect("fill repo");
                i += n;
            }
            (repo, key)
        })
    }

    /// VACUUM the tenant database, so the dead rows one benchmark leaves
    /// (every commit deletes the blocks it replaced) do not slow the next.
    fn vacuum(&self) {
        self.rt.block_on(async {
            let options = PgConnectOptions::from_str(&self.url).expect("URL").database(self.store.db_name());
            let mut conn = PgConnection::connect_with(&options).await.expect("connect the tenant database");
            sqlx::raw_sql("VACUUM (ANALYZE)").execute(&mut conn).await.expect("vacuum");
        })
    }

    fn finish(self) {
        self.rt.block_on(async {
            self.backend.remove_tenant(&self.domain).await.expect("remove tenant");
            self.backend.close().await;
            let mut conn = PgConnection::connect(&self.url).await.expect("connect");
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_identifier(&self.config.management_db));
            sqlx::raw_sql(AssertSqlSafe(drop)).execute(&mut conn).await.expect("drop management database");
        });
    }
}

fn commits(c: &mut Criterion, f: &Fixture) {
    let clock = Arc::new(TidClock::new());
    let mut group = c.benchmark_group("pg_commit");
    group.throughput(Throughput::Elements(1));

    let (_, prefill) = sizes();
    let mut single = Some(f.repo(&did(0), prefill, &clock));
    f.vacuum();
    // Operations run in a task on the runtime's workers, as in a server
    // (driving the connections from outside the runtime adds thread hops).
    group.bench_function("one_repo_sequential", |b| {
        b.iter_custom(|iters| {
            let (mut repo, key) = single.take().expect("repo is back");
            let (store, clock) = (f.store.clone(), clock.clone());
            let (elapsed, repo, key) =
                f.rt.block_on(f.rt.spawn(async move {
                    let started = Instant::now();
                    for n in 0..iters {
                        let write = create_post(&clock, n);
                        repo.apply_writes(&store, &key, &clock, vec![write], None).await.expect("commit");
                    }
                    (started.elapsed(), repo, key)
                }))
                .expect("writer task");
            single = Some((repo, key));
            elapsed
        })
    });

    let mut repos: Vec<Option<(Repo, Keypair)>> =
        (0..CONCURRENT_REPOS).map(|r| Some(f.repo(&did(r + 1), prefill, &clock))).collect();
    f.vacuum();
    // Long samples, so starting and joining the writers is noise.
    group.sampling_mode(SamplingMode::Flat).sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function(format!("{CONCURRENT_REPOS}_repos_concurrent"), |b| {
        b.iter_custom(|iters| {
            // The writers share out the `iters` commits criterion asks for.
            let remaining = Arc::new(AtomicU64::new(iters));
            let started = Instant::now();
            let tasks: Vec<_> = repos
                .iter_mut()
                .map(|slot| {
                    let (mut repo, key) = slot.take().expect("repo is back");
                    let (store, clock, remaining) = (f.store.clone(), clock.clone(), remaining.clone());
                    f.rt.spawn(async move {
                        let mut n = 0;
                        while remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1)).is_ok() {
                            n += 1;
                            let write = create_post(&clock, n);
                            repo.apply_writes(&store, &key, &clock, vec![write], None).await.expect("commit");
                        }
                        (repo, key)
                    })
                })
                .collect();
            for (slot, task) in repos.iter_mut().zip(tasks) {
                *slot = Some(f.rt.block_on(task).expect("writer task"));
            }
            started.elapsed()
        })
    });
    group.finish();
}

fn reads(c: &mut Criterion, f: &Fixture) {
    let clock = TidClock::new();
    let big = did(100);
    let (size, _) = sizes();
    let (repo, _) = f.repo(&big, size, &clock);
    f.vacuum();
    let mut group = c.benchmark_group("pg_read");
    group.throughput(Throughput::Elements(size));
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("export_car_10k_records", |b| {
        b.iter(|| {
            let chunks: Vec<bytes::Bytes> = f.rt.block_on(export_car(&f.store, &big).try_collect()).expect("export");
            chunks.iter().map(|c| c.len()).sum::<usize>()
        })
    });
    group.finish();

    let records: Vec<Cid> = f.rt.block_on(async {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = f
                .store
                .list_records(&big, primal_pds_benches::POST, cursor.as_deref(), 1_000, false)
                .await
                .expect("list");
            let Some((last, _)) = page.last() else { break };
            cursor = Some(last.clone());
            all.extend(page.into_iter().map(|(_, cid)| cid));
        }
        all
    });
    assert_eq!(records.len() as u64, size, "the repo {} has its records", repo.did());
    let mut group = c.benchmark_group("pg_read");
    group.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    let records = Arc::new(records);
    group.bench_function("block_get", |b| {
        b.iter_custom(|iters| {
            let (store, big, records) = (f.store.clone(), big.clone(), records.clone());
            f.rt.block_on(f.rt.spawn(async move {
                let started = Instant::now();
                let mut n = 0;
                for _ in 0..iters {
                    n = (n + 7919) % records.len();
                    store.get(&big, &records[n]).await.expect("get").expect("present");
                }
                started.elapsed()
            }))
            .expect("reader task")
        })
    });
    group.throughput(Throughput::Elements(512));
    group.bench_function("get_many_512", |b| {
        b.iter_batched(
            || {
                n = (n + 7919) % records.len();
                (0..512).map(|k| records[(n + k * 13) % records.len()]).collect::<Vec<_>>()
            },
            |wanted| -> BlockMap { f.rt.block_on(f.store.get_many(&big, &wanted)).expect("get_many") },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn storage_postgres(c: &mut Criterion) {
    let fixture = Fixture::new();
    commits(c, &fixture);
    reads(c, &fixture);
    fixture.finish();
}

criterion_group!(benches, storage_postgres);
criterion_main!(benches);
