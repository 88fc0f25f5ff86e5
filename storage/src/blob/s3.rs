//! Blob bytes in an S3-compatible object store (AWS S3, MinIO, R2, Ceph…),
//! through the `object_store` crate.
//!
//! Keys: `<prefix>/<tenant>/<did>/<cid>` for blobs and
//! `<prefix>/<tenant>/tmp/<random name>` for staged uploads (segments are
//! percent-encoded where S3 advises against a character, e.g. `%`).
//! Requests are path-style (`<endpoint>/<bucket>/<key>`), so a local server
//! on an IP address works.
//!
//! Tricky bits:
//! - An upload is streamed: up to [`PART_SIZE`] bytes are buffered; a
//!   smaller upload becomes one `PUT`, a larger one a multipart upload whose
//!   parts all have exactly [`PART_SIZE`] bytes except the last (some
//!   services, e.g. R2, require equal parts). The next part is read from the
//!   client while the previous one is sent, so at most two parts are in
//!   memory. On an error the multipart upload is aborted; when the upload
//!   future is dropped (the client went away) the abort is spawned. If even
//!   the abort fails, the parts stay invisible but billed until a bucket
//!   lifecycle rule ("abort incomplete multipart uploads after N days")
//!   removes them: configure one.
//! - `promote` is a server-side copy then a delete (S3 has no rename).
//! - Errors are kept as text with the access key id and secret blanked out
//!   (S3 error bodies can echo the key id), and an endpoint URL carrying
//!   user:password is refused.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{
    ClientOptions, GetOptions, GetRange, MultipartId, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload,
};
use primal_pds_engine::syntax::Did;

use super::keys::{check_temp_name, did_segment, new_temp_name};
use super::{BlobKey, BlobRead, BlobStore, BlobStoreError, ByteStream, TempBlob};
use crate::DomainName;

/// Bytes in each part of a multipart upload (S3's minimum is 5 MiB) and the
/// largest upload sent as a single `PUT`.
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;

/// Segment of a tenant's staging area (no DID can be named so).
const TMP_DIR: &str = "tmp";

/// Longest a request may take from connecting to the end of the body: long
/// enough for a [`PART_SIZE`] part on a slow link. A blob being read that
/// takes longer is resumed by `object_store` (a ranged retry).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Longest wait for the next bytes of a response.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how to reach an S3-compatible bucket.
#[derive(Clone)]
pub struct S3Config {
    /// Endpoint URL, e.g. `https://s3.eu-central-1.amazonaws.com` or
    /// `http://127.0.0.1:9000`; `None`: AWS S3 of `region`.
    pub endpoint: Option<String>,
    /// Region, e.g. `us-east-1` (any value for most non-AWS services).
    pub region: String,
    /// Bucket name (must exist).
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never printed: `Debug` shows it redacted).
    pub secret_access_key: String,
    /// Key prefix inside the bucket (e.g. `pds/blobs`), to share a bucket.
    pub prefix: Option<String>,
    /// Allow plain `http://` endpoints (local test servers only).
    pub allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Blob bytes in an S3-compatible bucket. Cheap to clone (shares one HTTP
/// client).
#[derive(Clone)]
pub struct S3BlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    s3: AmazonS3,
    /// The key prefix (empty: the bucket's root).
    base: Path,
    bucket: String,
    endpoint: Option<String>,
    scrub: Scrub,
}

impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("endpoint", &self.inner.endpoint)
            .field("bucket", &self.inner.bucket)
            .field("prefix", &self.inner.base.as_ref())
            .finish_non_exhaustive()
    }
}

/// Turns `object_store` errors into text without the credentials.
#[derive(Clone)]
struct Scrub {
    secrets: Arc<[String]>,
}

