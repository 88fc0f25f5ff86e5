//! AT URIs (specs/at-uri-scheme.md) in the restricted form Lexicon's `at-uri` format allows:
//!
//! ```text
//! AT-URI = "at://" AUTHORITY [ "/" COLLECTION [ "/" RKEY ] ]
//! ```
//!
//! Tricky bits:
//! - No query, no fragment, no trailing slash (not even right after the authority), no empty
//!   or `.`/`..` path segments, at most 8 KB.
//! - The authority is a DID (any method) or a handle. A handle authority is lowercased, as the
//!   spec's normalization rules ask, so the stored string can differ from the input in case.
//! - General AT URIs (`at://computer`, `at://foo.com/example/123`) are valid by the full
//!   syntax but not in Lexicon, and are rejected here.

use super::{AtIdentifier, Nsid, RecordKey, SyntaxError, SyntaxKind, string_type};

/// Most characters an AT URI may have.
const MAX_LENGTH: usize = 8 * 1024;

/// An AT URI such as `at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a`:
/// an authority, optionally a collection, and (only with a collection) a record key.
/// Ordered by its string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtUri(String, Parts);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Parts {
    authority: AtIdentifier,
    collection: Option<Nsid>,
    rkey: Option<RecordKey>,
}

string_type!(AtUri);

impl AtUri {
    /// Parse an AT URI in the Lexicon `at-uri` form.
    pub fn parse(s: &str) -> Result<AtUri, SyntaxError> {
        let err = |reason| SyntaxError::new(SyntaxKind::AtUri, s, reason);
        if s.len() > MAX_LENGTH {
            return Err(err("longer than 8 KB"));
        }
        let rest = s.strip_prefix("at://").ok_or_else(|| err("must start with at://"))?;
        if rest.contains(['?', '#']) {
            return Err(err("query and fragment are not allowed"));
        }
        if rest.ends_with('/') {
            return Err(err("trailing slash is not allowed"));
        }
        let mut segments = rest.split('/');
        let authority = segments.next().unwrap_or_default();
        let authority = AtIdentifier::parse(authority).map_err(|_| err("authority must be a DID or a handle"))?;
        let collection = match segments.next() {
            Some(c) => Some(Nsid::parse(c).map_err(|_| err("collection must be an NSID"))?),
            None => None,
        };
        let rkey = match segments.next() {
            Some(k) => Some(RecordKey::parse(k).map_err(|_| err("record key is invalid"))?),
            None => None,
        };
        if segments.next().is_some() {
            return Err(err("path has more than a collection and a record key"));
        }
        Ok(AtUri::from_parts(Parts { authority, collection, rkey }))
    }

    /// Build an AT URI from its parts. Fails only if a record key is given without a collection.
    pub fn new(
        authority: impl Into<AtIdentifier>,
        collection: Option<Nsid>,
        rkey: Option<RecordKey>,
    ) -> Result<AtUri, SyntaxError> {
        let authority = authority.into();
        match (collection, rkey) {
            (None, Some(rkey)) => {
                let input = format!("at://{authority}//{rkey}");
                Err(SyntaxError::new(SyntaxKind::AtUri, &input, "a record key needs a collection"))
            }
            (collection, rkey) => Ok(AtUri::from_parts(Parts { authority, collection, rkey })),
        }
    }

    /// The AT URI of one record: `at://<authority>/<collection>/<rkey>`.
    pub fn for_record(authority: impl Into<AtIdentifier>, collection: Nsid, rkey: RecordKey) -> AtUri {
        AtUri::from_parts(Parts { authority: authority.into(), collection: Some(collection), rkey: Some(rkey) })
    }

    /// Joins the parts. Lengths need no check: a DID (2048), an NSID (317) and a record key (512)
    /// together stay well under 8 KB.
    fn from_parts(parts: Parts) -> AtUri {
        let mut uri = format!("at://{}", parts.authority);
        if let Some(collection) = &parts.collection {
            uri.push('/');
            uri.push_str(collection.as_str());
            if let Some(rkey) = &parts.rkey {
                uri.push('/');
                uri.push_str(rkey.as_str());
            }
        }
        AtUri(uri, parts)
    }

    /// The repository: a DID or a handle.
    pub fn authority(&self) -> &AtIdentifier {
        &self.1.authority
    }

    /// The collection, if the URI has one.
    pub fn collection(&self) -> Option<&Nsid> {
        self.1.collection.as_ref()
    }

    /// The record key, if the URI has one (only when it also has a collection).
    pub fn rkey(&self) -> Option<&RecordKey> {
        self.1.rkey.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Did;

    #[test]
    fn accessors() {
        let uri = AtUri::parse("at://did:plc:asdf123/com.atproto.feed.post/record").expect("valid");
        assert_eq!(uri.authority().as_str(), "did:plc:asdf123");
        assert_eq!(uri.collection().map(Nsid::as_str), Some("com.atproto.feed.post"));
        assert_eq!(uri.rkey().map(RecordKey::as_str), Some("record"));
        let bare = AtUri::parse("at://user.bsky.social").expect("valid");
        assert!(bare.collection().is_none() && bare.rkey().is_none());
    }

    #[test]
    fn handle_authority_is_lowercased() {
        let uri = AtUri::parse("at://User.Bsky.Social/app.bsky.feed.post/Ab").expect("valid");
        assert_eq!(uri.as_str(), "at://user.bsky.social/app.bsky.feed.post/Ab");
    }

    #[test]
    fn new_and_for_record() {
        let did = Did::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").expect("valid DID");
        let nsid = Nsid::parse("app.bsky.feed.post").expect("valid NSID");
        let rkey = RecordKey::parse("3jzfcijpj2z2a").expect("valid rkey");
        let uri = AtUri::for_record(did.clone(), nsid.clone(), rkey.clone());
        assert_eq!(uri.as_str(), "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a");
        assert_eq!(AtUri::parse(uri.as_str()).as_ref(), Ok(&uri));
        assert_eq!(AtUri::new(did.clone(), Some(nsid), Some(rkey.clone())), Ok(uri));
        assert!(AtUri::new(did.clone(), None, Some(rkey)).is_err());
        let bare = AtUri::new(did, None, None).expect("authority only");
        assert_eq!(bare.as_str(), "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    }
}
