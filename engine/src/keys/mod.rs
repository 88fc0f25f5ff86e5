//! Signing keys, signatures and public key encodings (specs/cryptography.md).
//!
//! atproto uses ECDSA over two curves, both of which must be supported:
//! [`Algorithm::P256`] (NIST P-256, `secp256r1`, JWT `ES256`) and
//! [`Algorithm::K256`] (`secp256k1`, JWT `ES256K`). Data is signed by hashing
//! the bytes with SHA-256 and signing the hash; a signature is the 64-byte
//! compact `r || s` form.
//!
//! - [`Keypair`]: a private key; [`Keypair::sign`] always returns a low-S signature.
//! - [`PublicKey`]: a public key; [`PublicKey::verify`] is strict (see below), and
//!   the key converts to and from `did:key` and multikey strings.
//! - Private keys also have a multibase form, `z` + base58btc(`secp256k1-priv`
//!   0x1301 or `p256-priv` 0x1306 varint || 32-byte scalar), used by the Go
//!   primal-pds to store keys: [`Keypair::from_private_multibase`],
//!   [`Keypair::to_private_multibase`].
//!
//! ```
//! use primal_pds_engine::keys::{Algorithm, Keypair, PublicKey};
//!
//! let key = Keypair::generate(Algorithm::K256);
//! let sig = key.sign(b"hello");
//! let did_key = key.public_key().to_did_key(); // "did:key:zQ3sh…"
//! PublicKey::from_did_key(&did_key)?.verify(b"hello", &sig)?;
//! # Ok::<(), primal_pds_engine::keys::KeyError>(())
//! ```
//!
//! # Tricky bits
//!
//! - **Low-S is required on both curves.** A signature `(r, s)` and its mirror
//!   `(r, n - s)` both verify mathematically; atproto accepts only the one with
//!   `s <= n/2`. RustCrypto's `k256` rejects high-S itself, but `p256` accepts it,
//!   so [`PublicKey::verify`] checks `s` explicitly for both curves.
//! - **Only the 64-byte compact form is a signature.** DER-encoded signatures
//!   (70–72 bytes, or a 64-byte DER blob that happens to fit) are rejected.
//! - **Two multibase forms exist.** The current *multikey* form (used by
//!   `did:key` and `Multikey` verification methods) is `z` + base58btc of a
//!   multicodec varint (`0xe7 0x01` secp256k1-pub, `0x80 0x24` p256-pub) and the
//!   33-byte compressed point. The deprecated *legacy* form, found in older DID
//!   documents, has no multicodec, so the curve comes from the verification
//!   method's `type`; the spec says it holds the 65-byte uncompressed point, but
//!   real data also has the 33-byte compressed one, so both are accepted.
//! - Keys are always *written* compressed with a multicodec; parsers accept
//!   compressed and uncompressed SEC1 points.

mod error;
mod keypair;
mod multikey;
mod private_multibase;
mod public_key;

pub use error::KeyError;
pub(crate) use error::clip;
pub use keypair::Keypair;
pub use public_key::PublicKey;

/// A signature algorithm (curve) supported by atproto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// ECDSA over `secp256k1` with SHA-256 (JWT `ES256K`); the reference default for new keys.
    K256,
    /// ECDSA over NIST P-256 with SHA-256 (JWT `ES256`).
    P256,
}

impl Algorithm {
    /// The JWT / JOSE `alg` name: `"ES256K"` for K-256, `"ES256"` for P-256.
    pub fn jwt_alg(self) -> &'static str {
        match self {
            Algorithm::K256 => "ES256K",
            Algorithm::P256 => "ES256",
        }
    }

    /// The algorithm named by a JWT `alg` value (`"ES256K"` or `"ES256"`), if supported.
    pub fn from_jwt_alg(alg: &str) -> Option<Algorithm> {
        match alg {
            "ES256K" => Some(Algorithm::K256),
            "ES256" => Some(Algorithm::P256),
            _ => None,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::K256 => "k256",
            Algorithm::P256 => "p256",
        })
    }
}
