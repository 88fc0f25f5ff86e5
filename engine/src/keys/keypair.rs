//! Private keys: generation, import/export and signing.

use k256::ecdsa::signature::Signer as _;
use k256::elliptic_curve::Generate as _;
use zeroize::Zeroizing;

use super::{Algorithm, KeyError, PublicKey};

/// A P-256 or K-256 private signing key.
///
/// `Debug` shows the curve and the public key only. The secret scalar is
/// zeroized when the key is dropped.
#[derive(Clone)]
pub struct Keypair(Inner);

#[derive(Clone)]
enum Inner {
    K256(k256::ecdsa::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl Keypair {
    /// Generate a new random key from the operating system's secure random
    /// number generator.
    ///
    /// # Panics
    ///
    /// Panics if the operating system's random number generator fails, which a
    /// working system never does; use [`Keypair::try_generate`] to get an error instead.
    pub fn generate(algorithm: Algorithm) -> Keypair {
        match Keypair::try_generate(algorithm) {
            Ok(key) => key,
            Err(err) => panic!("cannot generate a key: {err}"),
        }
    }

    /// Generate a new random key, reporting a failure of the operating system's
    /// random number generator as [`KeyError::Rng`].
    pub fn try_generate(algorithm: Algorithm) -> Result<Keypair, KeyError> {
        let rng_err = |e: k256::elliptic_curve::common::getrandom::Error| KeyError::Rng(e.to_string());
        Ok(Keypair(match algorithm {
            Algorithm::K256 => Inner::K256(k256::ecdsa::SigningKey::try_generate().map_err(rng_err)?),
            Algorithm::P256 => Inner::P256(p256::ecdsa::SigningKey::try_generate().map_err(rng_err)?),
        }))
    }

    /// Import a private key from its 32-byte big-endian scalar (as exported by
    /// [`Keypair::to_private_bytes`]). Any other length is rejected.
    pub fn from_private_bytes(algorithm: Algorithm, bytes: &[u8]) -> Result<Keypair, KeyError> {
        let invalid = || KeyError::InvalidPrivateKey { algorithm, len: bytes.len() };
        // The curve crates left-pad shorter slices; a stored key is always exactly 32 bytes.
        if bytes.len() != 32 {
            return Err(invalid());
        }
        Ok(Keypair(match algorithm {
            Algorithm::K256 => Inner::K256(k256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| invalid())?),
            Algorithm::P256 => Inner::P256(p256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| invalid())?),
        }))
    }

    /// Export the private key as its 32-byte big-endian scalar, in a buffer that
    /// is zeroized when dropped. This is key material: store it encrypted.
    pub fn to_private_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match &self.0 {
            Inner::K256(key) => out.copy_from_slice(&Zeroizing::new(key.to_bytes())[..]),
            Inner::P256(key) => out.copy_from_slice(&Zeroizing::new(key.to_bytes())[..]),
        }
        out
    }

    /// The curve of this key.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            Inner::K256(_) => Algorithm::K256,
            Inner::P256(_) => Algorithm::P256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.0 {
            Inner::K256(key) => PublicKey::from_k256(*key.verifying_key()),
            Inner::P256(key) => PublicKey::from_p256(*key.verifying_key()),
        }
    }

    /// Sign `msg` the atproto way: SHA-256 of `msg`, then deterministic
    /// (RFC 6979) ECDSA. Returns the 64-byte compact `r || s` signature,
    /// always normalized to low-S.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        match &self.0 {
            Inner::K256(key) => {
                let sig: k256::ecdsa::Signature = key.sign(msg);
                sig.normalize_s().to_bytes().into()
            }
            Inner::P256(key) => {
                let sig: p256::ecdsa::Signature = key.sign(msg);
                sig.normalize_s().to_bytes().into()
            }
        }
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair")
            .field("algorithm", &self.algorithm())
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}
