//! Hostile JSON into the atproto JSON form of the data model (`engine::data::json`).
//!
//! Converting must never panic. A value it accepts must encode as DAG-CBOR, decode from that
//! encoding to itself and encode stably; and rendering it as JSON (`ipld_to_json`) and
//! converting back must give the same value. `ipld_from_json_object` must agree with
//! `ipld_from_json` on objects and refuse everything else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::data::cbor::{decode_ipld, encode_ipld};
use primal_pds_engine::data::json::{ipld_from_json, ipld_from_json_object, ipld_to_json};
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    let Ok(json) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    let value = ipld_from_json(&json);
    let object = ipld_from_json_object(&json);
    if json.is_object() {
        assert_eq!(object, value, "ipld_from_json_object disagrees with ipld_from_json on an object");
    } else {
        assert!(object.is_err(), "ipld_from_json_object accepts a non-object: {json}");
    }
    let Ok(value) = value else {
        return;
    };

    let encoded = encode_ipld(&value).unwrap_or_else(|err| panic!("accepted value does not encode: {err}; {json}"));
    match decode_ipld(&encoded) {
        Ok(decoded) => assert_eq!(decoded, value, "decode(encode(value)) differs from value"),
        Err(err) => panic!("our encoding does not decode: {err}; bytes: {encoded:02x?}"),
    }
    assert_eq!(encode_ipld(&value).ok(), Some(encoded), "encoding is not stable");

    let rendered = ipld_to_json(&value);
    match ipld_from_json(&rendered) {
        Ok(again) => assert_eq!(again, value, "JSON round trip changes the value: {rendered}"),
        Err(err) => panic!("rendered JSON does not convert back: {err}; {rendered}"),
    }
    assert_eq!(ipld_to_json(&value), rendered, "rendering is not stable");
});
