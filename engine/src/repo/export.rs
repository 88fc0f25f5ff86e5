//! Streaming a repository out as a CAR file: the whole repo, or the blocks
//! written since a rev.
//!
//! Full exports use the streamable block order of specs/repository.md: the
//! commit, then the MST in pre-order with each record right after the node
//! entry that links it. Node blocks are fetched one tree layer per store
//! round trip, record blocks in batches, so the store sees
//! `depth + records / RECORD_BATCH` requests.

use std::collections::HashSet;
use std::pin::Pin;

use bytes::Bytes;
use cid::Cid;
use futures::Stream;

use super::RepoError;
use crate::car::{encode_block_into, encode_header};
use crate::commit::Commit;
use crate::mst::{self, NodeStore};
use crate::store::RepoStore;
use crate::syntax::{Did, Tid};

/// Record blocks fetched per store request, and so per emitted chunk.
const RECORD_BATCH: usize = 512;

/// A CAR file as a stream of byte chunks.
pub type CarChunks<'a> = Pin<Box<dyn Stream<Item = Result<Bytes, RepoError>> + Send + 'a>>;

enum Block {
    Node(Cid),
    Record(Cid),
}

struct FullExport<'a, S> {
    store: &'a S,
    did: &'a Did,
    started: bool,
    nodes: NodeStore,
    order: std::vec::IntoIter<Block>,
}

/// The whole repository `did` at its current commit, as a CAR stream whose
/// single root is the commit CID.
pub fn export_car<'a, S: RepoStore>(store: &'a S, did: &'a Did) -> CarChunks<'a> {
    let state = FullExport { store, did, started: false, nodes: NodeStore::new(), order: Vec::new().into_iter() };
    Box::pin(futures::stream::try_unfold(state, |mut state| async move {
        if !state.started {
            state.started = true;
            let chunk = state.start().await?;
            return Ok(Some((chunk, state)));
        }
        let chunk = state.next_chunk().await?;
        Ok(chunk.map(|c| (c, state)))
    }))
}

impl<S: RepoStore> FullExport<'_, S> {
    /// Load the commit and every MST node; emit the header and commit block.
    async fn start(&mut self) -> Result<Bytes, RepoError> {
        let root = self.store.get_root(self.did).await?.ok_or_else(|| RepoError::RepoNotFound(self.did.clone()))?;
        let commit_bytes = self.store.get(self.did, &root.commit).await?.ok_or(RepoError::MissingBlock(root.commit))?;
        let commit = Commit::decode(&commit_bytes)?;
        let mut frontier = vec![commit.data];
        while !frontier.is_empty() {
            let blocks = self.store.get_many(self.did, &frontier).await?;
            let mut next = Vec::new();
            for cid in &frontier {
                let bytes = blocks.get(cid).ok_or(RepoError::MissingBlock(*cid))?;
                let node = self.nodes.load(*cid, bytes.clone())?;
                next.extend(node.left);
                next.extend(node.entries.iter().filter_map(|e| e.right));
            }
            frontier = next;
        }
        let mut seen = HashSet::new();
        let order = std::cell::RefCell::new(Vec::new());
        mst::walk_nodes(
            &self.nodes,
            &commit.data,
            &mut |cid| {
                order.borrow_mut().push(Block::Node(*cid));
                Ok(())
            },
            &mut |_, cid| {
                if seen.insert(*cid) {
                    order.borrow_mut().push(Block::Record(*cid));
                }
                Ok(())
            },
        )?;
        self.order = order.into_inner().into_iter();
        let mut out = encode_header(&[root.commit]);
        encode_block_into(&mut out, &root.commit, &commit_bytes);
        Ok(Bytes::from(out))
    }

    /// The next run of blocks: nodes up to and including [`RECORD_BATCH`] records.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, RepoError> {
        let mut batch = Vec::new();
        let mut records = Vec::new();
        for block in self.order.by_ref() {
            if let Block::Record(cid) = &block {
                records.push(*cid);
            }
            batch.push(block);
            if records.len() >= RECORD_BATCH {
                break;
            }
        }
        if batch.is_empty() {
            return Ok(None);
        }
        let fetched = self.store.get_many(self.did, &records).await?;
        let mut out = Vec::new();
        for block in &batch {
            match block {
                Block::Node(cid) => {
                    let bytes = self.nodes.block(cid).ok_or(RepoError::MissingBlock(*cid))?;
                    encode_block_into(&mut out, cid, bytes);
                }
                Block::Record(cid) => {
                    let bytes = fetched.get(cid).ok_or(RepoError::MissingBlock(*cid))?;
                    encode_block_into(&mut out, cid, bytes);
                }
            }
        }
        Ok(Some(Bytes::from(out)))
    }
}

/// The blocks of `did` written after rev `since` (by commits with a greater
/// rev), with the current commit first, as a CAR stream rooted at the
/// current commit: what `com.atproto.sync.getRepo?since=` returns.
pub fn export_diff_car<'a, S: RepoStore>(store: &'a S, did: &'a Did, since: &'a Tid) -> CarChunks<'a> {
    Box::pin(futures::stream::once(async move {
        let root = store.get_root(did).await?.ok_or_else(|| RepoError::RepoNotFound(did.clone()))?;
        let commit_bytes = store.get(did, &root.commit).await?.ok_or(RepoError::MissingBlock(root.commit))?;
        let blocks = store.blocks_since(did, since).await?;
        let mut out = encode_header(&[root.commit]);
        encode_block_into(&mut out, &root.commit, &commit_bytes);
        for (cid, bytes) in blocks.iter().filter(|(cid, _)| **cid != root.commit) {
            encode_block_into(&mut out, cid, bytes);
        }
        Ok(Bytes::from(out))
    }))
}
