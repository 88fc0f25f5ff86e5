//! The node store: decoded MST nodes by CID, plus the blocks of nodes made
//! by edits since the last [`NodeStore::take_created`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;

use super::{MstError, Node};
use crate::data::cid::{DAG_CBOR, cid_for_dag_cbor, cid_matches};

/// A node and its encoded block.
#[derive(Debug)]
struct Stored {
    node: Arc<Node>,
    bytes: Bytes,
}

/// Decoded MST nodes keyed by CID. Holds loaded nodes and nodes created by
/// edits; it only grows (drop it, or call [`NodeStore::retain`], to free memory).
#[derive(Debug, Default)]
pub struct NodeStore {
    nodes: HashMap<Cid, Stored>,
    created: HashSet<Cid>,
}

impl NodeStore {
    /// An empty store.
    pub fn new() -> NodeStore {
        NodeStore::default()
    }

    /// The node with this CID, or [`MstError::MissingNode`] when not loaded.
    pub fn get(&self, cid: &Cid) -> Result<Arc<Node>, MstError> {
        self.nodes.get(cid).map(|s| s.node.clone()).ok_or(MstError::MissingNode(*cid))
    }

    /// The encoded block of a node in the store.
    pub fn block(&self, cid: &Cid) -> Option<&Bytes> {
        self.nodes.get(cid).map(|s| &s.bytes)
    }

    /// Whether the node is loaded.
    pub fn contains(&self, cid: &Cid) -> bool {
        self.nodes.contains_key(cid)
    }

    /// Number of nodes held.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is held.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Load a node block fetched from storage, checking its hash and decoding it.
    pub fn load(&mut self, cid: Cid, bytes: Bytes) -> Result<Arc<Node>, MstError> {
        if let Some(stored) = self.nodes.get(&cid) {
            return Ok(stored.node.clone());
        }
        if cid.codec() != DAG_CBOR || !cid_matches(&cid, &bytes) {
            return Err(MstError::invalid(&cid, "block does not hash to its CID"));
        }
        let node = Arc::new(Node::decode(&cid, &bytes)?);
        self.nodes.insert(cid, Stored { node: node.clone(), bytes });
        Ok(node)
    }

    /// Store a node made by an edit and return its CID. An empty node stands
    /// for "no subtree" and is never stored (except as the empty tree's root,
    /// see [`NodeStore::empty_root`]).
    pub(crate) fn put(&mut self, node: Node) -> Option<Cid> {
        if node.is_empty() { None } else { Some(self.put_node(node)) }
    }

    fn put_node(&mut self, node: Node) -> Cid {
        let bytes = node.encode();
        let cid = cid_for_dag_cbor(&bytes);
        if let std::collections::hash_map::Entry::Vacant(slot) = self.nodes.entry(cid) {
            slot.insert(Stored { node: Arc::new(node), bytes: Bytes::from(bytes) });
        }
        // Marked even when already held: a node made by an earlier, abandoned
        // edit (say a commit that lost the root race) was never stored.
        self.created.insert(cid);
        cid
    }

    /// The root of the empty tree (a node with no entries), stored.
    pub fn empty_root(&mut self) -> Cid {
        self.put_node(Node::default())
    }

    /// Whether this node was made (or made again) by an edit since the last
    /// [`NodeStore::take_created`].
    pub fn is_created(&self, cid: &Cid) -> bool {
        self.created.contains(cid)
    }

    /// Forget which nodes were created (they stay loaded) and return them.
    pub fn take_created(&mut self) -> HashSet<Cid> {
        std::mem::take(&mut self.created)
    }

    /// Drop these nodes (e.g. those a commit replaced) from the store.
    pub fn forget(&mut self, cids: &[Cid]) {
        for cid in cids {
            self.nodes.remove(cid);
            self.created.remove(cid);
        }
    }

    /// Keep only the nodes for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Cid) -> bool) {
        self.nodes.retain(|cid, _| keep(cid));
        self.created.retain(|cid| self.nodes.contains_key(cid));
    }
}
