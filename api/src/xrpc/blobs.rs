//! The blob endpoints (specs/blob.md): `com.atproto.repo.uploadBlob`,
//! `com.atproto.sync.getBlob` (streamed, with range requests),
//! `com.atproto.sync.listBlobs` and `com.atproto.repo.listMissingBlobs`.
//! The work behind them is in [`crate::blobs`].

use std::ops::Range;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use poem::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RANGE};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response};
use poem_openapi::param::Query;
use poem_openapi::payload::{Binary, Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::{ApiResponse, Object, OpenApi};
use primal_pds_storage::BlobIndex;
use primal_pds_storage::blob::{BlobKey, BlobStore};

use crate::error::{INTERNAL, XrpcError, XrpcErrorBody, storage_error};
use crate::state::AppState;
use crate::xrpc::body_limit::close_on_error;
use crate::xrpc::params;
use crate::xrpc::repo::RepoTags;
use crate::xrpc::sync::SyncTags;

/// What getBlob answers with: `default-src 'none'; sandbox` keeps a blob
/// opened in a browser from running anything.
const BLOB_CSP: &str = "default-src 'none'; sandbox";

/// `{"$link": cid}`.
#[derive(Debug, Object)]
pub struct CidLink {
    /// The CID.
    #[oai(rename = "$link")]
    pub link: String,
}

/// A blob reference, as records embed it (`$type: blob`).
#[derive(Debug, Object)]
pub struct BlobRefView {
    /// Always `blob`.
    #[oai(rename = "$type")]
    pub kind: String,
    /// The blob's CID.
    #[oai(rename = "ref")]
    pub reference: CidLink,
    /// Its MIME type.
    #[oai(rename = "mimeType")]
    pub mime_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Output of `com.atproto.repo.uploadBlob`.
#[derive(Debug, Object)]
pub struct UploadBlobOutput {
    /// The reference to put into a record.
    pub blob: BlobRefView,
}

/// Output of `com.atproto.sync.listBlobs`.
#[derive(Debug, Object)]
pub struct ListBlobsOutput {
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub cursor: Option<String>,
    /// CIDs of the blobs.
    pub cids: Vec<String>,
}

/// `com.atproto.repo.listMissingBlobs#recordBlob`.
#[derive(Debug, Object)]
pub struct RecordBlob {
    /// The blob's CID.
    pub cid: String,
    /// A record referencing it.
    #[oai(rename = "recordUri")]
    pub record_uri: String,
}

/// Output of `com.atproto.repo.listMissingBlobs`.
#[derive(Debug, Object)]
pub struct ListMissingBlobsOutput {
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub cursor: Option<String>,
    /// The missing blobs.
    pub blobs: Vec<RecordBlob>,
}

/// A blob's bytes with the MIME type it was stored with.
pub struct BlobBody {
    mime_type: String,
    body: Body,
}

impl Payload for BlobBody {
    const CONTENT_TYPE: &'static str = "*/*";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema { format: Some("binary"), ..MetaSchema::new("string") }))
    }
}

impl IntoResponse for BlobBody {
    fn into_response(self) -> Response {
        Response::builder().content_type(self.mime_type).body(self.body)
    }
}

/// getBlob's answers.
#[derive(ApiResponse)]
pub enum BlobResponse {
    /// The whole blob.
    #[oai(status = 200)]
    Whole(
        BlobBody,
        /// The blob's size.
        #[oai(header = "Content-Length")]
        u64,
        /// Nothing in the blob may run.
        #[oai(header = "Content-Security-Policy")]
        String,
        /// The type is the one given, never sniffed.
        #[oai(header = "X-Content-Type-Options")]
        String,
        /// Byte ranges may be asked for.
        #[oai(header = "Accept-Ranges")]
        String,
    ),
    /// The requested byte range.
    #[oai(status = 206)]
    Part(
        BlobBody,
        /// The range's length.
        #[oai(header = "Content-Length")]
        u64,
        /// Nothing in the blob may run.
        #[oai(header = "Content-Security-Policy")]
        String,
        /// The type is the one given, never sniffed.
        #[oai(header = "X-Content-Type-Options")]
        String,
        /// `bytes first-last/size`.
        #[oai(header = "Content-Range")]
        String,
    ),
    /// The range starts past the end of the blob.
    #[oai(status = 416)]
    RangeNotSatisfiable(
        Json<XrpcErrorBody>,
        /// `bytes */size`.
        #[oai(header = "Content-Range")]
        String,
    ),
}

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// No (usable) range: the whole blob. Multiple ranges and malformed
    /// headers are answered with the whole blob, as RFC 9110 allows.
    Whole,
    /// One satisfiable range.
    Part(Range<u64>),
    /// A range past the end.
    Unsatisfiable,
}

fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeRequest::Whole };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeRequest::Whole };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // `-n`: the last n bytes.
        match last.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) => size.saturating_sub(n)..size,
            Err(_) => return RangeRequest::Whole,
        }
    } else {
        let Ok(start) = first.parse::<u64>() else { return RangeRequest::Whole };
        let end = if last.is_empty() {
            size
        } else {
            match last.parse::<u64>() {
                Ok(l) if l >= start => l.saturating_add(1).min(size),
                _ => return RangeRequest::Whole,
            }
        };
        start..end
    };
    if range.start >= size || range.is_empty() { RangeRequest::Unsatisfiable } else { RangeRequest::Part(range) }
}