impl Scrub {
    fn text(&self, error: &dyn fmt::Display) -> String {
        let mut text = error.to_string();
        for secret in self.secrets.iter() {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        text
    }

    fn error(&self, error: object_store::Error) -> BlobStoreError {
        BlobStoreError::ObjectStore { message: self.text(&error) }
    }

    fn io(&self, error: object_store::Error) -> std::io::Error {
        std::io::Error::other(self.text(&error))
    }
}

/// Whether an endpoint URL carries credentials (`scheme://user:pass@host`).
fn has_userinfo(endpoint: &str) -> bool {
    let after_scheme = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

impl S3BlobStore {
    /// Set up the client (no request is made: a wrong bucket or key shows on
    /// first use). Installs rustls' `ring` crypto provider as the process
    /// default if none is installed yet.
    pub fn new(config: S3Config) -> Result<S3BlobStore, BlobStoreError> {
        // Already installed (by us or the server): fine, either is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if config.endpoint.as_deref().is_some_and(has_userinfo) {
            return Err(BlobStoreError::Config(
                "the S3 endpoint URL must not hold credentials; use the access key settings".into(),
            ));
        }
        let base = match config.prefix.as_deref().map(str::trim) {
            None | Some("") => Path::ROOT,
            Some(prefix) => {
                Path::parse(prefix).map_err(|e| BlobStoreError::Config(format!("S3 key prefix {prefix:?}: {e}")))?
            }
        };
        let secrets: Vec<String> =
            [&config.secret_access_key, &config.access_key_id].into_iter().filter(|s| !s.is_empty()).cloned().collect();
        let scrub = Scrub { secrets: secrets.into() };
        let options = ClientOptions::new().with_timeout(REQUEST_TIMEOUT).with_read_timeout(READ_TIMEOUT);
        let mut builder = AmazonS3Builder::new()
            .with_client_options(options)
            .with_allow_http(config.allow_http)
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let s3 = builder.build().map_err(|e| BlobStoreError::Config(scrub.text(&e)))?;
        Ok(S3BlobStore { inner: Arc::new(Inner { s3, base, bucket: config.bucket, endpoint: config.endpoint, scrub }) })
    }

    fn tenant_path(&self, tenant: &DomainName) -> Path {
        self.inner.base.clone().join(tenant.as_str())
    }

    fn tmp_path(&self, tenant: &DomainName, name: &str) -> Path {
        self.tenant_path(tenant).join(TMP_DIR).join(name)
    }

    fn temp_path(&self, temp: &TempBlob) -> Result<Path, BlobStoreError> {
        check_temp_name(&temp.name)?;
        Ok(self.tmp_path(&temp.tenant, &temp.name))
    }

    fn account_path(&self, tenant: &DomainName, did: &Did) -> Path {
        self.tenant_path(tenant).join(did_segment(did).as_ref())
    }

    fn blob_path(&self, key: &BlobKey) -> Path {
        self.account_path(&key.tenant, &key.did).join(key.cid.to_string().as_str())
    }

    /// The objects whose keys start with `prefix` (segment-wise). A listing
    /// that fails as "not found" (no such bucket) stays an error: it must
    /// not pass for an object already deleted in [`Self::delete_all`].
    fn list(&self, prefix: &Path) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner
            .s3
            .list(Some(prefix))
            .map_err(|e| match e {
                object_store::Error::NotFound { source, .. } => object_store::Error::Generic { store: "S3", source },
                other => other,
            })
            .boxed()
    }

    /// Delete every object whose key starts with `prefix` (segment-wise).
    async fn delete_prefix(&self, prefix: &Path) -> Result<u64, BlobStoreError> {
        self.delete_all(self.list(prefix).map_ok(|meta| meta.location).boxed()).await
    }

    /// Delete the objects named by `locations`; gone already is fine.
    /// Returns how many were deleted.
    async fn delete_all(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> Result<u64, BlobStoreError> {
        let mut deleted = self.inner.s3.delete_stream(locations);
        let mut count = 0;
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) => count += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.inner.scrub.error(e)),
            }
        }
        Ok(count)
    }

    /// Upload what `parts` holds and yields as a multipart upload.
    async fn put_multipart(&self, path: &Path, parts: &mut PartReader) -> Result<(), BlobStoreError> {
        let scrub = &self.inner.scrub;
        let s3 = &self.inner.s3;
        let id = s3.create_multipart(path).await.map_err(|e| scrub.error(e))?;
        let mut guard = AbortOnDrop { inner: Some((self.inner.clone(), path.clone(), id.clone())) };
        let uploaded = async {
            let mut done = Vec::new();
            loop {
                let part = parts.take_part();
                let (sent, read) = tokio::join!(s3.put_part(path, &id, done.len(), part), parts.fill());
                done.push(sent.map_err(|e| scrub.error(e))?);
                read.map_err(BlobStoreError::Input)?;
                if parts.is_done() {
                    break;
                }
            }
            s3.complete_multipart(path, &id, done).await.map_err(|e| scrub.error(e))?;
            Ok(())
        }
        .await;
        if let Err(error) = uploaded {
            guard.inner = None;
            if let Err(abort) = s3.abort_multipart(path, &id).await {
                tracing::warn!(path = %path, error = %scrub.text(&abort), "cannot abort a failed multipart upload");
            }
            return Err(error);
        }
        guard.inner = None;
        Ok(())
    }
}

