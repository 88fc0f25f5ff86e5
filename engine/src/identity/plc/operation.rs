//! `did:plc` operation types, their JSON / DAG-CBOR form, signing and
//! signature checking.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::PlcError;
use crate::Cid;
use crate::data::{cbor, cid::cid_for_dag_cbor};
use crate::identity::document::ATPROTO_PDS_TYPE;
use crate::keys::{Keypair, PublicKey, clip};

const OPERATION_TYPE: &str = "plc_operation";
const TOMBSTONE_TYPE: &str = "plc_tombstone";
const LEGACY_CREATE_TYPE: &str = "create";
/// Key of the atproto signing key in `verificationMethods`.
const ATPROTO_METHOD: &str = "atproto";
/// Key of the atproto PDS in `services`.
const ATPROTO_PDS_SERVICE: &str = "atproto_pds";

/// A service in a PLC operation's `services` map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlcService {
    /// `type`: e.g. `AtprotoPersonalDataServer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `endpoint`: the service URL.
    pub endpoint: String,
}

/// The content of a regular `plc_operation` (everything except `sig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlcOperation {
    /// `rotationKeys`: `did:key`s that may sign the next operation, highest authority first.
    pub rotation_keys: Vec<String>,
    /// `verificationMethods`: name (no `#`) → `did:key`; atproto's signing key is `atproto`.
    pub verification_methods: BTreeMap<String, String>,
    /// `alsoKnownAs`: URIs; the atproto handle is `at://<handle>`.
    pub also_known_as: Vec<String>,
    /// `services`: name (no `#`) → service; atproto's PDS is `atproto_pds`.
    pub services: BTreeMap<String, PlcService>,
    /// `prev`: CID string of the previous operation, `None` (JSON `null`) for a genesis.
    pub prev: Option<String>,
}

/// The content of a `plc_tombstone`, which permanently deactivates the DID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlcTombstone {
    /// `prev`: CID string of the previous operation.
    pub prev: String,
}

/// The content of a deprecated `create` genesis operation (parse-only: new
/// DIDs must use [`PlcOperation`]). Its `prev` is always `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyCreate {
    /// `signingKey`: the atproto signing key (`did:key`); also the second rotation key.
    pub signing_key: String,
    /// `recoveryKey`: the first rotation key (`did:key`).
    pub recovery_key: String,
    /// `handle`: bare handle, without `at://`.
    pub handle: String,
    /// `service`: PDS URL.
    pub service: String,
}

/// An unsigned `did:plc` operation of any type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlcOp {
    /// `type: "plc_operation"`: creation or update.
    Operation(PlcOperation),
    /// `type: "plc_tombstone"`: deactivation.
    Tombstone(PlcTombstone),
    /// `type: "create"`: deprecated genesis format.
    LegacyCreate(LegacyCreate),
}

/// A signed `did:plc` operation, as the PLC directory stores and serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPlcOperation {
    /// The operation.
    pub op: PlcOp,
    /// `sig`: base64url (no padding) of the 64-byte low-S signature of the unsigned DAG-CBOR.
    pub sig: String,
}

impl PlcOperation {
    /// The atproto-shaped operation: `rotation_keys`, `atproto` → `signing_key`,
    /// `at://<handle>` (prefix added when missing), `atproto_pds` →
    /// `AtprotoPersonalDataServer` at `pds_endpoint`, and `prev`.
    pub fn atproto(
        rotation_keys: Vec<String>,
        signing_key: &PublicKey,
        handle: &str,
        pds_endpoint: &str,
        prev: Option<String>,
    ) -> PlcOperation {
        let handle_uri = if handle.starts_with("at://") { handle.to_owned() } else { format!("at://{handle}") };
        PlcOperation {
            rotation_keys,
            verification_methods: BTreeMap::from([(ATPROTO_METHOD.to_owned(), signing_key.to_did_key())]),
            also_known_as: vec![handle_uri],
            services: BTreeMap::from([(
                ATPROTO_PDS_SERVICE.to_owned(),
                PlcService { kind: ATPROTO_PDS_TYPE.to_owned(), endpoint: pds_endpoint.to_owned() },
            )]),
            prev,
        }
    }

    /// An update following `previous`: the same state as `previous` (a legacy
    /// `create` is converted), with `prev` set to its CID, ready to be modified
    /// and signed. `None` if `previous` is a tombstone, which cannot be followed.
    pub fn update_of(previous: &SignedPlcOperation) -> Option<PlcOperation> {
        let mut next = previous.op.state()?;
        next.prev = Some(previous.cid().to_string());
        Some(next)
    }
}

impl PlcOp {
    /// `prev`: the previous operation's CID string, `None` for a genesis.
    pub fn prev(&self) -> Option<&str> {
        match self {
            PlcOp::Operation(op) => op.prev.as_deref(),
            PlcOp::Tombstone(op) => Some(&op.prev),
            PlcOp::LegacyCreate(_) => None,
        }
    }

    /// Whether this is a genesis (creation) operation: `prev` is `null`.
    pub fn is_genesis(&self) -> bool {
        self.prev().is_none()
    }

