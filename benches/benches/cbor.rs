//! (e) DAG-CBOR encode and decode of a typical post record.

use criterion::{Criterion, criterion_group, criterion_main};
use primal_pds_benches::post_record;
use primal_pds_engine::data::cbor::{decode_ipld, encode_ipld};

fn cbor(c: &mut Criterion) {
    let record = post_record(42);
    let bytes = encode_ipld(&record).expect("encode");
    c.bench_function("cbor_encode_post", |b| b.iter(|| encode_ipld(&record).expect("encode")));
    c.bench_function("cbor_decode_post", |b| b.iter(|| decode_ipld(&bytes).expect("decode")));
}

criterion_group!(benches, cbor);
criterion_main!(benches);
