//! (c) full CAR export and (d) CAR parse + full verification of a 10k-record repo.

use criterion::{Criterion, criterion_group, criterion_main};
use futures::TryStreamExt;
use primal_pds_benches::BenchRepo;
use primal_pds_engine::car::CarLimits;
use primal_pds_engine::repo::{export_car, verify_repo_car};

fn car(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("tokio runtime");
    let bench = rt.block_on(BenchRepo::build(10_000));
    let export = || -> Vec<u8> {
        let chunks: Vec<bytes::Bytes> =
            rt.block_on(export_car(&bench.store, &bench.did).try_collect()).expect("export");
        chunks.concat()
    };
    c.bench_function("export_car_10k", |b| b.iter(export));
    let car = export();
    let public = bench.key.public_key();
    c.bench_function("parse_verify_car_10k", |b| {
        b.iter(|| {
            let repo = verify_repo_car(&car, Some(&public), CarLimits::default()).expect("verify");
            assert_eq!(repo.records.len(), 10_000);
        })
    });
}

criterion_group!(benches, car);
criterion_main!(benches);
