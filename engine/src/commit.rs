//! Signed commits (specs/repository.md, "Commit Objects").
//!
//! A v3 commit is `{did, version: 3, data, rev, prev, sig}`. The signature is
//! over the DAG-CBOR of the commit without `sig`; `prev` must be present
//! (as null) in both the unsigned and the signed form. The commit's CID is
//! that of the signed form.

use cid::Cid;
use ipld_core::ipld::Ipld;
use serde::Serialize;

use crate::data::cid::cid_for_dag_cbor;
use crate::keys::{KeyError, Keypair, PublicKey};
use crate::syntax::{Did, Tid};

/// The repository format version this crate writes.
pub const VERSION: i64 = 3;

/// Why a commit could not be decoded or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The bytes are not a DAG-CBOR map.
    #[error("commit is not valid DAG-CBOR: {0}")]
    Cbor(String),
    /// A required field is missing or of the wrong type.
    #[error("commit field {field:?} is missing or invalid")]
    Field {
        /// The field name.
        field: &'static str,
    },
    /// The commit is of a version other than 3.
    #[error("unsupported commit version {0} (only version 3 is accepted)")]
    UnsupportedVersion(i128),
    /// The signature does not verify against the given key.
    #[error("commit signature does not verify: {0}")]
    BadSignature(#[source] KeyError),
}

/// A decoded v3 commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The account DID.
    pub did: Did,
    /// Root of the MST (`data`).
    pub data: Cid,
    /// Revision: a TID that increases with every commit.
    pub rev: Tid,
    /// Previous commit; virtually always `None` in v3.
    pub prev: Option<Cid>,
    /// The signature (64-byte compact ECDSA).
    pub sig: Vec<u8>,
}

#[derive(Serialize)]
struct Wire<'a> {
    did: &'a str,
    version: i64,
    data: Cid,
    rev: &'a str,
    prev: Option<Cid>,
    #[serde(with = "serde_bytes", skip_serializing_if = "Option::is_none")]
    sig: Option<&'a [u8]>,
}

fn encode_wire(wire: &Wire<'_>) -> Vec<u8> {
    // Strings, an integer, CIDs, null and bytes always encode.
    serde_ipld_dagcbor::to_vec(wire).expect("a commit always encodes")
}

impl Commit {
    /// Build and sign a v3 commit.
    pub fn sign(did: Did, data: Cid, rev: Tid, prev: Option<Cid>, key: &Keypair) -> Commit {
        let mut commit = Commit { did, data, rev, prev, sig: Vec::new() };
        commit.sig = key.sign(&commit.unsigned_bytes()).to_vec();
        commit
    }

    fn wire(&self, with_sig: bool) -> Wire<'_> {
        Wire {
            did: self.did.as_str(),
            version: VERSION,
            data: self.data,
            rev: self.rev.as_str(),
            prev: self.prev,
            sig: with_sig.then_some(self.sig.as_slice()),
        }
    }

    /// The DAG-CBOR of the commit without `sig`: the bytes that are signed.
    pub fn unsigned_bytes(&self) -> Vec<u8> {
        encode_wire(&self.wire(false))
    }

    /// The DAG-CBOR of the signed commit (the block).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_wire(&self.wire(true))
    }

    /// The block and its CID.
    pub fn to_block(&self) -> (Cid, Vec<u8>) {
        let bytes = self.to_bytes();
        (cid_for_dag_cbor(&bytes), bytes)
    }

    /// Check the signature against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), CommitError> {
        key.verify(&self.unsigned_bytes(), &self.sig).map_err(CommitError::BadSignature)
    }

    /// Decode a v3 commit block. Version 2 and other versions are refused
    /// with [`CommitError::UnsupportedVersion`] (see [`verify_any_version`]
    /// to check the signature of an older commit).
    pub fn decode(bytes: &[u8]) -> Result<Commit, CommitError> {
        let header = CommitHeader::decode(bytes)?;
        if header.version != i128::from(VERSION) {
            return Err(CommitError::UnsupportedVersion(header.version));
        }
        let rev = header.rev.ok_or(CommitError::Field { field: "rev" })?;
        let has_prev = header.map.contains_key("prev");
        if !has_prev {
            return Err(CommitError::Field { field: "prev" });
        }
        let commit = Commit { did: header.did, data: header.data, rev, prev: header.prev, sig: header.sig };
        // Extra fields would be signed but dropped by our re-encoding; refuse them.
        if header.map.len() != 6 {
            return Err(CommitError::Field { field: "(unknown field)" });
        }
        Ok(commit)
    }
}

/// The fields common to commit versions 2 and 3, decoded leniently.
#[derive(Debug, Clone)]
pub struct CommitHeader {
    /// The account DID.
    pub did: Did,
    /// The `version` field.
    pub version: i128,
    /// Root of the MST.
    pub data: Cid,
    /// Revision, when present (v2 commits may lack it).
    pub rev: Option<Tid>,
    /// Previous commit link, if any.
    pub prev: Option<Cid>,
    /// Signature bytes.
    pub sig: Vec<u8>,
    map: std::collections::BTreeMap<String, Ipld>,
}

impl CommitHeader {
    /// Decode a commit block of any version.
    pub fn decode(bytes: &[u8]) -> Result<CommitHeader, CommitError> {
        let value: Ipld = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CommitError::Cbor(e.to_string()))?;
        let Ipld::Map(map) = value else { return Err(CommitError::Cbor("not a map".into())) };
        let did = match map.get("did") {
            Some(Ipld::String(s)) => Did::parse(s).map_err(|_| CommitError::Field { field: "did" })?,
            _ => return Err(CommitError::Field { field: "did" }),
        };
        let version = match map.get("version") {
            Some(Ipld::Integer(v)) => *v,
            _ => return Err(CommitError::Field { field: "version" }),
        };
        let data = match map.get("data") {
            Some(Ipld::Link(c)) => *c,
            _ => return Err(CommitError::Field { field: "data" }),
        };
        let rev = match map.get("rev") {
            Some(Ipld::String(s)) => Some(Tid::parse(s).map_err(|_| CommitError::Field { field: "rev" })?),
            None | Some(Ipld::Null) => None,
            _ => return Err(CommitError::Field { field: "rev" }),
        };
        let prev = match map.get("prev") {
            Some(Ipld::Link(c)) => Some(*c),
            None | Some(Ipld::Null) => None,
            _ => return Err(CommitError::Field { field: "prev" }),
        };
        let sig = match map.get("sig") {
            Some(Ipld::Bytes(b)) => b.clone(),
            _ => return Err(CommitError::Field { field: "sig" }),
        };
        Ok(CommitHeader { did, version, data, rev, prev, sig, map })
    }

    /// Check the signature: over the commit's own fields, re-encoded without `sig`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), CommitError> {
        let mut unsigned = self.map.clone();
        unsigned.remove("sig");
        let bytes = serde_ipld_dagcbor::to_vec(&Ipld::Map(unsigned)).map_err(|e| CommitError::Cbor(e.to_string()))?;
        key.verify(&bytes, &self.sig).map_err(CommitError::BadSignature)
    }
}

/// Verify the signature of a commit block of any version (2 or 3) against `key`.
pub fn verify_any_version(bytes: &[u8], key: &PublicKey) -> Result<CommitHeader, CommitError> {
    let header = CommitHeader::decode(bytes)?;
    header.verify(key)?;
    Ok(header)
}
