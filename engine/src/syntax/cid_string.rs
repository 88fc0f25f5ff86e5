//! The Lexicon `cid` string format (lexicon.md, data-model.md "Link and CID Formats"): a
//! lenient check that a string looks like a multibase-encoded CID.
//!
//! This does not decode the CID: multibase strings in other bases (`z…`, `m…`, `f…`) pass, as
//! the canonical vectors require. Use the `cid` crate where a real, decodable CID is needed.
//! CIDv0 (`Qm…`, 46 base58 characters) is rejected, since atproto never uses it.

use super::{SyntaxError, SyntaxKind};

/// Check a Lexicon `cid` string: 8 to 256 characters of `A-Za-z0-9+=`, and not a CIDv0.
pub fn validate_cid_string(s: &str) -> Result<(), SyntaxError> {
    let err = |reason| Err(SyntaxError::new(SyntaxKind::Cid, s, reason));
    if !(8..=256).contains(&s.len()) {
        return err("must be 8 to 256 characters");
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'=') {
        return err("has a character other than A-Za-z0-9+=");
    }
    if s.len() == 46 && s.starts_with("Qm") {
        return err("CIDv0 is not supported");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(validate_cid_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm").is_ok());
        assert!(validate_cid_string("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR").is_err());
        assert!(validate_cid_string("bafy").is_err());
        assert!(validate_cid_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hp/").is_err());
    }
}
