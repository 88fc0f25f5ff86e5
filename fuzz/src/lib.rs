//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use primal_pds_engine::car::CarLimits;

/// Small CAR limits for targets that read hostile CAR files, so no run spends long on one input.
pub const SMALL_CAR_LIMITS: CarLimits =
    CarLimits { max_block_size: 64 * 1024, max_total_size: 1024 * 1024, max_blocks: 512, max_header_size: 4096 };

const EXAMPLE_KEYS: &str = include_str!("../../engine/tests/data/interop/mst/example_keys.txt");
const PROOF_FIXTURES: &str = include_str!("../../engine/tests/data/interop/firehose/commit-proof-fixtures.json");
const KNOWN_ROOTS: &str =
    include_str!("../../engine/tests/data/interop/extra/mst-known-roots/mst-interop-vectors.json");

/// The MST keys the tree targets pick from, in a fixed order that `scripts/fuzz-seeds`
/// repeats (its `mst_key_space`): the lines of `mst/example_keys.txt`; then the keys, adds and
/// dels of each commit-proof fixture; then the keys of the known maps and the adds and deletes
/// of the edit sequences of `mst-known-roots`; then its valid and invalid example keys.
/// Without repeats, at most 256. Their depths reach 5; the last ones are invalid keys.
pub fn mst_key_space() -> &'static [Vec<u8>] {
    static KEYS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<String> =
            EXAMPLE_KEYS.split('\n').filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
        let fixtures: serde_json::Value = serde_json::from_str(PROOF_FIXTURES).expect("commit-proof fixtures are JSON");
        for case in fixtures.as_array().expect("a list of fixtures") {
            for field in ["keys", "adds", "dels"] {
                keys.extend(strings(&case[field]));
            }
        }
        let known: serde_json::Value = serde_json::from_str(KNOWN_ROOTS).expect("known roots are JSON");
        for map in known["knownMaps"].as_array().expect("a list of maps") {
            keys.extend(strings(&map["keys"]));
        }
        for sequence in known["editSequences"].as_array().expect("a list of sequences") {
            for step in sequence["steps"].as_array().expect("a list of steps") {
                for field in ["add", "delete"] {
                    keys.extend(step[field].as_str().map(str::to_owned));
                }
            }
        }
        keys.extend(strings(&known["keyValidity"]["valid"]));
        keys.extend(strings(&known["keyValidity"]["invalid"]));
        let mut seen = BTreeSet::new();
        keys.retain(|k| seen.insert(k.clone()));
        keys.truncate(256);
        keys.into_iter().map(String::into_bytes).collect()
    })
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}
