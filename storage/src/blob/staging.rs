//! Receiving an upload: stream the body into the staging area while hashing
//! it, stop at the size limit, and name the result by its CID.
//!
//! The body passes through an adapter on its way to
//! [`BlobStore::put_temp`]: it hashes and counts each chunk and keeps the
//! first [`SNIFF_BYTES`]. A body that grows past the limit, or fails, makes
//! the adapter yield an error, so the store gives up and removes what it
//! wrote; the adapter remembers which of the two it was, so [`stage`] can
//! tell the client's fault ([`StageError::TooLarge`], [`StageError::Body`])
//! from the store's ([`StageError::Store`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use cid::Cid;
use cid::multihash::Multihash;
use futures::{Stream, StreamExt};
use primal_pds_engine::data::cid::{RAW, SHA2_256};
use sha2::{Digest, Sha256};

use super::{BlobStore, BlobStoreError, ByteStream, SNIFF_BYTES, StagedBlob};
use crate::DomainName;

/// Why an upload could not be staged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// The body is larger than the limit (nothing was kept).
    #[error("the upload is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// Reading the request body failed, e.g. the client went away (nothing
    /// was kept).
    #[error("reading the upload failed: {0}")]
    Body(#[source] std::io::Error),
    /// The blob store failed (nothing was kept).
    #[error(transparent)]
    Store(#[from] BlobStoreError),
}

/// What the adapter has seen so far.
struct Progress {
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    /// The body ended (the store read it all).
    finished: bool,
    /// The body passed the limit.
    too_large: bool,
    /// The body's own error, kept for [`StageError::Body`].
    body_error: Option<std::io::Error>,
}

/// The body on its way to the store: hashes, counts, keeps the head, and
/// turns into an error past `max_size` bytes. Ends after yielding an error.
struct Metered {
    body: ByteStream,
    max_size: u64,
    progress: Arc<Mutex<Progress>>,
    done: bool,
}

impl Stream for Metered {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = match self.body.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        let max_size = self.max_size;
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        let item = match next {
            None => {
                progress.finished = true;
                None
            }
            Some(Err(error)) => {
                let relayed = std::io::Error::new(error.kind(), format!("the upload body failed: {error}"));
                progress.body_error = Some(error);
                Some(Err(relayed))
            }
            Some(Ok(chunk)) => {
                let size = progress.size.saturating_add(chunk.len() as u64);
                if size > max_size {
                    progress.too_large = true;
                    Some(Err(std::io::Error::new(
                        std::io::ErrorKind::FileTooLarge,
                        format!("the upload is larger than {max_size} bytes"),
                    )))
                } else {
                    progress.size = size;
                    progress.hasher.update(&chunk);
                    let wanted = SNIFF_BYTES.saturating_sub(progress.head.len()).min(chunk.len());
                    progress.head.extend_from_slice(&chunk[..wanted]);
                    Some(Ok(chunk))
                }
            }
        };
        drop(progress);
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        Poll::Ready(item)
    }
}

/// Stream `body` into `tenant`'s staging area, hashing it on the way; at
/// most `max_size` bytes are accepted. On any error nothing is left in the
/// staging area. The caller then promotes or discards the [`StagedBlob`].
pub async fn stage<S: BlobStore>(
    store: &S,
    tenant: &DomainName,
    body: ByteStream,
    max_size: u64,
) -> Result<StagedBlob, StageError> {
    let progress = Arc::new(Mutex::new(Progress {
        hasher: Sha256::new(),
        size: 0,
        head: Vec::with_capacity(SNIFF_BYTES),
        finished: false,
        too_large: false,
        body_error: None,
    }));
    let metered = Metered { body, max_size, progress: progress.clone(), done: false };
    let stored = store.put_temp(tenant, metered.boxed()).await;
    let outcome = {
        let mut progress = progress.lock().unwrap_or_else(PoisonError::into_inner);
        if progress.too_large {
            Err(StageError::TooLarge { max: max_size })
        } else if let Some(error) = progress.body_error.take() {
            Err(StageError::Body(error))
        } else if !progress.finished {
            Err(StageError::Store(BlobStoreError::Io(std::io::Error::other(
                "the blob store stopped reading before the end of the upload",
            ))))
        } else {
            let digest = std::mem::take(&mut progress.hasher).finalize();
            Ok((raw_cid(&digest), progress.size, std::mem::take(&mut progress.head)))
        }
    };
    match (stored, outcome) {
        (Ok(temp), Ok((cid, size, head))) => Ok(StagedBlob { temp, cid, size, head }),
        // The adapter's error comes first: it says whose fault it was.
        (Err(_), Err(error)) => Err(error),
        (Err(error), Ok(_)) => Err(StageError::Store(error)),
        (Ok(temp), Err(error)) => {
            // The store kept an upload it should have failed on (it must
            // fail on the adapter's error and read the body to its end).
            store.discard(&temp).await?;
            Err(error)
        }
    }
}

/// The blob CID of a SHA-256 digest: CIDv1, raw codec, sha2-256 multihash.
fn raw_cid(digest: &[u8]) -> Cid {
    // A 32-byte digest always fits a 64-byte multihash.
    let hash = Multihash::<64>::wrap(SHA2_256, digest).expect("a sha2-256 digest fits a multihash");
    Cid::new_v1(RAW, hash)
}

#[cfg(test)]
mod tests {
    use primal_pds_engine::data::cid::cid_for_raw;

    use super::*;

    #[test]
    fn raw_cid_matches_the_engine() {
        for data in [&b""[..], b"hello", &[7u8; 1000]] {
            assert_eq!(raw_cid(&Sha256::digest(data)), cid_for_raw(data));
        }
    }
}
