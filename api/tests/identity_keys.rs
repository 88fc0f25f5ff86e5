//! Identity without a PLC directory: sealing signing keys, the Go key
//! format, the key-encryption and rotation key files, DID derivation, and
//! what a PLC directory that cannot be reached turns into.

use std::path::Path;

use primal_pds_api::config::Config;
use primal_pds_api::error::XrpcError;
use primal_pds_api::identity::{Identity, IdentityError, KEK_FILE, ROTATION_KEY_FILE, pds_endpoint};
use primal_pds_api::secret::Secret;
use primal_pds_engine::identity::plc::{create_genesis, did_for_operation};
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::syntax::Handle;
use primal_pds_storage::DomainName;

fn config(dir: &Path) -> Config {
    Config::embedded(dir.to_path_buf(), Secret::new("admin-key-for-tests"))
}

fn config_with_kek(dir: &Path, kek: &str) -> Config {
    Config { key_encryption_key: Some(Secret::new(kek)), ..config(dir) }
}

async fn open(config: &Config) -> Identity {
    Identity::open(config).await.unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn seal_unseal_round_trip_on_both_curves() {
    let dir = tempfile::tempdir().unwrap();
    let identity = open(&config(dir.path())).await;
    for algorithm in [Algorithm::K256, Algorithm::P256] {
        let key = Keypair::generate(algorithm);
        let sealed = identity.seal_signing_key(&key).unwrap();
        assert_eq!(sealed[0], 1, "version byte");
        let scalar = key.to_private_bytes();
        assert!(!sealed.windows(32).any(|w| w == &scalar[..]), "the scalar must not appear in the sealed blob");
        let again = identity.seal_signing_key(&key).unwrap();
        assert_ne!(sealed, again, "a fresh nonce every time");
        let back = identity.unseal_signing_key(&sealed).unwrap();
        assert_eq!(back.algorithm(), algorithm);
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(&back.to_private_bytes()[..], &scalar[..]);
    }
}

#[tokio::test]
async fn sealed_keys_survive_a_restart_with_the_generated_kek() {
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::generate(Algorithm::K256);
    let sealed = open(&config(dir.path())).await.seal_signing_key(&key).unwrap();
    let back = open(&config(dir.path())).await.unseal_signing_key(&sealed).unwrap();
    assert_eq!(back.public_key(), key.public_key());
}

#[tokio::test]
async fn wrong_kek_is_a_clear_error() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = Keypair::generate(Algorithm::K256);
    // Configured keys.
    let sealed = open(&config_with_kek(a.path(), "first secret")).await.seal_signing_key(&key).unwrap();
    let other = open(&config_with_kek(b.path(), "second secret")).await;
    let err = other.unseal_signing_key(&sealed).unwrap_err();
    assert!(matches!(err, IdentityError::WrongKeyOrCorrupt), "{err:?}");
    assert!(err.to_string().contains("wrong key-encryption key"), "{err}");
    // Generated keys of two data directories differ too.
    let (c, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sealed = open(&config(c.path())).await.seal_signing_key(&key).unwrap();
    let err = open(&config(d.path())).await.unseal_signing_key(&sealed).unwrap_err();
    assert!(matches!(err, IdentityError::WrongKeyOrCorrupt), "{err:?}");
}

#[tokio::test]
async fn corrupt_blobs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let identity = open(&config(dir.path())).await;
    let sealed = identity.seal_signing_key(&Keypair::generate(Algorithm::K256)).unwrap();
    for i in 1..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        assert!(matches!(identity.unseal_signing_key(&bad), Err(IdentityError::WrongKeyOrCorrupt)), "byte {i}");
    }
    for len in [0, 1, 25, sealed.len() - 1] {
        assert!(identity.unseal_signing_key(&sealed[..len]).is_err(), "truncated to {len}");
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(identity.unseal_signing_key(&longer).is_err());
    let mut other_version = sealed.clone();
    other_version[0] = 2;
    assert!(matches!(identity.unseal_signing_key(&other_version), Err(IdentityError::UnknownKeyFormat(_))));
    for junk in [&b"\xff\xfe"[..], b"not a key", b"z", b"z\xff\xfe", b"zzzzzzzz"] {
        assert!(identity.unseal_signing_key(junk).is_err(), "{junk:?}");
    }
}

