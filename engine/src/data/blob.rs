//! Blob references (specs/data-model.md, "`blob` Type"; specs/blob.md).
//!
//! Two shapes exist in records:
//! - the current one, `{"$type": "blob", "ref": <link>, "mimeType": <string>, "size": <int>}`;
//! - the deprecated legacy one, `{"cid": <CID string>, "mimeType": <string>}`, which has no
//!   `$type` and no size. Following the spec's advice it is held in the same [`BlobRef`] with
//!   `size == 0`, and [`BlobRef::to_ipld`] writes a size-0 blob back in the legacy shape, so a
//!   zero size is never written in the current shape and legacy records round-trip.
//!
//! The `ref` CID's codec is not checked: the spec says `raw`, but the interop vectors use
//! `dag-cbor` blob refs in valid records, and indigo accepts any CID.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use super::error::{DataError, DataErrorKind, brief};

/// A reference to a blob, as found in a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// The blob's CID (the `ref` link; the `cid` string in the legacy shape).
    pub cid: Cid,
    /// The blob's MIME type (`application/octet-stream` when unknown).
    pub mime_type: String,
    /// The blob's length in bytes; `0` marks the legacy shape, which has no size.
    pub size: u64,
}

impl BlobRef {
    /// A blob reference in the current shape; `None` if `size` is 0 or `mime_type` is empty.
    pub fn new(cid: Cid, mime_type: impl Into<String>, size: u64) -> Option<Self> {
        let mime_type = mime_type.into();
        (size > 0 && !mime_type.is_empty()).then_some(BlobRef { cid, mime_type, size })
    }

    /// Checks the current shape's rules on untrusted parts.
    pub(crate) fn new_checked(cid: Cid, mime_type: String, size: i64) -> Result<Self, DataError> {
        let invalid = |reason: String| DataError::new(DataErrorKind::InvalidBlob { reason });
        if mime_type.is_empty() {
            return Err(invalid("mimeType must not be empty".into()));
        }
        match u64::try_from(size) {
            Ok(size) if size > 0 => Ok(BlobRef { cid, mime_type, size }),
            _ => Err(invalid(format!("size must be a positive integer, found {size}"))),
        }
    }

    /// Whether this reference came from (and is written back in) the legacy `{cid, mimeType}` shape.
    pub fn is_legacy(&self) -> bool {
        self.size == 0
    }

    /// Read a blob reference in either shape.
    ///
    /// The current shape must have exactly the four keys with the right types, a non-empty
    /// `mimeType` and a positive `size`; the legacy shape exactly `cid` (a CID string) and a
    /// non-empty `mimeType`.
    pub fn from_ipld(value: &Ipld) -> Result<Self, DataError> {
        let invalid = |reason: String| DataError::new(DataErrorKind::InvalidBlob { reason });
        let Ipld::Map(map) = value else {
            return Err(invalid("a blob must be a map".into()));
        };
        if !map.contains_key("$type") {
            return legacy_from_map(map)
                .ok_or_else(|| invalid("neither a $type: blob map nor a legacy {cid, mimeType} map".into()));
        }
        match map.get("$type") {
            Some(Ipld::String(t)) if t == "blob" => {}
            _ => return Err(invalid("$type must be \"blob\"".into())),
        }
        if let Some(extra) = map.keys().find(|k| !matches!(k.as_str(), "$type" | "ref" | "mimeType" | "size")) {
            return Err(invalid(format!("unexpected key {:?}", brief(extra))));
        }
        let cid = match map.get("ref") {
            Some(Ipld::Link(cid)) => *cid,
            Some(_) => return Err(invalid("ref must be a link".into())),
            None => return Err(invalid("missing ref".into())),
        };
        let mime_type = match map.get("mimeType") {
            Some(Ipld::String(s)) => s.clone(),
            Some(_) => return Err(invalid("mimeType must be a string".into())),
            None => return Err(invalid("missing mimeType".into())),
        };
        let size = match map.get("size") {
            Some(Ipld::Integer(i)) => {
                i64::try_from(*i).map_err(|_| invalid(format!("size must be a positive integer, found {i}")))?
            }
            Some(_) => return Err(invalid("size must be an integer".into())),
            None => return Err(invalid("missing size".into())),
        };
        BlobRef::new_checked(cid, mime_type, size)
    }

