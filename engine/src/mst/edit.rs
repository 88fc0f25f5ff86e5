//! Editing a tree: insert (or update) and remove. Both are persistent: they
//! return a new root and leave every existing node untouched.

use cid::Cid;

use super::{Entry, MstError, Node, NodeStore, key_depth, layer, validate_key};

/// Put `value` under `key` (inserting or replacing) in the tree `root`, and
/// return the new root together with the value it replaced, if any.
pub fn insert(nodes: &mut NodeStore, root: &Cid, key: &[u8], value: Cid) -> Result<(Cid, Option<Cid>), MstError> {
    validate_key(key)?;
    let depth = key_depth(key);
    let root_node = nodes.get(root)?;
    if root_node.is_empty() {
        let node = Node { left: None, entries: vec![entry(key, value, None)] };
        return Ok((put_nonempty(nodes, node), None));
    }
    let root_layer = layer(nodes, root)?;
    if depth > root_layer {
        // The key goes above the current root: split the whole tree around it.
        let (left, right) = split(nodes, *root, key)?;
        let left = wrap(nodes, left, root_layer, depth - 1);
        let right = wrap(nodes, right, root_layer, depth - 1);
        let node = Node { left, entries: vec![entry(key, value, right)] };
        return Ok((put_nonempty(nodes, node), None));
    }
    insert_at(nodes, *root, root_layer, key, depth, value)
}

fn entry(key: &[u8], value: Cid, right: Option<Cid>) -> Entry {
    Entry { key: key.into(), value, right }
}

fn put_nonempty(nodes: &mut NodeStore, node: Node) -> Cid {
    match nodes.put(node) {
        Some(cid) => cid,
        None => nodes.empty_root(),
    }
}

/// Insert into the subtree `cid` of layer `layer`, for a key of depth `depth <= layer`.
fn insert_at(
    nodes: &mut NodeStore,
    cid: Cid,
    layer: u8,
    key: &[u8],
    depth: u8,
    value: Cid,
) -> Result<(Cid, Option<Cid>), MstError> {
    let node = nodes.get(&cid)?;
    let mut new = (*node).clone();
    match node.search(key) {
        Ok(i) => {
            let old = std::mem::replace(&mut new.entries[i].value, value);
            Ok((put_nonempty(nodes, new), Some(old)))
        }
        Err(i) if depth == layer => {
            let (left, right) = match node.gap(i) {
                Some(child) => split(nodes, child, key)?,
                None => (None, None),
            };
            new.set_gap(i, left);
            new.entries.insert(i, entry(key, value, right));
            Ok((put_nonempty(nodes, new), None))
        }
        Err(i) => {
            let (child, old) = match node.gap(i) {
                Some(child) => insert_at(nodes, child, layer - 1, key, depth, value)?,
                None => {
                    let leaf = put_nonempty(nodes, Node { left: None, entries: vec![entry(key, value, None)] });
                    (wrap(nodes, Some(leaf), depth, layer - 1).unwrap_or(leaf), None)
                }
            };
            new.set_gap(i, Some(child));
            Ok((put_nonempty(nodes, new), old))
        }
    }
}

/// Wrap a subtree of layer `from` in empty nodes until it is of layer `to`.
fn wrap(nodes: &mut NodeStore, mut subtree: Option<Cid>, from: u8, to: u8) -> Option<Cid> {
    for _ in from..to {
        subtree = nodes.put(Node { left: subtree, entries: Vec::new() });
    }
    subtree
}

/// Split the subtree `cid` into the parts with keys below and above `key`
/// (which must not be in it). Either part may be empty (`None`).
fn split(nodes: &mut NodeStore, cid: Cid, key: &[u8]) -> Result<(Option<Cid>, Option<Cid>), MstError> {
    let node = nodes.get(&cid)?;
    let i = match node.search(key) {
        Ok(_) => return Err(MstError::invalid(&cid, "key to split on is in a lower layer")),
        Err(i) => i,
    };
    let (gap_left, gap_right) = match node.gap(i) {
        Some(child) => split(nodes, child, key)?,
        None => (None, None),
    };
    let mut left = Node { left: node.left, entries: node.entries[..i].to_vec() };
    left.set_gap(i, gap_left);
    let right = Node { left: gap_right, entries: node.entries[i..].to_vec() };
    Ok((nodes.put(left), nodes.put(right)))
}

/// Remove `key` from the tree `root`; return the new root and the removed value.
pub fn remove(nodes: &mut NodeStore, root: &Cid, key: &[u8]) -> Result<(Cid, Cid), MstError> {
    let not_found = || MstError::KeyNotFound(String::from_utf8_lossy(key).into_owned());
    let root_node = nodes.get(root)?;
    if root_node.is_empty() {
        return Err(not_found());
    }
    let root_layer = layer(nodes, root)?;
    let (new_root, old) = remove_at(nodes, *root, root_layer, key, key_depth(key))?;
    let old = old.ok_or_else(not_found)?;
    // Trim the top: a root without entries is replaced by its child. A
    // layer-0 node always has entries, so it is not read (in a partial tree,
    // such as a firehose slice, it may be absent).
    let mut root = new_root;
    let mut root_layer = root_layer;
    while let Some(cid) = root {
        if root_layer == 0 {
            break;
        }
        let node = nodes.get(&cid)?;
        if !node.entries.is_empty() {
            break;
        }
        root = node.left;
        root_layer -= 1;
    }
    Ok((root.unwrap_or_else(|| nodes.empty_root()), old))
}

/// Remove from the subtree `cid` of layer `layer`; `Ok((_, None))` when absent.
fn remove_at(
    nodes: &mut NodeStore,
    cid: Cid,
    layer: u8,
    key: &[u8],
    depth: u8,
) -> Result<(Option<Cid>, Option<Cid>), MstError> {
    let node = nodes.get(&cid)?;
    let mut new = (*node).clone();
    let old = match node.search(key) {
        Ok(i) => {
            let merged = merge(nodes, node.gap(i), node.entries[i].right)?;
            let removed = new.entries.remove(i);
            new.set_gap(i, merged);
            removed.value
        }
        Err(i) if depth < layer => {
            let Some(child) = node.gap(i) else { return Ok((Some(cid), None)) };
            let (child, old) = remove_at(nodes, child, layer - 1, key, depth)?;
            let Some(old) = old else { return Ok((Some(cid), None)) };
            new.set_gap(i, child);
            old
        }
        Err(_) => return Ok((Some(cid), None)),
    };
    Ok((nodes.put(new), Some(old)))
}

/// Join two adjacent subtrees of the same layer (all keys of `left` sort
/// before all keys of `right`).
fn merge(nodes: &mut NodeStore, left: Option<Cid>, right: Option<Cid>) -> Result<Option<Cid>, MstError> {
    let (left, right) = match (left, right) {
        (None, other) | (other, None) => return Ok(other),
        (Some(l), Some(r)) => (l, r),
    };
    let a = nodes.get(&left)?;
    let b = nodes.get(&right)?;
    let boundary = a.gap(a.entries.len());
    let joined = merge(nodes, boundary, b.left)?;
    let mut node = Node { left: a.left, entries: Vec::with_capacity(a.entries.len() + b.entries.len()) };
    node.entries.extend(a.entries.iter().cloned());
    node.set_gap(a.entries.len(), joined);
    node.entries.extend(b.entries.iter().cloned());
    Ok(nodes.put(node))
}
