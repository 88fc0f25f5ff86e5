//! MST vectors: key heights, prefixes, node encodings, known roots, edit
//! sequences, key validity, and the sync-1.1 commit proofs with inversion.

use std::path::PathBuf;

use primal_pds_engine::Cid;
use primal_pds_engine::mst::{self, MstError, NodeStore};

fn vectors(rel: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data/interop", rel].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&vectors(rel)).unwrap_or_else(|e| panic!("parse {rel}: {e}"))
}

fn cid(s: &serde_json::Value) -> Cid {
    s.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad CID {s}"))
}

fn str_list(v: &serde_json::Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_owned()).collect()
}

fn build(nodes: &mut NodeStore, keys: &[String], value: Cid) -> Cid {
    let mut root = nodes.empty_root();
    for key in keys {
        root = mst::insert(nodes, &root, key.as_bytes(), value).unwrap_or_else(|e| panic!("insert {key}: {e}")).0;
    }
    root
}

fn leaf_count(nodes: &NodeStore, root: &Cid) -> usize {
    mst::list(nodes, root, b"", usize::MAX).expect("list").len()
}

#[test]
fn key_heights() {
    let mut failures = Vec::new();
    for case in json("mst/key_heights.json").as_array().expect("array") {
        let key = case["key"].as_str().expect("key");
        let want = case["height"].as_u64().expect("height");
        let got = mst::key_depth(key.as_bytes());
        if u64::from(got) != want {
            failures.push(format!("{key:?}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn example_keys_heights() {
    let text = vectors("mst/example_keys.txt");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in text.split('\n').filter(|l| !l.is_empty() && !l.starts_with('#')) {
        count += 1;
        let want = line.as_bytes()[1] - b'0';
        if mst::key_depth(line.as_bytes()) != want {
            failures.push(line.to_owned());
        }
    }
    assert_eq!(count, 156);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn common_prefixes() {
    let mut failures = Vec::new();
    for case in json("mst/common_prefix.json").as_array().expect("array") {
        let (l, r) = (case["left"].as_str().expect("left"), case["right"].as_str().expect("right"));
        let want = case["len"].as_u64().expect("len") as usize;
        let got = mst::common_prefix_len(l.as_bytes(), r.as_bytes());
        if got != want {
            failures.push(format!("{l:?} {r:?}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn node_encoding_examples() {
    let v = json("extra/mst-known-roots/mst-interop-vectors.json");
    for ex in v["nodeEncodingExamples"].as_array().expect("array") {
        let bytes = hex_decode(ex["cborHex"].as_str().expect("hex"));
        let want = cid(&ex["cid"]);
        let node = mst::Node::decode(&want, &bytes).expect("decode");
        assert_eq!(node.encode(), bytes, "{}", ex["name"]);
        let mut nodes = NodeStore::new();
        nodes.load(want, bytes.into()).expect("load");
        // The JSON form of the node agrees with the decoded one.
        let entries = ex["node"]["e"].as_array().expect("entries");
        assert_eq!(entries.len(), node.entries.len());
        for (json_entry, entry) in entries.iter().zip(&node.entries) {
            assert_eq!(cid(&json_entry["v"]), entry.value);
        }
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn known_maps() {
    let v = json("extra/mst-known-roots/mst-interop-vectors.json");
    let leaf = cid(&v["leafValue"]);
    let mut failures = Vec::new();
    for map in v["knownMaps"].as_array().expect("array") {
        let keys = str_list(&map["keys"]);
        let mut nodes = NodeStore::new();
        let root = build(&mut nodes, &keys, leaf);
        if root != cid(&map["rootCid"]) {
            failures.push(format!("{}: root {root}", map["name"]));
        }
        assert_eq!(leaf_count(&nodes, &root) as u64, map["leafCount"].as_u64().expect("count"));
        if let Some(layer) = map["layer"].as_u64() {
            assert_eq!(u64::from(mst::layer(&nodes, &root).expect("layer")), layer, "{}", map["name"]);
        }
        // Reverse insertion order gives the same root.
        let mut nodes2 = NodeStore::new();
        let rev: Vec<String> = keys.iter().rev().cloned().collect();
        assert_eq!(build(&mut nodes2, &rev, leaf), root, "{} reversed", map["name"]);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn edit_sequences() {
    let v = json("extra/mst-known-roots/mst-interop-vectors.json");
    let leaf = cid(&v["leafValue"]);
    let mut failures = Vec::new();
    for seq in v["editSequences"].as_array().expect("array") {
        let name = seq["name"].as_str().expect("name");
        let mut nodes = NodeStore::new();
        let mut root = nodes.empty_root();
        for (i, step) in seq["steps"].as_array().expect("steps").iter().enumerate() {
            if let Some(key) = step["add"].as_str() {
                root = mst::insert(&mut nodes, &root, key.as_bytes(), leaf).expect("insert").0;
            } else if let Some(key) = step["delete"].as_str() {
                root = mst::remove(&mut nodes, &root, key.as_bytes()).expect("remove").0;
            } else {
                let expect = &step["expect"];
                if root != cid(&expect["rootCid"]) {
                    failures.push(format!("{name} step {i}: root {root}"));
                }
                assert_eq!(leaf_count(&nodes, &root) as u64, expect["leafCount"].as_u64().expect("count"));
                if let Some(layer) = expect["layer"].as_u64() {
                    assert_eq!(u64::from(mst::layer(&nodes, &root).expect("layer")), layer, "{name} step {i}");
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn key_validity() {
    let v = json("extra/mst-known-roots/mst-interop-vectors.json");
    let leaf = cid(&v["leafValue"]);
    let mut failures = Vec::new();
    for key in str_list(&v["keyValidity"]["valid"]) {
        let mut nodes = NodeStore::new();
        let root = nodes.empty_root();
        if mst::insert(&mut nodes, &root, key.as_bytes(), leaf).is_err() {
            failures.push(format!("valid key refused: {key:?}"));
        }
    }
    for key in str_list(&v["keyValidity"]["invalid"]) {
        let mut nodes = NodeStore::new();
        let root = nodes.empty_root();
        if !matches!(mst::insert(&mut nodes, &root, key.as_bytes(), leaf), Err(MstError::InvalidKey(_))) {
            failures.push(format!("invalid key accepted: {key:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn commit_proofs_and_inversion() {
    let mut failures = Vec::new();
    for case in json("firehose/commit-proof-fixtures.json").as_array().expect("array") {
        let name = case["comment"].as_str().expect("comment");
        let leaf = cid(&case["leafValue"]);
        let mut nodes = NodeStore::new();
        let before = build(&mut nodes, &str_list(&case["keys"]), leaf);
        if before != cid(&case["rootBeforeCommit"]) {
            failures.push(format!("{name}: before root {before}"));
            continue;
        }
        let adds = str_list(&case["adds"]);
        let dels = str_list(&case["dels"]);
        let mut after = before;
        for key in &adds {
            after = mst::insert(&mut nodes, &after, key.as_bytes(), leaf).expect("add").0;
        }
        for key in &dels {
            after = mst::remove(&mut nodes, &after, key.as_bytes()).expect("del").0;
        }
        if after != cid(&case["rootAfterCommit"]) {
            failures.push(format!("{name}: after root {after}"));
            continue;
        }
        let mut proof = std::collections::BTreeSet::new();
        for key in adds.iter().chain(&dels) {
            proof.extend(mst::covering_proof(&nodes, &after, key.as_bytes()).expect("proof"));
        }
        for want in case["blocksInProof"].as_array().expect("array") {
            if !proof.contains(&cid(want)) {
                failures.push(format!("{name}: proof lacks {want}"));
            }
        }
        // Invert from the proof blocks alone, in every order.
        let ops: Vec<(&String, bool)> = adds.iter().map(|k| (k, true)).chain(dels.iter().map(|k| (k, false))).collect();
        for order in permutations(ops.len()) {
            let mut partial = NodeStore::new();
            for c in &proof {
                partial.load(*c, nodes.block(c).expect("proof block").clone()).expect("load proof block");
            }
            let mut root = after;
            let result: Result<(), MstError> = order.iter().try_for_each(|&i| {
                let (key, was_add) = ops[i];
                root = if was_add {
                    mst::remove(&mut partial, &root, key.as_bytes())?.0
                } else {
                    mst::insert(&mut partial, &root, key.as_bytes(), leaf)?.0
                };
                Ok(())
            });
            match result {
                Ok(()) if root == before => {}
                Ok(()) => failures.push(format!("{name}: order {order:?} inverted to {root}")),
                Err(e) => failures.push(format!("{name}: order {order:?} failed: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