/// Aborts a multipart upload when dropped while armed (the upload future
/// was cancelled): the abort runs as a spawned task.
struct AbortOnDrop {
    inner: Option<(Arc<Inner>, Path, MultipartId)>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some((inner, path, id)) = self.inner.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(path = %path, "multipart upload cancelled outside a runtime; left to the bucket lifecycle");
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = inner.s3.abort_multipart(&path, &id).await {
                tracing::warn!(path = %path, error = %inner.scrub.text(&e), "cannot abort a cancelled multipart upload");
            }
        });
    }
}

/// Cuts an upload into parts of exactly [`PART_SIZE`] bytes (the last one
/// shorter), reading ahead by at most one part.
struct PartReader {
    data: ByteStream,
    pending: Vec<Bytes>,
    len: usize,
    ended: bool,
}

impl PartReader {
    fn new(data: ByteStream) -> PartReader {
        PartReader { data, pending: Vec::new(), len: 0, ended: false }
    }

    /// Read until a whole part is buffered or the data ends.
    async fn fill(&mut self) -> std::io::Result<()> {
        while self.len < PART_SIZE && !self.ended {
            match self.data.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    if !chunk.is_empty() {
                        self.len += chunk.len();
                        self.pending.push(chunk);
                    }
                }
                None => self.ended = true,
            }
        }
        Ok(())
    }

    /// Take the next part: [`PART_SIZE`] bytes, or what is left.
    fn take_part(&mut self) -> PutPayload {
        let mut part = Vec::new();
        let mut wanted = PART_SIZE.min(self.len);
        let mut rest = std::mem::take(&mut self.pending).into_iter();
        for mut chunk in rest.by_ref() {
            if chunk.len() > wanted {
                let tail = chunk.split_off(wanted);
                part.push(chunk);
                self.pending.push(tail);
                break;
            }
            wanted -= chunk.len();
            part.push(chunk);
            if wanted == 0 {
                break;
            }
        }
        self.pending.extend(rest);
        let payload: PutPayload = part.into_iter().collect();
        self.len -= payload.content_length();
        payload
    }

    /// Whether every byte was read and taken.
    fn is_done(&self) -> bool {
        self.ended && self.len == 0
    }
}

impl BlobStore for S3BlobStore {
    async fn put_temp(&self, tenant: &DomainName, data: ByteStream) -> Result<TempBlob, BlobStoreError> {
        let name = new_temp_name()?;
        let path = self.tmp_path(tenant, &name);
        let mut parts = PartReader::new(data);
        parts.fill().await.map_err(BlobStoreError::Input)?;
        if parts.ended && parts.len <= PART_SIZE {
            let payload = parts.take_part();
            self.inner.s3.put(&path, payload).await.map_err(|e| self.inner.scrub.error(e))?;
        } else {
            self.put_multipart(&path, &mut parts).await?;
        }
        Ok(TempBlob { tenant: tenant.clone(), name })
    }

    async fn promote(&self, temp: &TempBlob, key: &BlobKey) -> Result<(), BlobStoreError> {
        let from = self.temp_path(temp)?;
        self.inner.s3.rename(&from, &self.blob_path(key)).await.map_err(|e| self.inner.scrub.error(e))
    }

