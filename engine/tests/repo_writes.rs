//! Repository writes end to end on the in-memory store: commits verify,
//! revs and `since`/`prevData` chain, every commit slice inverts to its
//! `prevData`, exports re-verify, swaps and limits are enforced, and
//! concurrent writers lose nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use primal_pds_engine::car::{CarLimits, read_car};
use primal_pds_engine::commit::Commit;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{
    CommitResult, MAX_WRITES, RecordWrite, Repo, RepoError, WriteAction, export_car, export_diff_car,
    verify_commit_slice, verify_repo_car,
};
use primal_pds_engine::store::{MemoryStore, RepoStore, RootStore};
use primal_pds_engine::syntax::{Did, Nsid, RecordKey, TidClock};
use primal_pds_engine::{Cid, Ipld};

const POST: &str = "app.bsky.feed.post";

fn did() -> Did {
    Did::parse("did:plc:testtesttesttesttesttest").expect("did")
}

fn nsid(s: &str) -> Nsid {
    Nsid::parse(s).expect("nsid")
}

fn rkey(s: &str) -> RecordKey {
    RecordKey::parse(s).expect("rkey")
}

fn post(text: &str) -> Ipld {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String(POST.to_owned()));
    map.insert("text".to_owned(), Ipld::String(text.to_owned()));
    map.insert("createdAt".to_owned(), Ipld::String("2026-11-29T05:00:00.000Z".to_owned()));
    Ipld::Map(map)
}

async fn car_bytes(store: &MemoryStore, did: &Did) -> Vec<u8> {
    let chunks: Vec<bytes::Bytes> = export_car(store, did).try_collect().await.expect("export");
    chunks.concat()
}

fn slice_car(result: &CommitResult) -> Vec<u8> {
    let mut out = primal_pds_engine::car::encode_header(&[result.commit]);
    for (cid, bytes) in &result.blocks {
        primal_pds_engine::car::encode_block_into(&mut out, cid, bytes);
    }
    out
}

/// Check a commit result as a Sync 1.1 relay would.
fn check_commit(result: &CommitResult, key: &Keypair, prev: Option<&CommitResult>) {
    let prev_data = result.prev_data.expect("prevData");
    let commit = verify_commit_slice(&slice_car(result), &key.public_key(), &result.ops, &prev_data)
        .unwrap_or_else(|e| panic!("commit {} does not verify: {e}", result.rev));
    assert_eq!(commit.rev, result.rev);
    assert_eq!(commit.data, result.data);
    if let Some(prev) = prev {
        assert_eq!(result.since.as_ref(), Some(&prev.rev));
        assert_eq!(result.prev_data, Some(prev.data));
        assert!(result.rev > prev.rev);
    }
}

