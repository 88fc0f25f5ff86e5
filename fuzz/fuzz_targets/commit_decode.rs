//! Hostile bytes into the commit decoders (`engine::commit::{Commit, CommitHeader}`).
//!
//! Neither decoder may panic. What `Commit::decode` accepts, `CommitHeader::decode` accepts
//! with the same fields and version 3. An accepted commit re-encodes (`to_bytes`) to canonical
//! DAG-CBOR that decodes back to an equal commit and encodes stably, and its bytes equal the
//! input whenever the input was canonical DAG-CBOR. The unsigned form is the signed one
//! without `sig`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::Ipld;
use primal_pds_engine::commit::{Commit, CommitHeader, VERSION};
use primal_pds_engine::data::cbor::decode_ipld;
use primal_pds_engine::data::cid::cid_for_dag_cbor;

fuzz_target!(|bytes: &[u8]| {
    let header = CommitHeader::decode(bytes);
    let Ok(commit) = Commit::decode(bytes) else {
        return;
    };
    let header = header.unwrap_or_else(|err| panic!("Commit::decode accepts what CommitHeader::decode refuses: {err}"));
    assert_eq!(header.version, i128::from(VERSION));
    assert_eq!(header.did, commit.did);
    assert_eq!(header.data, commit.data);
    assert_eq!(header.rev.as_ref(), Some(&commit.rev));
    assert_eq!(header.prev, commit.prev);
    assert_eq!(header.sig, commit.sig);

    let encoded = commit.to_bytes();
    let again = Commit::decode(&encoded).unwrap_or_else(|err| panic!("our encoding does not decode: {err}"));
    assert_eq!(again, commit, "decode(to_bytes(commit)) differs from commit");
    assert_eq!(again.to_bytes(), encoded, "commit encoding is not stable");
    assert_eq!(commit.to_block(), (cid_for_dag_cbor(&encoded), encoded.clone()));
    let signed = match decode_ipld(&encoded) {
        Ok(Ipld::Map(map)) => map,
        other => panic!("commit encoding is not a canonical DAG-CBOR map: {other:?}"),
    };
    if decode_ipld(bytes).is_ok() {
        assert_eq!(encoded, bytes, "a canonical commit is not re-encoded as it was");
    }

    let unsigned = match decode_ipld(&commit.unsigned_bytes()) {
        Ok(Ipld::Map(map)) => map,
        other => panic!("unsigned commit is not a canonical DAG-CBOR map: {other:?}"),
    };
    let mut expected = signed;
    expected.remove("sig");
    assert_eq!(unsigned, expected, "the unsigned form is not the signed one without sig");
});
