//! DID documents (specs/did.md "DID Documents"): the JSON shape, the atproto
//! accessors, and the document this PDS publishes for an account.
//!
//! # Tricky bits
//!
//! - `verificationMethod` and `service` ids may be relative (`#atproto`) or
//!   absolute (`did:plc:…#atproto`); both are accepted.
//! - The signing key is the first *valid* `#atproto` method whose controller is
//!   the document's DID. Its `type` is `Multikey` (multikey encoding), or one of
//!   the legacy `EcdsaSecp256k1VerificationKey2019` /
//!   `EcdsaSecp256r1VerificationKey2019` types whose key has no multicodec.
//! - Parsing is tolerant: unknown fields are ignored, `null` lists count as
//!   empty, `@context` may be one string, and a `serviceEndpoint` may be any
//!   JSON value (only a string can be the PDS endpoint).

use serde::{Deserialize, Deserializer, Serialize};

use crate::keys::{Algorithm, KeyError, PublicKey};
use crate::syntax::Did;

/// The JSON-LD contexts of the documents the reference PDS serves.
const CONTEXTS: [&str; 3] = [
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/multikey/v1",
    "https://w3id.org/security/suites/secp256k1-2019/v1",
];
/// Fragment of the atproto signing key's verification method.
const ATPROTO_KEY_FRAGMENT: &str = "#atproto";
/// Fragment of the atproto PDS service entry.
const ATPROTO_PDS_FRAGMENT: &str = "#atproto_pds";
/// `type` of the atproto PDS service entry.
pub(crate) const ATPROTO_PDS_TYPE: &str = "AtprotoPersonalDataServer";
/// `type` of a current (multikey-encoded) verification method.
pub(crate) const MULTIKEY_TYPE: &str = "Multikey";
/// Legacy `type` of a K-256 verification method (key without multicodec).
const LEGACY_K256_TYPE: &str = "EcdsaSecp256k1VerificationKey2019";
/// Legacy `type` of a P-256 verification method (key without multicodec).
const LEGACY_P256_TYPE: &str = "EcdsaSecp256r1VerificationKey2019";

/// A DID document, as served by the PLC directory or a `did:web` host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DidDocument {
    /// `@context`: JSON-LD contexts (a single string is read as a one-element list).
    #[serde(rename = "@context", default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    /// `id`: the DID this document describes; callers must check it is the DID they resolved.
    pub id: Did,
    /// `alsoKnownAs`: URIs naming the account; handles are `at://<handle>`.
    #[serde(rename = "alsoKnownAs", default, deserialize_with = "null_as_empty")]
    pub also_known_as: Vec<String>,
    /// `verificationMethod`: public keys; the atproto signing key has id `#atproto`.
    #[serde(rename = "verificationMethod", default, deserialize_with = "null_as_empty")]
    pub verification_method: Vec<VerificationMethod>,
    /// `service`: service endpoints; the PDS has id `#atproto_pds`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service: Vec<Service>,
}

/// A `verificationMethod` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationMethod {
    /// `id`: `#fragment` or `<did>#fragment`.
    pub id: String,
    /// `type`: `Multikey`, or a legacy suite name.
    #[serde(rename = "type")]
    pub kind: String,
    /// `controller`: the DID controlling the key (empty if the document omitted it).
    #[serde(default)]
    pub controller: String,
    /// `publicKeyMultibase`: the key (absent for methods using other key fields, such as JWK).
    #[serde(rename = "publicKeyMultibase", default, skip_serializing_if = "Option::is_none")]
    pub public_key_multibase: Option<String>,
}

/// A `service` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// `id`: `#fragment` or `<did>#fragment`.
    pub id: String,
    /// `type`: e.g. `AtprotoPersonalDataServer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `serviceEndpoint`: usually a URL string; W3C also allows maps and lists.
    #[serde(rename = "serviceEndpoint")]
    pub service_endpoint: serde_json::Value,
}

/// Why a DID document has no usable atproto signing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// No `#atproto` verification method controlled by the DID with a supported `type` and a `publicKeyMultibase`.
    #[error("{did} declares no atproto signing key")]
    NoSigningKey {
        /// The document's DID.
        did: Did,
    },
    /// The `#atproto` verification method exists but its key does not parse.
    #[error("{did} has an invalid atproto signing key: {source}")]
    InvalidSigningKey {
        /// The document's DID.
        did: Did,
        /// Why the key did not parse.
        source: KeyError,
    },
}

