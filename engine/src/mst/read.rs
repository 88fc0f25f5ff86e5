//! Reading a tree: lookups, the layer of a root, ordered listing and walks.

use cid::Cid;

use super::{MstError, NodeStore, key_depth};

/// The value (record CID) stored under `key`, or `None` when absent.
pub fn get(nodes: &NodeStore, root: &Cid, key: &[u8]) -> Result<Option<Cid>, MstError> {
    let mut cid = *root;
    loop {
        let node = nodes.get(&cid)?;
        match node.search(key) {
            Ok(i) => return Ok(Some(node.entries[i].value)),
            Err(i) => match node.gap(i) {
                Some(child) => cid = child,
                None => return Ok(None),
            },
        }
    }
}

/// The layer of the node `cid`: the depth of its keys. A node without
/// entries is one layer above its left child; the empty node is layer 0.
pub fn layer(nodes: &NodeStore, cid: &Cid) -> Result<u8, MstError> {
    let mut above = 0u8;
    let mut cid = *cid;
    loop {
        let node = nodes.get(&cid)?;
        if let Some(first) = node.entries.first() {
            return Ok(key_depth(&first.key).saturating_add(above));
        }
        match node.left {
            Some(left) => {
                above = above.saturating_add(1);
                cid = left;
            }
            None => return Ok(0),
        }
    }
}

/// A key and its value, as listed.
pub type KeyValue = (super::Key, Cid);

/// A callback for each node visited by [`walk_nodes`].
pub type NodeVisitor<'a> = &'a mut dyn FnMut(&Cid) -> Result<(), MstError>;

/// A callback for each entry visited by [`walk_nodes`].
pub type LeafVisitor<'a> = &'a mut dyn FnMut(&[u8], &Cid) -> Result<(), MstError>;

/// Up to `limit` entries with keys `>= from`, in key order.
pub fn list(nodes: &NodeStore, root: &Cid, from: &[u8], limit: usize) -> Result<Vec<KeyValue>, MstError> {
    let mut out = Vec::new();
    if limit > 0 {
        list_into(nodes, root, from, limit, &mut out)?;
    }
    Ok(out)
}

fn list_into(nodes: &NodeStore, cid: &Cid, from: &[u8], limit: usize, out: &mut Vec<KeyValue>) -> Result<(), MstError> {
    let node = nodes.get(cid)?;
    // Entries before `start` have keys < from, and so do their left gaps.
    let start = match node.search(from) {
        Ok(i) | Err(i) => i,
    };
    if let Some(child) = node.gap(start) {
        list_into(nodes, &child, from, limit, out)?;
    }
    for entry in &node.entries[start..] {
        if out.len() >= limit {
            return Ok(());
        }
        out.push((entry.key.clone(), entry.value));
        if let Some(child) = entry.right {
            list_into(nodes, &child, from, limit, out)?;
        }
    }
    Ok(())
}

/// Visit every node of the tree in pre-order (a node, then the blocks of its
/// gaps and entries in order), calling `visit_node` for each node and
/// `visit_leaf` for each entry. This is the streamable CAR block order of
/// specs/repository.md.
pub fn walk_nodes(
    nodes: &NodeStore,
    root: &Cid,
    visit_node: NodeVisitor<'_>,
    visit_leaf: LeafVisitor<'_>,
) -> Result<(), MstError> {
    let node = nodes.get(root)?;
    visit_node(root)?;
    if let Some(left) = node.left {
        walk_nodes(nodes, &left, visit_node, visit_leaf)?;
    }
    for entry in &node.entries {
        visit_leaf(&entry.key, &entry.value)?;
        if let Some(right) = entry.right {
            walk_nodes(nodes, &right, visit_node, visit_leaf)?;
        }
    }
    Ok(())
}
