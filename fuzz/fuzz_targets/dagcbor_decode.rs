//! Hostile bytes into the DAG-CBOR decoder (`engine::data::cbor`).
//!
//! Decoding must never panic. A value that decodes must encode again, and that
//! canonical encoding must decode to the same value and be stable (encoding it
//! twice gives the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::Ipld;
use primal_pds_engine::data::cbor;

fuzz_target!(|bytes: &[u8]| {
    let Ok(value) = cbor::from_slice::<Ipld>(bytes) else {
        return;
    };
    let encoded = match cbor::to_vec(&value) {
        Ok(encoded) => encoded,
        Err(err) => panic!("decoded value does not encode again: {err}; value: {value:?}"),
    };
    let decoded_again = match cbor::from_slice::<Ipld>(&encoded) {
        Ok(decoded) => decoded,
        Err(err) => panic!("our own encoding does not decode: {err}; bytes: {encoded:02x?}"),
    };
    assert_eq!(decoded_again, value, "decode(encode(value)) differs from value");
    match cbor::to_vec(&decoded_again) {
        Ok(encoded_again) => assert_eq!(encoded_again, encoded, "canonical encoding is not stable"),
        Err(err) => panic!("re-decoded value does not encode: {err}"),
    }
});
