//! The atproto data model (specs/data-model.md): CIDs, canonical DAG-CBOR and
//! the JSON representation.

pub mod cbor;
pub mod cid;