/// A Go primal-pds stored key: multibase secp256k1-priv (0x1301). The
/// did:key was computed by the reference TypeScript `@atproto/crypto`.
#[tokio::test]
async fn go_format_keys_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    let identity = open(&config(dir.path())).await;
    let go = "z3vLdj3jF2qD61AAETWRC6yHnwEBg4Z7LY8h69d1DBNzJ2h1";
    let did_key = "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme";
    for stored in [go.to_string(), format!("{go}\n")] {
        let key = identity.unseal_signing_key(stored.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), Algorithm::K256);
        assert_eq!(key.public_key().to_did_key(), did_key);
    }
    // Imported keys are re-sealed in our format.
    let key = identity.unseal_signing_key(go.as_bytes()).unwrap();
    let sealed = identity.seal_signing_key(&key).unwrap();
    assert_eq!(identity.unseal_signing_key(&sealed).unwrap().public_key().to_did_key(), did_key);
    // A public multikey is not a private key; the error does not echo the input.
    let err = identity.unseal_signing_key(b"zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme").unwrap_err();
    assert!(matches!(err, IdentityError::InvalidKey(_)), "{err:?}");
    assert!(!err.to_string().contains("Q3shokFTS3"), "{err}");
    let err = identity.unseal_signing_key(&go.as_bytes()[..go.len() - 4]).unwrap_err();
    assert!(!err.to_string().contains(&go[1..20]), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn generated_files_are_0600_and_the_data_dir_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not/yet/there");
    open(&config(&data)).await;
    assert_eq!(mode(&data.join(KEK_FILE)), 0o600);
    assert_eq!(mode(&data.join(ROTATION_KEY_FILE)), 0o600);
    assert_eq!(mode(&data.join(primal_pds_api::auth::jwt::JWT_SECRET_FILE)), 0o600);
    let kek = std::fs::read_to_string(data.join(KEK_FILE)).unwrap();
    assert_eq!(kek.trim().len(), 64, "32 random bytes, hex");
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[tokio::test]
async fn a_configured_kek_writes_no_kek_file() {
    let dir = tempfile::tempdir().unwrap();
    open(&config_with_kek(dir.path(), "configured")).await;
    assert!(!dir.path().join(KEK_FILE).exists());
    assert!(dir.path().join(ROTATION_KEY_FILE).exists());
    // An empty keyEncryptionKey counts as absent.
    let other = tempfile::tempdir().unwrap();
    open(&config_with_kek(other.path(), "")).await;
    assert!(other.path().join(KEK_FILE).exists());
}

#[tokio::test]
async fn the_rotation_key_persists_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(&config(dir.path())).await.rotation_did_key();
    assert!(first.starts_with("did:key:zQ3s"), "secp256k1: {first}");
    let file = std::fs::read(dir.path().join(ROTATION_KEY_FILE)).unwrap();
    assert_eq!(open(&config(dir.path())).await.rotation_did_key(), first);
    assert_eq!(std::fs::read(dir.path().join(ROTATION_KEY_FILE)).unwrap(), file, "not rewritten");
    // Stored sealed: the did:key's key cannot be read from the file in the clear.
    assert_eq!(file[0], 1);
    // Another data directory gets another key.
    let other = tempfile::tempdir().unwrap();
    assert_ne!(open(&config(other.path())).await.rotation_did_key(), first);
    // Same with a configured key-encryption key.
    let configured = tempfile::tempdir().unwrap();
    let a = open(&config_with_kek(configured.path(), "k")).await.rotation_did_key();
    assert_eq!(open(&config_with_kek(configured.path(), "k")).await.rotation_did_key(), a);
}

#[tokio::test]
async fn a_changed_kek_or_corrupt_key_file_fails_open_clearly() {
    let dir = tempfile::tempdir().unwrap();
    open(&config_with_kek(dir.path(), "old")).await;
    let err = Identity::open(&config_with_kek(dir.path(), "new")).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(ROTATION_KEY_FILE) && text.contains("keyEncryptionKey"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(KEK_FILE), "  \n").unwrap();
    let err = Identity::open(&config(dir.path())).await.unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    open(&config(dir.path())).await;
    std::fs::write(dir.path().join(ROTATION_KEY_FILE), b"\x01garbage").unwrap();
    assert!(Identity::open(&config(dir.path())).await.is_err());
}

