//! (a) one-record create commits, signing included, on repos of 1k, 10k and
//! 100k records; (b) one 200-op applyWrites batch.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use primal_pds_benches::{BenchRepo, create_post};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("tokio runtime")
}

fn single_create(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("create_commit");
    for size in [1_000u64, 10_000, 100_000] {
        let mut bench = rt.block_on(BenchRepo::build(size));
        let mut i = size;
        group.bench_function(format!("{size}_records"), |b| {
            b.iter(|| {
                i += 1;
                let write = create_post(&bench.clock, i);
                rt.block_on(bench.repo.apply_writes(&bench.store, &bench.key, &bench.clock, vec![write], None))
                    .expect("commit")
            })
        });
    }
    group.finish();
}

fn batch_of_200(c: &mut Criterion) {
    let rt = runtime();
    let mut bench = rt.block_on(BenchRepo::build(10_000));
    let mut i = 10_000u64;
    c.bench_function("apply_writes_200_ops_on_10k", |b| {
        b.iter_batched(
            || {
                i += 200;
                (i - 200..i).map(|j| create_post(&bench.clock, j)).collect::<Vec<_>>()
            },
            |writes| {
                rt.block_on(bench.repo.apply_writes(&bench.store, &bench.key, &bench.clock, writes, None))
                    .expect("commit")
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, single_create, batch_of_200);
criterion_main!(benches);
