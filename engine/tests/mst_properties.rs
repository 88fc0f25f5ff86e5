//! Property tests: the MST's shape depends only on its contents, and diffs
//! and proofs agree with brute force.

use std::collections::{BTreeMap, BTreeSet};

use primal_pds_engine::Cid;
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::mst::{self, NodeStore};
use proptest::prelude::*;

fn key(n: u16) -> Vec<u8> {
    format!("com.example.record/{n:05}").into_bytes()
}

fn value(n: u16, version: u8) -> Cid {
    cid_for_dag_cbor(&[n as u8, (n >> 8) as u8, version])
}

fn build(nodes: &mut NodeStore, map: &BTreeMap<Vec<u8>, Cid>, reverse: bool) -> Cid {
    let mut root = nodes.empty_root();
    let entries: Vec<_> = if reverse { map.iter().rev().collect() } else { map.iter().collect() };
    for (k, v) in entries {
        root = mst::insert(nodes, &root, k, *v).expect("insert").0;
    }
    root
}

fn all_nodes(nodes: &NodeStore, root: &Cid) -> BTreeSet<Cid> {
    let mut out = BTreeSet::new();
    mst::walk_nodes(
        nodes,
        root,
        &mut |c| {
            out.insert(*c);
            Ok(())
        },
        &mut |_, _| Ok(()),
    )
    .expect("walk");
    out
}

#[derive(Debug, Clone)]
enum Op {
    Put(u16, u8),
    Del(u16),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![(0u16..400, 0u8..3).prop_map(|(k, v)| Op::Put(k, v)), (0u16..400).prop_map(Op::Del)],
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn history_independent(ops in ops()) {
        let mut nodes = NodeStore::new();
        let mut root = nodes.empty_root();
        let mut model = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Put(k, v) => {
                    let (new_root, old) = mst::insert(&mut nodes, &root, &key(*k), value(*k, *v)).expect("insert");
                    prop_assert_eq!(old, model.insert(key(*k), value(*k, *v)));
                    root = new_root;
                }
                Op::Del(k) => match model.remove(&key(*k)) {
                    Some(v) => {
                        let (new_root, old) = mst::remove(&mut nodes, &root, &key(*k)).expect("remove");
                        prop_assert_eq!(old, v);
                        root = new_root;
                    }
                    None => prop_assert!(mst::remove(&mut nodes, &root, &key(*k)).is_err()),
                },
            }
        }
        let listed: BTreeMap<Vec<u8>, Cid> =
            mst::list(&nodes, &root, b"", usize::MAX).expect("list").into_iter().map(|(k, v)| (k.to_vec(), v)).collect();
        prop_assert_eq!(&listed, &model);
        let mut fresh = NodeStore::new();
        prop_assert_eq!(build(&mut fresh, &model, false), root);
        let mut fresh = NodeStore::new();
        prop_assert_eq!(build(&mut fresh, &model, true), root);
        for k in 0u16..400 {
            prop_assert_eq!(mst::get(&nodes, &root, &key(k)).expect("get"), model.get(&key(k)).copied());
        }
    }

    #[test]
    fn diff_matches_brute_force(before in ops(), after in ops()) {
        let mut nodes = NodeStore::new();
        let apply = |root: Cid, ops: &[Op], nodes: &mut NodeStore| {
            let mut root = root;
            for op in ops {
                root = match op {
                    Op::Put(k, v) => mst::insert(nodes, &root, &key(*k), value(*k, *v)).expect("insert").0,
                    Op::Del(k) => mst::remove(nodes, &root, &key(*k)).map(|r| r.0).unwrap_or(root),
                };
            }
            root
        };
        let empty = nodes.empty_root();
        let old = apply(empty, &before, &mut nodes);
        let new = apply(old, &after, &mut nodes);
        let d = mst::diff(&nodes, &old, &new).expect("diff");
        let old_map: BTreeMap<_, _> = mst::list(&nodes, &old, b"", usize::MAX).expect("list").into_iter().collect();
        let new_map: BTreeMap<_, _> = mst::list(&nodes, &new, b"", usize::MAX).expect("list").into_iter().collect();
        let keys: BTreeSet<_> = old_map.keys().chain(new_map.keys()).cloned().collect();
        let want: Vec<_> = keys
            .into_iter()
            .filter(|k| old_map.get(k) != new_map.get(k))
            .map(|k| (old_map.get(&k).copied(), new_map.get(&k).copied(), k))
            .collect();
        let got: Vec<_> = d.changes.iter().map(|c| (c.old, c.new, c.key.clone())).collect();
        prop_assert_eq!(got, want);
        let old_nodes = all_nodes(&nodes, &old);
        let new_nodes = all_nodes(&nodes, &new);
        prop_assert_eq!(&d.new_nodes, &new_nodes.difference(&old_nodes).copied().collect());
        prop_assert_eq!(&d.removed_nodes, &old_nodes.difference(&new_nodes).copied().collect());
    }

    #[test]
    fn list_from_start_key(keys in prop::collection::btree_set(0u16..1000, 0..200), from in 0u16..1000, limit in 0usize..50) {
        let map: BTreeMap<Vec<u8>, Cid> = keys.iter().map(|k| (key(*k), value(*k, 0))).collect();
        let mut nodes = NodeStore::new();
        let root = build(&mut nodes, &map, false);
        let got: Vec<Vec<u8>> = mst::list(&nodes, &root, &key(from), limit).expect("list").into_iter().map(|(k, _)| k.to_vec()).collect();
        let want: Vec<Vec<u8>> = map.range(key(from)..).take(limit).map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(got, want);
    }
}
