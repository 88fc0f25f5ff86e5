//! The blob metadata of an in-memory tenant: [`BlobIndex`] for
//! [`MemoryTenant`], and the reference bookkeeping its commits do.

use std::collections::{BTreeMap, BTreeSet};

use cid::Cid;
use primal_pds_engine::store::{CommitWrite, StoreError, UnknownBlob};
use primal_pds_engine::syntax::{Did, Tid};

use super::tenant::MemoryTenant;
use crate::{BlobIndex, BlobMeta, MissingBlob, Registration, StorageError};

/// One blob row.
#[derive(Debug, Clone)]
struct BlobRow {
    meta: BlobMeta,
    deleting: bool,
    referenced: bool,
}

/// The blob tables of one tenant.
#[derive(Debug, Default)]
pub(crate) struct Blobs {
    rows: BTreeMap<(Did, String), BlobRow>,
    /// (did, collection, rkey) → (referenced CIDs, rev of the writing commit).
    refs: BTreeMap<(Did, String, String), (Vec<Cid>, String)>,
}

impl Blobs {
    fn referenced(&self, did: &Did, cid: &Cid) -> bool {
        self.refs.iter().any(|((d, _, _), (cids, _))| d == did && cids.contains(cid))
    }

    /// Refuse `write` if a record references a blob `write.repo` has not stored.
    pub(crate) fn check_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        for record in &write.records {
            for cid in &record.blobs {
                let stored = self.rows.get(&(write.repo.clone(), cid.to_string())).is_some_and(|r| !r.deleting);
                if !stored {
                    let unknown = UnknownBlob { repo: write.repo.clone(), cid: Some(*cid) };
                    return Err(StoreError::UnknownBlob(Box::new(unknown)));
                }
            }
        }
        Ok(())
    }

    /// Record the references of an applied `write`.
    pub(crate) fn apply_commit(&mut self, write: &CommitWrite) {
        for record in &write.records {
            let key = (write.repo.clone(), record.collection.clone(), record.rkey.clone());
            if record.blobs.is_empty() {
                self.refs.remove(&key);
                continue;
            }
            for cid in &record.blobs {
                if let Some(row) = self.rows.get_mut(&(write.repo.clone(), cid.to_string())) {
                    row.referenced = true;
                }
            }
            self.refs.insert(key, (record.blobs.clone(), write.root.rev.as_str().to_owned()));
        }
    }

    /// Forget every blob and reference of `did`.
    pub(crate) fn delete_account(&mut self, did: &Did) {
        self.rows.retain(|(d, _), _| d != did);
        self.refs.retain(|(d, _, _), _| d != did);
    }
}

impl BlobIndex for MemoryTenant {
    async fn register_blob(
        &self,
        did: &Did,
        blob: &BlobMeta,
        quota: Option<u64>,
    ) -> Result<Registration, StorageError> {
        let mut blobs = self.blobs().await;
        let key = (did.clone(), blob.cid.to_string());
        if let Some(row) = blobs.rows.get(&key) {
            if row.deleting {
                return Err(StorageError::BlobBeingDeleted(blob.cid.to_string()));
            }
            return Ok(Registration::Existing(row.meta.clone()));
        }
        if let Some(quota) = quota {
            let used: u64 = blobs.rows.values().map(|r| r.meta.size).sum();
            if used.saturating_add(blob.size) > quota {
                return Err(StorageError::QuotaExceeded { used, quota, size: blob.size });
            }
        }
        blobs.rows.insert(key, BlobRow { meta: blob.clone(), deleting: false, referenced: false });
        Ok(Registration::New)
    }

    async fn unregister_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        let mut blobs = self.blobs().await;
        if !blobs.referenced(did, cid) {
            blobs.rows.remove(&(did.clone(), cid.to_string()));
        }
        Ok(())
    }

    async fn get_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        let blobs = self.blobs().await;
        Ok(blobs.rows.get(&(did.clone(), cid.to_string())).filter(|r| !r.deleting).map(|r| r.meta.clone()))
    }

    async fn servable_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        let blobs = self.blobs().await;
        let row = blobs.rows.get(&(did.clone(), cid.to_string())).filter(|r| !r.deleting);
        Ok(row.filter(|_| blobs.referenced(did, cid)).map(|r| r.meta.clone()))
    }

    async fn stored_blobs(&self, did: &Did, cids: &[Cid]) -> Result<Vec<BlobMeta>, StorageError> {
        let blobs = self.blobs().await;
        Ok(cids
            .iter()
            .filter_map(|c| blobs.rows.get(&(did.clone(), c.to_string())).filter(|r| !r.deleting))
            .map(|r| r.meta.clone())
            .collect())
    }

    async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Cid>, StorageError> {
        let blobs = self.blobs().await;
        let mut found: BTreeMap<String, Cid> = BTreeMap::new();
        for ((d, _, _), (cids, rev)) in &blobs.refs {
            if d != did || since.is_some_and(|s| rev.as_str() <= s.as_str()) {
                continue;
            }
            for cid in cids {
                let text = cid.to_string();
                if cursor.is_none_or(|c| text.as_str() > c) {
                    found.insert(text, *cid);
                }
            }
        }
        Ok(found.into_values().take(limit).collect())
    }

    async fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MissingBlob>, StorageError> {
        let blobs = self.blobs().await;
        let mut found: BTreeMap<String, MissingBlob> = BTreeMap::new();
        for ((d, collection, rkey), (cids, _)) in &blobs.refs {
            if d != did {
                continue;
            }
            for cid in cids {
                let text = cid.to_string();
                let stored = blobs.rows.get(&(did.clone(), text.clone())).is_some_and(|r| !r.deleting);
                if !stored && cursor.is_none_or(|c| text.as_str() > c) {
                    found.entry(text).or_insert_with(|| MissingBlob {
                        cid: *cid,
                        collection: collection.clone(),
                        rkey: rkey.clone(),
                    });
                }
            }
        }
        Ok(found.into_values().take(limit).collect())
    }

    async fn blob_bytes_used(&self) -> Result<u64, StorageError> {
        Ok(self.blobs().await.rows.values().map(|r| r.meta.size).sum())
    }

    async fn claim_garbage(
        &self,
        did: Option<&Did>,
        uploaded_before: i64,
        limit: usize,
    ) -> Result<Vec<(Did, Cid)>, StorageError> {
        let mut blobs = self.blobs().await;
        let referenced: BTreeSet<(Did, Cid)> =
            blobs.refs.iter().flat_map(|((d, _, _), (cids, _))| cids.iter().map(move |c| (d.clone(), *c))).collect();
        let mut claimed = Vec::new();
        for ((d, _), row) in blobs.rows.iter_mut() {
            if claimed.len() >= limit {
                break;
            }
            if did.is_some_and(|want| want != d) {
                continue;
            }
            let garbage = row.deleting
                || ((row.referenced || row.meta.created_at < uploaded_before)
                    && !referenced.contains(&(d.clone(), row.meta.cid)));
            if garbage {
                row.deleting = true;
                claimed.push((d.clone(), row.meta.cid));
            }
        }
        Ok(claimed)
    }

    async fn forget_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        let mut blobs = self.blobs().await;
        let key = (did.clone(), cid.to_string());
        if blobs.rows.get(&key).is_some_and(|r| r.deleting) {
            blobs.rows.remove(&key);
        }
        Ok(())
    }
}
