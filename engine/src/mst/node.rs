//! MST nodes: the in-memory form with full keys, and the DAG-CBOR wire form
//! with prefix-compressed keys (`{l, e: [{p, k, v, t}]}`).

use std::sync::Arc;

use cid::Cid;
use serde::Deserialize;
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

/// An MST key. Shared, so copying a node for an edit does not copy its keys.
pub type Key = Arc<[u8]>;

/// One key of a node, with the subtree to its right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The full key (the wire form's prefix compression is undone).
    pub key: Key,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireNode {
    e: Vec<WireEntry>,
    l: Option<Cid>,
}

#[derive(Deserialize)]
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

    /// Encode as canonical DAG-CBOR, compressing key prefixes:
    /// `{"e": [{"k", "p", "t", "v"}...], "l"}` (keys in canonical order).
    /// Hand-written because it runs for every node of every commit's path.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.entries.len() * 96);
        out.extend_from_slice(&[0xa2, 0x61, b'e']);
        put_head(&mut out, 4, self.entries.len() as u64);
        let mut prev: &[u8] = &[];
        for entry in &self.entries {
            let p = common_prefix_len(prev, &entry.key);
            out.extend_from_slice(&[0xa4, 0x61, b'k']);
            put_head(&mut out, 2, (entry.key.len() - p) as u64);
            out.extend_from_slice(&entry.key[p..]);
            out.extend_from_slice(&[0x61, b'p']);
            put_head(&mut out, 0, p as u64);
            out.extend_from_slice(&[0x61, b't']);
            put_link(&mut out, entry.right.as_ref());
            out.extend_from_slice(&[0x61, b'v']);
            put_link(&mut out, Some(&entry.value));
            prev = &entry.key;
        }
        out.extend_from_slice(&[0x61, b'l']);
        put_link(&mut out, self.left.as_ref());
        out
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
            entries.push(Entry { key: key.into(), value: w.v, right: w.t });
        }
        Ok(Node { left: wire.l, entries })
    }
}

/// A CBOR head: major type and argument, in the shortest form.
fn put_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    match arg {
        0..=23 => out.push(major | arg as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

/// A CID link (tag 42 over the CID bytes with a leading zero) or null.
fn put_link(out: &mut Vec<u8>, cid: Option<&Cid>) {
    match cid {
        None => out.push(0xf6),
        Some(cid) => {
            out.extend_from_slice(&[0xd8, 42]);
            put_head(out, 2, cid.encoded_len() as u64 + 1);
            out.push(0);
            // Writing into a Vec cannot fail.
            let _ = cid.write_bytes(&mut *out);
        }
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