#[tokio::test]
async fn create_update_delete_chain_and_verify() {
    let store = MemoryStore::new();
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let (mut repo, genesis) = Repo::create(&store, &did(), &key, &clock).await.expect("create");
    assert!(genesis.ops.is_empty());
    let commit = Commit::decode(&genesis.commit_bytes).expect("decode");
    commit.verify(&key.public_key()).expect("signature");

    let mut last = genesis;
    let mut expected = BTreeMap::new();
    for i in 0..60 {
        let k = format!("3k{:011}", i).replace('0', "a");
        let write = RecordWrite::create(nsid(POST), rkey(&k), post(&format!("post {i}")));
        let result = repo.apply_writes(&store, &key, &clock, vec![write], None).await.expect("create");
        assert_eq!(result.ops[0].action, WriteAction::Create);
        assert_eq!(result.ops[0].prev, None);
        check_commit(&result, &key, Some(&last));
        expected.insert(format!("{POST}/{k}"), result.ops[0].cid.expect("cid"));
        last = result;
    }
    // Update and delete in one batch, with correct swaps.
    let paths: Vec<String> = expected.keys().take(2).cloned().collect();
    let (upd, del) = (&paths[0], &paths[1]);
    let upd_rkey = upd.rsplit('/').next().expect("rkey");
    let del_rkey = del.rsplit('/').next().expect("rkey");
    let writes = vec![
        RecordWrite::update(nsid(POST), rkey(upd_rkey), post("edited"), Some(expected[upd])),
        RecordWrite::delete(nsid(POST), rkey(del_rkey), Some(expected[del])),
    ];
    let result = repo.apply_writes(&store, &key, &clock, writes, None).await.expect("update+delete");
    assert_eq!(result.ops[0].prev, Some(expected[upd]));
    assert_eq!(result.ops[1].prev, Some(expected[del]));
    assert_eq!(result.ops[1].cid, None);
    check_commit(&result, &key, Some(&last));
    expected.insert(upd.clone(), result.ops[0].cid.expect("cid"));
    expected.remove(del);

    // The records index and the tree agree with the model.
    let indexed: BTreeMap<String, Cid> =
        store.records(&did()).into_iter().map(|(c, k, cid)| (format!("{c}/{k}"), cid)).collect();
    assert_eq!(indexed, expected);
    let listed: BTreeMap<String, Cid> =
        repo.list_records(&store, "", usize::MAX).await.expect("list").into_iter().collect();
    assert_eq!(listed, expected);

    // A full export verifies and holds every record.
    let car = car_bytes(&store, &did()).await;
    let verified = verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("verify export");
    assert!(verified.missing.is_empty());
    assert_eq!(verified.records.into_iter().collect::<BTreeMap<_, _>>(), expected);
    // Streamable order: the commit first, then the root node.
    let (roots, blocks) = read_car(&car, CarLimits::default()).expect("read");
    assert_eq!(roots, vec![result.commit]);
    assert_eq!(blocks[0].0, result.commit);
    assert_eq!(blocks[1].0, result.data);
    // Another key does not verify it.
    let other = Keypair::generate(Algorithm::K256);
    assert!(verify_repo_car(&car, Some(&other.public_key()), CarLimits::default()).is_err());

    // Old nodes were removed: the store holds exactly the current repo's blocks.
    assert_eq!(store.block_count(&did()), blocks.len());
}

#[tokio::test]
async fn diff_car_since_rev_holds_the_new_blocks() {
    let store = MemoryStore::new();
    let key = Keypair::generate(Algorithm::P256);
    let clock = TidClock::new();
    let (mut repo, _) = Repo::create(&store, &did(), &key, &clock).await.expect("create");
    let first = repo
        .apply_writes(&store, &key, &clock, vec![RecordWrite::create(nsid(POST), rkey("aaa"), post("a"))], None)
        .await
        .expect("first");
    let second = repo
        .apply_writes(&store, &key, &clock, vec![RecordWrite::create(nsid(POST), rkey("bbb"), post("b"))], None)
        .await
        .expect("second");
    let chunks: Vec<bytes::Bytes> = export_diff_car(&store, &did(), &first.rev).try_collect().await.expect("diff");
    let (roots, blocks) = read_car(&chunks.concat(), CarLimits::default()).expect("read diff");
    assert_eq!(roots, vec![second.commit]);
    let cids: Vec<Cid> = blocks.iter().map(|(c, _)| *c).collect();
    assert_eq!(cids[0], second.commit);
    assert!(cids.contains(&second.ops[0].cid.expect("cid")));
    assert!(cids.contains(&second.data));
    assert!(!cids.contains(&first.ops[0].cid.expect("cid")), "the first record predates since");
}

