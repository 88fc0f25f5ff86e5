//! Public keys: parsing and encoding (compressed SEC1, multikey, `did:key`,
//! legacy multibase) and strict signature verification.

use k256::ecdsa::signature::Verifier as _;
use k256::elliptic_curve::scalar::IsHigh as _;

use super::multikey::{self, DID_KEY_PREFIX};
use super::{Algorithm, KeyError, error::clip};

/// A P-256 or K-256 public key.
///
/// Equality compares the curve and the point. `Debug` and `Display` show the
/// `did:key` form.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(Inner);

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    K256(k256::ecdsa::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    pub(super) fn from_k256(key: k256::ecdsa::VerifyingKey) -> PublicKey {
        PublicKey(Inner::K256(key))
    }

    pub(super) fn from_p256(key: p256::ecdsa::VerifyingKey) -> PublicKey {
        PublicKey(Inner::P256(key))
    }

    /// The curve of this key.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            Inner::K256(_) => Algorithm::K256,
            Inner::P256(_) => Algorithm::P256,
        }
    }

    /// Parse a SEC1 point: 33-byte compressed (`0x02`/`0x03` tag) or 65-byte
    /// uncompressed (`0x04` tag). The point must be on the curve and not the identity.
    pub fn from_compressed(algorithm: Algorithm, bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let invalid = || KeyError::InvalidPublicKey { algorithm, len: bytes.len() };
        match (bytes.len(), bytes.first()) {
            (33, Some(0x02 | 0x03)) | (65, Some(0x04)) => {}
            _ => return Err(invalid()),
        }
        match algorithm {
            Algorithm::K256 => k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map(PublicKey::from_k256),
            Algorithm::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map(PublicKey::from_p256),
        }
        .map_err(|_| invalid())
    }

    /// The 33-byte compressed SEC1 encoding of the point.
    pub fn to_compressed_bytes(&self) -> [u8; 33] {
        match &self.0 {
            Inner::K256(key) => k256::CompressedPoint::from(key).into(),
            Inner::P256(key) => p256::CompressedPoint::from(key).into(),
        }
    }

    /// The multikey string: `z` + base58btc(multicodec varint || compressed point),
    /// as used by `Multikey` verification methods (e.g. `zQ3sh…` for K-256, `zDna…` for P-256).
    pub fn to_multibase(&self) -> String {
        let mut bytes = [0u8; 35];
        bytes[..2].copy_from_slice(&multikey::codec(self.algorithm()));
        bytes[2..].copy_from_slice(&self.to_compressed_bytes());
        multikey::encode_base58btc(&bytes)
    }

    /// Parse a multikey string (the inverse of [`PublicKey::to_multibase`]); the
    /// curve comes from the multicodec. Uncompressed points are accepted too.
    pub fn from_multibase(input: &str) -> Result<PublicKey, KeyError> {
        let bytes = multikey::decode_base58btc(input)?;
        let (algorithm, point) =
            multikey::split_codec(&bytes).ok_or_else(|| KeyError::UnsupportedKeyType { input: clip(input) })?;
        PublicKey::from_compressed(algorithm, point)
    }

    /// Parse the deprecated multibase form of older DID documents: `z` +
    /// base58btc(point), with no multicodec, so the curve must be given (from the
    /// verification method `type`). The point may be uncompressed (as the spec
    /// says) or compressed (as some real documents have).
    pub fn from_legacy_multibase(algorithm: Algorithm, input: &str) -> Result<PublicKey, KeyError> {
        let bytes = multikey::decode_base58btc(input)?;
        PublicKey::from_compressed(algorithm, &bytes)
    }

    /// The `did:key` identifier: `did:key:` + the multikey string.
    pub fn to_did_key(&self) -> String {
        let mut out = String::with_capacity(DID_KEY_PREFIX.len() + 50);
        out.push_str(DID_KEY_PREFIX);
        out.push_str(&self.to_multibase());
        out
    }

    /// Parse a `did:key` identifier (the inverse of [`PublicKey::to_did_key`]).
    pub fn from_did_key(input: &str) -> Result<PublicKey, KeyError> {
        let multibase = input.strip_prefix(DID_KEY_PREFIX).ok_or_else(|| KeyError::NotDidKey { input: clip(input) })?;
        PublicKey::from_multibase(multibase)
    }

    /// Verify an atproto signature: `sig` must be the 64-byte compact `r || s`
    /// ECDSA signature of SHA-256(`msg`), with a low `s`, made by this key.
    ///
    /// Rejects any other length (so DER signatures) with
    /// [`KeyError::InvalidSignatureLength`], high-S signatures with
    /// [`KeyError::HighS`] (on both curves), and anything else that does not
    /// verify with [`KeyError::InvalidSignature`].
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        if sig.len() != 64 {
            return Err(KeyError::InvalidSignatureLength { len: sig.len() });
        }
        let algorithm = self.algorithm();
        let invalid = KeyError::InvalidSignature { algorithm };
        match &self.0 {
            Inner::K256(key) => {
                let sig = k256::ecdsa::Signature::from_slice(sig).map_err(|_| invalid.clone())?;
                if bool::from(sig.s().is_high()) {
                    return Err(KeyError::HighS { algorithm });
                }
                key.verify(msg, &sig).map_err(|_| invalid)
            }
            Inner::P256(key) => {
                let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|_| invalid.clone())?;
                if bool::from(sig.s().is_high()) {
                    return Err(KeyError::HighS { algorithm });
                }
                key.verify(msg, &sig).map_err(|_| invalid)
            }
        }
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.algorithm().hash(state);
        self.to_compressed_bytes().hash(state);
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_did_key())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_did_key())
    }
}
