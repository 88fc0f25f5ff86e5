//! The SQLite backend: single-record commits per second (signing included)
//! on one repo in sequence, on 16 repos of one tenant at once (one file, so
//! one writer), and on 16 repos in 16 tenants at once (16 files), each with
//! `synchronous = FULL` and `NORMAL`; and a `getRepo`-style full CAR export
//! of a 10k-record repo. Repos of the commit benchmarks start with 1,000
//! records (and grow by the commits measured). Files go to a temporary
//! directory on the disk of the system temp dir (set TMPDIR to measure
//! another disk).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt;
use primal_pds_benches::create_post;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{Repo, export_car};
use primal_pds_engine::syntax::{Did, TidClock};
use primal_pds_storage::sqlite::{SqliteBackend, SqliteConfig, SqliteStore, Synchronous};
use primal_pds_storage::{DomainName, TenantBackend};
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// Writers in the concurrent benchmarks.
const WRITERS: usize = 16;

/// Records in each repo before commits are measured.
const PREFILL: u64 = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// One writer: a store, its repo, and what signs its commits.
struct Writer {
    store: SqliteStore,
    repo: Repo,
    key: Arc<Keypair>,
    clock: Arc<TidClock>,
    next: u64,
}

impl Writer {
    async fn commit(&mut self) {
        self.next += 1;
        let write = create_post(&self.clock, self.next);
        self.repo.apply_writes(&self.store, &self.key, &self.clock, vec![write], None).await.expect("commit");
    }
}

fn did(i: usize) -> Did {
    Did::parse(&format!("did:plc:bench{i:019}")).expect("valid DID")
}

fn domain(i: usize) -> DomainName {
    DomainName::parse(&format!("t{i}.bench.test")).expect("valid domain")
}

/// `repos` writers: in one tenant, or each in its own.
async fn writers(backend: &SqliteBackend, repos: usize, one_tenant: bool) -> Vec<Writer> {
    let key = Arc::new(Keypair::generate(Algorithm::K256));
    let clock = Arc::new(TidClock::new());
    let tenants = if one_tenant { 1 } else { repos };
    for t in 0..tenants {
        backend.create_tenant(&domain(t)).await.expect("create tenant");
    }
    let mut out = Vec::new();
    for i in 0..repos {
        let store = backend.tenant_store(&domain(if one_tenant { 0 } else { i })).await.expect("store");
        let (mut repo, _) = Repo::create(&store, &did(i), &key, &clock).await.expect("create repo");
        for batch in 0..PREFILL / 200 {
            let writes = (0..200).map(|j| create_post(&clock, batch * 200 + j)).collect();
            repo.apply_writes(&store, &key, &clock, writes, None).await.expect("prefill");
        }
        out.push(Writer { store, repo, key: key.clone(), clock: clock.clone(), next: PREFILL });
    }
    out
}

/// Run `total` commits spread over the writers, all at once; the time taken.
async fn commit_concurrently(writers: &mut Vec<Writer>, total: u64) -> Duration {
    let count = writers.len() as u64;
    let per_writer = total.div_ceil(count);
    let start = Instant::now();
    let tasks: Vec<_> = writers
        .drain(..)
        .map(|mut w| {
            tokio::spawn(async move {
                for _ in 0..per_writer {
                    w.commit().await;
                }
                w
            })
        })
        .collect();
    for task in tasks {
        writers.push(task.await.expect("writer task"));
    }
    // Scale to the `total` asked for (the last round may do a few more).
    start.elapsed().mul_f64(total as f64 / (per_writer * count) as f64)
}

fn commits(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("sqlite_commit");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    for (sync, label) in [(Synchronous::Full, "full"), (Synchronous::Normal, "normal")] {
        let dir = TempDir::new().expect("temp dir");
        let config = SqliteConfig { synchronous: sync, ..SqliteConfig::new(dir.path()) };
        let backend = rt.block_on(SqliteBackend::open(config)).expect("open backend");

        let mut single = rt.block_on(writers(&backend, 1, true)).pop().expect("one writer");
        group.bench_function(format!("{label}/one_repo_sequential"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        single.commit().await;
                    }
                    start.elapsed()
                })
            })
        });
        rt.block_on(backend.remove_tenant(&domain(0))).expect("remove");

        for (one_tenant, name) in [(true, "16_repos_one_tenant"), (false, "16_repos_16_tenants")] {
            let mut many = rt.block_on(writers(&backend, WRITERS, one_tenant));
            group.bench_function(format!("{label}/{name}"), |b| {
                b.iter_custom(|iters| rt.block_on(commit_concurrently(&mut many, iters)))
            });
            for t in 0..(if one_tenant { 1 } else { WRITERS }) {
                rt.block_on(backend.remove_tenant(&domain(t))).expect("remove");
            }
        }
        rt.block_on(backend.close());
    }
    group.finish();
}

fn export(c: &mut Criterion) {
    let rt = runtime();
    let dir = TempDir::new().expect("temp dir");
    let backend = rt.block_on(SqliteBackend::open(SqliteConfig::new(dir.path()))).expect("open backend");
    let mut writer = rt.block_on(writers(&backend, 1, true)).pop().expect("one writer");
    rt.block_on(async {
        for batch in PREFILL / 200..50u64 {
            let writes = (0..200).map(|i| create_post(&writer.clock, batch * 200 + i)).collect();
            writer.repo.apply_writes(&writer.store, &writer.key, &writer.clock, writes, None).await.expect("batch");
        }
    });
    let did = did(0);
    let mut group = c.benchmark_group("sqlite_export");
    group.sample_size(20);
    group.bench_function("export_car_10k", |b| {
        b.iter(|| {
            let chunks: Vec<bytes::Bytes> = rt.block_on(export_car(&writer.store, &did).try_collect()).expect("export");
            chunks.iter().map(|c| c.len()).sum::<usize>()
        })
    });
    group.finish();
    rt.block_on(backend.close());
}

criterion_group!(benches, commits, export);
criterion_main!(benches);
