//! (f) k256 signing and verification alone (and P-256 for comparison).

use criterion::{Criterion, criterion_group, criterion_main};
use primal_pds_engine::keys::{Algorithm, Keypair};

fn crypto(c: &mut Criterion) {
    let message = [7u8; 200];
    for alg in [Algorithm::K256, Algorithm::P256] {
        let key = Keypair::generate(alg);
        let public = key.public_key();
        let sig = key.sign(&message);
        c.bench_function(&format!("{alg:?}_sign"), |b| b.iter(|| key.sign(&message)));
        c.bench_function(&format!("{alg:?}_verify"), |b| b.iter(|| public.verify(&message, &sig).expect("valid")));
    }
}

criterion_group!(benches, crypto);
criterion_main!(benches);
