//! Structured hostile trees into whole-repository verification (`engine::repo::verify_repo_car`).
//!
//! Mutated CAR bytes almost never hash right, so `repo_car_verify` rarely gets past the CAR
//! reader. Here the input describes MST nodes instead, and the target hashes and links them
//! itself, so every CAR is well formed and the tree checks see arbitrary shapes: wrong
//! layers, keys out of order, shared subtrees, empty nodes, missing blocks.
//!
//! Input: a flags byte, then node records, built in order (see [`parse_nodes`]). The last node
//! is the commit's `data`. An accepted repository must list valid paths in strictly increasing
//! order, and when nothing is missing, the tree built from scratch from its records must be
//! exactly the committed one. The same tree then goes through the edit operations a firehose
//! consumer runs on untrusted partial trees (`insert`, `remove`, `get`): none may panic.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::Cid;
use primal_pds_engine::car::CarWriter;
use primal_pds_engine::commit::Commit;
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::mst::{self, Entry, Node, NodeStore, key_depth};
use primal_pds_engine::repo::verify_repo_car;
use primal_pds_engine::syntax::{Did, Tid};
use primal_pds_fuzz::{SMALL_CAR_LIMITS, mst_key_space};

/// Layers a node record can claim (keys of the key space reach depth 5; 6 and 7 have no keys).
const LAYERS: usize = 8;
/// Most node records read from one input.
const MAX_NODES: usize = 64;

/// Flags byte: leave the record blocks out of the CAR.
const FLAG_NO_RECORDS: u8 = 1;
/// Flags byte: leave the first node block out of the CAR.
const FLAG_DROP_FIRST_NODE: u8 = 2;

/// A node as built, with the layer its record claimed.
struct Built {
    cid: Cid,
    bytes: Vec<u8>,
    layer: usize,
    /// The bytes whose hashes are the node's entry values.
    values: Vec<u8>,
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&flags, rest)) = bytes.split_first() else {
        return;
    };
    let built = parse_nodes(rest);
    let Some(root) = built.last() else {
        return;
    };
    let data = root.cid;

    // Record values are hashes of one byte, and that byte is the record block.
    let records: BTreeSet<u8> = built.iter().flat_map(|b| b.values.iter().copied()).collect();
    let did = Did::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").expect("a valid DID");
    let rev = Tid::parse("3jzfcijpj2z2a").expect("a valid TID");
    let commit = Commit { did, data, rev, prev: None, sig: vec![0; 64] };
    let (commit_cid, commit_bytes) = commit.to_block();
    let car = write_car(commit_cid, &commit_bytes, &built, &records, flags);

    let Ok(repo) = verify_repo_car(&car, None, SMALL_CAR_LIMITS) else {
        return;
    };
    assert_eq!(repo.commit_cid, commit_cid);
    for pair in repo.records.windows(2) {
        assert!(pair[0].0 < pair[1].0, "records out of order: {:?} then {:?}", pair[0].0, pair[1].0);
    }
    for (path, _) in &repo.records {
        if let Err(err) = mst::validate_key(path.as_bytes()) {
            panic!("accepted an invalid record path: {err}");
        }
    }
    if repo.missing.is_empty() {
        let mut nodes = NodeStore::new();
        let mut rebuilt = nodes.empty_root();
        for (path, cid) in &repo.records {
            rebuilt = match mst::insert(&mut nodes, &rebuilt, path.as_bytes(), *cid) {
                Ok((root, None)) => root,
                other => panic!("rebuilding: inserting {path:?} gave {other:?}"),
            };
        }
        assert_eq!(rebuilt, data, "accepted a tree that is not the one its records determine");
        assert_eq!(mst::layer(&nodes, &rebuilt), Ok(repo.layer));
    }
    edit_untrusted(&built, data);
});

