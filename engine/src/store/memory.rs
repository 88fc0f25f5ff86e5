//! An in-memory [`RepoStore`], for tests, benchmarks and verifying CARs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use cid::Cid;

use super::{BlockMap, Blockstore, CommitWrite, RepoRoot, RepoStore, RootConflict, RootStore, StoreError};
use crate::syntax::{Did, Tid};

/// A block and the rev of the commit that last wrote it (`None` for `put_many`).
#[derive(Debug)]
struct Block {
    bytes: Bytes,
    rev: Option<Tid>,
}

#[derive(Debug, Default)]
struct Repo {
    blocks: HashMap<Cid, Block>,
    root: Option<RepoRoot>,
    records: BTreeMap<(String, String), Cid>,
}

/// A [`RepoStore`] that keeps everything in process memory behind one lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    repos: Mutex<HashMap<Did, Repo>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Did, Repo>> {
        // A panic while holding the lock cannot leave a half-applied commit
        // (commits are applied after all checks), so poisoning is ignored.
        self.repos.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The records index of `repo`: `(collection, rkey) → CID`, in key order.
    pub fn records(&self, repo: &Did) -> Vec<(String, String, Cid)> {
        self.lock()
            .get(repo)
            .map(|r| r.records.iter().map(|((c, k), cid)| (c.clone(), k.clone(), *cid)).collect())
            .unwrap_or_default()
    }

    /// Number of blocks stored for `repo`.
    pub fn block_count(&self, repo: &Did) -> usize {
        self.lock().get(repo).map_or(0, |r| r.blocks.len())
    }
}

impl Blockstore for MemoryStore {
    async fn get(&self, repo: &Did, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        Ok(self.lock().get(repo).and_then(|r| r.blocks.get(cid).map(|b| b.bytes.clone())))
    }

    async fn get_many(&self, repo: &Did, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        let repos = self.lock();
        let Some(r) = repos.get(repo) else { return Ok(BlockMap::new()) };
        Ok(cids.iter().filter_map(|cid| r.blocks.get(cid).map(|b| (*cid, b.bytes.clone()))).collect())
    }

    async fn has(&self, repo: &Did, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.lock().get(repo).is_some_and(|r| r.blocks.contains_key(cid)))
    }

    async fn put_many(&self, repo: &Did, blocks: &BlockMap) -> Result<(), StoreError> {
        let mut repos = self.lock();
        let r = repos.entry(repo.clone()).or_default();
        for (cid, bytes) in blocks {
            r.blocks.entry(*cid).or_insert_with(|| Block { bytes: bytes.clone(), rev: None });
        }
        Ok(())
    }
}

impl RootStore for MemoryStore {
    async fn get_root(&self, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
        Ok(self.lock().get(repo).and_then(|r| r.root.clone()))
    }

    async fn swap_root(&self, repo: &Did, expected: Option<&Cid>, new: &RepoRoot) -> Result<(), StoreError> {
        let mut repos = self.lock();
        let r = repos.entry(repo.clone()).or_default();
        check_root(repo, r, expected)?;
        r.root = Some(new.clone());
        Ok(())
    }
}

fn check_root(repo: &Did, r: &Repo, expected: Option<&Cid>) -> Result<(), StoreError> {
    let actual = r.root.as_ref().map(|root| root.commit);
    if actual.as_ref() != expected {
        return Err(StoreError::RootConflict(Box::new(RootConflict {
            repo: repo.clone(),
            expected: expected.copied(),
            actual,
        })));
    }
    Ok(())
}

impl RepoStore for MemoryStore {
    async fn apply_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        let mut repos = self.lock();
        let r = repos.entry(write.repo.clone()).or_default();
        check_root(&write.repo, r, write.expected.as_ref())?;
        for cid in &write.removed_blocks {
            r.blocks.remove(cid);
        }
        for (cid, bytes) in &write.blocks {
            r.blocks.insert(*cid, Block { bytes: bytes.clone(), rev: Some(write.root.rev.clone()) });
        }
        for rec in &write.records {
            let key = (rec.collection.clone(), rec.rkey.clone());
            match rec.cid {
                Some(cid) => r.records.insert(key, cid),
                None => r.records.remove(&key),
            };
        }
        for cid in &write.released_records {
            if !r.records.values().any(|c| c == cid) {
                r.blocks.remove(cid);
            }
        }
        r.root = Some(write.root.clone());
        Ok(())
    }

    async fn get_record(&self, repo: &Did, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        let repos = self.lock();
        Ok(repos.get(repo).and_then(|r| r.records.get(&(collection.to_owned(), rkey.to_owned())).copied()))
    }

    async fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(String, Cid)>, StoreError> {
        let repos = self.lock();
        let Some(r) = repos.get(repo) else { return Ok(Vec::new()) };
        let in_collection = r.records.iter().filter(|((c, _), _)| c == collection);
        let after_cursor = |k: &String| match cursor {
            None => true,
            Some(cursor) if reverse => k.as_str() < cursor,
            Some(cursor) => k.as_str() > cursor,
        };
        let pick = |((_, k), cid): (&(String, String), &Cid)| after_cursor(k).then(|| (k.clone(), *cid));
        Ok(if reverse {
            in_collection.rev().filter_map(pick).take(limit).collect()
        } else {
            in_collection.filter_map(pick).take(limit).collect()
        })
    }

    async fn list_collections(&self, repo: &Did) -> Result<Vec<String>, StoreError> {
        let repos = self.lock();
        let Some(r) = repos.get(repo) else { return Ok(Vec::new()) };
        let mut collections: Vec<String> = r.records.keys().map(|(c, _)| c.clone()).collect();
        collections.dedup();
        Ok(collections)
    }

    async fn blocks_since(&self, repo: &Did, since: &Tid) -> Result<BlockMap, StoreError> {
        let repos = self.lock();
        let Some(r) = repos.get(repo) else { return Ok(BlockMap::new()) };
        Ok(r.blocks
            .iter()
            .filter(|(_, b)| b.rev.as_ref().is_some_and(|rev| rev > since))
            .map(|(cid, b)| (*cid, b.bytes.clone()))
            .collect())
    }

    async fn delete_repo(&self, repo: &Did) -> Result<(), StoreError> {
        self.lock().remove(repo);
        Ok(())
    }
}
