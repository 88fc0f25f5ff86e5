//! Names shared by both stores: the segment an account's blobs live under,
//! and the random names of staged uploads.

use std::borrow::Cow;

use primal_pds_engine::syntax::Did;
use sha2::{Digest, Sha256};

use super::BlobStoreError;

/// Longest DID used verbatim as a directory or key segment. File systems
/// allow 255 bytes a name; a DID may have up to 2048 characters.
const MAX_VERBATIM_DID: usize = 200;

/// Bytes of randomness in a staging name (hex-encoded: twice as many digits).
const TEMP_NAME_BYTES: usize = 16;

/// The directory (file-system store) or key segment (S3) of one account:
/// the DID itself (it has no `/` and starts with `did:`, so it is never `.`,
/// `..` or `tmp`), or for a DID longer than 200 bytes `did-sha256-` plus the
/// hex SHA-256 of the DID, which no DID can equal (no `:` after `did`).
pub(crate) fn did_segment(did: &Did) -> Cow<'_, str> {
    let did = did.as_str();
    if did.len() <= MAX_VERBATIM_DID {
        return Cow::Borrowed(did);
    }
    let digest = Sha256::digest(did.as_bytes());
    Cow::Owned(format!("did-sha256-{}", hex(&digest)))
}

/// A fresh staging name: 32 lowercase hex digits from the OS's randomness.
pub(crate) fn new_temp_name() -> Result<String, BlobStoreError> {
    let mut bytes = [0u8; TEMP_NAME_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| BlobStoreError::Random(e.to_string()))?;
    Ok(hex(&bytes))
}

/// Check that `name` is one [`new_temp_name`] could have made, so it is safe
/// to use as a file name or key segment (no `/`, no `..`).
pub(crate) fn check_temp_name(name: &str) -> Result<(), BlobStoreError> {
    let ok =
        name.len() == TEMP_NAME_BYTES * 2 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok { Ok(()) } else { Err(BlobStoreError::BadTempName(name.chars().take(100).collect())) }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_dids_are_used_verbatim() {
        let did = Did::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap();
        assert_eq!(did_segment(&did), "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    }

    #[test]
    fn long_dids_are_hashed_and_distinct() {
        let a = Did::parse(&format!("did:web:{}", "a".repeat(300))).unwrap();
        let b = Did::parse(&format!("did:web:{}", "b".repeat(300))).unwrap();
        let (sa, sb) = (did_segment(&a), did_segment(&b));
        assert!(sa.starts_with("did-sha256-") && sa.len() == 11 + 64, "{sa}");
        assert_ne!(sa, sb);
        assert_eq!(sa, did_segment(&a), "deterministic");
    }

    #[test]
    fn temp_names_are_fresh_and_checked() {
        let (a, b) = (new_temp_name().unwrap(), new_temp_name().unwrap());
        assert_ne!(a, b);
        check_temp_name(&a).unwrap();
        for bad in ["", "..", "../../etc/passwd", &a.to_uppercase(), &a[..31], &format!("{a}0"), "tmp/x"] {
            assert!(check_temp_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
