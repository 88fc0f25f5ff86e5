//! Parsing XRPC parameters into the engine's syntax types: every failure is
//! a 400 `InvalidRequest` naming the parameter.

use cid::Cid;
use primal_pds_engine::syntax::{AtIdentifier, Handle, Nsid, RecordKey, Tid};

use crate::error::XrpcError;

fn invalid(name: &str, e: impl std::fmt::Display) -> XrpcError {
    XrpcError::invalid_request(format!("Invalid {name}: {e}"))
}

/// An `at-identifier` parameter (DID or handle).
pub fn at_identifier(name: &str, value: &str) -> Result<AtIdentifier, XrpcError> {
    AtIdentifier::parse(value).map_err(|e| invalid(name, e))
}

/// A `handle` parameter.
pub fn handle(name: &str, value: &str) -> Result<Handle, XrpcError> {
    Handle::parse(value).map_err(|e| invalid(name, e))
}

/// An `nsid` parameter.
pub fn nsid(name: &str, value: &str) -> Result<Nsid, XrpcError> {
    Nsid::parse(value).map_err(|e| invalid(name, e))
}

/// A `record-key` parameter.
pub fn record_key(name: &str, value: &str) -> Result<RecordKey, XrpcError> {
    RecordKey::parse(value).map_err(|e| invalid(name, e))
}

/// A `tid` parameter.
pub fn tid(name: &str, value: &str) -> Result<Tid, XrpcError> {
    Tid::parse(value).map_err(|e| invalid(name, e))
}

/// A `cid` parameter.
pub fn cid(name: &str, value: &str) -> Result<Cid, XrpcError> {
    Cid::try_from(value).map_err(|e| invalid(name, e))
}

/// An optional `cid` parameter.
pub fn opt_cid(name: &str, value: Option<&str>) -> Result<Option<Cid>, XrpcError> {
    value.map(|v| cid(name, v)).transpose()
}

/// An integer `limit` within `min..=max`, `default` when absent.
pub fn limit(value: Option<i64>, min: i64, max: i64, default: i64) -> Result<usize, XrpcError> {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(XrpcError::invalid_request(format!("limit must be between {min} and {max}, got {v}")));
    }
    usize::try_from(v).map_err(|e| invalid("limit", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(limit(None, 1, 100, 50).ok(), Some(50));
        assert_eq!(limit(Some(1), 1, 100, 50).ok(), Some(1));
        assert_eq!(limit(Some(100), 1, 100, 50).ok(), Some(100));
        for bad in [0, 101, -1, i64::MAX, i64::MIN] {
            let err = limit(Some(bad), 1, 100, 50).expect_err("out of range");
            assert_eq!(err.body().error, "InvalidRequest");
        }
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let err = at_identifier("repo", "not a repo").expect_err("bad");
        assert!(err.body().message.contains("repo"), "{err}");
        assert!(cid("swapCommit", "bafy-nope").is_err());
        assert!(record_key("rkey", "..").is_err());
        assert!(tid("since", "abc").is_err());
        assert!(opt_cid("cid", None).is_ok_and(|c| c.is_none()));
    }
}
