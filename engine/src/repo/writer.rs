//! [`Repo`]: a repository's current state and the commit path.

use std::collections::HashSet;

use bytes::Bytes;
use cid::Cid;

use super::ops::{EncodedWrite, encode_write};
use super::{MAX_SLICE_BYTES, MAX_WRITES, RecordWrite, RepoError, RepoOp, WriteAction};
use crate::commit::Commit;
use crate::firehose::{FrameError, PendingEvent};
use crate::keys::Keypair;
use crate::mst::{self, NodeStore};
use crate::store::{BlockMap, CommitWrite, IndexedRecord, RepoRoot, RepoStore, StoreError};
use crate::syntax::{Datetime, Did, Tid, TidClock};

/// How many times a batch is re-applied after losing the root race. Servers
/// should serialize writes to one repo (a per-repo lock) so that this only
/// matters across nodes; it is high so that even unserialized writers
/// (the concurrency test runs 8) practically never starve.
const MAX_ATTEMPTS: usize = 64;

/// What one commit did: everything the store persisted and a firehose
/// `#commit` event needs.
#[derive(Debug, Clone)]
pub struct CommitResult {
    /// The repository.
    pub did: Did,
    /// CID of the new signed commit.
    pub commit: Cid,
    /// Rev of the new commit.
    pub rev: Tid,
    /// Rev of the previous commit (`None` for the first).
    pub since: Option<Tid>,
    /// MST root of the new commit.
    pub data: Cid,
    /// MST root of the previous commit (`prevData`; `None` for the first).
    pub prev_data: Option<Cid>,
    /// The record operations, in the order written.
    pub ops: Vec<RepoOp>,
    /// The CAR slice for the firehose: the commit block, new MST nodes, the
    /// extra nodes needed to invert the ops, and created/updated records.
    pub blocks: BlockMap,
    /// The signed commit block.
    pub commit_bytes: Bytes,
}

/// A repository at its current commit, with a cache of the MST nodes read so
/// far. Keep it between commits to avoid reloading nodes; it refreshes itself
/// when another writer moved the root.
#[derive(Debug)]
pub struct Repo {
    did: Did,
    root: RepoRoot,
    data: Cid,
    nodes: NodeStore,
}

impl Repo {
    /// The repository's DID.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The current commit CID and rev.
    pub fn root(&self) -> &RepoRoot {
        &self.root
    }

    /// The current MST root.
    pub fn data(&self) -> &Cid {
        &self.data
    }

    /// Load the repository `did` at its current root.
    pub async fn load<S: RepoStore>(store: &S, did: &Did) -> Result<Repo, RepoError> {
        let (root, data) = read_head(store, did).await?;
        Ok(Repo { did: did.clone(), root, data, nodes: NodeStore::new() })
    }

    /// The first commit of repository `did` (an empty tree, signed with
    /// `key`), built but not written: the [`CommitWrite`] (`expected: None`)
    /// to store, and the [`CommitResult`] describing it for the firehose.
    /// A server stores it together with the account row; after that,
    /// [`Repo::load`] opens the repository.
    pub fn genesis(did: &Did, key: &Keypair, clock: &TidClock) -> (CommitWrite, CommitResult) {
        let mut nodes = NodeStore::new();
        let data = nodes.empty_root();
        let rev = clock.next();
        let commit = Commit::sign(did.clone(), data, rev.clone(), None, key);
        let (commit_cid, commit_bytes) = commit.to_block();
        let commit_bytes = Bytes::from(commit_bytes);
        let mut blocks = BlockMap::new();
        blocks.insert(commit_cid, commit_bytes.clone());
        if let Some(node) = nodes.block(&data) {
            blocks.insert(data, node.clone());
        }
        let write = CommitWrite {
            repo: did.clone(),
            expected: None,
            root: RepoRoot { commit: commit_cid, rev: rev.clone() },
            blocks: blocks.clone(),
            removed_blocks: Vec::new(),
            released_records: Vec::new(),
            records: Vec::new(),
            events: Vec::new(),
        };
        let result = CommitResult {
            did: did.clone(),
            commit: commit_cid,
            rev,
            since: None,
            data,
            prev_data: None,
            ops: Vec::new(),
            blocks,
            commit_bytes,
        };
        (write, result)
    }

    /// Create the repository `did` with an empty tree and its first signed
    /// commit ([`Repo::genesis`], written to `store`).
    pub async fn create<S: RepoStore>(
        store: &S,
        did: &Did,
        key: &Keypair,
        clock: &TidClock,
    ) -> Result<(Repo, CommitResult), RepoError> {
        let (write, result) = Repo::genesis(did, key, clock);
        match store.apply_commit(&write).await {
            Err(StoreError::RootConflict(_)) => return Err(RepoError::RepoExists(did.clone())),
            other => other?,
        }
        let repo = Repo { did: did.clone(), root: write.root, data: result.data, nodes: NodeStore::new() };
        Ok((repo, result))
    }