    /// The rotation keys this operation establishes, which may sign the next
    /// one: `rotationKeys`, `[recoveryKey, signingKey]` for a legacy `create`,
    /// none for a tombstone.
    pub fn rotation_keys(&self) -> Vec<&str> {
        match self {
            PlcOp::Operation(op) => op.rotation_keys.iter().map(String::as_str).collect(),
            PlcOp::Tombstone(_) => Vec::new(),
            PlcOp::LegacyCreate(op) => vec![&op.recovery_key, &op.signing_key],
        }
    }

    /// The identity state after this operation, in regular form (a legacy
    /// `create` is converted, keeping `prev: None`); `None` for a tombstone.
    pub fn state(&self) -> Option<PlcOperation> {
        match self {
            PlcOp::Operation(op) => Some(op.clone()),
            PlcOp::Tombstone(_) => None,
            PlcOp::LegacyCreate(op) => Some(PlcOperation {
                rotation_keys: vec![op.recovery_key.clone(), op.signing_key.clone()],
                verification_methods: BTreeMap::from([(ATPROTO_METHOD.to_owned(), op.signing_key.clone())]),
                also_known_as: vec![format!("at://{}", op.handle)],
                services: BTreeMap::from([(
                    ATPROTO_PDS_SERVICE.to_owned(),
                    PlcService { kind: ATPROTO_PDS_TYPE.to_owned(), endpoint: op.service.clone() },
                )]),
                prev: None,
            }),
        }
    }

    /// The bytes that get signed: DAG-CBOR of the operation without `sig`.
    pub fn unsigned_bytes(&self) -> Vec<u8> {
        encode(&Wire::new(self, None))
    }

    /// Sign the operation with `key` (SHA-256 + ECDSA, low-S, base64url).
    pub fn sign(self, key: &Keypair) -> SignedPlcOperation {
        let sig = URL_SAFE_NO_PAD.encode(key.sign(&self.unsigned_bytes()));
        SignedPlcOperation { op: self, sig }
    }
}

impl SignedPlcOperation {
    /// DAG-CBOR of the signed operation (with `sig`), the bytes its CID and DID hash.
    pub fn to_dag_cbor(&self) -> Vec<u8> {
        encode(&Wire::new(&self.op, Some(&self.sig)))
    }

    /// The operation's CID (CIDv1, dag-cbor, sha-256 of [`SignedPlcOperation::to_dag_cbor`]).
    pub fn cid(&self) -> Cid {
        cid_for_dag_cbor(&self.to_dag_cbor())
    }

    /// The 64 signature bytes, decoded from `sig` with strict unpadded base64url.
    pub fn signature_bytes(&self) -> Result<Vec<u8>, PlcError> {
        URL_SAFE_NO_PAD.decode(&self.sig).map_err(|_| PlcError::SignatureEncoding { sig: clip(&self.sig) })
    }

    /// Check the signature against `allowed_keys` (`did:key` strings) in order,
    /// returning the index of the first key that verifies it.
    ///
    /// A key that does not parse is an error when reached (the directory never
    /// accepts such keys), as in the reference implementations.
    pub fn verify_signature<K: AsRef<str>>(&self, allowed_keys: &[K]) -> Result<usize, PlcError> {
        if allowed_keys.is_empty() {
            return Err(PlcError::NoRotationKeys);
        }
        let sig = self.signature_bytes()?;
        let unsigned = self.op.unsigned_bytes();
        for (index, key) in allowed_keys.iter().enumerate() {
            let key = key.as_ref();
            let public = PublicKey::from_did_key(key)
                .map_err(|source| PlcError::InvalidRotationKey { key: clip(key), source })?;
            if public.verify(&unsigned, &sig).is_ok() {
                return Ok(index);
            }
        }
        Err(PlcError::InvalidSignature)
    }
}

/// DAG-CBOR of an operation. Operations hold only strings, lists of strings,
/// string-keyed maps and `null`, which always encode.
fn encode(wire: &Wire<'_>) -> Vec<u8> {
    cbor::to_vec(wire).expect("a PLC operation holds only strings, lists, string-keyed maps and null")
}

/// The wire form of every operation type (JSON and DAG-CBOR). Fields a type
/// does not have are `None` and skipped; `prev` is always written (`null` for
/// a genesis); `sig` is skipped for the unsigned bytes.
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "rotationKeys", skip_serializing_if = "Option::is_none")]
    rotation_keys: Option<&'a [String]>,
    #[serde(rename = "verificationMethods", skip_serializing_if = "Option::is_none")]
    verification_methods: Option<&'a BTreeMap<String, String>>,
    #[serde(rename = "alsoKnownAs", skip_serializing_if = "Option::is_none")]
    also_known_as: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    services: Option<&'a BTreeMap<String, PlcService>>,
    #[serde(rename = "signingKey", skip_serializing_if = "Option::is_none")]
    signing_key: Option<&'a str>,
    #[serde(rename = "recoveryKey", skip_serializing_if = "Option::is_none")]
    recovery_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    handle: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    prev: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sig: Option<&'a str>,
}

