//! `uploadBlob`'s work: stream the body into the staging area (hashing it,
//! never holding it whole), pick the MIME type, record the blob under the
//! domain's quota, then move the bytes to their final key. Whatever fails,
//! nothing is left behind: the staged bytes are discarded and a recorded
//! row is taken back.

use poem::http::StatusCode;
use primal_pds_storage::blob::{BlobKey, BlobStore, ByteStream, StageError, StagedBlob, sniff_mime, stage};
use primal_pds_storage::{BlobIndex, BlobMeta, Registration, StorageError, now_millis};

use crate::auth::session::AuthSession;
use crate::error::{INTERNAL, XrpcError, storage_error};
use crate::state::AppState;

/// 413 `PayloadTooLarge` for a blob over the limit.
fn too_large(max: u64) -> XrpcError {
    XrpcError::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", format!("The blob is larger than {max} bytes"))
}

/// 400 `InvalidRequest`: a blob reference cannot have size 0 (the data
/// model reserves it for the legacy shape), so an empty blob is useless.
fn empty() -> XrpcError {
    XrpcError::invalid_request("The blob is empty")
}

/// 400 `QuotaExceeded`: the domain's blob storage is full.
fn quota_exceeded(used: u64, quota: u64, size: u64) -> XrpcError {
    XrpcError::bad_request(
        "QuotaExceeded",
        format!("The domain's blob storage quota is {quota} bytes, {used} are used; this blob needs {size}"),
    )
}

/// Store the blob `body` of the session's account. `declared` is the
/// request's `Content-Type`, `content_length` its `Content-Length`.
pub async fn upload_blob(
    state: &AppState,
    session: &AuthSession,
    declared: Option<&str>,
    content_length: Option<u64>,
    body: ByteStream,
) -> Result<BlobMeta, XrpcError> {
    session.ensure_can_write()?;
    let max = state.blobs.max_upload_bytes;
    if content_length.is_some_and(|len| len > max) {
        return Err(too_large(max));
    }
    if content_length == Some(0) {
        return Err(empty());
    }
    let quota = state.domains().await.map_err(storage_error)?.get(&session.domain).and_then(|t| t.blob_quota);
    // A declared size over the quota is refused before a byte is read.
    if let (Some(quota), Some(len)) = (quota, content_length) {
        let used = session.store.blob_bytes_used().await.map_err(storage_error)?;
        if used.saturating_add(len) > quota {
            return Err(quota_exceeded(used, quota, len));
        }
    }
    let staged = stage(&state.blobs.store, &session.domain, body, max).await.map_err(|e| match e {
        StageError::TooLarge { max } => too_large(max),
        StageError::Body(e) => XrpcError::invalid_request(format!("Could not read the request body: {e}")),
        e => XrpcError::internal(INTERNAL, &e),
    })?;
    let result = keep(state, session, declared, quota, &staged).await;
    if !matches!(result, Ok(Kept::Moved(_))) {
        // Not moved (refused, failed, or the account had these bytes): drop the staged copy.
        if let Err(e) = state.blobs.store.discard(&staged.temp).await {
            tracing::warn!(domain = %session.domain, error = %e, "a staged upload was not discarded");
        }
    }
    result.map(Kept::into_meta)
}

/// What became of a staged upload.
enum Kept {
    /// Recorded and moved to its key.
    Moved(BlobMeta),
    /// The account had stored these bytes already.
    Existing(BlobMeta),
}

impl Kept {
    fn into_meta(self) -> BlobMeta {
        match self {
            Kept::Moved(meta) | Kept::Existing(meta) => meta,
        }
    }
}

async fn keep(
    state: &AppState,
    session: &AuthSession,
    declared: Option<&str>,
    quota: Option<u64>,
    staged: &StagedBlob,
) -> Result<Kept, XrpcError> {
    if staged.size == 0 {
        return Err(empty());
    }
    let mime_type = crate::blobs::choose_mime_type(declared, sniff_mime(&staged.head))?;
    let meta = BlobMeta { cid: staged.cid, mime_type, size: staged.size, created_at: now_millis() };
    let key = BlobKey { tenant: session.domain.clone(), did: session.did.clone(), cid: staged.cid };
    let internal = |e: &dyn std::fmt::Display| XrpcError::internal(INTERNAL, e);
    match session.store.register_blob(&session.did, &meta, quota).await {
        Ok(Registration::New) => match state.blobs.store.promote(&staged.temp, &key).await {
            Ok(()) => Ok(Kept::Moved(meta)),
            Err(e) => {
                if let Err(undo) = session.store.unregister_blob(&session.did, &staged.cid).await {
                    tracing::error!(did = %session.did, cid = %staged.cid, error = %undo, "a blob row without bytes was left");
                }
                Err(internal(&e))
            }
        },
        Ok(Registration::Existing(existing)) => {
            // Repair a row whose bytes were lost (e.g. a crash before the move).
            if !state.blobs.store.exists(&key).await.map_err(|e| internal(&e))? {
                state.blobs.store.promote(&staged.temp, &key).await.map_err(|e| internal(&e))?;
                return Ok(Kept::Moved(existing));
            }
            Ok(Kept::Existing(existing))
        }
        Err(StorageError::QuotaExceeded { used, quota, size }) => Err(quota_exceeded(used, quota, size)),
        Err(StorageError::BlobBeingDeleted(cid)) => Err(XrpcError::new(
            StatusCode::CONFLICT,
            "BlobBeingDeleted",
            format!("Blob {cid} is being deleted right now; upload it again"),
        )),
        Err(e) => Err(storage_error(e)),
    }
}