fn header(req: &Request, name: poem::http::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The blob endpoints.
pub struct BlobApi;

#[OpenApi]
impl BlobApi {
    /// Upload a blob (image, video, ...) to reference from a record of the
    /// authenticated account. The body is the blob; `Content-Type` its MIME
    /// type (checked against the bytes). Unreferenced blobs are deleted
    /// after a grace period. Requires auth (session or app password).
    #[oai(
        path = "/xrpc/com.atproto.repo.uploadBlob",
        method = "post",
        tag = "RepoTags::Repo",
        transform = "close_on_error"
    )]
    async fn upload_blob(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Binary<Body>,
    ) -> Result<Json<UploadBlobOutput>, XrpcError> {
        let session = crate::auth::session::authenticate(&state, req).await?;
        let declared = header(req, CONTENT_TYPE);
        let length = header(req, CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        let stream = body.0.into_bytes_stream().map_err(std::io::Error::other).boxed();
        let meta = crate::blobs::upload_blob(&state, &session, declared, length, stream).await?;
        Ok(Json(UploadBlobOutput {
            blob: BlobRefView {
                kind: "blob".into(),
                reference: CidLink { link: meta.cid.to_string() },
                mime_type: meta.mime_type,
                size: meta.size,
            },
        }))
    }

    /// Get a blob of an account, by CID: the bytes with the stored MIME
    /// type; single byte ranges (`Range: bytes=...`) are honoured. Does
    /// not require auth.
    #[oai(path = "/xrpc/com.atproto.sync.getBlob", method = "get", tag = "SyncTags::Sync")]
    async fn get_blob(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        did: Query<String>,
        cid: Query<String>,
    ) -> Result<BlobResponse, XrpcError> {
        let cid = params::cid("cid", &cid.0)?;
        let target = state.resolve_did_param(&did.0).await?;
        target.ensure_active()?;
        let not_found = || XrpcError::bad_request("BlobNotFound", format!("Blob not found: {cid}"));
        let meta = target.store.servable_blob(&target.did, &cid).await.map_err(storage_error)?.ok_or_else(not_found)?;
        let range = parse_range(header(req, RANGE), meta.size);
        let wanted = match &range {
            RangeRequest::Whole => None,
            RangeRequest::Part(r) => Some(r.clone()),
            RangeRequest::Unsatisfiable => {
                let body = XrpcErrorBody {
                    error: "RangeNotSatisfiable".into(),
                    message: format!("The blob has {} bytes", meta.size),
                };
                return Ok(BlobResponse::RangeNotSatisfiable(Json(body), format!("bytes */{}", meta.size)));
            }
        };
        let key = BlobKey { tenant: target.domain.clone(), did: target.did.clone(), cid };
        let read = state.blobs.store.get(&key, wanted.clone()).await.map_err(|e| XrpcError::internal(INTERNAL, &e))?;
        // A row whose bytes are gone (lost, or mid-upload) is not servable.
        let read = read.ok_or_else(not_found)?;
        let body = BlobBody { mime_type: meta.mime_type.clone(), body: Body::from_bytes_stream(read.stream) };
        let (csp, nosniff) = (BLOB_CSP.to_owned(), "nosniff".to_owned());
        Ok(match wanted {
            None => BlobResponse::Whole(body, meta.size, csp, nosniff, "bytes".into()),
            Some(r) => {
                let content_range = format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size);
                BlobResponse::Part(body, r.end - r.start, csp, nosniff, content_range)
            }
        })
    }

    /// List the CIDs of the blobs records of a repo reference, optionally
    /// only those of records written after rev `since`. Does not require auth.
    #[oai(path = "/xrpc/com.atproto.sync.listBlobs", method = "get", tag = "SyncTags::Sync")]
    async fn list_blobs(
        &self,
        state: Data<&Arc<AppState>>,
        did: Query<String>,
        since: Query<Option<String>>,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ListBlobsOutput>, XrpcError> {
        let since = since.0.as_deref().map(|s| params::tid("since", s)).transpose()?;
        let limit = params::limit(limit.0, 1, 1000, 500)?;
        let target = state.resolve_did_param(&did.0).await?;
        target.ensure_active()?;
        let cids = target
            .store
            .list_blobs(&target.did, since.as_ref(), cursor.0.as_deref(), limit)
            .await
            .map_err(storage_error)?;
        let cursor = if cids.len() == limit { cids.last().map(ToString::to_string) } else { None };
        Ok(Json(ListBlobsOutput { cursor, cids: cids.iter().map(ToString::to_string).collect() }))
    }

    /// List the blobs records of the authenticated account reference but
    /// that it has not uploaded (e.g. after an account migration).
    /// Requires auth.
    #[oai(path = "/xrpc/com.atproto.repo.listMissingBlobs", method = "get", tag = "RepoTags::Repo")]
    async fn list_missing_blobs(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        limit: Query<Option<i64>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ListMissingBlobsOutput>, XrpcError> {
        let limit = params::limit(limit.0, 1, 1000, 500)?;
        let session = crate::auth::session::authenticate(&state, req).await?;
        let missing =
            session.store.list_missing_blobs(&session.did, cursor.0.as_deref(), limit).await.map_err(storage_error)?;
        let cursor = if missing.len() == limit { missing.last().map(|m| m.cid.to_string()) } else { None };
        let blobs = missing
            .into_iter()
            .map(|m| RecordBlob {
                cid: m.cid.to_string(),
                record_uri: format!("at://{}/{}/{}", session.did, m.collection, m.rkey),
            })
            .collect();
        Ok(Json(ListMissingBlobsOutput { cursor, blobs }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Part(0..4));
        assert_eq!(parse_range(Some("bytes=4-"), 10), Part(4..10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7..10));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0..10));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Part(5..10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=3-1"), 10), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Whole);
    }
}
