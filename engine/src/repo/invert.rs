//! Operation inversion (specs/sync.md): the check a Sync 1.1 consumer runs
//! on every `#commit` — undo the ops on the partial tree in the CAR slice and
//! arrive at `prevData`.

use std::collections::HashMap;

use bytes::Bytes;
use cid::Cid;

use super::{RepoError, RepoOp, WriteAction};
use crate::car::{CarLimits, read_car};
use crate::commit::Commit;
use crate::keys::PublicKey;
use crate::mst::{self, MstError, NodeStore};

/// Undo `ops` (in reverse order) on the tree `data`, whose nodes must all be
/// in `blocks`, and return the resulting root. Each op's `cid` must be what
/// the tree holds, and each `prev` what it held before.
pub fn invert_commit(blocks: &HashMap<Cid, Bytes>, data: &Cid, ops: &[RepoOp]) -> Result<Cid, RepoError> {
    let mut nodes = NodeStore::new();
    let mut root = *data;
    for op in ops.iter().rev() {
        let key = op.path.as_bytes();
        let mismatch = |found: Option<Cid>| RepoError::swap(op.path.clone(), op.cid, found);
        root = with_blocks(&mut nodes, blocks, |nodes| -> Result<Result<Cid, RepoError>, MstError> {
            Ok(match (op.action, op.prev) {
                (WriteAction::Create, _) => match mst::remove(nodes, &root, key) {
                    Ok((new, old)) if Some(old) == op.cid => Ok(new),
                    Ok((_, old)) => Err(mismatch(Some(old))),
                    Err(MstError::KeyNotFound(_)) => Err(mismatch(None)),
                    Err(e) => return Err(e),
                },
                (WriteAction::Update | WriteAction::Delete, Some(prev)) => {
                    let (new, old) = mst::insert(nodes, &root, key, prev)?;
                    if old == op.cid { Ok(new) } else { Err(mismatch(old)) }
                }
                (_, None) => {
                    Err(RepoError::InvalidWrite(format!("{} op on {} has no prev", op.action.as_str(), op.path)))
                }
            })
        })??;
    }
    Ok(root)
}

fn with_blocks<T>(
    nodes: &mut NodeStore,
    blocks: &HashMap<Cid, Bytes>,
    mut op: impl FnMut(&mut NodeStore) -> Result<T, MstError>,
) -> Result<T, RepoError> {
    loop {
        match op(nodes) {
            Err(MstError::MissingNode(cid)) => {
                let bytes = blocks.get(&cid).ok_or(RepoError::MissingBlock(cid))?;
                nodes.load(cid, bytes.clone())?;
            }
            other => return Ok(other?),
        }
    }
}

/// Verify a commit's CAR slice as a relay does: the first root is a v3
/// commit signed by `key`; created and updated records are in the slice with
/// the CIDs the ops give; and inverting the ops gives `prev_data`.
pub fn verify_commit_slice(car: &[u8], key: &PublicKey, ops: &[RepoOp], prev_data: &Cid) -> Result<Commit, RepoError> {
    let (roots, block_list) = read_car(car, CarLimits::default()).map_err(|e| RepoError::Car(e.to_string()))?;
    let commit_cid = *roots.first().ok_or_else(|| RepoError::Car("no root".into()))?;
    let blocks: HashMap<Cid, Bytes> = block_list.into_iter().map(|(c, b)| (c, Bytes::from(b))).collect();
    let commit_bytes = blocks.get(&commit_cid).ok_or(RepoError::MissingBlock(commit_cid))?;
    let commit = Commit::decode(commit_bytes)?;
    commit.verify(key)?;
    for op in ops {
        if let Some(cid) = op.cid
            && !blocks.contains_key(&cid)
        {
            return Err(RepoError::MissingBlock(cid));
        }
    }
    let inverted = invert_commit(&blocks, &commit.data, ops)?;
    if inverted != *prev_data {
        return Err(RepoError::swap("prevData", Some(*prev_data), Some(inverted)));
    }
    Ok(commit)
}
