//! Blob bytes as files: `<root>/<tenant>/<did>/<cid>`, staged uploads in
//! `<root>/<tenant>/tmp/<random name>`.
//!
//! An upload is written to its staging file as it arrives and fsync'd; a
//! promotion is a `rename` into the account's directory followed by an fsync
//! of that directory, so a blob is either wholly there or not at all, even
//! across a crash. The staging area sits inside the tenant's directory, on
//! the same file system, so the rename never copies.
//!
//! Directories are created with mode 0700 and files with 0600 (see
//! [`crate::private_fs`]).
//!
//! Every path segment comes from a validated type: domains are DNS names,
//! DIDs hold no `/` (see [`did_segment`]), CIDs are base32, staging names are
//! checked hex. Nothing a client sends can name a path outside the root.

use std::io::ErrorKind;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use futures::StreamExt;
use primal_pds_engine::syntax::Did;
use tokio::fs::{self, File};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::keys::{check_temp_name, did_segment, new_temp_name};
use super::{BlobKey, BlobRead, BlobStore, BlobStoreError, ByteStream, TempBlob};
use crate::{DomainName, private_fs};

/// Size of the chunks a blob is read in.
const READ_CHUNK: usize = 64 * 1024;

/// Name of the staging directory inside a tenant's directory (no DID can be
/// named so: DIDs start with `did`).
const TMP_DIR: &str = "tmp";

/// Blob bytes in a directory tree on the local file system. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: Arc<Path>,
}

impl FsBlobStore {
    /// A store under `root` (created on first write).
    pub fn new(root: PathBuf) -> FsBlobStore {
        FsBlobStore { root: root.into() }
    }

    /// The directory everything lives under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tenant_dir(&self, tenant: &DomainName) -> PathBuf {
        self.root.join(tenant.as_str())
    }

    /// The staging directory of `tenant`: `<root>/<tenant>/tmp`.
    pub fn tmp_dir(&self, tenant: &DomainName) -> PathBuf {
        self.tenant_dir(tenant).join(TMP_DIR)
    }

    fn temp_path(&self, temp: &TempBlob) -> Result<PathBuf, BlobStoreError> {
        check_temp_name(&temp.name)?;
        Ok(self.tmp_dir(&temp.tenant).join(&temp.name))
    }

    fn account_dir(&self, tenant: &DomainName, did: &Did) -> PathBuf {
        self.tenant_dir(tenant).join(did_segment(did).as_ref())
    }

    fn blob_path(&self, key: &BlobKey) -> PathBuf {
        self.account_dir(&key.tenant, &key.did).join(key.cid.to_string())
    }
}

/// Deletes a staging file when dropped while still armed: on an error, and
/// when the upload future is cancelled (the client went away mid-upload).
struct PartialFile {
    path: Option<PathBuf>,
}

impl PartialFile {
    fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // A blocking unlink: quick, and Drop cannot await.
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot delete a partial upload"),
            }
        }
    }
}

/// Write every chunk of `data` to `file` as it comes, then fsync.
async fn write_all(file: &mut File, mut data: ByteStream) -> Result<(), BlobStoreError> {
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(BlobStoreError::Input)?;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(())
}

/// fsync a directory, making the entries created or renamed in it durable.
async fn sync_dir(dir: &Path) -> Result<(), BlobStoreError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(|e| BlobStoreError::Io(std::io::Error::other(e)))??;
    Ok(())
}

/// Remove a file; absent is fine.
async fn remove_file(path: &Path) -> Result<(), BlobStoreError> {
    match fs::remove_file(path).await {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Remove a directory tree; absent is fine.
async fn remove_tree(path: &Path) -> Result<(), BlobStoreError> {
    match fs::remove_dir_all(path).await {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The bytes of `reader` as a stream of chunks of up to [`READ_CHUNK`] bytes.
fn read_stream<R: AsyncRead + Unpin + Send + 'static>(reader: R) -> ByteStream {
    futures::stream::try_unfold(reader, |mut reader| async move {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        while buf.len() < READ_CHUNK {
            if reader.read_buf(&mut buf).await? == 0 {
                break;
            }
        }
        if buf.is_empty() { Ok(None) } else { Ok(Some((buf.freeze(), reader))) }
    })
    .boxed()
}

impl BlobStore for FsBlobStore {
    async fn put_temp(&self, tenant: &DomainName, data: ByteStream) -> Result<TempBlob, BlobStoreError> {
        let dir = self.tmp_dir(tenant);
        private_fs::create_dir_all_async(&dir).await?;
        let name = new_temp_name()?;
        let path = dir.join(&name);
        let mut file = private_fs::file_options_async().create_new(true).open(&path).await?;
        let guard = PartialFile { path: Some(path) };
        let written = write_all(&mut file, data).await;
        drop(file);
        written?;
        guard.keep();
        Ok(TempBlob { tenant: tenant.clone(), name })
    }

    async fn promote(&self, temp: &TempBlob, key: &BlobKey) -> Result<(), BlobStoreError> {
        let from = self.temp_path(temp)?;
        let dir = self.account_dir(&key.tenant, &key.did);
        let new_dir = !fs::try_exists(&dir).await?;
        if new_dir {
            private_fs::create_dir_all_async(&dir).await?;
        }
        fs::rename(&from, dir.join(key.cid.to_string())).await?;
        sync_dir(&dir).await?;
        if new_dir {
            sync_dir(&self.tenant_dir(&key.tenant)).await?;
        }
        Ok(())
    }

    async fn discard(&self, temp: &TempBlob) -> Result<(), BlobStoreError> {
        remove_file(&self.temp_path(temp)?).await
    }

    async fn get(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<Option<BlobRead>, BlobStoreError> {
        let mut file = match File::open(self.blob_path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let stream = match range {
            None => read_stream(file),
            Some(range) => {
                let start = range.start.min(size);
                let end = range.end.clamp(start, size);
                file.seek(std::io::SeekFrom::Start(start)).await?;
                read_stream(file.take(end - start))
            }
        };
        Ok(Some(BlobRead { size, stream }))
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool, BlobStoreError> {
        Ok(fs::try_exists(self.blob_path(key)).await?)
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        remove_file(&self.blob_path(key)).await
    }

    async fn delete_account(&self, tenant: &DomainName, did: &Did) -> Result<(), BlobStoreError> {
        remove_tree(&self.account_dir(tenant, did)).await
    }

    async fn delete_tenant(&self, tenant: &DomainName) -> Result<(), BlobStoreError> {
        remove_tree(&self.tenant_dir(tenant)).await
    }

    async fn purge_stale_temp(&self, tenant: &DomainName, age: Duration) -> Result<u64, BlobStoreError> {
        let dir = self.tmp_dir(tenant);
        let mut entries = match fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let now = SystemTime::now();
        let mut purged = 0;
        while let Some(entry) = entries.next_entry().await? {
            let modified = match entry.metadata().await {
                Ok(meta) => meta.modified()?,
                // Gone meanwhile (discarded or promoted).
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            // A time in the future (clock stepped back) counts as brand new.
            let elapsed = now.duration_since(modified).unwrap_or(Duration::ZERO);
            if elapsed >= age {
                match fs::remove_file(entry.path()).await {
                    Ok(()) => purged += 1,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(purged)
    }
}