impl<'a> Wire<'a> {
    fn new(op: &'a PlcOp, sig: Option<&'a str>) -> Wire<'a> {
        let empty = Wire {
            kind: OPERATION_TYPE,
            rotation_keys: None,
            verification_methods: None,
            also_known_as: None,
            services: None,
            signing_key: None,
            recovery_key: None,
            handle: None,
            service: None,
            prev: op.prev(),
            sig,
        };
        match op {
            PlcOp::Operation(op) => Wire {
                rotation_keys: Some(&op.rotation_keys),
                verification_methods: Some(&op.verification_methods),
                also_known_as: Some(&op.also_known_as),
                services: Some(&op.services),
                ..empty
            },
            PlcOp::Tombstone(_) => Wire { kind: TOMBSTONE_TYPE, ..empty },
            PlcOp::LegacyCreate(op) => Wire {
                kind: LEGACY_CREATE_TYPE,
                signing_key: Some(&op.signing_key),
                recovery_key: Some(&op.recovery_key),
                handle: Some(&op.handle),
                service: Some(&op.service),
                ..empty
            },
        }
    }
}

/// Any operation as parsed, before checking which fields its type allows.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "rotationKeys")]
    rotation_keys: Option<Vec<String>>,
    #[serde(rename = "verificationMethods")]
    verification_methods: Option<BTreeMap<String, String>>,
    #[serde(rename = "alsoKnownAs")]
    also_known_as: Option<Vec<String>>,
    services: Option<BTreeMap<String, PlcService>>,
    #[serde(rename = "signingKey")]
    signing_key: Option<String>,
    #[serde(rename = "recoveryKey")]
    recovery_key: Option<String>,
    handle: Option<String>,
    service: Option<String>,
    /// Outer `None`: key absent; `Some(None)`: `null`.
    #[serde(default, deserialize_with = "present")]
    prev: Option<Option<String>>,
    sig: Option<String>,
}

/// Deserialize a field that is present (possibly `null`), to tell it from an absent one.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl RawOp {
    /// Check the fields against the type and build the operation.
    fn into_op(mut self) -> Result<(PlcOp, Option<String>), String> {
        let prev = self.prev.take().ok_or("missing field `prev`")?;
        let op = match self.kind.as_str() {
            OPERATION_TYPE => {
                if self.has_legacy_fields() {
                    return Err("plc_operation with legacy create fields".into());
                }
                PlcOp::Operation(PlcOperation {
                    rotation_keys: self.rotation_keys.ok_or("missing field `rotationKeys`")?,
                    verification_methods: self.verification_methods.ok_or("missing field `verificationMethods`")?,
                    also_known_as: self.also_known_as.ok_or("missing field `alsoKnownAs`")?,
                    services: self.services.ok_or("missing field `services`")?,
                    prev,
                })
            }
            TOMBSTONE_TYPE => {
                if self.has_regular_fields() || self.has_legacy_fields() {
                    return Err("plc_tombstone with operation fields".into());
                }
                PlcOp::Tombstone(PlcTombstone { prev: prev.ok_or("plc_tombstone with null prev")? })
            }
            LEGACY_CREATE_TYPE => {
                if self.has_regular_fields() {
                    return Err("create with plc_operation fields".into());
                }
                if prev.is_some() {
                    return Err("create with non-null prev".into());
                }
                PlcOp::LegacyCreate(LegacyCreate {
                    signing_key: self.signing_key.ok_or("missing field `signingKey`")?,
                    recovery_key: self.recovery_key.ok_or("missing field `recoveryKey`")?,
                    handle: self.handle.ok_or("missing field `handle`")?,
                    service: self.service.ok_or("missing field `service`")?,
                })
            }
            other => return Err(format!("unknown operation type {:?}", clip(other))),
        };
        Ok((op, self.sig))
    }

    fn has_regular_fields(&self) -> bool {
        self.rotation_keys.is_some()
            || self.verification_methods.is_some()
            || self.also_known_as.is_some()
            || self.services.is_some()
    }

    fn has_legacy_fields(&self) -> bool {
        self.signing_key.is_some() || self.recovery_key.is_some() || self.handle.is_some() || self.service.is_some()
    }
}

impl Serialize for PlcOp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire::new(self, None).serialize(s)
    }
}

impl<'de> Deserialize<'de> for PlcOp {
    /// Parses an unsigned operation; a `sig` field is rejected.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawOp::deserialize(d)?.into_op().map_err(serde::de::Error::custom)? {
            (op, None) => Ok(op),
            (_, Some(_)) => Err(serde::de::Error::custom("unsigned operation has a `sig`")),
        }
    }
}

impl Serialize for SignedPlcOperation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire::new(&self.op, Some(&self.sig)).serialize(s)
    }
}

impl<'de> Deserialize<'de> for SignedPlcOperation {
    /// Parses a signed operation; `sig` is required.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawOp::deserialize(d)?.into_op().map_err(serde::de::Error::custom)? {
            (op, Some(sig)) => Ok(SignedPlcOperation { op, sig }),
            (_, None) => Err(serde::de::Error::custom("missing field `sig`")),
        }
    }
}
