//! Canonical DAG-CBOR encoding and decoding of typed values.

use serde::{Serialize, de::DeserializeOwned};

/// Why a value could not be encoded or decoded as DAG-CBOR.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CborError {
    /// The value cannot be represented in DAG-CBOR (for example a float, or a non-string map key).
    #[error("cannot encode as DAG-CBOR: {0}")]
    Encode(String),
    /// The bytes are not valid DAG-CBOR for the expected type.
    #[error("invalid DAG-CBOR: {0}")]
    Decode(String),
}

/// Encode a value as canonical DAG-CBOR (map keys sorted length-first, then bytewise).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CborError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| CborError::Encode(e.to_string()))
}

/// Decode DAG-CBOR bytes into a typed value.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CborError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CborError::Decode(e.to_string()))
}
