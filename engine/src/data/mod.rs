//! The atproto data model (specs/data-model.md): CIDs, canonical DAG-CBOR and
//! the JSON representation, blob references and the schema-free record checks.
//!
//! Values are [`Ipld`](crate::Ipld) trees. Going between forms:
//!
//! | from → to | function |
//! | --- | --- |
//! | atproto JSON → data model | [`json::ipld_from_json`], [`json::ipld_from_json_object`] |
//! | data model → atproto JSON | [`json::ipld_to_json`] |
//! | data model → DAG-CBOR | [`cbor::encode_ipld`] |
//! | DAG-CBOR → data model | [`cbor::decode_ipld`] (strict: canonical bytes only) |
//! | data model → checked record | [`record::validate_record`] |
//! | data model → blob references | [`find_blob_refs`] |
//!
//! Not covered here: Lexicon validation (string formats, schemas), NSID syntax of `$type`.

mod blob;
pub mod cbor;
pub mod cid;
mod error;
pub mod json;
pub mod record;

pub use blob::{BlobRef, find_blob_refs};
pub use error::{DataError, DataErrorKind};

/// The deepest nesting of lists and maps accepted anywhere in the data model (JSON, CBOR,
/// record checks): 127, the limit `serde_ipld_dagcbor` 0.7 enforces when decoding.
pub const MAX_DEPTH: usize = 127;