#[tokio::test]
async fn debug_output_holds_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let identity = open(&config(dir.path())).await;
    let kek = std::fs::read_to_string(dir.path().join(KEK_FILE)).unwrap();
    let debug = format!("{identity:?}");
    assert!(!debug.contains(kek.trim()), "{debug}");
    let key = Keypair::generate(Algorithm::K256);
    let scalar_hex: String = key.to_private_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let key_debug = format!("{key:?}");
    assert!(!key_debug.contains(&scalar_hex) && !key_debug.contains(key.to_private_multibase().as_str()));

    let other = tempfile::tempdir().unwrap();
    let configured = open(&config_with_kek(other.path(), "very-secret-kek")).await;
    assert!(!format!("{configured:?}").contains("very-secret-kek"));
}

#[tokio::test]
async fn create_did_without_plc_derives_the_did_from_the_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let identity = open(&config(dir.path())).await;
    assert!(identity.plc().is_none());
    let handle = Handle::parse("alice.example.com").unwrap();
    let key = Keypair::generate(Algorithm::K256);
    let did = identity.create_did(&handle, &key, "https://example.com").await.unwrap();
    assert!(did.as_str().starts_with("did:plc:") && did.as_str().len() == 32, "{did}");
    // The genesis is deterministic (RFC 6979), so the DID is reproducible from
    // the published ingredients, signed by the rotation key alone.
    let rotation = identity.rotation_did_key();
    assert_ne!(rotation, key.public_key().to_did_key());
    let other = Keypair::generate(Algorithm::K256);
    let not_ours =
        create_genesis(&other, vec![other.public_key().to_did_key()], &key.public_key(), "alice.example.com", "x");
    assert_ne!(did_for_operation(&not_ours), did);
    // Different handle, different DID.
    let bob = identity.create_did(&Handle::parse("bob.example.com").unwrap(), &key, "https://example.com").await;
    assert_ne!(bob.unwrap(), did);
    // update_handle is a no-op without a directory.
    identity.update_handle(&did, &handle, &key.public_key(), "https://example.com").await.unwrap();

    let doc = identity.did_document(&did, &handle, &key.public_key(), "https://example.com");
    assert_eq!(doc.id, did);
    assert_eq!(doc.handle(), Some("alice.example.com"));
    assert_eq!(doc.signing_key().unwrap(), key.public_key());
    assert_eq!(doc.pds_endpoint(), Some("https://example.com"));
}

#[tokio::test]
async fn pds_endpoint_is_the_domain_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let domain = DomainName::parse("1440.News").unwrap();
    assert_eq!(pds_endpoint(&config(dir.path()), &domain), "https://1440.news");
}

#[tokio::test]
async fn bad_plc_endpoints_are_rejected_at_open() {
    for bad in ["plc.directory", "ftp://plc.directory", "http://", "https://plc.directory/?x=1"] {
        let dir = tempfile::tempdir().unwrap();
        let config = Config { plc_endpoint: Some(bad.into()), ..config(dir.path()) };
        let err = Identity::open(&config).await.unwrap_err();
        assert!(matches!(err, IdentityError::InvalidPlcEndpoint { .. }), "{bad}: {err:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let config = Config { plc_endpoint: Some("  ".into()), ..config(dir.path()) };
    assert!(open(&config).await.plc().is_none(), "blank means off");
    let config = Config { plc_endpoint: Some("https://plc.directory/".into()), ..config };
    assert_eq!(open(&config).await.plc().unwrap().endpoint(), "https://plc.directory");
}

#[tokio::test]
async fn an_unreachable_directory_is_upstream_failure() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = Config { plc_endpoint: Some(format!("http://127.0.0.1:{port}")), ..config(dir.path()) };
    let identity = open(&config).await;
    let key = Keypair::generate(Algorithm::K256);
    let err = identity.create_did(&Handle::parse("a.example.com").unwrap(), &key, "https://x.test").await.unwrap_err();
    assert!(matches!(err, IdentityError::PlcUnreachable { .. }), "{err:?}");
    let xrpc = XrpcError::from(err);
    assert_eq!(xrpc.status().as_u16(), 503);
    assert_eq!(xrpc.body().error, "UpstreamFailure");

    let xrpc = XrpcError::from(IdentityError::WrongKeyOrCorrupt);
    assert_eq!(xrpc.status().as_u16(), 500);
    assert_eq!(xrpc.body().message, "Internal Server Error");
}