impl DidDocument {
    /// The document the reference PDS serves for an account: the three
    /// standard contexts, `at://<handle>` in `alsoKnownAs`, the signing key as a
    /// `Multikey` method `<did>#atproto`, and the PDS as service `#atproto_pds`.
    pub fn for_account(did: &Did, handle: &str, signing_key: &PublicKey, pds_endpoint: &str) -> DidDocument {
        DidDocument {
            context: CONTEXTS.iter().map(|c| (*c).to_owned()).collect(),
            id: did.clone(),
            also_known_as: vec![format!("at://{handle}")],
            verification_method: vec![VerificationMethod {
                id: format!("{did}{ATPROTO_KEY_FRAGMENT}"),
                kind: MULTIKEY_TYPE.to_owned(),
                controller: did.to_string(),
                public_key_multibase: Some(signing_key.to_multibase()),
            }],
            service: vec![Service {
                id: ATPROTO_PDS_FRAGMENT.to_owned(),
                kind: ATPROTO_PDS_TYPE.to_owned(),
                service_endpoint: serde_json::Value::String(pds_endpoint.to_owned()),
            }],
        }
    }

    /// The atproto signing key: the first valid verification method with id
    /// `#atproto` (relative or absolute), controller equal to the document's DID,
    /// and type `Multikey` or a legacy `EcdsaSecp256{k,r}1VerificationKey2019`.
    ///
    /// If no candidate parses, the error of the first candidate is returned, or
    /// [`DocumentError::NoSigningKey`] if there was none.
    pub fn signing_key(&self) -> Result<PublicKey, DocumentError> {
        let mut first_error = None;
        for method in &self.verification_method {
            if !self.is_own_fragment(&method.id, ATPROTO_KEY_FRAGMENT) || method.controller != self.id.as_str() {
                continue;
            }
            let Some(encoded) = method.public_key_multibase.as_deref() else { continue };
            let parsed = match method.kind.as_str() {
                MULTIKEY_TYPE => PublicKey::from_multibase(encoded),
                LEGACY_K256_TYPE => PublicKey::from_legacy_multibase(Algorithm::K256, encoded),
                LEGACY_P256_TYPE => PublicKey::from_legacy_multibase(Algorithm::P256, encoded),
                _ => continue,
            };
            match parsed {
                Ok(key) => return Ok(key),
                Err(source) => {
                    first_error.get_or_insert(DocumentError::InvalidSigningKey { did: self.id.clone(), source });
                }
            }
        }
        Err(first_error.unwrap_or_else(|| DocumentError::NoSigningKey { did: self.id.clone() }))
    }

    /// The PDS URL: the `serviceEndpoint` of the first service with id
    /// `#atproto_pds` (relative or absolute) and type `AtprotoPersonalDataServer`
    /// whose endpoint is an `http://` or `https://` string. `None` if there is none.
    pub fn pds_endpoint(&self) -> Option<&str> {
        self.service
            .iter()
            .filter(|s| self.is_own_fragment(&s.id, ATPROTO_PDS_FRAGMENT) && s.kind == ATPROTO_PDS_TYPE)
            .filter_map(|s| s.service_endpoint.as_str())
            .find(|url| url.starts_with("https://") || url.starts_with("http://"))
    }

    /// The claimed handle: the first `alsoKnownAs` entry of the form
    /// `at://<handle>` whose handle is syntactically valid, without the `at://`.
    /// `None` if there is none. The claim still needs bidirectional verification.
    pub fn handle(&self) -> Option<&str> {
        self.also_known_as.iter().filter_map(|uri| uri.strip_prefix("at://")).find(|h| is_handle_syntax(h))
    }

    /// Whether `id` is `#<fragment>` or `<this document's DID>#<fragment>`.
    fn is_own_fragment(&self, id: &str, fragment: &str) -> bool {
        id == fragment || id.strip_prefix(self.id.as_str()).is_some_and(|rest| rest == fragment)
    }
}

/// Handle syntax (specs/handle.md): ASCII DNS hostname of at least two labels,
/// each 1-63 of letters, digits and inner hyphens, at most 253 characters, and
/// a last label (TLD) not starting with a digit.
fn is_handle_syntax(handle: &str) -> bool {
    if handle.is_empty() || handle.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = handle.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.iter().all(label_ok)
        && labels.last().and_then(|tld| tld.bytes().next()).is_some_and(|b| b.is_ascii_alphabetic())
}

/// Deserialize a list where `null` means empty.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Deserialize `@context`: a list of strings, a single string, or `null`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<serde_json::Value>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        // JSON-LD allows inline context objects; only the URL strings matter here.
        Some(OneOrMany::Many(items)) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_syntax() {
        for ok in ["atproto.com", "a.co", "xn--ls8h.test", "john.test", "a-b.c-d.example"] {
            assert!(is_handle_syntax(ok), "{ok}");
        }
        for bad in ["", "com", "a..b", "-a.com", "a-.com", "a.1com", "a.com.", "a/b.com", "a_b.com", "@a.com"] {
            assert!(!is_handle_syntax(bad), "{bad}");
        }
    }
}
