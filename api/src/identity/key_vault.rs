//! [`KeyVault`]: private keys encrypted at rest.
//!
//! A sealed key (format version 1) is
//! `0x01 || nonce (24 bytes) || XChaCha20-Poly1305(algorithm byte || 32-byte scalar) || tag (16 bytes)`,
//! 74 bytes in all, with the version byte and a label as associated data. The
//! 32-byte key-encryption key is HKDF-SHA256 of `keyEncryptionKey` from the
//! configuration or, when that is absent, of a random secret generated once
//! into `<dataDir>/key-encryption.key` (mode 0600).
//!
//! Unsealing also accepts the Go primal-pds's stored format: the UTF-8
//! multibase private key (`z…`, multicodec `secp256k1-priv` 0x1301), which is
//! not encrypted. The two cannot be confused: a sealed blob starts with byte
//! `0x01`, a multibase string with `z`.

use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use primal_pds_engine::keys::{Algorithm, Keypair};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{IdentityError, secret_file};
use crate::secret::Secret;

/// First byte of a version-1 sealed key.
const VERSION_1: u8 = 0x01;
/// XChaCha20 nonce length.
const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
const TAG_LEN: usize = 16;
/// Plaintext: algorithm byte + 32-byte scalar.
const PLAIN_LEN: usize = 33;
/// Total length of a version-1 sealed key.
const SEALED_LEN: usize = 1 + NONCE_LEN + PLAIN_LEN + TAG_LEN;
/// Associated data after the version byte (binds the blob to its purpose).
const AAD_LABEL: &[u8] = b"primal-pds sealed private key";
/// HKDF salt and info for the key-encryption key.
const HKDF_SALT: &[u8] = b"primal-pds";
const HKDF_INFO: &[u8] = b"key-encryption-key v1";
/// File of the generated key-encryption secret, under the data directory.
pub const KEK_FILE: &str = "key-encryption.key";

/// Encrypts and decrypts private keys with the server's key-encryption key.
/// `Debug` never shows the key.
pub struct KeyVault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyVault([redacted])")
    }
}

impl KeyVault {
    /// A vault keyed by `secret` (any non-empty string; HKDF-SHA256 makes the 32-byte key).
    pub fn from_secret(secret: &Secret) -> KeyVault {
        let mut kek = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        let _ = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret.expose().as_bytes()).expand(HKDF_INFO, &mut kek[..]);
        KeyVault { cipher: XChaCha20Poly1305::new(&(*kek).into()) }
    }

    /// The vault of `config_secret` when given and non-empty, else of the
    /// secret in `<data_dir>/key-encryption.key`, generated (32 random bytes,
    /// hex, mode 0600) when the file does not exist.
    pub fn open(config_secret: Option<&Secret>, data_dir: &Path) -> Result<KeyVault, IdentityError> {
        if let Some(secret) = config_secret.filter(|s| !s.is_empty()) {
            return Ok(KeyVault::from_secret(secret));
        }
        let path = data_dir.join(KEK_FILE);
        let bytes = Zeroizing::new(secret_file::read_or_create(&path, || {
            let secret = Secret::random_hex(32).map_err(|e| IdentityError::Rng(e.to_string()))?;
            Ok(format!("{}\n", secret.expose()).into_bytes())
        })?);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| IdentityError::KeyFile { path: path.clone(), reason: "not UTF-8 text".into() })?
            .trim();
        if text.is_empty() {
            return Err(IdentityError::KeyFile { path, reason: "empty".into() });
        }
        Ok(KeyVault::from_secret(&Secret::new(text)))
    }

    /// Encrypt `key` with a fresh random nonce (format version 1).
    pub fn seal(&self, key: &Keypair) -> Result<Vec<u8>, IdentityError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| IdentityError::Rng(e.to_string()))?;
        let mut plain = Zeroizing::new([0u8; PLAIN_LEN]);
        plain[0] = algorithm_byte(key.algorithm());
        plain[1..].copy_from_slice(&key.to_private_bytes()[..]);
        let aad = aad(VERSION_1);
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: &plain[..], aad: &aad })
            .map_err(|_| IdentityError::SealFailed)?;
        let mut out = Vec::with_capacity(SEALED_LEN);
        out.push(VERSION_1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypt a sealed key, or parse a Go primal-pds multibase private key.
    pub fn unseal(&self, stored: &[u8]) -> Result<Keypair, IdentityError> {
        match stored.first() {
            Some(&VERSION_1) => self.unseal_v1(stored),
            Some(b'z') | Some(b' ' | b'\n' | b'\r' | b'\t') => {
                let text = std::str::from_utf8(stored)
                    .map_err(|_| IdentityError::UnknownKeyFormat("multibase key is not UTF-8"))?;
                Ok(Keypair::from_private_multibase(text)?)
            }
            Some(_) => Err(IdentityError::UnknownKeyFormat("unknown sealed-key version")),
            None => Err(IdentityError::UnknownKeyFormat("empty")),
        }
    }

    fn unseal_v1(&self, stored: &[u8]) -> Result<Keypair, IdentityError> {
        if stored.len() != SEALED_LEN {
            return Err(IdentityError::WrongKeyOrCorrupt);
        }
        let (nonce, sealed) = stored[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| IdentityError::WrongKeyOrCorrupt)?;
        let aad = aad(VERSION_1);
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: &aad })
                .map_err(|_| IdentityError::WrongKeyOrCorrupt)?,
        );
        let algorithm = match plain.first() {
            Some(0) => Algorithm::K256,
            Some(1) => Algorithm::P256,
            _ => return Err(IdentityError::UnknownKeyFormat("unknown key algorithm")),
        };
        Ok(Keypair::from_private_bytes(algorithm, &plain[1..])?)
    }
}

/// The byte naming a key's curve inside a sealed blob.
fn algorithm_byte(algorithm: Algorithm) -> u8 {
    match algorithm {
        Algorithm::K256 => 0,
        Algorithm::P256 => 1,
    }
}

/// Associated data: the version byte and the label.
fn aad(version: u8) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + AAD_LABEL.len());
    aad.push(version);
    aad.extend_from_slice(AAD_LABEL);
    aad
}
