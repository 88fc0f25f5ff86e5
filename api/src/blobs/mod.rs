//! Blobs on the server side: the configured byte store, uploads (quota,
//! MIME check), the garbage collector, and the clean-up when accounts or
//! domains go. The endpoints are in [`crate::xrpc::blobs`].
//!
//! Costs: an upload streams once through SHA-256 into the store's staging
//! area (memory: one chunk at a time) and then moves it (a rename on disk,
//! a server-side copy on S3); the database sees one short transaction. A
//! download is one indexed row read and a streamed file or object.

mod collector;
mod mime;
mod upload;

use std::time::Duration;

use primal_pds_engine::syntax::Did;
use primal_pds_storage::blob::{AnyBlobStore, BlobStore, BlobStoreError, FsBlobStore, S3BlobStore, S3Config};
use primal_pds_storage::{DomainName, private_fs};

use crate::config::{BlobConfig, BlobStoreConfig};

pub use collector::{CollectorStats, collect_account, collect_garbage, spawn_collector};
pub use mime::choose_mime_type;
pub use upload::upload_blob;

/// The blob store and the limits that go with it.
#[derive(Debug, Clone)]
pub struct Blobs {
    /// Where the bytes are.
    pub store: AnyBlobStore,
    /// Largest upload in bytes.
    pub max_upload_bytes: u64,
    /// How long an upload may stay unreferenced.
    pub grace: Duration,
}

impl Blobs {
    /// Open the store `config` describes (creating the disk directory).
    pub fn open(config: &BlobConfig) -> Result<Blobs, BlobStoreError> {
        let store = match &config.store {
            BlobStoreConfig::Disk { dir } => {
                // Private (0700), as everything the server keeps on disk.
                private_fs::create_dir_all(dir)?;
                private_fs::restrict_dir(dir)?;
                AnyBlobStore::Fs(FsBlobStore::new(dir.clone()))
            }
            BlobStoreConfig::S3 { endpoint, region, bucket, prefix, access_key_id, secret_access_key } => {
                let allow_http = endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
                AnyBlobStore::S3(S3BlobStore::new(S3Config {
                    endpoint: endpoint.clone(),
                    region: region.clone(),
                    bucket: bucket.clone(),
                    access_key_id: access_key_id.clone(),
                    secret_access_key: secret_access_key.expose().to_owned(),
                    prefix: prefix.clone(),
                    allow_http,
                })?)
            }
        };
        Ok(Blobs {
            store,
            max_upload_bytes: config.max_upload_bytes,
            grace: Duration::from_secs(config.grace_hours.saturating_mul(3600)),
        })
    }

    /// Delete every blob of an account whose rows are gone (logged on failure:
    /// the bytes are then orphaned, never served).
    pub async fn forget_account(&self, domain: &DomainName, did: &Did) {
        if let Err(e) = self.store.delete_account(domain, did).await {
            tracing::error!(%domain, %did, error = %e, "the blobs of a deleted account were not deleted");
        }
    }

    /// Delete every blob of a removed domain (logged on failure).
    pub async fn forget_domain(&self, domain: &DomainName) {
        if let Err(e) = self.store.delete_tenant(domain).await {
            tracing::error!(%domain, error = %e, "the blobs of a removed domain were not deleted");
        }
    }
}