#[tokio::test]
async fn swaps_existence_and_limits() {
    let store = MemoryStore::new();
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let (mut repo, _) = Repo::create(&store, &did(), &key, &clock).await.expect("create");
    let created = repo
        .apply_writes(&store, &key, &clock, vec![RecordWrite::create(nsid(POST), rkey("one"), post("1"))], None)
        .await
        .expect("create");
    let root_before = store.get_root(&did()).await.expect("root");
    let cid = created.ops[0].cid.expect("cid");
    let stale = Cid::try_from("bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454").expect("cid");

    let cases: Vec<(Vec<RecordWrite>, Option<Cid>, &str)> = vec![
        (vec![RecordWrite::create(nsid(POST), rkey("one"), post("again"))], None, "exists"),
        (vec![RecordWrite::update(nsid(POST), rkey("two"), post("x"), None)], None, "not found"),
        (vec![RecordWrite::delete(nsid(POST), rkey("two"), None)], None, "not found"),
        (vec![RecordWrite::update(nsid(POST), rkey("one"), post("x"), Some(stale))], None, "swap"),
        (vec![RecordWrite::delete(nsid(POST), rkey("one"), Some(stale))], None, "swap"),
        (vec![RecordWrite::create(nsid(POST), rkey("new"), post("x"))], Some(stale), "swap commit"),
        (vec![RecordWrite::create(nsid("app.bsky.feed.like"), rkey("new"), post("x"))], None, "type mismatch"),
        (
            vec![
                RecordWrite::create(nsid(POST), rkey("dup"), post("x")),
                RecordWrite::delete(nsid(POST), rkey("dup"), None),
            ],
            None,
            "duplicate path",
        ),
        (
            // The second write fails: the first must not be applied either.
            vec![
                RecordWrite::create(nsid(POST), rkey("ok"), post("x")),
                RecordWrite::delete(nsid(POST), rkey("missing"), None),
            ],
            None,
            "atomic batch",
        ),
        (
            (0..=MAX_WRITES).map(|i| RecordWrite::create(nsid(POST), rkey(&format!("r{i}")), post("x"))).collect(),
            None,
            "too many",
        ),
        (vec![RecordWrite::create(nsid(POST), rkey("big"), big_post(1_000_001))], None, "too large"),
    ];
    for (writes, swap_commit, name) in cases {
        let err = repo.apply_writes(&store, &key, &clock, writes, swap_commit).await;
        match (name, &err) {
            ("exists", Err(RepoError::RecordExists(_)))
            | ("not found", Err(RepoError::RecordNotFound(_)))
            | ("swap" | "swap commit", Err(RepoError::InvalidSwap(_)))
            | ("type mismatch" | "duplicate path", Err(RepoError::InvalidWrite(_)))
            | ("atomic batch", Err(RepoError::RecordNotFound(_)))
            | ("too many", Err(RepoError::TooManyWrites { .. }))
            | ("too large", Err(RepoError::RecordTooLarge { .. })) => {}
            _ => panic!("{name}: unexpected {err:?}"),
        }
        assert_eq!(store.get_root(&did()).await.expect("root"), root_before, "{name} changed the repo");
    }
    // The right swap works.
    repo.apply_writes(&store, &key, &clock, vec![RecordWrite::delete(nsid(POST), rkey("one"), Some(cid))], None)
        .await
        .expect("delete with swap");
}

