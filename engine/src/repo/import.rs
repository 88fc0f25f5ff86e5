//! Reading a repository CAR (from `getRepo` or an import) and verifying it
//! completely: commit signature, MST structure, record blocks, and that the
//! tree rebuilt from its records has exactly the committed root.

use std::collections::HashMap;

use bytes::Bytes;
use cid::Cid;

use super::RepoError;
use crate::car::{CarLimits, read_car};
use crate::commit::CommitHeader;
use crate::keys::PublicKey;
use crate::mst::{self, MstError, NodeStore};

/// A repository read from a CAR file and checked.
#[derive(Debug, Clone)]
pub struct VerifiedRepo {
    /// CID of the commit (the CAR's first root).
    pub commit_cid: Cid,
    /// The commit (any version).
    pub commit: CommitHeader,
    /// Every record path and CID, in path order.
    pub records: Vec<(String, Cid)>,
    /// Blocks the tree links to that the CAR lacks (nodes or records).
    pub missing: Vec<Cid>,
    /// The MST's root layer.
    pub layer: u8,
}

/// Parse and verify a repository CAR. With `key`, the commit signature must
/// verify against it. Every MST node present must be canonical: encoded
/// exactly as we would encode it, its keys at its layer, no empty node but
/// the empty tree's root, no untrimmed root; and when no node is missing, all
/// keys must be in strictly increasing order. Those rules make the tree the
/// one its records determine, so no rebuild is needed (the interop tests
/// check that against a rebuild). Missing blocks are reported, not fatal.
pub fn verify_repo_car(car: &[u8], key: Option<&PublicKey>, limits: CarLimits) -> Result<VerifiedRepo, RepoError> {
    let (roots, block_list) = read_car(car, limits).map_err(|e| RepoError::Car(e.to_string()))?;
    let commit_cid = *roots.first().ok_or_else(|| RepoError::Car("no root".into()))?;
    let blocks: HashMap<Cid, Bytes> = block_list.into_iter().map(|(c, b)| (c, Bytes::from(b))).collect();
    let commit_bytes = blocks.get(&commit_cid).ok_or(RepoError::MissingBlock(commit_cid))?;
    let commit = CommitHeader::decode(commit_bytes)?;
    if let Some(key) = key {
        commit.verify(key)?;
    }
    let mut nodes = NodeStore::new();
    let mut missing = Vec::new();
    let mut records = Vec::new();
    let mut layer = 0;
    if blocks.contains_key(&commit.data) {
        layer = load_layer(&mut nodes, &blocks, &commit.data)?;
        let mut stack = vec![(commit.data, layer)];
        let mut seen = std::collections::HashSet::new();
        while let Some((cid, layer)) = stack.pop() {
            // In a valid tree every node has one parent (its keys fix its
            // place). A node linked twice would make the walk exponential.
            if !seen.insert(cid) {
                return Err(MstError::InvalidNode { cid, reason: "node linked more than once".into() }.into());
            }
            let Some(bytes) = blocks.get(&cid) else {
                missing.push(cid);
                continue;
            };
            let node = nodes.load(cid, bytes.clone())?;
            let invalid = |reason: &str| RepoError::from(MstError::InvalidNode { cid, reason: reason.into() });
            if node.encode() != **bytes {
                return Err(invalid("not canonically encoded"));
            }
            let is_root = cid == commit.data;
            match (node.entries.is_empty(), node.left.is_some()) {
                (true, false) if !is_root => return Err(invalid("empty node inside the tree")),
                (true, true) if is_root => return Err(invalid("root without entries (untrimmed)")),
                _ => {}
            }
            for entry in &node.entries {
                if mst::key_depth(&entry.key) != layer {
                    return Err(MstError::InvalidNode { cid, reason: "key at the wrong layer".into() }.into());
                }
                mst::validate_key(&entry.key)?;
            }
            let children: Vec<Cid> = node.left.into_iter().chain(node.entries.iter().filter_map(|e| e.right)).collect();
            if !children.is_empty() && layer == 0 {
                return Err(MstError::InvalidNode { cid, reason: "layer-0 node has subtrees".into() }.into());
            }
            stack.extend(children.into_iter().rev().map(|c| (c, layer - 1)));
        }
    } else {
        missing.push(commit.data);
    }
    if missing.is_empty() {
        let entries = mst::list(&nodes, &commit.data, b"", usize::MAX)?;
        for pair in entries.windows(2) {
            if pair[0].0 >= pair[1].0 {
                let reason = format!("keys out of order at {:?}", String::from_utf8_lossy(&pair[1].0));
                return Err(MstError::InvalidNode { cid: commit.data, reason }.into());
            }
        }
        for (key, value) in entries {
            if !blocks.contains_key(&value) {
                missing.push(value);
            }
            records.push((String::from_utf8_lossy(&key).into_owned(), value));
        }
    }
    Ok(VerifiedRepo { commit_cid, commit, records, missing, layer })
}

/// Layer of the root node, loading the nodes down its left spine as needed.
fn load_layer(nodes: &mut NodeStore, blocks: &HashMap<Cid, Bytes>, root: &Cid) -> Result<u8, RepoError> {
    loop {
        match mst::layer(nodes, root) {
            Err(MstError::MissingNode(cid)) => {
                let bytes = blocks.get(&cid).ok_or(RepoError::MissingBlock(cid))?;
                nodes.load(cid, bytes.clone())?;
            }
            other => return Ok(other?),
        }
    }
}
