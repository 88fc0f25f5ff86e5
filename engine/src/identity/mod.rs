//! Account identity (specs/did.md): DID documents and the `did:plc` method.
//!
//! - [`DidDocument`]: the W3C JSON document a DID resolves to, with the
//!   atproto accessors [`DidDocument::signing_key`], [`DidDocument::pds_endpoint`]
//!   and [`DidDocument::handle`], and [`DidDocument::for_account`] to build the
//!   document this PDS publishes.
//! - [`plc`]: `did:plc` operations: create, sign, derive the DID, verify a log.
//!
//! Not covered here: resolution itself (HTTP to the PLC directory or
//! `/.well-known/did.json`, DNS for handles) and bidirectional handle checks,
//! which need I/O and live in the server.

mod document;
pub mod plc;

pub use document::{DidDocument, DocumentError, Service, VerificationMethod};
