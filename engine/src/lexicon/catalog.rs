//! A set of parsed schema documents, keyed by NSID, that references resolve against.

use std::collections::HashMap;

use ipld_core::ipld::Ipld;
use serde_json::Value;

use super::error::LexiconError;
use super::schema::{Def, LexiconDoc, RefTarget, TypeDef};
use super::validate::{Validation, validate_record};
use crate::syntax::{Nsid, RecordKey};

/// Lexicon schema documents by NSID.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    docs: HashMap<Nsid, LexiconDoc>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Parse every document (see [`LexiconDoc::parse`]); refuses an invalid document and two
    /// documents with one `id`.
    pub fn from_documents(docs: impl IntoIterator<Item = Value>) -> Result<Catalog, LexiconError> {
        let mut catalog = Catalog::new();
        for doc in docs {
            catalog.add(LexiconDoc::parse(&doc)?)?;
        }
        Ok(catalog)
    }

    /// Add a parsed document; refuses one whose `id` is already in the catalog.
    pub fn add(&mut self, doc: LexiconDoc) -> Result<(), LexiconError> {
        if self.docs.contains_key(&doc.id) {
            return Err(LexiconError::DuplicateSchema(doc.id));
        }
        self.docs.insert(doc.id.clone(), doc);
        Ok(())
    }

    /// The document with this NSID.
    pub fn get(&self, id: &Nsid) -> Option<&LexiconDoc> {
        self.docs.get(id)
    }

    /// The definition a reference points at, if the catalog has it.
    pub fn resolve(&self, target: &RefTarget) -> Option<&Def> {
        self.docs.get(&target.nsid)?.defs.get(&target.name)
    }

    /// Every reference of the catalog's documents that does not lead to data: its target is
    /// missing, or is not a data type (a token, an XRPC endpoint, a permission set). Each as
    /// (referring document, target), sorted.
    ///
    /// Validation accepts a value at a reference to a missing definition unchecked (see the
    /// [`lexicon`](super) module documentation), so a catalog meant to cover its own schemas
    /// should have none.
    pub fn dangling_references(&self) -> Vec<(&Nsid, &RefTarget)> {
        let leads_to_data = |target: &RefTarget| match self.resolve(target) {
            Some(Def::Type(TypeDef::Token)) | None => false,
            Some(Def::Type(_) | Def::Record(_)) => true,
            Some(_) => false,
        };
        let mut dangling: Vec<(&Nsid, &RefTarget)> = self
            .docs
            .values()
            .flat_map(|doc| doc.defs.values().flat_map(Def::references).map(move |target| (&doc.id, target)))
            .filter(|(_, target)| !leads_to_data(target))
            .collect();
        dangling.sort();
        dangling.dedup();
        dangling
    }

    /// How many documents the catalog holds.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether the catalog holds no documents.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The NSIDs of the documents, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &Nsid> {
        self.docs.keys()
    }

    /// Validate a record of `collection` stored under `rkey` against the collection's `record`
    /// definition (the rules are listed in the [`lexicon`](super) module documentation).
    ///
    /// [`Validation::Unknown`] when the catalog has no document for the collection;
    /// [`LexiconError::NotARecordType`] when it has one whose `main` is not a record;
    /// [`LexiconError::InvalidRecord`] when the record, its `$type` or its key does not match.
    pub fn validate_record(
        &self,
        collection: &Nsid,
        rkey: &RecordKey,
        record: &Ipld,
    ) -> Result<Validation, LexiconError> {
        validate_record(self, collection, rkey, record)
    }
}