    /// The data-model form: the current shape, or the legacy shape when `size` is 0.
    pub fn to_ipld(&self) -> Ipld {
        let mut map = BTreeMap::new();
        map.insert("mimeType".to_owned(), Ipld::String(self.mime_type.clone()));
        if self.is_legacy() {
            map.insert("cid".to_owned(), Ipld::String(self.cid.to_string()));
        } else {
            map.insert("$type".to_owned(), Ipld::String("blob".to_owned()));
            map.insert("ref".to_owned(), Ipld::Link(self.cid));
            map.insert("size".to_owned(), Ipld::Integer(self.size.into()));
        }
        Ipld::Map(map)
    }
}

/// The legacy shape: exactly `cid` (a parseable CID string) and a non-empty `mimeType`.
fn legacy_from_map(map: &BTreeMap<String, Ipld>) -> Option<BlobRef> {
    if map.len() != 2 {
        return None;
    }
    let (Some(Ipld::String(cid)), Some(Ipld::String(mime_type))) = (map.get("cid"), map.get("mimeType")) else {
        return None;
    };
    let cid = Cid::try_from(cid.as_str()).ok()?;
    (!mime_type.is_empty()).then(|| BlobRef { cid, mime_type: mime_type.clone(), size: 0 })
}

/// Every blob reference in `value`, in document order (depth first, map keys in `Ipld::Map`
/// order), duplicates included: each `$type: "blob"` map that is a valid blob, and each map
/// in the legacy `{cid, mimeType}` shape.
///
/// Malformed `$type: "blob"` maps are skipped, not reported; run
/// [`validate_record`](super::record::validate_record) first to reject them.
pub fn find_blob_refs(value: &Ipld) -> Vec<BlobRef> {
    let mut found = Vec::new();
    // An explicit stack, so any depth is safe; children pushed in reverse keep document order.
    let mut stack = vec![value];
    while let Some(node) = stack.pop() {
        match node {
            Ipld::Map(map) => {
                let is_typed_blob = matches!(map.get("$type"), Some(Ipld::String(t)) if t == "blob");
                let blob = if is_typed_blob { BlobRef::from_ipld(node).ok() } else { legacy_from_map(map) };
                match blob {
                    Some(blob) => found.push(blob),
                    None => stack.extend(map.values().rev()),
                }
            }
            Ipld::List(items) => stack.extend(items.iter().rev()),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cid::cid_for_raw;

    #[test]
    fn current_and_legacy_shapes_round_trip() {
        let cid = cid_for_raw(b"image");
        let blob = BlobRef::new(cid, "image/png", 5).expect("valid");
        assert_eq!(BlobRef::from_ipld(&blob.to_ipld()), Ok(blob.clone()));
        let legacy = BlobRef { cid, mime_type: "image/jpeg".into(), size: 0 };
        assert!(legacy.is_legacy());
        let ipld = legacy.to_ipld();
        assert!(matches!(&ipld, Ipld::Map(m) if m.len() == 2 && m.contains_key("cid")));
        assert_eq!(BlobRef::from_ipld(&ipld), Ok(legacy));
        assert_eq!(BlobRef::new(cid, "image/png", 0), None);
        assert_eq!(BlobRef::new(cid, "", 1), None);
    }

    #[test]
    fn finds_nested_blobs_in_order() {
        let a = BlobRef::new(cid_for_raw(b"a"), "image/png", 1).expect("valid");
        let b = BlobRef { cid: cid_for_raw(b"b"), mime_type: "image/jpeg".into(), size: 0 };
        let mut bad = BTreeMap::new();
        bad.insert("$type".to_owned(), Ipld::String("blob".into()));
        let record = Ipld::Map(BTreeMap::from([
            ("a".to_owned(), Ipld::List(vec![a.to_ipld(), Ipld::Map(bad)])),
            ("b".to_owned(), Ipld::Map(BTreeMap::from([("image".to_owned(), b.to_ipld())]))),
        ]));
        assert_eq!(find_blob_refs(&record), vec![a, b]);
    }
}
