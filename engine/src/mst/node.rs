//! MST nodes: the in-memory form with full keys, and the DAG-CBOR wire form
//! with prefix-compressed keys (`{l, e: [{p, k, v, t}]}`).

use cid::Cid;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::MstError;

/// The depth of a key: leading zero bits of its SHA-256, divided by two.
pub fn key_depth(key: &[u8]) -> u8 {
    let hash = Sha256::digest(key);
    let mut zeros = 0u32;
    for &byte in hash.iter() {
        zeros += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    (zeros / 2) as u8
}

/// The number of leading bytes two keys share (the `p` of an entry).
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// One key of a node, with the subtree to its right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full key (the wire form's prefix compression is undone).
    pub key: Box<[u8]>,
    /// CID of the record.
    pub value: Cid,
    /// The subtree of keys between this entry and the next (`t`).
    pub right: Option<Cid>,
}

/// An MST node: an optional leftmost subtree and the sorted entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The subtree of keys before the first entry (`l`).
    pub left: Option<Cid>,
    /// Entries in key order.
    pub entries: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireNode {
    e: Vec<WireEntry>,
    l: Option<Cid>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    #[serde(with = "serde_bytes")]
    k: Vec<u8>,
    p: u64,
    t: Option<Cid>,
    v: Cid,
}

impl Node {
    /// Whether the node has neither entries nor a left link.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.left.is_none()
    }

    /// The subtree in gap `i`: `left` for 0, else entry `i - 1`'s right link.
    pub fn gap(&self, i: usize) -> Option<Cid> {
        if i == 0 { self.left } else { self.entries.get(i - 1).and_then(|e| e.right) }
    }

    /// Set the subtree in gap `i` (see [`Node::gap`]); `i` must be at most `entries.len()`.
    pub fn set_gap(&mut self, i: usize, subtree: Option<Cid>) {
        if i == 0 {
            self.left = subtree;
        } else if let Some(entry) = self.entries.get_mut(i - 1) {
            entry.right = subtree;
        }
    }

    /// Where `key` is: `Ok(i)` if entry `i` has it, `Err(i)` if it belongs in gap `i`.
    pub fn search(&self, key: &[u8]) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| (*e.key).cmp(key))
    }

    /// Encode as canonical DAG-CBOR, compressing key prefixes.
    pub fn encode(&self) -> Vec<u8> {
        let mut prev: &[u8] = &[];
        let e = self
            .entries
            .iter()
            .map(|entry| {
                let p = common_prefix_len(prev, &entry.key);
                prev = &entry.key;
                WireEntry { k: entry.key[p..].to_vec(), p: p as u64, t: entry.right, v: entry.value }
            })
            .collect();
        let wire = WireNode { e, l: self.left };
        // Byte strings, integers, CIDs and nulls always encode.
        serde_ipld_dagcbor::to_vec(&wire).expect("an MST node always encodes")
    }

    /// Decode a node block, undoing prefix compression and checking that keys
    /// are strictly increasing. `cid` is only used in error messages.
    pub fn decode(cid: &Cid, bytes: &[u8]) -> Result<Node, MstError> {
        let wire: WireNode =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| MstError::invalid(cid, format!("bad CBOR: {e}")))?;
        let mut entries: Vec<Entry> = Vec::with_capacity(wire.e.len());
        for (i, w) in wire.e.into_iter().enumerate() {
            let prefix_len = usize::try_from(w.p).map_err(|_| MstError::invalid(cid, "prefix too long"))?;
            let prev: &[u8] = entries.last().map_or(&[], |e| &e.key);
            if i == 0 && prefix_len != 0 {
                return Err(MstError::invalid(cid, "first entry has a prefix"));
            }
            if prefix_len > prev.len() {
                return Err(MstError::invalid(cid, "prefix longer than the previous key"));
            }
            let mut key = Vec::with_capacity(prefix_len + w.k.len());
            key.extend_from_slice(&prev[..prefix_len]);
            key.extend_from_slice(&w.k);
            if key.is_empty() || key.len() > super::MAX_KEY_LEN {
                return Err(MstError::invalid(cid, "empty or oversized key"));
            }
            if !prev.is_empty() && key.as_slice() <= prev {
                return Err(MstError::invalid(cid, "keys not strictly increasing"));
            }
            entries.push(Entry { key: key.into_boxed_slice(), value: w.v, right: w.t });
        }
        Ok(Node { left: wire.l, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_from_the_spec() {
        assert_eq!(key_depth(b"2653ae71"), 0);
        assert_eq!(key_depth(b"blue"), 1);
        assert_eq!(key_depth(b"app.bsky.feed.post/454397e440ec"), 4);
        assert_eq!(key_depth(b"app.bsky.feed.post/9adeb165882c"), 8);
    }

    #[test]
    fn empty_node_encoding() {
        let bytes = Node::default().encode();
        assert_eq!(bytes, [0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6]);
    }
}
