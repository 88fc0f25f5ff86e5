//! The AT Protocol repository core of primal-pds.
//!
//! No I/O happens here besides the [`store`] traits. Module → spec page:
//!
//! | module | spec |
//! | --- | --- |
//! | [`data`] | data-model.md (DAG-CBOR, CIDs, JSON form) |
//! | [`syntax`] | did.md, handle.md, nsid.md, record-key.md, at-uri-scheme.md, tid.md |
//! | [`keys`] | cryptography.md |
//! | [`lexicon`] | lexicon.md (schemas, record validation) |
//! | [`identity`] | did.md (DID documents, did:plc) |
//! | [`car`] | repository.md ("CAR File Serialization") |
//! | [`mst`] | repository.md ("Merkle Search Tree") |
//! | [`commit`] | repository.md ("Commit Objects") |
//! | [`repo`] | repository.md, sync.md (writes, diffs, export, inversion) |
//! | [`store`] | the `Blockstore` / `RootStore` traits every backend implements |
#![deny(missing_docs)]

pub mod car;
pub mod commit;
pub mod data;
pub mod firehose;
pub mod identity;
pub mod keys;
pub mod lexicon;
pub mod mst;
pub mod repo;
pub mod store;
pub mod syntax;

pub use cid::Cid;
pub use ipld_core::ipld::Ipld;