/// Read node records from `bytes` and build them, each linking only to nodes built before it.
///
/// A record is a head byte: bits 0-2 the layer, bit 3 "has a left link", bits 4-7 the number of
/// entries (0-15); then, with bit 3, a link byte; then per entry a key byte, a value byte and a
/// link byte. A key byte below 0x80 picks (modulo) one of the valid keys of the node's layer
/// (none if the layer has none); from 0x80 up, its low 7 bits pick any key of the key space,
/// whatever its depth or validity. A link byte of 0 means no link; below 0x80 it picks
/// (modulo) one of the nodes built so far one layer down (none if there is none); from 0x80 up,
/// any node built so far. Entries are sorted by key, repeats dropped. A record cut short by the
/// end of the input is dropped. Bytes below 0x80 thus build well-layered trees; the others
/// break the layering on purpose.
fn parse_nodes(bytes: &[u8]) -> Vec<Built> {
    let by_depth = keys_by_depth();
    let mut built: Vec<Built> = Vec::new();
    let mut input = bytes.iter().copied();
    while built.len() < MAX_NODES {
        let Some(head) = input.next() else { break };
        let layer = usize::from(head & 7);
        let link = |byte: u8, built: &[Built]| -> Option<Cid> {
            let candidates: Vec<&Built> = if byte & 0x80 != 0 {
                built.iter().collect()
            } else {
                built.iter().filter(|b| layer > 0 && b.layer == layer - 1).collect()
            };
            if byte == 0 || candidates.is_empty() {
                return None;
            }
            Some(candidates[usize::from((byte & 0x7f).wrapping_sub(1)) % candidates.len()].cid)
        };
        let left = if head & 8 != 0 {
            let Some(byte) = input.next() else { break };
            link(byte, &built)
        } else {
            None
        };
        let mut entries: BTreeMap<Vec<u8>, (u8, Entry)> = BTreeMap::new();
        let mut complete = true;
        for _ in 0..(head >> 4) {
            let (Some(k), Some(v), Some(t)) = (input.next(), input.next(), input.next()) else {
                complete = false;
                break;
            };
            let keys = if k & 0x80 != 0 { mst_key_space() } else { by_depth[layer].as_slice() };
            if keys.is_empty() {
                continue;
            }
            let key = keys[usize::from(k & 0x7f) % keys.len()].clone();
            let entry = Entry { key: key.clone().into(), value: cid_for_dag_cbor(&[v]), right: link(t, &built) };
            entries.entry(key).or_insert((v, entry));
        }
        if !complete {
            break;
        }
        let values = entries.values().map(|(v, _)| *v).collect();
        let node = Node { left, entries: entries.into_values().map(|(_, e)| e).collect() };
        let bytes = node.encode();
        built.push(Built { cid: cid_for_dag_cbor(&bytes), bytes, layer, values });
    }
    built
}

/// The valid keys of the key space, by depth (`LAYERS` lists; the deeper ones empty).
fn keys_by_depth() -> Vec<Vec<Vec<u8>>> {
    let mut by_depth = vec![Vec::new(); LAYERS];
    for key in mst_key_space() {
        let depth = usize::from(key_depth(key));
        if depth < LAYERS && mst::validate_key(key).is_ok() {
            by_depth[depth].push(key.clone());
        }
    }
    by_depth
}

/// The repository CAR: the commit, the node blocks (each once) and, unless flagged off, a
/// block for every record value (the one byte it hashes; not DAG-CBOR, which the repository
/// check does not look at).
fn write_car(commit_cid: Cid, commit_bytes: &[u8], built: &[Built], records: &BTreeSet<u8>, flags: u8) -> Vec<u8> {
    let mut writer = CarWriter::new(Vec::new(), &[commit_cid]).expect("writing to a Vec");
    writer.write_block(&commit_cid, commit_bytes).expect("writing to a Vec");
    let mut written = BTreeSet::new();
    for (i, node) in built.iter().enumerate() {
        if (i == 0 && flags & FLAG_DROP_FIRST_NODE != 0) || !written.insert(node.cid) {
            continue;
        }
        writer.write_block(&node.cid, &node.bytes).expect("writing to a Vec");
    }
    if flags & FLAG_NO_RECORDS == 0 {
        for &byte in records {
            writer.write_block(&cid_for_dag_cbor(&[byte]), &[byte]).expect("writing to a Vec");
        }
    }
    writer.finish().expect("writing to a Vec")
}

/// Run the edit operations on the untrusted tree, loading nodes from the built blocks as a
/// firehose consumer does with a CAR slice: errors are fine, panics are not.
fn edit_untrusted(built: &[Built], data: Cid) {
    let blocks: BTreeMap<Cid, &[u8]> = built.iter().map(|b| (b.cid, b.bytes.as_slice())).collect();
    let keys = mst_key_space();
    let value = cid_for_dag_cbor(b"edit");
    for (i, key) in keys.iter().enumerate().step_by(7) {
        let mut nodes = NodeStore::new();
        for _ in 0..MAX_NODES * 4 {
            let result = if i % 2 == 0 {
                mst::insert(&mut nodes, &data, key, value).map(|_| ())
            } else {
                mst::remove(&mut nodes, &data, key).map(|_| ())
            }
            .and_then(|()| mst::get(&nodes, &data, key).map(|_| ()));
            match result {
                Err(mst::MstError::MissingNode(cid)) => match blocks.get(&cid) {
                    Some(bytes) => {
                        if nodes.load(cid, bytes.to_vec().into()).is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                _ => break,
            }
        }
    }
}
