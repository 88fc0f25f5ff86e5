//! The CARv1 header: a varint length, then the DAG-CBOR map `{roots: [CID...], version: 1}`.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use super::{CarError, varint};
use crate::data::cbor::{decode_ipld, encode_ipld};
use crate::data::cid::{DAG_CBOR, RAW, SHA2_256};

/// The complete header section (length prefix and DAG-CBOR map) for `roots`.
pub fn encode_header(roots: &[Cid]) -> Vec<u8> {
    let map = BTreeMap::from([
        ("roots".to_owned(), Ipld::List(roots.iter().copied().map(Ipld::Link).collect())),
        ("version".to_owned(), Ipld::Integer(1)),
    ]);
    // A map of a list of links and a small integer: no float, no deep nesting, no big integer.
    let body = encode_ipld(&Ipld::Map(map)).expect("a CAR header is always encodable");
    let mut prefix = [0u8; varint::BUF_LEN];
    let n = varint::encode(body.len() as u64, &mut prefix);
    let mut out = Vec::with_capacity(n + body.len());
    out.extend_from_slice(&prefix[..n]);
    out.extend_from_slice(&body);
    out
}

/// Parse the header map (without its length prefix) and return its roots.
///
/// The map must be canonical DAG-CBOR with `version: 1` and `roots`, a list of atproto CIDs
/// (any number, including none: whether a root is required is the caller's rule). Other keys
/// are ignored.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Vec<Cid>, CarError> {
    let invalid = |reason: String| CarError::InvalidHeader { reason };
    let value = decode_ipld(bytes).map_err(|e| invalid(e.to_string()))?;
    let Ipld::Map(map) = value else {
        return Err(invalid("not a map".into()));
    };
    match map.get("version") {
        Some(Ipld::Integer(1)) => {}
        Some(Ipld::Integer(v)) => return Err(CarError::UnsupportedVersion { version: v.to_string() }),
        Some(_) => return Err(invalid("version is not an integer".into())),
        None => return Err(invalid("missing version".into())),
    }
    let Some(Ipld::List(roots)) = map.get("roots") else {
        return Err(invalid("roots is missing or not a list".into()));
    };
    roots
        .iter()
        .map(|root| match root {
            Ipld::Link(cid) => check_cid(cid, 0).map(|()| *cid),
            _ => Err(invalid("a root is not a CID".into())),
        })
        .collect()
}

/// Whether `cid` is one atproto uses: CIDv1, `dag-cbor` or `raw`, sha2-256 (32 bytes).
pub(crate) fn check_cid(cid: &Cid, offset: u64) -> Result<(), CarError> {
    let reason = if cid.version() != cid::Version::V1 {
        "CIDv0 is not allowed".to_owned()
    } else if cid.codec() != DAG_CBOR && cid.codec() != RAW {
        format!("codec 0x{:x} is neither dag-cbor nor raw", cid.codec())
    } else if cid.hash().code() != SHA2_256 || cid.hash().size() != 32 {
        format!("hash 0x{:x} of {} bytes is not sha2-256", cid.hash().code(), cid.hash().size())
    } else {
        return Ok(());
    };
    Err(CarError::UnsupportedCid { offset, reason })
}