fn big_post(size: usize) -> Ipld {
    let Ipld::Map(mut map) = post("") else { unreachable!("post is a map") };
    map.insert("text".to_owned(), Ipld::String("x".repeat(size)));
    Ipld::Map(map)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing() {
    let store = Arc::new(MemoryStore::new());
    let key = Arc::new(Keypair::generate(Algorithm::K256));
    let clock = Arc::new(TidClock::new());
    Repo::create(&*store, &did(), &key, &clock).await.expect("create");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (store, key, clock) = (store.clone(), key.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let mut repo = Repo::load(&*store, &did()).await.expect("load");
            for i in 0..25 {
                let write = RecordWrite::create(nsid(POST), rkey(&format!("t{t}-{i}")), post("x"));
                // Unserialized writers can starve one another; a starved one tries again.
                loop {
                    match repo.apply_writes(&*store, &key, &clock, vec![write.clone()], None).await {
                        Ok(_) => break,
                        Err(RepoError::Contention(_)) => tokio::task::yield_now().await,
                        Err(e) => panic!("write: {e}"),
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut repo = Repo::load(&*store, &did()).await.expect("load");
    let records = repo.list_records(&*store, "", usize::MAX).await.expect("list");
    assert_eq!(records.len(), 200);
    assert_eq!(store.records(&did()).len(), 200);
    let car = car_bytes(&store, &did()).await;
    let verified = verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("verify");
    assert_eq!(verified.records.len(), 200);
    store.delete_repo(&did()).await.expect("delete");
    assert_eq!(store.block_count(&did()), 0);
    assert!(Repo::load(&*store, &did()).await.is_err());
}

/// A CAR whose commit (signed by `key`) points at `data`, holding `nodes` and one record.
fn crafted_car(key: &Keypair, data: Cid, nodes: &[primal_pds_engine::mst::Node], record: &[u8]) -> Vec<u8> {
    let commit = Commit::sign(did(), data, TidClock::new().next(), None, key);
    let (commit_cid, commit_bytes) = commit.to_block();
    let mut out = primal_pds_engine::car::encode_header(&[commit_cid]);
    primal_pds_engine::car::encode_block_into(&mut out, &commit_cid, &commit_bytes);
    for node in nodes {
        let bytes = node.encode();
        let cid = primal_pds_engine::data::cid::cid_for_dag_cbor(&bytes);
        primal_pds_engine::car::encode_block_into(&mut out, &cid, &bytes);
    }
    let record_cid = primal_pds_engine::data::cid::cid_for_dag_cbor(record);
    primal_pds_engine::car::encode_block_into(&mut out, &record_cid, record);
    out
}

#[test]
fn non_canonical_trees_are_rejected() {
    use primal_pds_engine::data::cid::cid_for_dag_cbor;
    use primal_pds_engine::mst::{Entry, Node, key_depth};
    let key = Keypair::generate(Algorithm::K256);
    let record = primal_pds_engine::data::cbor::encode_ipld(&post("x")).expect("encode");
    let value = cid_for_dag_cbor(&record);
    let cid_of = |n: &Node| cid_for_dag_cbor(&n.encode());
    // Two keys of depth 0, in one leaf node: canonical.
    let mut depth0 = (0..).map(|i| format!("app.bsky.feed.post/k{i:04}").into_bytes()).filter(|k| key_depth(k) == 0);
    let (k1, k2) = (depth0.next().expect("a depth-0 key"), depth0.next().expect("a depth-0 key"));
    let entry = |k: &[u8]| Entry { key: k.into(), value, right: None };
    let leaf = Node { left: None, entries: vec![entry(&k1), entry(&k2)] };
    let good = crafted_car(&key, cid_of(&leaf), std::slice::from_ref(&leaf), &record);
    verify_repo_car(&good, Some(&key.public_key()), CarLimits::default()).expect("canonical tree");

    // The same keys split into two leaves under an untrimmed, entry-less root.
    let untrimmed = Node { left: Some(cid_of(&leaf)), entries: vec![] };
    let car = crafted_car(&key, cid_of(&untrimmed), &[untrimmed.clone(), leaf.clone()], &record);
    assert!(verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).is_err(), "untrimmed root");

    // A depth-0 key placed as if it were layer 1, over a leaf.
    let low = Node { left: None, entries: vec![entry(&k1)] };
    let wrong_layer = Node { left: Some(cid_of(&low)), entries: vec![entry(&k2)] };
    let car = crafted_car(&key, cid_of(&wrong_layer), &[wrong_layer.clone(), low], &record);
    assert!(verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).is_err(), "wrong layer");
}

#[test]
fn shared_subtrees_are_rejected() {
    // Found while fuzzing (fuzz/regressions/repo_tree_build/shared-subtrees):
    // nodes linking many times to the same node below made the verifier walk
    // exponentially many nodes. A node linked twice is now an error at once.
    use primal_pds_engine::data::cid::cid_for_dag_cbor;
    use primal_pds_engine::mst::{Entry, Node, key_depth};
    let key = Keypair::generate(Algorithm::K256);
    let record = primal_pds_engine::data::cbor::encode_ipld(&post("x")).expect("encode");
    let value = cid_for_dag_cbor(&record);
    let keys_of_depth =
        |d: u8| (0..).map(|i| format!("app.bsky.feed.post/s{i:05}").into_bytes()).filter(move |k| key_depth(k) == d);
    let leaf = Node {
        left: None,
        entries: vec![Entry { key: keys_of_depth(0).next().expect("key").into(), value, right: None }],
    };
    let leaf_cid = cid_for_dag_cbor(&leaf.encode());
    let entries = keys_of_depth(1).take(2).map(|k| Entry { key: k.into(), value, right: Some(leaf_cid) }).collect();
    let top = Node { left: Some(leaf_cid), entries };
    let car = crafted_car(&key, cid_for_dag_cbor(&top.encode()), &[top, leaf], &record);
    let err = verify_repo_car(&car, None, CarLimits::default()).expect_err("a DAG with a shared subtree");
    assert!(err.to_string().contains("more than once"), "{err}");
}