    async fn discard(&self, temp: &TempBlob) -> Result<(), BlobStoreError> {
        match self.inner.s3.delete(&self.temp_path(temp)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.inner.scrub.error(e)),
        }
    }

    async fn get(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<Option<BlobRead>, BlobStoreError> {
        let path = self.blob_path(key);
        let scrub = &self.inner.scrub;
        // S3 refuses an empty range (416): answer it from the object's size.
        if range.as_ref().is_some_and(Range::is_empty) {
            return match self.inner.s3.head(&path).await {
                Ok(meta) => Ok(Some(BlobRead { size: meta.size, stream: futures::stream::empty().boxed() })),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(scrub.error(e)),
            };
        }
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = match self.inner.s3.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(scrub.error(e)),
        };
        let size = result.meta.size;
        let scrub = scrub.clone();
        let stream = result.into_stream().map_err(move |e| scrub.io(e)).boxed();
        Ok(Some(BlobRead { size, stream }))
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool, BlobStoreError> {
        match self.inner.s3.head(&self.blob_path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.inner.scrub.error(e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        match self.inner.s3.delete(&self.blob_path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.inner.scrub.error(e)),
        }
    }

    async fn delete_account(&self, tenant: &DomainName, did: &Did) -> Result<(), BlobStoreError> {
        self.delete_prefix(&self.account_path(tenant, did)).await.map(drop)
    }

    async fn delete_tenant(&self, tenant: &DomainName) -> Result<(), BlobStoreError> {
        self.delete_prefix(&self.tenant_path(tenant)).await.map(drop)
    }

    async fn purge_stale_temp(&self, tenant: &DomainName, age: Duration) -> Result<u64, BlobStoreError> {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let age_ms = age.as_millis();
        let prefix = self.tenant_path(tenant).join(TMP_DIR);
        let stale = self
            .list(&prefix)
            .try_filter_map(move |meta| {
                // A time in the future (clock skew) counts as brand new.
                let modified_ms = u128::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
                let elapsed = now_ms.saturating_sub(modified_ms);
                futures::future::ready(Ok((elapsed >= age_ms).then_some(meta.location)))
            })
            .boxed();
        self.delete_all(stale).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(chunks: &[usize]) -> PartReader {
        let mut next = 0u8;
        let chunks: Vec<std::io::Result<Bytes>> = chunks
            .iter()
            .map(|&len| {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        next = next.wrapping_add(1);
                        next
                    })
                    .collect();
                Ok(Bytes::from(bytes))
            })
            .collect();
        PartReader::new(futures::stream::iter(chunks).boxed())
    }

    async fn all_parts(mut parts: PartReader) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        parts.fill().await.unwrap();
        while !parts.is_done() {
            let part = parts.take_part();
            out.push(part.iter().flat_map(|b| b.iter().copied()).collect());
            parts.fill().await.unwrap();
        }
        out
    }

    #[tokio::test]
    async fn parts_are_exactly_part_size_but_the_last() {
        let sizes = [1, PART_SIZE - 1, 3 * PART_SIZE + 5, 0, 7, PART_SIZE];
        let total: usize = sizes.iter().sum();
        let parts = all_parts(reader(&sizes)).await;
        let lens: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert!(lens[..lens.len() - 1].iter().all(|&l| l == PART_SIZE), "{lens:?}");
        assert_eq!(lens.iter().sum::<usize>(), total);
        let joined: Vec<u8> = parts.concat();
        let mut next = 0u8;
        assert!(
            joined.iter().all(|&b| {
                next = next.wrapping_add(1);
                b == next
            }),
            "bytes reordered"
        );
    }

    #[tokio::test]
    async fn empty_and_exact_uploads() {
        assert!(all_parts(reader(&[])).await.is_empty());
        assert!(all_parts(reader(&[0, 0])).await.is_empty());
        let lens: Vec<usize> = all_parts(reader(&[PART_SIZE])).await.iter().map(Vec::len).collect();
        assert_eq!(lens, [PART_SIZE]);
    }

    #[test]
    fn endpoint_credentials_are_refused_and_never_shown() {
        let config = S3Config {
            endpoint: Some("http://user:hunter2@127.0.0.1:9000/".into()),
            region: "us-east-1".into(),
            bucket: "b".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
            prefix: None,
            allow_http: true,
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        let err = S3BlobStore::new(config).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(has_userinfo("https://a@b/c"));
        assert!(!has_userinfo("https://host:9000/path@x"));
        assert!(!has_userinfo("http://127.0.0.1:9000"));
    }

    #[test]
    fn scrub_blanks_both_keys() {
        let scrub = Scrub { secrets: vec!["s3cr3t".to_owned(), "AKIDX".to_owned()].into() };
        let text = scrub.text(&"bad signature for AKIDX using s3cr3t");
        assert_eq!(text, "bad signature for <redacted> using <redacted>");
    }
}
