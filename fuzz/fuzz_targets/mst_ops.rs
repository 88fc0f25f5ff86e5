//! Random edit scripts on the MST (`engine::mst::{insert, remove, get}`), checked against a
//! `BTreeMap` model.
//!
//! The input is a list of `(key, action)` byte pairs (see [`Op`]), grouped into commits. Keys
//! come from a fixed set of about 200 taken from the MST interop vectors (their depths reach
//! layer 5; a few are invalid keys that inserts must refuse). After every op, `insert` and
//! `remove` report the value the model held and `get` agrees with the model. After every commit:
//! - `diff` from the previous root lists exactly the keys whose value changed, and its node sets
//!   are exactly the nodes one tree has and the other lacks;
//! - a Sync 1.1 consumer holding only the commit's CAR slice (the nodes the commit created plus
//!   the covering proof of each written key, as `Repo::apply_writes` builds it) inverts the ops
//!   back to the previous root (`repo::invert_commit`).
//!
//! At the end the tree lists exactly the model, has the layer of its deepest key, and equals
//! the tree built from scratch from the final key set (in ascending and descending order):
//! the MST is history independent.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use primal_pds_engine::Cid;
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::mst::{self, MstError, NodeStore};
use primal_pds_engine::repo::{RepoOp, WriteAction, invert_commit};
use primal_pds_fuzz::mst_key_space;

/// Most ops run per input, to keep every run fast.
const MAX_OPS: usize = 128;

/// One edit: `key` picks a key of `mst_key_space()` (modulo its length); `action` bit 0 set means
/// remove, clear means insert the value numbered `action >> 2`; bit 1 set ends a commit.
#[derive(Debug, Clone, Copy, Arbitrary)]
struct Op {
    key: u8,
    action: u8,
}

/// The whole input as a list of ops: consecutive byte pairs, a trailing odd byte ignored.
#[derive(Debug)]
struct Script(Vec<Op>);

impl<'a> Arbitrary<'a> for Script {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut ops = Vec::new();
        while ops.len() < MAX_OPS && u.len() >= 2 {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Script(ops))
    }
}

fn value(n: u8) -> Cid {
    cid_for_dag_cbor(&[n])
}

type Model = BTreeMap<Vec<u8>, Cid>;

fuzz_target!(|script: Script| {
    let keys = mst_key_space();
    let mut nodes = NodeStore::new();
    let mut root = nodes.empty_root();
    let mut model = Model::new();
    let mut commits = script.0.split_inclusive(|op| op.action & 2 != 0);
    for commit in &mut commits {
        let before_root = root;
        let before_model = model.clone();
        nodes.take_created();
        let mut ops = Vec::new();
        for op in commit {
            let key = &keys[usize::from(op.key) % keys.len()];
            root = apply(&mut nodes, root, &mut model, key, op.action, &mut ops);
        }
        check_commit(&nodes, (&before_root, &before_model), (&root, &model), &ops);
    }

    let listed = mst::list(&nodes, &root, b"", usize::MAX).unwrap_or_else(|err| panic!("list fails: {err}"));
    let listed: Vec<(Vec<u8>, Cid)> = listed.into_iter().map(|(k, v)| (k.to_vec(), v)).collect();
    let expected: Vec<(Vec<u8>, Cid)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(listed, expected, "the tree does not list the model");
    let deepest = model.keys().map(|k| mst::key_depth(k)).max().unwrap_or(0);
    assert_eq!(mst::layer(&nodes, &root), Ok(deepest), "root layer is not that of the deepest key");
    assert_eq!(build(model.iter()), root, "history dependence: building the key set ascending differs");
    assert_eq!(build(model.iter().rev()), root, "history dependence: building the key set descending differs");
});

/// Apply one op to the tree and the model, checking the tree's answers against the model.
fn apply(nodes: &mut NodeStore, root: Cid, model: &mut Model, key: &[u8], action: u8, ops: &mut Vec<RepoOp>) -> Cid {
    let path = String::from_utf8_lossy(key).into_owned();
    let valid = mst::validate_key(key).is_ok();
    let new_root = if action & 1 == 0 {
        let cid = value(action >> 2);
        match mst::insert(nodes, &root, key, cid) {
            Ok((new_root, old)) => {
                assert!(valid, "inserted the invalid key {path:?}");
                assert_eq!(old, model.insert(key.to_vec(), cid), "insert of {path:?} reports another old value");
                let action = if old.is_some() { WriteAction::Update } else { WriteAction::Create };
                ops.push(RepoOp { action, path: path.clone(), cid: Some(cid), prev: old });
                new_root
            }
            Err(MstError::InvalidKey(_)) if !valid => root,
            Err(err) => panic!("insert of {path:?} fails: {err}"),
        }
    } else {
        match (mst::remove(nodes, &root, key), model.remove(key)) {
            (Ok((new_root, old)), Some(expected)) => {
                assert_eq!(old, expected, "remove of {path:?} reports another old value");
                ops.push(RepoOp { action: WriteAction::Delete, path: path.clone(), cid: None, prev: Some(old) });
                new_root
            }
            (Err(MstError::KeyNotFound(_)), None) => root,
            (result, expected) => panic!("remove of {path:?} gives {result:?}, the model held {expected:?}"),
        }
    };
    match mst::get(nodes, &new_root, key) {
        Ok(found) => assert_eq!(found.as_ref(), model.get(key), "get of {path:?} disagrees with the model"),
        Err(err) => panic!("get of {path:?} fails: {err}"),
    }
    new_root
}

