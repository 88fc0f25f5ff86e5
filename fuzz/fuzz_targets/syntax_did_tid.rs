//! Hostile strings into the DID and TID parsers (`engine::syntax`).
//!
//! Parsing must never panic. A value that parses must display as its input,
//! parse again to itself, and survive a DAG-CBOR (serde) round trip; a TID with
//! the top bit clear must also survive the round trip through its integer form.
//! A rejection must quote (a prefix of) the rejected input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::data::cbor;
use primal_pds_engine::syntax::{Did, SyntaxError, Tid};

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    check_did(input);
    check_tid(input);
});

fn check_did(input: &str) {
    let did = match Did::parse(input) {
        Ok(did) => did,
        Err(err) => return check_error(input, &err),
    };
    assert_eq!(did.as_str(), input);
    assert_eq!(did.to_string(), input);
    assert_eq!(input.parse::<Did>().as_ref(), Ok(&did));
    let method = did.method();
    assert!(!method.is_empty(), "empty method in {input:?}");
    assert!(input.starts_with(&format!("did:{method}:")), "method {method:?} is not the one in {input:?}");
    let encoded = cbor::to_vec(&did).unwrap_or_else(|err| panic!("cannot encode {input:?}: {err}"));
    let decoded: Did = cbor::from_slice(&encoded).unwrap_or_else(|err| panic!("cannot decode {input:?}: {err}"));
    assert_eq!(decoded, did);
}

fn check_tid(input: &str) {
    let tid = match Tid::parse(input) {
        Ok(tid) => tid,
        Err(err) => return check_error(input, &err),
    };
    assert_eq!(tid.as_str(), input);
    assert_eq!(tid.to_string(), input);
    assert_eq!(input.parse::<Tid>().as_ref(), Ok(&tid));
    let integer = tid.to_integer();
    assert_eq!(tid.timestamp_micros(), integer >> 10);
    // The syntax (specs/tid.md) admits a first character in `c..j`, which sets
    // the top bit that the semantics say is always 0; only TIDs with the top bit
    // clear are (53-bit microseconds, 10-bit clock id) pairs.
    if integer >> 63 == 0 {
        let clock_id = u16::try_from(integer & 0x3ff).expect("masked to 10 bits");
        assert_eq!(Tid::from_parts(tid.timestamp_micros(), clock_id), tid, "integer round trip of {input:?}");
    }
    let encoded = cbor::to_vec(&tid).unwrap_or_else(|err| panic!("cannot encode {input:?}: {err}"));
    let decoded: Tid = cbor::from_slice(&encoded).unwrap_or_else(|err| panic!("cannot decode {input:?}: {err}"));
    assert_eq!(decoded, tid);
}

fn check_error(input: &str, err: &SyntaxError) {
    assert!(input.starts_with(&err.input), "error quotes {:?}, not a prefix of {input:?}", err.input);
    assert!(!err.reason.is_empty());
}
