//! Lexicon schemas (specs/lexicon.md): parsing schema documents, a catalog of them, and
//! validating records against it. Pure: the caller supplies the documents as JSON.
//!
//! | file | concept |
//! | --- | --- |
//! | `schema.rs` | the document model: [`LexiconDoc`], [`Def`], [`TypeDef`], [`RefTarget`] |
//! | `parse.rs` | reading a document from JSON ([`LexiconDoc::parse`]) with the language's checks |
//! | `formats.rs` | string formats ([`StringFormat`]) on top of [`syntax`](crate::syntax) |
//! | `catalog.rs` | [`Catalog`]: documents by NSID, reference resolution |
//! | `validate.rs` | record validation ([`Catalog::validate_record`], [`Validation`]) |
//! | `error.rs` | [`LexiconError`] |
//!
//! Validation of XRPC parameters and bodies is not implemented yet (the definitions are parsed).

mod catalog;
mod error;
mod formats;
mod parse;
mod schema;
mod validate;

pub use catalog::Catalog;
pub use error::LexiconError;
pub use formats::StringFormat;
pub use schema::{
    ArrayDef, BlobDef, BodyDef, BooleanDef, Def, ErrorDef, IntegerDef, LengthLimits, LexiconDoc, ObjectDef, ParamsDef,
    PermissionDef, PermissionSetDef, RecordDef, RecordKeyType, RefTarget, StringDef, SubscriptionDef, TypeDef,
    UnionDef, XrpcDef,
};
pub use validate::Validation;
