//! Account passwords: argon2id hashing (OWASP parameters), verification of
//! argon2 and bcrypt hashes (accounts migrated from the Go primal-pds carry
//! bcrypt), and generated passwords.
//!
//! Hashing and verifying take tens of milliseconds of CPU on purpose, so
//! both run on tokio's blocking pool, never on a runtime worker.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

/// Memory cost in KiB (OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB).
const MEMORY_KIB: u32 = 19_456;
/// Iterations (OWASP: t=2 with m=19 MiB).
const ITERATIONS: u32 = 2;
/// Lanes (OWASP: p=1).
const PARALLELISM: u32 = 1;
/// Random bytes in a generated password (96 bits, 24 hex characters).
const GENERATED_BYTES: usize = 12;

/// Why a password could not be hashed or generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The argon2 hasher failed (bad parameters or no randomness for the salt).
    #[error("argon2: {0}")]
    Hash(String),
    /// The operating system's random number generator failed.
    #[error("random number generator: {0}")]
    Rng(#[from] getrandom::Error),
    /// The blocking task running the hash was cancelled or panicked.
    #[error("hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The argon2id hasher with the OWASP parameters.
fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hash `password` with argon2id (m=19456 KiB, t=2, p=1, a random 16-byte
/// salt) into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash_password(password: &str) -> Result<String, PasswordError> {
    let password = Zeroizing::new(password.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        let hash = hasher()?.hash_password(&password).map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    })
    .await?
}

/// Whether `password` matches `hash`: an argon2 PHC string (any variant,
/// with the parameters it records) or a bcrypt hash (`$2a$`, `$2b$`, `$2y$`
/// from the Go primal-pds). A malformed hash never matches.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let password = Zeroizing::new(password.as_bytes().to_vec());
    let hash = hash.to_string();
    let verified = tokio::task::spawn_blocking(move || verify_blocking(&password, &hash)).await;
    verified.unwrap_or_else(|e| {
        tracing::error!(error = %e, "password verification task failed");
        false
    })
}

fn verify_blocking(password: &[u8], hash: &str) -> bool {
    if hash.starts_with("$argon2") {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        // The verifier takes its parameters from the hash, not from this instance.
        return Argon2::default().verify_password(password, &parsed).is_ok();
    }
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    false
}

/// A new random password: 24 lowercase hex characters (96 bits from the
/// operating system's random number generator), as the Go primal-pds makes.
pub fn generate_password() -> Result<String, PasswordError> {
    let mut buf = Zeroizing::new([0u8; GENERATED_BYTES]);
    getrandom::fill(buf.as_mut())?;
    Ok(hex::encode(buf.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trip_with_owasp_parameters() {
        let hash = hash_password("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash).await);
        assert!(!verify_password("correct horsf", &hash).await);
        assert!(!verify_password("", &hash).await);
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse").await.unwrap());
    }

    #[tokio::test]
    async fn bcrypt_hashes_from_the_go_version_verify() {
        let hash = bcrypt::hash("go-password", 4).unwrap();
        assert!(hash.starts_with("$2"));
        assert!(verify_password("go-password", &hash).await);
        assert!(!verify_password("go-passwore", &hash).await);
        // Go's golang.org/x/crypto/bcrypt writes the `$2a$` prefix.
        let go_style = hash.replacen("$2b$", "$2a$", 1);
        assert!(verify_password("go-password", &go_style).await);
    }

    #[tokio::test]
    async fn malformed_hashes_never_match() {
        for hash in ["", "plain", "$argon2id$garbage", "$2b$04$short", "$5$rounds=5000$abc"] {
            assert!(!verify_password("plain", hash).await, "{hash:?} matched");
        }
    }

    #[test]
    fn generated_passwords_are_24_lowercase_hex_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{a}");
        assert_ne!(a, b);
    }
}
