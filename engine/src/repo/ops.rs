//! Record writes going in, and record operations coming out of a commit.

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use super::RepoError;
use crate::syntax::{Nsid, RecordKey};

/// Most writes one commit may hold (the reference PDS and relays' limit).
pub const MAX_WRITES: usize = 200;
/// Largest record block, in bytes.
pub const MAX_RECORD_BYTES: usize = 1_000_000;
/// Largest CAR slice (sum of block sizes) a commit may produce; relays drop larger events.
pub const MAX_SLICE_BYTES: usize = 2_000_000;

/// The kind of a write or operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteAction {
    /// A new record; fails if the path exists.
    Create,
    /// A new value for an existing record; fails if the path does not exist.
    Update,
    /// Removal of an existing record.
    Delete,
}

impl WriteAction {
    /// The name used in firehose ops: `create`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteAction::Create => "create",
            WriteAction::Update => "update",
            WriteAction::Delete => "delete",
        }
    }
}

/// One write of a batch.
#[derive(Debug, Clone)]
pub struct RecordWrite {
    /// What to do.
    pub action: WriteAction,
    /// The collection NSID.
    pub collection: Nsid,
    /// The record key.
    pub rkey: RecordKey,
    /// The record, for creates and updates.
    pub record: Option<Ipld>,
    /// For updates and deletes: fail unless the current record has this CID (`swapRecord`).
    pub swap: Option<Cid>,
}

impl RecordWrite {
    /// A create of `record` at `collection/rkey`.
    pub fn create(collection: Nsid, rkey: RecordKey, record: Ipld) -> RecordWrite {
        RecordWrite { action: WriteAction::Create, collection, rkey, record: Some(record), swap: None }
    }

    /// An update of `collection/rkey` to `record`.
    pub fn update(collection: Nsid, rkey: RecordKey, record: Ipld, swap: Option<Cid>) -> RecordWrite {
        RecordWrite { action: WriteAction::Update, collection, rkey, record: Some(record), swap }
    }

    /// A delete of `collection/rkey`.
    pub fn delete(collection: Nsid, rkey: RecordKey, swap: Option<Cid>) -> RecordWrite {
        RecordWrite { action: WriteAction::Delete, collection, rkey, record: None, swap }
    }

    /// The repo path `collection/rkey`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.collection, self.rkey)
    }
}

/// A record operation of a commit, as the firehose reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoOp {
    /// What happened.
    pub action: WriteAction,
    /// The repo path `collection/rkey`.
    pub path: String,
    /// The record's new CID (`None` for deletes).
    pub cid: Option<Cid>,
    /// The record's previous CID (`None` for creates) — Sync 1.1.
    pub prev: Option<Cid>,
}

/// A write with its record encoded.
pub(crate) struct EncodedWrite {
    pub write: RecordWrite,
    pub path: String,
    pub block: Option<(Cid, Bytes)>,
    /// CIDs of the blobs the record references (each once, in document order).
    pub blobs: Vec<Cid>,
}

/// Check a write and encode its record.
pub(crate) fn encode_write(write: RecordWrite) -> Result<EncodedWrite, RepoError> {
    let path = write.path();
    let block = match (&write.action, &write.record) {
        (WriteAction::Delete, None) => None,
        (WriteAction::Delete, Some(_)) => {
            return Err(RepoError::InvalidWrite(format!("delete of {path} has a record")));
        }
        (_, None) => return Err(RepoError::InvalidWrite(format!("write of {path} has no record"))),
        (_, Some(record)) => {
            check_record_type(record, &write.collection, &path)?;
            let bytes = crate::data::cbor::encode_ipld(record)
                .map_err(|e| RepoError::InvalidWrite(format!("record {path}: {e}")))?;
            if bytes.len() > MAX_RECORD_BYTES {
                return Err(RepoError::RecordTooLarge { path, size: bytes.len(), max: MAX_RECORD_BYTES });
            }
            Some((crate::data::cid::cid_for_dag_cbor(&bytes), Bytes::from(bytes)))
        }
    };
    if write.action == WriteAction::Create && write.swap.is_some() {
        return Err(RepoError::InvalidWrite(format!("create of {path} cannot have swapRecord")));
    }
    let mut blobs = Vec::new();
    if let Some(record) = &write.record {
        for blob in crate::data::find_blob_refs(record) {
            if !blobs.contains(&blob.cid) {
                blobs.push(blob.cid);
            }
        }
    }
    Ok(EncodedWrite { write, path, block, blobs })
}

fn check_record_type(record: &Ipld, collection: &Nsid, path: &str) -> Result<(), RepoError> {
    let Ipld::Map(map) = record else {
        return Err(RepoError::InvalidWrite(format!("record {path} is not an object")));
    };
    match map.get("$type") {
        Some(Ipld::String(t)) if t == collection.as_str() => Ok(()),
        Some(Ipld::String(t)) => {
            Err(RepoError::InvalidWrite(format!("record {path} has $type {t:?}, expected {:?}", collection.as_str())))
        }
        _ => Err(RepoError::InvalidWrite(format!("record {path} has no $type"))),
    }
}
