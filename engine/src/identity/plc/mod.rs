//! The `did:plc` DID method (did-method-plc README, "Operation Serialization,
//! Signing, and Validation"; reference code `did-method-plc/did-method-plc`
//! `packages/lib/src/operations.ts` and `did-method-plc/go-didplc`).
//!
//! A `did:plc` identity is a log of signed operations. The DID is derived from
//! the genesis operation: `did:plc:` + the first 24 characters of the lowercase,
//! unpadded RFC 4648 base32 of SHA-256(DAG-CBOR of the **signed** genesis).
//! Every later operation names the previous one by `prev` (the CIDv1
//! dag-cbor/sha-256 of its signed DAG-CBOR, as a base32 string) and is signed
//! by one of the previous operation's rotation keys.
//!
//! - [`PlcOp`]: an unsigned operation: a regular [`PlcOperation`], a
//!   [`PlcTombstone`], or a deprecated [`LegacyCreate`] genesis.
//! - [`SignedPlcOperation`]: an operation with its `sig`; its serde form is the
//!   PLC directory's JSON (and, through the same impls, its DAG-CBOR).
//! - [`create_genesis`], [`did_for_operation`], [`cid_of_operation`],
//!   [`verify_operation_chain`].
//!
//! ```
//! use primal_pds_engine::identity::plc::{create_genesis, did_for_operation, verify_operation_chain};
//! use primal_pds_engine::keys::{Algorithm, Keypair};
//!
//! let rotation = Keypair::generate(Algorithm::K256);
//! let signing = Keypair::generate(Algorithm::K256);
//! let genesis = create_genesis(
//!     &rotation,
//!     vec![rotation.public_key().to_did_key()],
//!     &signing.public_key(),
//!     "alice.example.com",
//!     "https://pds.example.com",
//! );
//! let did = did_for_operation(&genesis); // did:plc:<24 base32 characters>
//! verify_operation_chain(&did, &[genesis])?;
//! # Ok::<(), primal_pds_engine::identity::plc::PlcError>(())
//! ```
//!
//! # Tricky bits
//!
//! - The signature covers the DAG-CBOR of the operation **without** the `sig`
//!   key (absent, not `null`); the DID and CIDs hash the operation **with** it.
//! - `prev` is always present: `null` for a genesis. It is a CID *string*, not
//!   a DAG-CBOR link.
//! - `sig` is base64url **without padding**, decoded strictly: padding
//!   characters, newlines and non-zero trailing bits are rejected; the 64
//!   bytes must be a low-S compact signature (DER is rejected).
//! - A legacy `create` genesis counts as rotation keys `[recoveryKey, signingKey]`.
//! - Operations carry only the fields their type defines; an operation with
//!   unknown fields is rejected when parsed, since dropping them would change
//!   the signed bytes.
//!
//! Not covered: the directory's nullification rules (72-hour recovery window,
//! rotation key priority). [`verify_operation_chain`] checks one linear chain,
//! such as the non-nullified entries of an audit log.

mod chain;
mod operation;

pub use chain::verify_operation_chain;
pub use operation::{LegacyCreate, PlcOp, PlcOperation, PlcService, PlcTombstone, SignedPlcOperation};

use crate::Cid;
use crate::keys::{KeyError, Keypair, PublicKey};
use crate::syntax::Did;

/// Why a `did:plc` operation or operation log is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlcError {
    /// The operation log is empty.
    #[error("empty did:plc operation log")]
    EmptyLog,
    /// The first operation is not a genesis (it has a `prev`, or is a tombstone).
    #[error("the first operation is not a genesis operation")]
    NotGenesis,
    /// The genesis operation hashes to a different DID than the one claimed.
    #[error("genesis operation is for {actual}, not {expected}")]
    DidMismatch {
        /// The DID the log was checked for.
        expected: Did,
        /// The DID the genesis operation derives.
        actual: Did,
    },
    /// An operation after the first has no `prev` (it claims to be a genesis).
    #[error("operation {index} has no prev but is not the first")]
    UnexpectedGenesis {
        /// Position of the operation in the log.
        index: usize,
    },
    /// An operation follows a tombstone, which ends a log.
    #[error("operation {index} follows a tombstone")]
    AfterTombstone {
        /// Position of the operation in the log.
        index: usize,
    },
    /// An operation's `prev` is not the CID of the operation before it.
    #[error("operation {index} has prev {found:?}, expected {expected}")]
    BrokenChain {
        /// Position of the operation in the log.
        index: usize,
        /// The CID of the previous operation.
        expected: String,
        /// The operation's `prev` string.
        found: String,
    },
    /// An operation's signature does not check out; `source` says why.
    #[error("operation {index}: {source}")]
    InvalidOperation {
        /// Position of the operation in the log.
        index: usize,
        /// The signature failure.
        source: Box<PlcError>,
    },
    /// A `sig` is not strict unpadded base64url.
    #[error("signature is not unpadded base64url: {sig:?}")]
    SignatureEncoding {
        /// The rejected `sig` (cut to 256 characters).
        sig: String,
    },
    /// There are no rotation keys that could have signed the operation.
    #[error("no rotation keys to verify the signature against")]
    NoRotationKeys,
    /// A rotation key is not a supported `did:key`.
    #[error("invalid rotation key {key:?}: {source}")]
    InvalidRotationKey {
        /// The rejected key string (cut to 256 characters).
        key: String,
        /// Why it did not parse.
        source: KeyError,
    },
    /// No allowed rotation key verifies the signature (wrong key, tampered operation, high-S or non-compact signature).
    #[error("signature not made by any allowed rotation key")]
    InvalidSignature,
}

/// Create and sign the genesis operation of a new atproto account's `did:plc`:
/// the given rotation keys (`did:key` strings, highest authority first), the
/// `atproto` verification method `signing_key`, `at://<handle>` (the prefix is
/// added when missing), and the `atproto_pds` service at `pds_endpoint`.
///
/// `rotation` signs the operation; its public key should be one of
/// `rotation_keys`, otherwise the operation does not verify and the directory
/// rejects it.
pub fn create_genesis(
    rotation: &Keypair,
    rotation_keys: Vec<String>,
    signing_key: &PublicKey,
    handle: &str,
    pds_endpoint: &str,
) -> SignedPlcOperation {
    PlcOp::Operation(PlcOperation::atproto(rotation_keys, signing_key, handle, pds_endpoint, None)).sign(rotation)
}

/// The DID a signed genesis operation defines: `did:plc:` + the first 24
/// characters of base32lower(SHA-256(DAG-CBOR of the signed operation)).
/// Only meaningful for a genesis operation.
pub fn did_for_operation(op: &SignedPlcOperation) -> Did {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(op.to_dag_cbor());
    let encoded = multibase::Base::Base32Lower.encode(digest);
    let id = encoded.get(..24).unwrap_or(&encoded);
    Did::parse(&format!("did:plc:{id}")).expect("did:plc: + 24 base32 characters is a valid DID")
}

/// The CID of a signed operation (CIDv1, dag-cbor, sha-256 of its DAG-CBOR),
/// which the next operation puts in `prev`.
pub fn cid_of_operation(op: &SignedPlcOperation) -> Cid {
    op.cid()
}