    /// The CID of the record at `path` (`collection/rkey`), or `None`.
    pub async fn get_record_cid<S: RepoStore>(&mut self, store: &S, path: &str) -> Result<Option<Cid>, RepoError> {
        let data = self.data;
        Ok(mst::load(store, &self.did, &mut self.nodes, |nodes| mst::get(nodes, &data, path.as_bytes())).await?)
    }

    /// Up to `limit` records with paths `>= from`, in path order, read from the MST.
    pub async fn list_records<S: RepoStore>(
        &mut self,
        store: &S,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, Cid)>, RepoError> {
        let data = self.data;
        let entries =
            mst::load(store, &self.did, &mut self.nodes, |nodes| mst::list(nodes, &data, from.as_bytes(), limit))
                .await?;
        Ok(entries.into_iter().map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v)).collect())
    }

    /// Re-read the current root from the store (after another writer committed).
    pub async fn refresh<S: RepoStore>(&mut self, store: &S) -> Result<(), RepoError> {
        let (root, data) = read_head(store, &self.did).await?;
        self.root = root;
        self.data = data;
        Ok(())
    }

    /// Apply `writes` as one signed commit. With `swap_commit`, fail with
    /// [`RepoError::InvalidSwap`] unless the current commit is that CID.
    /// On success the store holds the new commit and `self` is at it.
    pub async fn apply_writes<S: RepoStore>(
        &mut self,
        store: &S,
        key: &Keypair,
        clock: &TidClock,
        writes: Vec<RecordWrite>,
        swap_commit: Option<Cid>,
    ) -> Result<CommitResult, RepoError> {
        if writes.len() > MAX_WRITES {
            return Err(RepoError::TooManyWrites { count: writes.len(), max: MAX_WRITES });
        }
        let writes = writes.into_iter().map(encode_write).collect::<Result<Vec<_>, _>>()?;
        let mut seen = HashSet::new();
        if let Some(dup) = writes.iter().find(|w| !seen.insert(w.path.as_str())) {
            return Err(RepoError::InvalidWrite(format!("{} is written twice in one commit", dup.path)));
        }
        for _ in 0..MAX_ATTEMPTS {
            if let Some(expected) = swap_commit
                && expected != self.root.commit
            {
                return Err(RepoError::swap("commit", Some(expected), Some(self.root.commit)));
            }
            let (result, write) = match self.prepare(store, key, clock, &writes).await {
                // A concurrent commit may have deleted nodes of the state we
                // started from: move to the new state and try again.
                Err(RepoError::MissingBlock(cid)) => {
                    let before = self.root.commit;
                    self.refresh(store).await?;
                    if self.root.commit == before {
                        return Err(RepoError::MissingBlock(cid));
                    }
                    continue;
                }
                other => other?,
            };
            match store.apply_commit(&write).await {
                Ok(()) => {
                    // The cache keeps to the current tree: replaced nodes go.
                    self.nodes.forget(&write.removed_blocks);
                    self.root = write.root;
                    self.data = result.data;
                    return Ok(result);
                }
                Err(StoreError::RootConflict(_)) => self.refresh(store).await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Contention(self.did.clone()))
    }

    /// Build the commit for `writes` on the current state, without storing it.
    async fn prepare<S: RepoStore>(
        &mut self,
        store: &S,
        key: &Keypair,
        clock: &TidClock,
        writes: &[EncodedWrite],
    ) -> Result<(CommitResult, CommitWrite), RepoError> {
        let did = self.did.clone();
        let prev_data = self.data;
        self.nodes.take_created();
        let mut data = prev_data;
        let mut ops = Vec::with_capacity(writes.len());
        let mut blocks = BlockMap::new();
        let mut records = Vec::with_capacity(writes.len());
        for w in writes {
            let key_bytes = w.path.as_bytes();
            let current = mst::load(store, &did, &mut self.nodes, |nodes| mst::get(nodes, &data, key_bytes)).await?;
            check_swap(w, current)?;
            let new_cid = w.block.as_ref().map(|(cid, _)| *cid);
            data = mst::load(store, &did, &mut self.nodes, |nodes| match new_cid {
                Some(cid) => mst::insert(nodes, &data, key_bytes, cid).map(|r| r.0),
                None => mst::remove(nodes, &data, key_bytes).map(|r| r.0),
            })
            .await?;
            if let Some((cid, bytes)) = &w.block {
                blocks.insert(*cid, bytes.clone());
            }
            ops.push(RepoOp { action: w.write.action, path: w.path.clone(), cid: new_cid, prev: current });
            records.push(IndexedRecord {
                collection: w.write.collection.to_string(),
                rkey: w.write.rkey.to_string(),
                cid: new_cid,
                blobs: w.blobs.clone(),
            });
        }
        // New nodes: those created by this batch that the final tree uses. A
        // node above a new node is new, so walking new nodes from the root finds all.
        let created = self.nodes.take_created();
        let mut stack = vec![data];
        while let Some(cid) = stack.pop() {
            if !created.contains(&cid) || blocks.contains_key(&cid) {
                continue;
            }
            let node = self.nodes.get(&cid)?;
            if let Some(bytes) = self.nodes.block(&cid) {
                blocks.insert(cid, bytes.clone());
            }
            stack.extend(node.left);
            stack.extend(node.entries.iter().filter_map(|e| e.right));
        }
        // Old nodes that the new tree no longer references.
        let mut removed_blocks = removed_nodes(&self.nodes, &prev_data, &data, &blocks);
        removed_blocks.push(self.root.commit);
        let released_records: Vec<Cid> = ops.iter().filter_map(|op| op.prev).collect();
        let mut slice = blocks.clone();
        for w in writes {
            let proof =
                mst::load(store, &did, &mut self.nodes, |nodes| mst::covering_proof(nodes, &data, w.path.as_bytes()))
                    .await?;
            for cid in proof {
                if let Some(bytes) = self.nodes.block(&cid) {
                    slice.entry(cid).or_insert_with(|| bytes.clone());
                }
            }
        }
        let rev = clock.next_after(&self.root.rev);
        let commit = Commit::sign(did.clone(), data, rev.clone(), None, key);
        let (commit_cid, commit_bytes) = commit.to_block();
        let commit_bytes = Bytes::from(commit_bytes);
        blocks.insert(commit_cid, commit_bytes.clone());
        slice.insert(commit_cid, commit_bytes.clone());
        let size: usize = slice.values().map(Bytes::len).sum();
        if size > MAX_SLICE_BYTES {
            return Err(RepoError::CommitTooLarge { size, max: MAX_SLICE_BYTES });
        }
        let root = RepoRoot { commit: commit_cid, rev: rev.clone() };
        let result = CommitResult {
            did: did.clone(),
            commit: commit_cid,
            rev,
            since: Some(self.root.rev.clone()),
            data,
            prev_data: Some(prev_data),
            ops,
            blocks: slice,
            commit_bytes,
        };
        // The `#commit` event is stored with the commit (see `CommitWrite::events`).
        let event = PendingEvent::commit(&result, &Datetime::now()).map_err(|e| match e {
            FrameError::TooLarge { size, max } => RepoError::CommitTooLarge { size, max },
            other => RepoError::InvalidWrite(other.to_string()),
        })?;
        let write = CommitWrite {
            repo: did,
            expected: Some(self.root.commit),
            root,
            blocks,
            removed_blocks,
            released_records,
            records,
            events: vec![event],
        };
        Ok((result, write))
    }
}

