//! Hostile strings into every identifier parser (`engine::syntax`) and the public-key string
//! forms (`engine::keys::PublicKey`).
//!
//! No parser may panic. An accepted value must display as its stored string, and that string
//! must parse again to an equal value (the input itself too, for the types kept as written).
//! A rejection must quote (a prefix of) its input. Parsers that build on each other must agree
//! (an AT URI's parts, an at-identifier's variant, did:key and the DID parser).
#![no_main]

use std::fmt::Display;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::keys::{Algorithm, PublicKey};
use primal_pds_engine::syntax::{
    AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, SyntaxError, Tid, validate_cid_string,
    validate_uri,
};

/// Microseconds of `10000-01-01T00:00:00Z`, past which [`Datetime::from_unix_micros`] fails.
const END_UNIX_MICROS: i64 = 253_402_300_800_000_000;

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    let did = round_trip(input, Did::parse, Did::as_str, true);
    if let Ok(atproto) = Did::parse_atproto(input) {
        assert_eq!(Some(&atproto), did.as_ref(), "an atproto DID that is not a DID: {input:?}");
    }
    let handle = round_trip(input, Handle::parse, Handle::as_str, false);
    if let Some(handle) = &handle {
        assert_eq!(handle.as_str(), input.to_ascii_lowercase(), "a handle is its input in lowercase");
    }
    round_trip(input, Nsid::parse, Nsid::as_str, true);
    round_trip(input, RecordKey::parse, RecordKey::as_str, true);
    round_trip(input, Tid::parse, Tid::as_str, true);
    round_trip(input, Language::parse, Language::as_str, true);
    check_at_identifier(input, did.as_ref(), handle.as_ref());
    check_at_uri(input);
    check_datetime(input);
    check_plain(input, validate_cid_string(input));
    check_plain(input, validate_uri(input));
    check_keys(input, did.as_ref());
});

/// Parse `input` as `T`; an accepted value displays as its string and parses again to itself
/// (by `parse` and `FromStr`). With `verbatim`, the string is the input.
fn round_trip<T>(
    input: &str,
    parse: fn(&str) -> Result<T, SyntaxError>,
    as_str: fn(&T) -> &str,
    verbatim: bool,
) -> Option<T>
where
    T: Display + FromStr<Err = SyntaxError> + PartialEq + std::fmt::Debug,
{
    let value = match parse(input) {
        Ok(value) => value,
        Err(err) => {
            check_error(input, &err);
            return None;
        }
    };
    let text = as_str(&value).to_owned();
    assert_eq!(value.to_string(), text, "display differs from as_str for {input:?}");
    if verbatim {
        assert_eq!(text, input, "{value:?} is not kept as written");
    }
    match parse(&text) {
        Ok(again) => assert_eq!(again, value, "{text:?} parses to another value"),
        Err(err) => panic!("{text:?} (from {input:?}) does not parse again: {err}"),
    }
    assert_eq!(text.parse::<T>().as_ref(), Ok(&value));
    Some(value)
}

fn check_at_identifier(input: &str, did: Option<&Did>, handle: Option<&Handle>) {
    let Some(id) = round_trip(input, AtIdentifier::parse, AtIdentifier::as_str, false) else {
        assert!(did.is_none() && handle.is_none(), "{input:?} is a DID or handle but not an at-identifier");
        return;
    };
    match (&id, did, handle) {
        (AtIdentifier::Did(a), Some(b), _) => assert_eq!(a, b),
        (AtIdentifier::Handle(a), None, Some(b)) => assert_eq!(a, b),
        _ => panic!("at-identifier {id:?} disagrees with the DID {did:?} and handle {handle:?} parsers"),
    }
}

fn check_at_uri(input: &str) {
    let Some(uri) = round_trip(input, AtUri::parse, AtUri::as_str, false) else {
        return;
    };
    assert!(uri.as_str().eq_ignore_ascii_case(input), "an AT URI may only change case: {input:?}");
    let rebuilt = AtUri::new(uri.authority().clone(), uri.collection().cloned(), uri.rkey().cloned());
    assert_eq!(rebuilt.as_ref(), Ok(&uri), "an AT URI is not rebuilt from its parts");
    if let (Some(collection), Some(rkey)) = (uri.collection(), uri.rkey()) {
        assert_eq!(AtUri::for_record(uri.authority().clone(), collection.clone(), rkey.clone()), uri);
    }
}

fn check_datetime(input: &str) {
    let Some(datetime) = round_trip(input, Datetime::parse, Datetime::as_str, true) else {
        return;
    };
    let micros = datetime.unix_micros();
    assert_eq!(micros.div_euclid(1_000_000), datetime.unix_seconds());
    assert_eq!(micros.rem_euclid(1_000_000), i64::from(datetime.subsec_nanos() / 1_000));
    let Ok(normalized) = Datetime::from_unix_micros(micros) else {
        // A time zone offset may move a year-9999 datetime past the end of year 9999 in UTC,
        // which the UTC format cannot write; nothing else may fail.
        assert!(micros >= END_UNIX_MICROS, "the instant of {input:?} cannot be formatted again");
        return;
    };
    assert_eq!(normalized.unix_micros(), micros, "{input:?} normalizes to another instant");
    let reparsed = Datetime::parse(normalized.as_str())
        .unwrap_or_else(|err| panic!("normalized form {normalized} of {input:?} does not parse: {err}"));
    assert_eq!(reparsed, normalized);
    assert_eq!(reparsed.unix_micros(), micros);
}

fn check_plain(input: &str, result: Result<(), SyntaxError>) {
    if let Err(err) = result {
        check_error(input, &err);
    }
}

fn check_error(input: &str, err: &SyntaxError) {
    assert!(input.starts_with(&err.input), "error quotes {:?}, not a prefix of {input:?}", err.input);
    assert!(!err.reason.is_empty());
}

fn check_keys(input: &str, did: Option<&Did>) {
    if let Ok(key) = PublicKey::from_did_key(input) {
        assert!(did.is_some_and(|did| did.method() == "key"), "did:key {input:?} is not a DID");
        check_key(&key, input);
    }
    if let Ok(key) = PublicKey::from_multibase(input) {
        check_key(&key, input);
    }
    for algorithm in [Algorithm::K256, Algorithm::P256] {
        if let Ok(key) = PublicKey::from_legacy_multibase(algorithm, input) {
            assert_eq!(key.algorithm(), algorithm);
            let compressed = key.to_compressed_bytes();
            assert_eq!(PublicKey::from_compressed(algorithm, &compressed).as_ref(), Ok(&key));
            check_key(&key, input);
        }
    }
}

/// A key parsed from `input` survives the did:key, multikey and compressed-point round trips.
fn check_key(key: &PublicKey, input: &str) {
    let did_key = key.to_did_key();
    assert_eq!(PublicKey::from_did_key(&did_key).as_ref(), Ok(key), "did:key round trip of {input:?}");
    assert!(Did::parse(&did_key).is_ok(), "{did_key} is not a DID");
    assert_eq!(key.to_string(), did_key);
    let multibase = key.to_multibase();
    assert_eq!(did_key.strip_prefix("did:key:"), Some(multibase.as_str()));
    assert_eq!(PublicKey::from_multibase(&multibase).as_ref(), Ok(key), "multikey round trip of {input:?}");
    let compressed = key.to_compressed_bytes();
    assert_eq!(PublicKey::from_compressed(key.algorithm(), &compressed).as_ref(), Ok(key));
}
