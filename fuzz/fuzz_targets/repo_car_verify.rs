//! Hostile bytes into whole-repository verification (`engine::repo::verify_repo_car`), with
//! small CAR limits and no key, so it walks the MST of whatever the CAR holds.
//!
//! It must never panic. A repository it accepts must list valid record paths in strictly
//! increasing order, and when nothing is missing, building a tree from those records from
//! scratch must give exactly the committed root (the claim that lets it skip a rebuild).
#![no_main]

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::car::CarLimits;
use primal_pds_engine::mst::{self, NodeStore};
use primal_pds_engine::repo::verify_repo_car;
use primal_pds_fuzz::SMALL_CAR_LIMITS;

const LIMITS: CarLimits = SMALL_CAR_LIMITS;

fuzz_target!(|bytes: &[u8]| {
    let Ok(repo) = verify_repo_car(bytes, None, LIMITS) else {
        return;
    };
    for pair in repo.records.windows(2) {
        assert!(pair[0].0 < pair[1].0, "records out of order: {:?} then {:?}", pair[0].0, pair[1].0);
    }
    for (path, _) in &repo.records {
        if let Err(err) = mst::validate_key(path.as_bytes()) {
            panic!("accepted an invalid record path: {err}");
        }
    }
    if !repo.missing.is_empty() {
        return;
    }
    let mut nodes = NodeStore::new();
    let mut root = nodes.empty_root();
    for (path, cid) in &repo.records {
        root = match mst::insert(&mut nodes, &root, path.as_bytes(), *cid) {
            Ok((root, None)) => root,
            other => panic!("rebuilding: inserting {path:?} gave {other:?}"),
        };
    }
    assert_eq!(root, repo.commit.data, "the accepted tree is not the one its records determine");
    assert_eq!(mst::layer(&nodes, &root), Ok(repo.layer));
});
