//! Covering proofs: the nodes a reader needs to check a key's presence or
//! absence, and to invert an operation on it (specs/sync.md, inductive firehose).

use cid::Cid;

use super::{MstError, NodeStore};

/// The nodes that prove `key` present or absent in the tree `root`, in
/// root-to-leaf order: the search path down to the key (or to the gap where
/// it would be, all the way to the bottom). When the key is present, also the
/// facing spines of the subtrees on its two sides, which removing the key
/// would merge: the paths to its predecessor and successor.
pub fn covering_proof(nodes: &NodeStore, root: &Cid, key: &[u8]) -> Result<Vec<Cid>, MstError> {
    let mut proof = Vec::new();
    let mut cid = *root;
    loop {
        proof.push(cid);
        let node = nodes.get(&cid)?;
        match node.search(key) {
            Ok(i) => {
                // Right spine of the left neighbour subtree.
                let mut next = node.gap(i);
                while let Some(c) = next {
                    proof.push(c);
                    let n = nodes.get(&c)?;
                    next = n.gap(n.entries.len());
                }
                // Left spine of the right neighbour subtree.
                let mut next = node.entries[i].right;
                while let Some(c) = next {
                    proof.push(c);
                    next = nodes.get(&c)?.left;
                }
                return Ok(proof);
            }
            Err(i) => match node.gap(i) {
                Some(child) => cid = child,
                None => return Ok(proof),
            },
        }
    }
}
