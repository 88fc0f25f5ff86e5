//! Errors of key parsing, encoding and signature verification.

use super::Algorithm;

/// Why a key could not be parsed or a signature did not verify.
///
/// Variants that reject a string carry it (cut to 256 characters); variants
/// about private keys never carry key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a valid private key (scalar) for the curve: wrong length, zero, or not below the order.
    #[error("invalid {algorithm} private key ({len} bytes)")]
    InvalidPrivateKey {
        /// The curve the key was meant for.
        algorithm: Algorithm,
        /// How many bytes were given (the bytes themselves are secret).
        len: usize,
    },
    /// The bytes are not a SEC1 point on the curve (33-byte compressed or 65-byte uncompressed).
    #[error("invalid {algorithm} public key point ({len} bytes)")]
    InvalidPublicKey {
        /// The curve the key was meant for.
        algorithm: Algorithm,
        /// How many bytes the point had.
        len: usize,
    },
    /// A `did:key` string does not start with `did:key:`.
    #[error("not a did:key: {input:?}")]
    NotDidKey {
        /// The rejected string.
        input: String,
    },
    /// A multibase key string is not `z` followed by base58btc, or is implausibly long.
    #[error("invalid multibase key {input:?}: {reason}")]
    InvalidMultibase {
        /// The rejected string.
        input: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A multibase private key string is malformed (the string itself is key material and is not kept).
    #[error("invalid multibase private key: {reason}")]
    InvalidPrivateMultibase {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A multikey's multicodec prefix is neither secp256k1-pub (`0xe7 0x01`) nor p256-pub (`0x80 0x24`).
    #[error("unsupported key type in multikey {input:?}")]
    UnsupportedKeyType {
        /// The rejected string.
        input: String,
    },
    /// A signature is not exactly 64 bytes (compact `r || s`); DER signatures land here.
    #[error("signature must be 64 bytes (compact r||s), got {len}")]
    InvalidSignatureLength {
        /// The length of the rejected signature.
        len: usize,
    },
    /// A signature is in the "high-S" form, which atproto forbids on both curves.
    #[error("high-S {algorithm} signature (atproto requires low-S)")]
    HighS {
        /// The curve of the verifying key.
        algorithm: Algorithm,
    },
    /// The signature does not verify for this key and message (or `r`/`s` are out of range).
    #[error("invalid {algorithm} signature")]
    InvalidSignature {
        /// The curve of the verifying key.
        algorithm: Algorithm,
    },
    /// The operating system's random number generator failed while generating a key.
    #[error("system random number generator failed: {0}")]
    Rng(String),
}

/// Cut an offending input to at most 256 characters for an error value.
pub(crate) fn clip(input: &str) -> String {
    input.chars().take(256).collect()
}
