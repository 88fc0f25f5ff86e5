//! CIDs as atproto uses them: CIDv1, SHA2-256, with the `dag-cbor` codec for
//! repository blocks and the `raw` codec for blobs (specs/data-model.md, "Link
//! and CID Formats").

use cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

/// Multicodec code of DAG-CBOR, the codec of every repository block.
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec code of raw bytes, the codec of blobs.
pub const RAW: u64 = 0x55;
/// Multihash code of SHA2-256, the only hash atproto uses.
pub const SHA2_256: u64 = 0x12;

/// The CIDv1 (`dag-cbor`, sha2-256) of a DAG-CBOR encoded block.
pub fn cid_for_dag_cbor(bytes: &[u8]) -> Cid {
    cid_with_codec(DAG_CBOR, bytes)
}

/// The CIDv1 (`raw`, sha2-256) of a blob's bytes.
pub fn cid_for_raw(bytes: &[u8]) -> Cid {
    cid_with_codec(RAW, bytes)
}

fn cid_with_codec(codec: u64, bytes: &[u8]) -> Cid {
    let digest = Sha256::digest(bytes);
    // A 32-byte digest always fits the 64-byte multihash.
    let hash = Multihash::<64>::wrap(SHA2_256, &digest).expect("sha2-256 digest fits a multihash");
    Cid::new_v1(codec, hash)
}

/// Whether `bytes` hash to `cid`: the CID must be v1, sha2-256, with the
/// `dag-cbor` or `raw` codec, and its digest must match.
pub fn cid_matches(cid: &Cid, bytes: &[u8]) -> bool {
    if cid.version() != cid::Version::V1 || cid.hash().code() != SHA2_256 {
        return false;
    }
    let codec = cid.codec();
    if codec != DAG_CBOR && codec != RAW {
        return false;
    }
    cid.hash().digest() == Sha256::digest(bytes).as_slice()
}

/// Call `f` with the binary form of `cid`, written into a stack buffer (no allocation for any
/// CID with a digest of up to 64 bytes, which is every CID the `cid` crate can hold).
pub(crate) fn with_cid_bytes<T>(cid: &Cid, f: impl FnOnce(&[u8]) -> T) -> T {
    let mut buf = [0u8; 128];
    let len = cid.encoded_len();
    if let Some(slot) = buf.get_mut(..len)
        && cid.write_bytes(&mut *slot).is_ok()
    {
        return f(slot);
    }
    f(&cid.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_block_cid_matches_itself() {
        let cid = cid_for_dag_cbor(b"\xa0");
        assert!(cid_matches(&cid, b"\xa0"));
        assert!(!cid_matches(&cid, b"\xa1"));
        assert_eq!(cid.codec(), DAG_CBOR);
        assert!(cid.to_string().starts_with("bafyrei"));
        assert!(cid_for_raw(b"x").to_string().starts_with("bafkrei"));
    }
}
