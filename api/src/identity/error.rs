//! [`IdentityError`] and its XRPC mapping.

use std::path::PathBuf;

use poem::http::StatusCode;
use primal_pds_engine::keys::KeyError;

use crate::error::XrpcError;

/// Why a key could not be sealed, unsealed or loaded, or a DID could not be
/// created or updated. No variant carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A server key file under the data directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A server key file exists but its content is not what it should be.
    #[error("{}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A sealed key did not decrypt: the key-encryption key is not the one it
    /// was sealed with, or the blob is corrupt.
    #[error("sealed key cannot be decrypted (wrong key-encryption key or corrupt data)")]
    WrongKeyOrCorrupt,
    /// A stored key is neither a sealed blob we know nor a multibase private key.
    #[error("stored key is not in a known format: {0}")]
    UnknownKeyFormat(&'static str),
    /// A stored or decrypted key does not parse.
    #[error("stored key is invalid: {0}")]
    InvalidKey(#[from] KeyError),
    /// Encrypting a key failed (the cipher refused the input; not expected to happen).
    #[error("cannot seal the key")]
    SealFailed,
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
    /// `plcEndpoint` is not an `http(s)://` URL.
    #[error("invalid plcEndpoint {endpoint:?}: {reason}")]
    InvalidPlcEndpoint {
        /// The configured value.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The PLC directory could not be reached, timed out, or sent an unreadable answer.
    #[error("PLC directory {endpoint}: {reason}")]
    PlcUnreachable {
        /// The directory's base URL.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The PLC directory answered with a non-2xx status.
    #[error("PLC directory {endpoint} answered {status}: {message}")]
    PlcRejected {
        /// The directory's base URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The directory's `message` (or the start of its body).
        message: String,
    },
    /// The DID's current PLC state cannot be updated by this server (a
    /// tombstoned DID, or the server's rotation key is not one of its rotation keys).
    #[error("cannot update {did}: {reason}")]
    NotUpdatable {
        /// The DID.
        did: String,
        /// Why.
        reason: String,
    },
}

impl IdentityError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IdentityError {
        let path = path.into();
        move |source| IdentityError::Io { path, source }
    }
}

impl From<IdentityError> for XrpcError {
    /// The PLC directory failing is 503 `UpstreamFailure` (with the
    /// directory's message, which holds no secret); everything else is a
    /// logged 500.
    fn from(err: IdentityError) -> XrpcError {
        match &err {
            IdentityError::PlcUnreachable { .. } | IdentityError::PlcRejected { .. } => {
                tracing::warn!(error = %err, "PLC directory failure");
                XrpcError::new(StatusCode::SERVICE_UNAVAILABLE, "UpstreamFailure", err.to_string())
            }
            _ => XrpcError::internal("InternalServerError", &err),
        }
    }
}
