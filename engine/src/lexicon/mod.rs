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
//!
//! # Record validation rules
//!
//! [`Catalog::validate_record`] applies these (specs/lexicon.md):
//! - the whole value must first be valid atproto data
//!   ([`validate_value`](crate::data::record::validate_value): no floats, valid blobs, bounded
//!   depth);
//! - the record is a map whose `$type` is exactly the collection NSID, and the record key
//!   matches the definition's key type (`tid`, `nsid`, `any`, `literal:<value>`);
//! - objects: every `required` property present; `null` only for `nullable` ones; properties not
//!   in the schema are ignored (the spec says to tolerate them);
//! - strings: `minLength`/`maxLength` in UTF-8 bytes, `minGraphemes`/`maxGraphemes` in extended
//!   grapheme clusters, `enum`, `const`, `format`; `knownValues` is not enforced;
//! - integers: `minimum`, `maximum`, `enum`, `const`; booleans: `const`;
//! - bytes: `minLength`/`maxLength`; cid-link: a link; blob: a current-shape blob (not the legacy
//!   `{cid, mimeType}`) whose `mimeType` matches an `accept` pattern and whose `size` is at most
//!   `maxSize`; arrays: element count and every element;
//! - unions: a map with a string `$type` (a `main` definition named by the bare NSID); a listed
//!   variant is validated against it; an unlisted one is refused by a closed union, while an open
//!   union validates it when the catalog knows its definition and accepts it otherwise;
//! - `unknown`: any map that is not a blob;
//! - `ref`: validated against the target. **A target the catalog does not have is accepted** (the
//!   value was already checked as data): a catalog holds only part of the world's schemas, and
//!   refusing a record because a schema it references is missing would be wrong.
//!   [`Catalog::dangling_references`] lists such references, so a catalog meant to be complete
//!   (the server's embedded one) can be checked to have none. A reference to a `record`
//!   definition also needs the matching `$type`.

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
