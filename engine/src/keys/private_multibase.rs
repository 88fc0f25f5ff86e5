//! The multibase form of private keys: `z` + base58btc(multicodec varint ||
//! 32-byte scalar), with multicodec `secp256k1-priv` (0x1301, varint `0x81 0x26`)
//! or `p256-priv` (0x1306, varint `0x86 0x26`). This is how the Go primal-pds
//! (and indigo's `atcrypto`) store signing keys.
//!
//! Errors never carry the input: it is key material.

use zeroize::Zeroizing;

use super::{Algorithm, KeyError, Keypair, multikey};

/// Varint-encoded multicodec `secp256k1-priv` (0x1301).
const K256_PRIV_CODEC: [u8; 2] = [0x81, 0x26];
/// Varint-encoded multicodec `p256-priv` (0x1306).
const P256_PRIV_CODEC: [u8; 2] = [0x86, 0x26];

impl Keypair {
    /// Parse a multibase private key (`z…`, multicodec `secp256k1-priv` or
    /// `p256-priv`, 32-byte scalar), the inverse of [`Keypair::to_private_multibase`].
    /// Surrounding whitespace is ignored. Errors say what is wrong, never the key.
    pub fn from_private_multibase(input: &str) -> Result<Keypair, KeyError> {
        let err = |reason| KeyError::InvalidPrivateMultibase { reason };
        let input = input.trim();
        let body = input.strip_prefix('z').ok_or_else(|| err("must start with 'z' (base58btc)"))?;
        // 34 bytes are at most 47 base58 characters; anything much longer is not a key.
        if body.is_empty() || body.len() > 64 {
            return Err(err("wrong length for a private key"));
        }
        let bytes = Zeroizing::new(multibase::Base::Base58Btc.decode(body).map_err(|_| err("not base58btc"))?);
        let (algorithm, scalar) = if let Some(rest) = bytes.strip_prefix(&K256_PRIV_CODEC) {
            (Algorithm::K256, rest)
        } else if let Some(rest) = bytes.strip_prefix(&P256_PRIV_CODEC) {
            (Algorithm::P256, rest)
        } else {
            return Err(err("multicodec is neither secp256k1-priv (0x1301) nor p256-priv (0x1306)"));
        };
        Keypair::from_private_bytes(algorithm, scalar)
    }

    /// The multibase private key string (`z` + base58btc of the multicodec and
    /// the 32-byte scalar), in a buffer zeroized on drop. This is key material:
    /// store it encrypted.
    pub fn to_private_multibase(&self) -> Zeroizing<String> {
        let codec = match self.algorithm() {
            Algorithm::K256 => K256_PRIV_CODEC,
            Algorithm::P256 => P256_PRIV_CODEC,
        };
        let mut bytes = Zeroizing::new([0u8; 34]);
        bytes[..2].copy_from_slice(&codec);
        bytes[2..].copy_from_slice(&self.to_private_bytes()[..]);
        Zeroizing::new(multikey::encode_base58btc(&bytes[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently: base58btc by hand, the did:key by the reference
    /// TypeScript `@atproto/crypto` (`Secp256k1Keypair.import(scalar).did()`).
    const SCALAR_HEX: &str = "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c";
    const MULTIBASE: &str = "z3vLdj3jF2qD61AAETWRC6yHnwEBg4Z7LY8h69d1DBNzJ2h1";
    const DID_KEY: &str = "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme";

    fn scalar() -> Vec<u8> {
        (0..SCALAR_HEX.len()).step_by(2).map(|i| u8::from_str_radix(&SCALAR_HEX[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn parses_the_known_k256_vector() {
        let key = Keypair::from_private_multibase(MULTIBASE).unwrap();
        assert_eq!(key.algorithm(), Algorithm::K256);
        assert_eq!(&key.to_private_bytes()[..], &scalar()[..]);
        assert_eq!(key.public_key().to_did_key(), DID_KEY);
        assert_eq!(
            Keypair::from_private_multibase(&format!(" {MULTIBASE}\n")).unwrap().public_key().to_did_key(),
            DID_KEY
        );
    }

    #[test]
    fn writes_the_known_k256_vector() {
        let key = Keypair::from_private_bytes(Algorithm::K256, &scalar()).unwrap();
        assert_eq!(key.to_private_multibase().as_str(), MULTIBASE);
    }

    #[test]
    fn round_trips_both_curves() {
        for algorithm in [Algorithm::K256, Algorithm::P256] {
            let key = Keypair::generate(algorithm);
            let back = Keypair::from_private_multibase(&key.to_private_multibase()).unwrap();
            assert_eq!(back.algorithm(), algorithm);
            assert_eq!(back.public_key(), key.public_key());
        }
    }

    #[test]
    fn rejects_bad_input_without_echoing_it() {
        let public = Keypair::from_private_multibase(MULTIBASE).unwrap().public_key().to_multibase();
        let short = &MULTIBASE[..MULTIBASE.len() - 3];
        let too_long = format!("z{}", "2".repeat(200));
        for bad in ["", "z", "3vLdj3jF2qD61AAETWRC6yHnwEBg4Z7LY8h69d1DBNzJ2h1", "z0OIl", short, &public, &too_long] {
            let err = Keypair::from_private_multibase(bad).unwrap_err();
            if bad.len() > 4 {
                assert!(!err.to_string().contains(&bad[1..]), "{err}");
            }
        }
    }
}
