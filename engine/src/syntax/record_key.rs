//! Record keys (specs/record-key.md): the name of a record within a collection.

use super::{SyntaxError, SyntaxKind, Tid, string_type};

/// A syntactically valid record key (the generic `any` type), e.g. `3jzfcijpj2z2a` or `self`.
/// Record keys are case-sensitive and never normalized.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey(String);

string_type!(RecordKey);

impl RecordKey {
    /// Parse a record key: 1 to 512 characters from `A-Za-z0-9._:~-`, and not `.` or `..`.
    pub fn parse(s: &str) -> Result<RecordKey, SyntaxError> {
        let err = |reason| SyntaxError::new(SyntaxKind::RecordKey, s, reason);
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.len() > 512 {
            return Err(err("longer than 512 characters"));
        }
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'~');
        if !s.as_bytes().iter().all(allowed) {
            return Err(err("has a character other than A-Za-z0-9._:~-"));
        }
        if s == "." || s == ".." {
            return Err(err("'.' and '..' are not allowed"));
        }
        Ok(RecordKey(s.to_owned()))
    }
}

impl From<Tid> for RecordKey {
    /// Every TID is a valid record key (the `tid` record key type).
    fn from(tid: Tid) -> RecordKey {
        RecordKey(tid.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tid_is_a_record_key() {
        let tid = Tid::from_parts(1_700_000_000_000_000, 7);
        let key = RecordKey::from(tid.clone());
        assert_eq!(RecordKey::parse(tid.as_str()).expect("TIDs are record keys"), key);
    }

    #[test]
    fn dots() {
        assert!(RecordKey::parse(".").is_err());
        assert!(RecordKey::parse("..").is_err());
        assert!(RecordKey::parse("...").is_ok());
    }
}