/// Check one commit from `before` to `after` made of `ops`: its diff and its inversion.
fn check_commit(nodes: &NodeStore, before: (&Cid, &Model), after: (&Cid, &Model), ops: &[RepoOp]) {
    let (before_root, before_model) = before;
    let (after_root, after_model) = after;
    let diff = mst::diff(nodes, before_root, after_root).unwrap_or_else(|err| panic!("diff fails: {err}"));
    let changes: Vec<(Vec<u8>, Option<Cid>, Option<Cid>)> =
        diff.changes.iter().map(|c| (c.key.to_vec(), c.old, c.new)).collect();
    let all_keys: BTreeSet<&Vec<u8>> = before_model.keys().chain(after_model.keys()).collect();
    let expected: Vec<(Vec<u8>, Option<Cid>, Option<Cid>)> = all_keys
        .into_iter()
        .map(|k| (k.clone(), before_model.get(k).copied(), after_model.get(k).copied()))
        .filter(|(_, old, new)| old != new)
        .collect();
    assert_eq!(changes, expected, "diff does not list the changed keys");
    let old_nodes = tree_nodes(nodes, before_root);
    let new_nodes = tree_nodes(nodes, after_root);
    let added: BTreeSet<Cid> = new_nodes.difference(&old_nodes).copied().collect();
    let removed: BTreeSet<Cid> = old_nodes.difference(&new_nodes).copied().collect();
    assert_eq!(diff.new_nodes, added, "diff's new nodes are not the nodes only the new tree has");
    assert_eq!(diff.removed_nodes, removed, "diff's removed nodes are not the nodes only the old tree has");

    // The CAR slice of the commit: created nodes the new tree uses, and each key's proof.
    let mut slice: HashMap<Cid, Bytes> = HashMap::new();
    let mut stack = vec![*after_root];
    while let Some(cid) = stack.pop() {
        if !nodes.is_created(&cid) || slice.contains_key(&cid) {
            continue;
        }
        let node = nodes.get(&cid).unwrap_or_else(|err| panic!("a new node is missing: {err}"));
        slice.insert(cid, block(nodes, &cid));
        stack.extend(node.left);
        stack.extend(node.entries.iter().filter_map(|e| e.right));
    }
    for op in ops {
        let proof = mst::covering_proof(nodes, after_root, op.path.as_bytes())
            .unwrap_or_else(|err| panic!("covering proof of {:?} fails: {err}", op.path));
        for cid in proof {
            slice.entry(cid).or_insert_with(|| block(nodes, &cid));
        }
    }
    match invert_commit(&slice, after_root, ops) {
        Ok(inverted) => assert_eq!(&inverted, before_root, "inverting {ops:?} does not give the previous root"),
        Err(err) => panic!("inverting {ops:?} on the commit's slice fails: {err}"),
    }
}

fn block(nodes: &NodeStore, cid: &Cid) -> Bytes {
    nodes.block(cid).cloned().unwrap_or_else(|| panic!("node {cid} has no block"))
}

/// Every node of the tree `root`.
fn tree_nodes(nodes: &NodeStore, root: &Cid) -> BTreeSet<Cid> {
    let mut out = BTreeSet::new();
    let result = mst::walk_nodes(
        nodes,
        root,
        &mut |cid| {
            out.insert(*cid);
            Ok(())
        },
        &mut |_, _| Ok(()),
    );
    result.unwrap_or_else(|err| panic!("walking the tree fails: {err}"));
    out
}

/// The root of a tree built from scratch with these entries, inserted in the order given.
fn build<'a>(entries: impl Iterator<Item = (&'a Vec<u8>, &'a Cid)>) -> Cid {
    let mut nodes = NodeStore::new();
    let mut root = nodes.empty_root();
    for (key, cid) in entries {
        root = match mst::insert(&mut nodes, &root, key, *cid) {
            Ok((root, None)) => root,
            other => panic!("building from scratch: insert of {key:?} gives {other:?}"),
        };
    }
    root
}
