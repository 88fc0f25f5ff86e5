//! The errors of the Lexicon layer: a schema document that does not parse, a catalog that
//! cannot be built, a record that does not match its schema.

use crate::syntax::Nsid;

/// What went wrong while reading schemas or validating a record against them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LexiconError {
    /// A schema document that is not a valid Lexicon (specs/lexicon.md, "Lexicon Files").
    #[error("invalid Lexicon schema {id}: {reason} (at {})", shown_path(path))]
    InvalidSchema {
        /// The document's `id` as written (or `?` when it has none).
        id: String,
        /// Where in the document, as a JSON Pointer (`/defs/main/record`); empty for the top level.
        path: String,
        /// The rule the document broke.
        reason: String,
    },
    /// Two documents of one catalog have the same `id`.
    #[error("Lexicon schema {0} is defined twice")]
    DuplicateSchema(Nsid),
    /// The catalog has a document for the collection, but its `main` is not a `record` definition.
    #[error("Lexicon schema {0} does not define a record type")]
    NotARecordType(Nsid),
    /// The record does not match its schema (or breaks the data-model rules).
    #[error("invalid record at {}: {reason}", shown_path(path))]
    InvalidRecord {
        /// Where in the record, as a JSON Pointer (`/embed/images/0`); empty for the top level.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

fn shown_path(path: &str) -> String {
    if path.is_empty() { "top level".to_owned() } else { format!("{path:?}") }
}

/// A problem found at a place in a tree (schema or data); the path is built while unwinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) path: String,
    pub(crate) reason: String,
}

impl Located {
    /// A problem at the current place.
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Located { path: String::new(), reason: reason.into() }
    }

    /// Prefix the path with one map key (escaped per RFC 6901).
    pub(crate) fn in_key(mut self, key: &str) -> Self {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        self.path.insert_str(0, &format!("/{escaped}"));
        self
    }

    /// Prefix the path with one list index.
    pub(crate) fn in_index(mut self, index: usize) -> Self {
        self.path.insert_str(0, &format!("/{index}"));
        self
    }

    /// As a schema error of the document `id`.
    pub(crate) fn into_schema_error(self, id: &str) -> LexiconError {
        LexiconError::InvalidSchema { id: brief(id), path: self.path, reason: self.reason }
    }

    /// As a record validation error.
    pub(crate) fn into_record_error(self) -> LexiconError {
        LexiconError::InvalidRecord { path: self.path, reason: self.reason }
    }
}

/// Cut a rendering of untrusted input to a length fit for an error message.
pub(crate) fn brief(text: &str) -> String {
    const MAX_CHARS: usize = 96;
    let mut out: String = text.chars().take(MAX_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
