//! The Merkle Search Tree (specs/repository.md, "MST Structure").
//!
//! # Terminology
//! - **key**: a repo path (`<collection>/<rkey>`) as bytes; **value**: the CID of a record.
//! - **depth** of a key: leading zero bits of SHA-256(key), divided by two (fanout 4).
//! - **layer** of a node: the depth of every key it holds. Layer 0 holds the leaves.
//! - **gap**: the slot before, between or after a node's entries. Gap `i` (before
//!   entry `i`) holds the subtree for keys between entry `i-1` and entry `i`;
//!   gap 0 is the node's `l` link, gap `i > 0` is entry `i-1`'s `t` link.
//!
//! # Design
//! Nodes are immutable and addressed by CID. Edits copy the path from the
//! root to the change and return a new root, so the old tree stays intact
//! (needed for diffs and inversion). Nodes live in a [`NodeStore`]; a node
//! that is not loaded makes an operation fail with
//! [`MstError::MissingNode`], and the async loader ([`load`]) fetches it from
//! a [`Blockstore`](crate::store::Blockstore) and runs the operation again.
//! The same mechanism makes partial trees (firehose CAR slices, proofs) safe:
//! a block that is not there is an error, never a wrong answer.
//!
//! # Tricky bits
//! - Inserting a key deeper than the root grows the tree: the whole tree is
//!   split around the key and empty nodes are added for skipped layers.
//! - Inserting a key into a node splits the subtree in the gap it lands in.
//! - Removing a key merges the subtrees on its two sides, recursively down
//!   their facing spines.
//! - After a removal, empty nodes are pruned from the bottom, and a root with
//!   no entries is replaced by its only child, until the root holds entries.
//!   Empty nodes in the middle stay, so links never skip a layer.
//! - The empty tree is one node with no entries and no link.

mod diff;
mod edit;
mod load;
mod node;
mod proof;
mod read;
mod store;

pub use diff::{KeyChange, MstDiff, diff};
pub use edit::{insert, remove};
pub use load::LoadError;
pub use load::load;
pub use node::{Entry, Key, Node, common_prefix_len, key_depth};
pub use proof::covering_proof;
pub use read::{KeyValue, LeafVisitor, NodeVisitor, get, layer, list, walk_nodes};
pub use store::NodeStore;

use cid::Cid;

/// Maximum key length in bytes (a repo path: NSID, `/`, record key).
pub const MAX_KEY_LEN: usize = 1024;

/// Why a tree operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MstError {
    /// A node block needed by the operation is not loaded (or not in a partial tree).
    #[error("MST node {0} is not available")]
    MissingNode(Cid),
    /// A block is not a valid MST node (bad CBOR, bad prefix, unsorted or mis-layered keys).
    #[error("invalid MST node {cid}: {reason}")]
    InvalidNode {
        /// The node's CID.
        cid: Cid,
        /// What is wrong with it.
        reason: String,
    },
    /// A key is empty, too long, or not a valid repo path.
    #[error("invalid MST key {0:?}")]
    InvalidKey(String),
    /// A removal named a key that is not in the tree.
    #[error("key {0:?} not found in the MST")]
    KeyNotFound(String),
}

impl MstError {
    fn invalid(cid: &Cid, reason: impl Into<String>) -> MstError {
        MstError::InvalidNode { cid: *cid, reason: reason.into() }
    }
}

/// Check that `key` is usable as an MST key: a repo path `<collection>/<rkey>`
/// of the allowed characters (specs/repository.md, "Repository Paths").
pub fn validate_key(key: &[u8]) -> Result<(), MstError> {
    let bad = || MstError::InvalidKey(String::from_utf8_lossy(key).into_owned());
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(bad());
    }
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~' | b':');
    if !key.iter().all(allowed) {
        return Err(bad());
    }
    let mut parts = key.split(|&b| b == b'/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(r), None) if !c.is_empty() && !r.is_empty() && r != b"." && r != b".." => Ok(()),
        _ => Err(bad()),
    }
}
