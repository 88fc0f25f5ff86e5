//! The server's PLC rotation key: a secp256k1 key generated once into
//! `<dataDir>/plc-rotation.key` (mode 0600), sealed with the [`KeyVault`].
//! It signs every `did:plc` operation this server submits and is the only
//! rotation key of the DIDs it creates.

use std::path::Path;

use primal_pds_engine::keys::{Algorithm, Keypair};

use super::{IdentityError, KeyVault, secret_file};

/// File of the sealed rotation key, under the data directory.
pub const ROTATION_KEY_FILE: &str = "plc-rotation.key";

/// Load the rotation key from `<data_dir>/plc-rotation.key`, generating and
/// sealing a new one when the file does not exist.
pub fn load_or_create(vault: &KeyVault, data_dir: &Path) -> Result<Keypair, IdentityError> {
    let path = data_dir.join(ROTATION_KEY_FILE);
    let sealed = secret_file::read_or_create(&path, || {
        let key = Keypair::try_generate(Algorithm::K256)?;
        vault.seal(&key)
    })?;
    vault.unseal(&sealed).map_err(|e| IdentityError::KeyFile {
        path: path.clone(),
        reason: format!("cannot load the PLC rotation key: {e} (was keyEncryptionKey changed?)"),
    })
}
