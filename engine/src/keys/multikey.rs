//! String encodings of public keys: multikey (`z` + base58btc(multicodec ||
//! compressed point)), `did:key`, and the legacy multibase form without a
//! multicodec (specs/cryptography.md "Public Key Encoding", specs/did.md
//! "Legacy Representation").

use super::{Algorithm, KeyError, error::clip};

/// The ASCII prefix of a `did:key` identifier.
pub(super) const DID_KEY_PREFIX: &str = "did:key:";

/// Varint-encoded multicodec `secp256k1-pub` (0xe7).
const K256_CODEC: [u8; 2] = [0xe7, 0x01];
/// Varint-encoded multicodec `p256-pub` (0x1200).
const P256_CODEC: [u8; 2] = [0x80, 0x24];

/// Longest multibase key string accepted. The longest legitimate one, a
/// 65-byte uncompressed point with a 2-byte multicodec, is about 95
/// characters; the cap keeps hostile input away from quadratic base58 decoding.
const MAX_MULTIBASE_LEN: usize = 128;

/// The multicodec varint bytes of an algorithm's public key type.
pub(super) fn codec(algorithm: Algorithm) -> [u8; 2] {
    match algorithm {
        Algorithm::K256 => K256_CODEC,
        Algorithm::P256 => P256_CODEC,
    }
}

/// Split the multicodec prefix off multikey bytes.
pub(super) fn split_codec(bytes: &[u8]) -> Option<(Algorithm, &[u8])> {
    if let Some(point) = bytes.strip_prefix(&K256_CODEC) {
        Some((Algorithm::K256, point))
    } else {
        bytes.strip_prefix(&P256_CODEC).map(|point| (Algorithm::P256, point))
    }
}

/// Encode bytes as a base58btc multibase string (`z` prefix).
pub(super) fn encode_base58btc(bytes: &[u8]) -> String {
    multibase::encode(multibase::Base::Base58Btc, bytes)
}

/// Decode a base58btc multibase string (`z` prefix) into bytes.
pub(super) fn decode_base58btc(input: &str) -> Result<Vec<u8>, KeyError> {
    let err = |reason| KeyError::InvalidMultibase { input: clip(input), reason };
    if input.len() > MAX_MULTIBASE_LEN {
        return Err(err("longer than any supported key"));
    }
    let body = input.strip_prefix('z').ok_or_else(|| err("must start with 'z' (base58btc)"))?;
    if body.is_empty() {
        return Err(err("empty key"));
    }
    multibase::Base::Base58Btc.decode(body).map_err(|_| err("not base58btc"))
}