fn check_swap(w: &EncodedWrite, current: Option<Cid>) -> Result<(), RepoError> {
    match w.write.action {
        WriteAction::Create if current.is_some() => return Err(RepoError::RecordExists(w.path.clone())),
        WriteAction::Update | WriteAction::Delete if current.is_none() => {
            return Err(RepoError::RecordNotFound(w.path.clone()));
        }
        _ => {}
    }
    if let Some(expected) = w.write.swap
        && Some(expected) != current
    {
        return Err(RepoError::swap(w.path.clone(), Some(expected), current));
    }
    Ok(())
}

/// Nodes of the old tree that the new tree does not reference. Walks the old
/// tree from its root, stopping at nodes the new tree still uses: those are
/// the new tree's root or children of its new nodes (an unchanged node's
/// whole subtree is unchanged).
fn removed_nodes(nodes: &NodeStore, old: &Cid, new: &Cid, new_blocks: &BlockMap) -> Vec<Cid> {
    let mut kept: HashSet<Cid> = HashSet::from([*new]);
    for cid in new_blocks.keys() {
        if let Ok(node) = nodes.get(cid) {
            kept.extend(node.left);
            kept.extend(node.entries.iter().filter_map(|e| e.right));
        }
    }
    let mut removed = Vec::new();
    let mut stack = vec![*old];
    while let Some(cid) = stack.pop() {
        if kept.contains(&cid) || new_blocks.contains_key(&cid) {
            continue;
        }
        // Every old node on a changed path was loaded to make the change.
        let Ok(node) = nodes.get(&cid) else { continue };
        removed.push(cid);
        stack.extend(node.left);
        stack.extend(node.entries.iter().filter_map(|e| e.right));
    }
    removed
}

/// The current root of `did` and its commit's MST root. A commit that
/// replaces the root deletes the previous commit block, so a reader that
/// finds its commit gone reads the root again.
async fn read_head<S: RepoStore>(store: &S, did: &Did) -> Result<(RepoRoot, Cid), RepoError> {
    let mut attempts = 0;
    loop {
        let root = store.get_root(did).await?.ok_or_else(|| RepoError::RepoNotFound(did.clone()))?;
        match store.get(did, &root.commit).await? {
            Some(bytes) => {
                let data = Commit::decode(&bytes)?.data;
                return Ok((root, data));
            }
            None if attempts < MAX_ATTEMPTS => attempts += 1,
            None => return Err(RepoError::MissingBlock(root.commit)),
        }
    }
}
