//! The `format` of a Lexicon `string` (specs/lexicon.md, "String Formats"), checked with the
//! [`syntax`](crate::syntax) parsers.
//!
//! Following the spec, identifiers get the most expansive syntax: any DID method passes `did`,
//! any record key passes `record-key`, and a handle with a reserved TLD still passes `handle`.

use std::fmt;

use crate::syntax::{
    AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, Tid, validate_cid_string, validate_uri,
};

/// A string format a Lexicon `string` may be restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringFormat {
    /// `at-identifier`: a DID or a handle.
    AtIdentifier,
    /// `at-uri`: an AT URI.
    AtUri,
    /// `cid`: a CID in string form.
    Cid,
    /// `datetime`: an RFC 3339 / ISO 8601 timestamp with timezone.
    Datetime,
    /// `did`: any DID.
    Did,
    /// `handle`: a handle.
    Handle,
    /// `nsid`: a namespaced identifier.
    Nsid,
    /// `tid`: a timestamp identifier.
    Tid,
    /// `record-key`: a record key of the general ("any") syntax.
    RecordKey,
    /// `uri`: a generic URI.
    Uri,
    /// `language`: a BCP 47 language tag.
    Language,
}

impl StringFormat {
    /// The format named `name` in a schema, if it is one of the defined formats.
    pub fn from_name(name: &str) -> Option<StringFormat> {
        Some(match name {
            "at-identifier" => StringFormat::AtIdentifier,
            "at-uri" => StringFormat::AtUri,
            "cid" => StringFormat::Cid,
            "datetime" => StringFormat::Datetime,
            "did" => StringFormat::Did,
            "handle" => StringFormat::Handle,
            "nsid" => StringFormat::Nsid,
            "tid" => StringFormat::Tid,
            "record-key" => StringFormat::RecordKey,
            "uri" => StringFormat::Uri,
            "language" => StringFormat::Language,
            _ => return None,
        })
    }

    /// The name used in schemas (`at-identifier`, `datetime`, ...).
    pub fn name(self) -> &'static str {
        match self {
            StringFormat::AtIdentifier => "at-identifier",
            StringFormat::AtUri => "at-uri",
            StringFormat::Cid => "cid",
            StringFormat::Datetime => "datetime",
            StringFormat::Did => "did",
            StringFormat::Handle => "handle",
            StringFormat::Nsid => "nsid",
            StringFormat::Tid => "tid",
            StringFormat::RecordKey => "record-key",
            StringFormat::Uri => "uri",
            StringFormat::Language => "language",
        }
    }

    /// Check `value` against this format; the error says which rule it broke.
    pub fn check(self, value: &str) -> Result<(), String> {
        let result = match self {
            StringFormat::AtIdentifier => AtIdentifier::parse(value).map(drop),
            StringFormat::AtUri => AtUri::parse(value).map(drop),
            StringFormat::Cid => validate_cid_string(value),
            StringFormat::Datetime => Datetime::parse(value).map(drop),
            StringFormat::Did => Did::parse(value).map(drop),
            StringFormat::Handle => Handle::parse(value).map(drop),
            StringFormat::Nsid => Nsid::parse(value).map(drop),
            StringFormat::Tid => Tid::parse(value).map(drop),
            StringFormat::RecordKey => RecordKey::parse(value).map(drop),
            StringFormat::Uri => validate_uri(value),
            StringFormat::Language => Language::parse(value).map(drop),
        };
        result.map_err(|e| format!("not a valid {} string: {}", self.name(), e.reason))
    }
}

impl fmt::Display for StringFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "at-identifier",
            "at-uri",
            "cid",
            "datetime",
            "did",
            "handle",
            "nsid",
            "tid",
            "record-key",
            "uri",
            "language",
        ] {
            let format = StringFormat::from_name(name).expect("defined format");
            assert_eq!(format.name(), name);
        }
        assert_eq!(StringFormat::from_name("email"), None);
    }

    #[test]
    fn expansive_identifier_syntax() {
        assert!(StringFormat::Did.check("did:example:123").is_ok(), "any DID method");
        assert!(StringFormat::Handle.check("john.test").is_ok(), "reserved TLD is still a handle");
        assert!(StringFormat::AtIdentifier.check("did:web:example.com").is_ok());
        assert!(StringFormat::Datetime.check("2023-10-30T22:25:23").is_err(), "timezone required");
        assert!(StringFormat::Tid.check("3kznmn7xqxl22").is_ok());
        assert!(StringFormat::RecordKey.check("..").is_err());
    }
}
