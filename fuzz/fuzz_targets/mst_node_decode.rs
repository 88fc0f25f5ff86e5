//! Hostile bytes into the MST node decoder (`engine::mst::Node::decode`).
//!
//! Decoding must never panic. A node that decodes must encode to canonical DAG-CBOR that
//! decodes back to an equal node and encodes stably. The encoding equals the input exactly
//! when the input was canonical: canonical DAG-CBOR, exactly the keys `e`, `l` and, in each
//! entry, `k`, `p`, `t`, `v`, and every `p` the longest prefix shared with the previous key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::Ipld;
use primal_pds_engine::data::cbor::decode_ipld;
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::mst::{MAX_KEY_LEN, Node, common_prefix_len};

fuzz_target!(|bytes: &[u8]| {
    let cid = cid_for_dag_cbor(bytes);
    let Ok(node) = Node::decode(&cid, bytes) else {
        return;
    };
    for pair in node.entries.windows(2) {
        assert!(pair[0].key < pair[1].key, "keys not strictly increasing: {node:?}");
    }
    assert!(node.entries.iter().all(|e| !e.key.is_empty() && e.key.len() <= MAX_KEY_LEN));

    let encoded = node.encode();
    let again = match Node::decode(&cid_for_dag_cbor(&encoded), &encoded) {
        Ok(again) => again,
        Err(err) => panic!("our encoding does not decode: {err}; bytes: {encoded:02x?}"),
    };
    assert_eq!(again, node, "decode(encode(node)) differs from node");
    assert_eq!(again.encode(), encoded, "node encoding is not stable");
    if let Err(err) = decode_ipld(&encoded) {
        panic!("node encoding is not canonical DAG-CBOR: {err}; bytes: {encoded:02x?}");
    }

    let canonical = is_canonical_node(bytes);
    assert_eq!(
        encoded == bytes,
        canonical,
        "encoding equals input: {}, input canonical: {canonical}; input {bytes:02x?}, encoding {encoded:02x?}",
        encoded == bytes
    );
});

/// Whether `bytes` (already known to decode as a node) are the one canonical form of it.
fn is_canonical_node(bytes: &[u8]) -> bool {
    let Ok(Ipld::Map(node)) = decode_ipld(bytes) else {
        return false;
    };
    if node.len() != 2 || !node.contains_key("l") {
        return false;
    }
    let Some(Ipld::List(entries)) = node.get("e") else {
        return false;
    };
    let mut prev: Vec<u8> = Vec::new();
    for entry in entries {
        let Ipld::Map(entry) = entry else { return false };
        if entry.len() != 4 || !entry.contains_key("t") || !entry.contains_key("v") {
            return false;
        }
        let (Some(Ipld::Bytes(suffix)), Some(Ipld::Integer(p))) = (entry.get("k"), entry.get("p")) else {
            return false;
        };
        let Ok(p) = usize::try_from(*p) else { return false };
        let Some(shared) = prev.get(..p) else { return false };
        let mut key = shared.to_vec();
        key.extend_from_slice(suffix);
        if common_prefix_len(&prev, &key) != p {
            return false;
        }
        prev = key;
    }
    true
}
