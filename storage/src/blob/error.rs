//! What can go wrong while storing blob bytes.

/// A failure of a [`BlobStore`](super::BlobStore).
///
/// Messages never hold credentials: object-store errors are turned into text
/// with the configured keys blanked out before they are kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobStoreError {
    /// The data being stored failed to arrive: the stream handed to
    /// [`BlobStore::put_temp`](super::BlobStore::put_temp) yielded this error.
    /// Nothing was left behind.
    #[error("reading the data to store failed: {0}")]
    Input(#[source] std::io::Error),

    /// A file-system operation failed (file-system store).
    #[error("blob file I/O failed: {0}")]
    Io(#[from] std::io::Error),

    /// The object store (S3) refused or failed a request.
    #[error("object store: {message}")]
    ObjectStore {
        /// What the object store said, credentials removed.
        message: String,
    },

    /// The store cannot be set up with the configuration given.
    #[error("invalid blob store configuration: {0}")]
    Config(String),

    /// A [`TempBlob`](super::TempBlob) whose name this store never gives out
    /// (names are 32 lowercase hex digits), so it cannot be a staged upload.
    #[error("not a staging name: {0:?}")]
    BadTempName(String),

    /// The operating system gave no random bytes for a staging name.
    #[error("no randomness for a staging name: {0}")]
    Random(String),
}
