//! The difference between two trees: which keys changed and which nodes are
//! new or gone. Identical subtrees (same CID) are skipped without being read,
//! so the cost follows the size of the change, not of the trees.

use std::collections::{BTreeSet, VecDeque};

use cid::Cid;

use super::{MstError, NodeStore, layer};

/// One key whose value differs between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The key.
    pub key: super::Key,
    /// Value in the old tree (`None` when the key was created).
    pub old: Option<Cid>,
    /// Value in the new tree (`None` when the key was deleted).
    pub new: Option<Cid>,
}

/// What changed from one tree to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MstDiff {
    /// Changed keys, in key order.
    pub changes: Vec<KeyChange>,
    /// Nodes of the new tree that the old one lacks.
    pub new_nodes: BTreeSet<Cid>,
    /// Nodes of the old tree that the new one lacks.
    pub removed_nodes: BTreeSet<Cid>,
}

enum Item {
    Leaf(super::Key, Cid),
    Tree(Cid, u8),
}

/// A cursor over a tree's items in key order, expanding subtrees on demand.
struct Cursor<'a> {
    nodes: &'a NodeStore,
    items: VecDeque<Item>,
    expanded: BTreeSet<Cid>,
}

impl<'a> Cursor<'a> {
    fn new(nodes: &'a NodeStore, root: &Cid) -> Result<Self, MstError> {
        let mut items = VecDeque::new();
        items.push_back(Item::Tree(*root, layer(nodes, root)?));
        Ok(Cursor { nodes, items, expanded: BTreeSet::new() })
    }

    /// Replace the subtree at the front with its contents.
    fn expand_front(&mut self) -> Result<(), MstError> {
        let Some(Item::Tree(cid, layer)) = self.items.pop_front() else { return Ok(()) };
        let node = self.nodes.get(&cid)?;
        self.expanded.insert(cid);
        let child_layer = layer.saturating_sub(1);
        let mut contents = Vec::with_capacity(node.entries.len() * 2 + 1);
        if let Some(left) = node.left {
            contents.push(Item::Tree(left, child_layer));
        }
        for entry in &node.entries {
            contents.push(Item::Leaf(entry.key.clone(), entry.value));
            if let Some(right) = entry.right {
                contents.push(Item::Tree(right, child_layer));
            }
        }
        for item in contents.into_iter().rev() {
            self.items.push_front(item);
        }
        Ok(())
    }
}

/// The diff from tree `old` to tree `new`. Every node of both trees that
/// differs must be in `nodes`.
pub fn diff(nodes: &NodeStore, old: &Cid, new: &Cid) -> Result<MstDiff, MstError> {
    let mut out = MstDiff::default();
    let mut a = Cursor::new(nodes, old)?;
    let mut b = Cursor::new(nodes, new)?;
    loop {
        match (a.items.front(), b.items.front()) {
            (None, None) => break,
            (Some(Item::Tree(x, _)), Some(Item::Tree(y, _))) if x == y => {
                a.items.pop_front();
                b.items.pop_front();
            }
            (Some(Item::Tree(_, la)), Some(Item::Tree(_, lb))) => {
                let (la, lb) = (*la, *lb);
                if la >= lb {
                    a.expand_front()?;
                }
                if lb >= la {
                    b.expand_front()?;
                }
            }
            (Some(Item::Tree(..)), _) => a.expand_front()?,
            (_, Some(Item::Tree(..))) => b.expand_front()?,
            (Some(Item::Leaf(ka, va)), Some(Item::Leaf(kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Equal => {
                    if va != vb {
                        out.changes.push(KeyChange { key: ka.clone(), old: Some(*va), new: Some(*vb) });
                    }
                    a.items.pop_front();
                    b.items.pop_front();
                }
                std::cmp::Ordering::Less => {
                    out.changes.push(KeyChange { key: ka.clone(), old: Some(*va), new: None });
                    a.items.pop_front();
                }
                std::cmp::Ordering::Greater => {
                    out.changes.push(KeyChange { key: kb.clone(), old: None, new: Some(*vb) });
                    b.items.pop_front();
                }
            },
            (Some(Item::Leaf(ka, va)), None) => {
                out.changes.push(KeyChange { key: ka.clone(), old: Some(*va), new: None });
                a.items.pop_front();
            }
            (None, Some(Item::Leaf(kb, vb))) => {
                out.changes.push(KeyChange { key: kb.clone(), old: None, new: Some(*vb) });
                b.items.pop_front();
            }
        }
    }
    out.new_nodes = b.expanded.difference(&a.expanded).copied().collect();
    out.removed_nodes = a.expanded.difference(&b.expanded).copied().collect();
    Ok(out)
}
