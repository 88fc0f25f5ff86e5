//! Account identity: signing keys at rest, the server's PLC rotation key,
//! `did:plc` creation and updates, DID documents.
//!
//! - [`Identity`]: opened once at start-up ([`Identity::open`]) and kept in
//!   [`crate::state::AppState`].
//! - Signing keys are stored sealed ([`KeyVault`]: XChaCha20-Poly1305 under a
//!   key-encryption key from `keyEncryptionKey` or `<dataDir>/key-encryption.key`);
//!   the Go primal-pds's plain multibase keys are read too.
//! - DIDs are `did:plc`, derived from a genesis operation signed by the
//!   server's rotation key (`<dataDir>/plc-rotation.key`, sealed). With
//!   `plcEndpoint` set, operations are submitted to that directory
//!   ([`PlcClient`]); without it, DIDs are derived the same way but not published.
//! - Session JWTs are signed with `jwtSecret` or `<dataDir>/jwt-secret.key`
//!   (generated once, 0600; see [`JwtKeys`]).

mod error;
mod key_vault;
mod plc_client;
mod plc_operations;
mod rotation_key;
pub(crate) mod secret_file;

use primal_pds_engine::identity::DidDocument;
use primal_pds_engine::keys::{Keypair, PublicKey};
use primal_pds_engine::syntax::{Did, Handle};
use primal_pds_storage::DomainName;

use crate::auth::jwt::JwtKeys;
use crate::config::Config;

pub use error::IdentityError;
pub use key_vault::{KEK_FILE, KeyVault};
pub use plc_client::PlcClient;
pub use rotation_key::ROTATION_KEY_FILE;

/// The server's identity services. `Debug` shows no key material.
#[derive(Debug)]
pub struct Identity {
    vault: KeyVault,
    rotation_key: Keypair,
    plc: Option<PlcClient>,
    jwt: JwtKeys,
}

impl Identity {
    /// Load (or generate on first start) the key-encryption key and the PLC
    /// rotation key under `config.data_dir`, and set up the PLC client when
    /// `config.plc_endpoint` is set (an empty value counts as unset).
    pub async fn open(config: &Config) -> Result<Identity, IdentityError> {
        let vault = KeyVault::open(config.key_encryption_key.as_ref(), &config.data_dir)?;
        let rotation_key = rotation_key::load_or_create(&vault, &config.data_dir)?;
        let plc = match config.plc_endpoint.as_deref().map(str::trim) {
            Some(endpoint) if !endpoint.is_empty() => Some(PlcClient::new(endpoint)?),
            _ => None,
        };
        let jwt = JwtKeys::load(config.jwt_secret.as_ref(), &config.data_dir)?;
        Ok(Identity { vault, rotation_key, plc, jwt })
    }

    /// Encrypt an account's signing key for storage.
    pub fn seal_signing_key(&self, key: &Keypair) -> Result<Vec<u8>, IdentityError> {
        self.vault.seal(key)
    }

    /// Decrypt a stored signing key (sealed by [`Identity::seal_signing_key`],
    /// or a Go primal-pds multibase `z…` private key).
    pub fn unseal_signing_key(&self, stored: &[u8]) -> Result<Keypair, IdentityError> {
        self.vault.unseal(stored)
    }

    /// The server's PLC rotation key as a `did:key`.
    pub fn rotation_did_key(&self) -> String {
        self.rotation_key.public_key().to_did_key()
    }

    /// The HMAC keys of session JWTs (`jwtSecret`, or generated once under the data directory).
    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// The PLC directory DIDs are published to, if any.
    pub fn plc(&self) -> Option<&PlcClient> {
        self.plc.as_ref()
    }

    /// The DID document of an account hosted here (what the PLC directory
    /// serves after [`Identity::create_did`], and what `did:web` would serve).
    pub fn did_document(&self, did: &Did, handle: &Handle, signing_key: &PublicKey, pds_endpoint: &str) -> DidDocument {
        DidDocument::for_account(did, handle.as_str(), signing_key, pds_endpoint)
    }
}

/// The PDS URL published for accounts of `domain`: `https://<domain>` (each
/// hosted domain is its own PDS host, routed by Traefik).
pub fn pds_endpoint(_config: &Config, domain: &DomainName) -> String {
    format!("https://{}", domain.as_str())
}
