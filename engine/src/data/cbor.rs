//! Canonical DAG-CBOR encoding and decoding (specs/data-model.md; DRISL / DAG-CBOR).
//!
//! Two levels:
//! - [`to_vec`] / [`from_slice`] for typed values through serde (commits, MST nodes).
//! - [`encode_ipld`] / [`decode_ipld`] for the generic data model ([`Ipld`]) with the atproto
//!   rules on top of DAG-CBOR: no floats, integers in the signed 64-bit range, at most
//!   [`MAX_DEPTH`] nested lists and maps, and only canonical bytes accepted.
//!
//! Tricky bits:
//! - Canonical map key order is length-first, then bytewise (RFC 7049 "canonical"). An
//!   `Ipld::Map` is a `BTreeMap` (bytewise order), so [`encode_ipld`] re-sorts keys by length
//!   with a stable sort. `serde_ipld_dagcbor` 0.7 also sorts (it buffers every map entry and
//!   sorts the encoded entries); a test checks both give the same bytes.
//! - Canonical check: [`decode_ipld`] decodes with `serde_ipld_dagcbor` (which already rejects
//!   non-minimal heads, unsorted or duplicate keys, indefinite lengths, tags other than 42 and
//!   trailing bytes) and then re-encodes the value *against the input*, comparing byte by byte
//!   without allocating. Any input that is not exactly the canonical encoding of the value it
//!   decodes to is rejected, whatever the reason (for example a CID with trailing bytes inside
//!   its tag, or a float).
//! - Depth: `serde_ipld_dagcbor` refuses more than 127 nested lists/maps (its reader's
//!   recursion budget of 256 is spent twice per container); [`MAX_DEPTH`] is set to the same
//!   127 so both limits agree. In a debug build decoding 127 levels needs about 1 MiB of stack.
//! - Links: any CID the `cid` crate parses is accepted inside data (indigo and the TypeScript
//!   reference do the same); the CAR reader is the place that insists on atproto's blessed
//!   CIDs for blocks.

use cid::Cid;
use ipld_core::ipld::Ipld;
use serde::{Serialize, de::DeserializeOwned};

use super::MAX_DEPTH;

/// Why a value could not be encoded or decoded as DAG-CBOR.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CborError {
    /// The value cannot be represented in DAG-CBOR (for example a float, or a non-string map key).
    #[error("cannot encode as DAG-CBOR: {0}")]
    Encode(String),
    /// The bytes are not valid DAG-CBOR for the expected type.
    #[error("invalid DAG-CBOR: {0}")]
    Decode(String),
    /// A float, which the atproto data model does not allow.
    #[error("floats are not allowed in atproto data: {value}")]
    Float {
        /// The float found.
        value: f64,
    },
    /// An integer outside the signed 64-bit range of the atproto data model.
    #[error("integer {value} is outside the signed 64-bit range")]
    IntegerOutOfRange {
        /// The integer found.
        value: i128,
    },
    /// More nested lists and maps than [`MAX_DEPTH`].
    #[error("nested deeper than {max} lists and maps")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Well-formed DAG-CBOR whose bytes are not the canonical encoding of the value.
    #[error("DAG-CBOR is not canonical: first difference at byte {offset}")]
    NonCanonical {
        /// Offset of the first byte that differs from the canonical encoding.
        offset: usize,
    },
}

/// Encode a value as canonical DAG-CBOR (map keys sorted length-first, then bytewise).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CborError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| CborError::Encode(e.to_string()))
}

/// Decode DAG-CBOR bytes into a typed value.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CborError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CborError::Decode(e.to_string()))
}

/// Encode a data-model value as canonical DAG-CBOR under the atproto rules.
///
/// Fails on floats ([`CborError::Float`]), integers outside `i64`
/// ([`CborError::IntegerOutOfRange`]) and nesting beyond [`MAX_DEPTH`] ([`CborError::TooDeep`]).
pub fn encode_ipld(value: &Ipld) -> Result<Vec<u8>, CborError> {
    let mut out = Vec::with_capacity(128);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Append the canonical DAG-CBOR of `value` to `out` (same rules as [`encode_ipld`]).
///
/// On error `out` may hold a partial encoding.
pub fn encode_into(value: &Ipld, out: &mut Vec<u8>) -> Result<(), CborError> {
    encode_value(value, out, 0)
}

/// Decode atproto DAG-CBOR strictly: one canonical value, no trailing bytes, no floats,
/// integers within `i64`, at most [`MAX_DEPTH`] nested lists and maps. Never panics.
///
/// Memory: lengths are never trusted for allocation beyond what the input can hold, but the
/// decoded tree can be much larger than its bytes (a one-byte `null` in a list becomes a 96-byte
/// `Ipld`, the size of its largest variant, a `Cid`), so callers bound the input size (atproto
/// records: 1 MiB).
pub fn decode_ipld(bytes: &[u8]) -> Result<Ipld, CborError> {
    let value: Ipld = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CborError::Decode(e.to_string()))?;
    let mut expected = Expect { input: bytes, pos: 0 };
    encode_value(&value, &mut expected, 0)?;
    if expected.pos != bytes.len() {
        return Err(CborError::NonCanonical { offset: expected.pos });
    }
    Ok(value)
}

/// Where the encoder puts bytes: a buffer, or a comparison against bytes already there.
trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<(), CborError>;
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), CborError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Checks that the encoding equals `input`, byte for byte, without building it.
struct Expect<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Sink for Expect<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), CborError> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        if rest.len() >= bytes.len() && rest[..bytes.len()] == *bytes {
            self.pos += bytes.len();
            return Ok(());
        }
        let same = rest.iter().zip(bytes).take_while(|(a, b)| a == b).count();
        Err(CborError::NonCanonical { offset: self.pos + same })
    }
}

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_STRING: u8 = 3;
const MAJOR_LIST: u8 = 4;
const MAJOR_MAP: u8 = 5;
const TAG_CID: [u8; 2] = [0xd8, 42];
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;

/// Write a CBOR head (major type + argument) in its shortest form.
#[inline]
fn put_head(sink: &mut impl Sink, major: u8, arg: u64) -> Result<(), CborError> {
    let m = major << 5;
    let mut buf = [0u8; 9];
    let head: &[u8] = if arg < 24 {
        buf[0] = m | arg as u8;
        &buf[..1]
    } else if arg <= u64::from(u8::MAX) {
        buf[0] = m | 24;
        buf[1] = arg as u8;
        &buf[..2]
    } else if arg <= u64::from(u16::MAX) {
        buf[0] = m | 25;
        buf[1..3].copy_from_slice(&(arg as u16).to_be_bytes());
        &buf[..3]
    } else if arg <= u64::from(u32::MAX) {
        buf[0] = m | 26;
        buf[1..5].copy_from_slice(&(arg as u32).to_be_bytes());
        &buf[..5]
    } else {
        buf[0] = m | 27;
        buf[1..9].copy_from_slice(&arg.to_be_bytes());
        &buf[..9]
    };
    sink.put(head)
}

fn encode_value(value: &Ipld, sink: &mut impl Sink, depth: usize) -> Result<(), CborError> {
    match value {
        Ipld::Null => sink.put(&[NULL]),
        Ipld::Bool(b) => sink.put(&[if *b { TRUE } else { FALSE }]),
        Ipld::Integer(i) => {
            let Ok(i) = i64::try_from(*i) else {
                return Err(CborError::IntegerOutOfRange { value: *i });
            };
            match u64::try_from(i) {
                Ok(unsigned) => put_head(sink, MAJOR_UNSIGNED, unsigned),
                // -1 - i, computed without overflow as the bitwise complement.
                Err(_) => put_head(sink, MAJOR_NEGATIVE, !(i as u64)),
            }
        }
        Ipld::Float(f) => Err(CborError::Float { value: *f }),
        Ipld::String(s) => {
            put_head(sink, MAJOR_STRING, s.len() as u64)?;
            sink.put(s.as_bytes())
        }
        Ipld::Bytes(b) => {
            put_head(sink, MAJOR_BYTES, b.len() as u64)?;
            sink.put(b)
        }
        Ipld::List(items) => {
            let depth = enter(depth)?;
            put_head(sink, MAJOR_LIST, items.len() as u64)?;
            items.iter().try_for_each(|item| encode_value(item, sink, depth))
        }
        Ipld::Map(map) => {
            let depth = enter(depth)?;
            put_head(sink, MAJOR_MAP, map.len() as u64)?;
            // The BTreeMap iterates bytewise; a stable sort by length gives length-first, then
            // bytewise, the canonical order.
            let mut entries: Vec<(&String, &Ipld)> = map.iter().collect();
            entries.sort_by_key(|(key, _)| key.len());
            for (key, item) in entries {
                put_head(sink, MAJOR_STRING, key.len() as u64)?;
                sink.put(key.as_bytes())?;
                encode_value(item, sink, depth)?;
            }
            Ok(())
        }
        Ipld::Link(cid) => put_link(sink, cid),
    }
}

fn enter(depth: usize) -> Result<usize, CborError> {
    let depth = depth + 1;
    if depth > MAX_DEPTH { Err(CborError::TooDeep { max: MAX_DEPTH }) } else { Ok(depth) }
}

/// Tag 42 around a byte string of a `0x00` prefix (the identity multibase) and the binary CID.
fn put_link(sink: &mut impl Sink, cid: &Cid) -> Result<(), CborError> {
    sink.put(&TAG_CID)?;
    let len = cid.encoded_len();
    put_head(sink, MAJOR_BYTES, len as u64 + 1)?;
    sink.put(&[0])?;
    super::cid::with_cid_bytes(cid, |bytes| sink.put(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn map(entries: &[(&str, Ipld)]) -> Ipld {
        Ipld::Map(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>())
    }

    #[test]
    fn keys_are_sorted_length_first_like_serde_ipld_dagcbor() {
        let value = map(&[
            ("bb", Ipld::Integer(1)),
            ("a", Ipld::Integer(2)),
            ("ccc", Ipld::Integer(3)),
            ("b", Ipld::Integer(4)),
            ("aaaa", Ipld::Null),
        ]);
        let ours = encode_ipld(&value).expect("encodes");
        let theirs = serde_ipld_dagcbor::to_vec(&value).expect("encodes");
        assert_eq!(ours, theirs);
        // a, b, bb, ccc, aaaa
        assert_eq!(&ours[..5], &[0xa5, 0x61, b'a', 0x02, 0x61]);
        assert_eq!(decode_ipld(&ours).expect("decodes"), value);
    }

    #[test]
    fn integer_edges() {
        for i in [
            0i128,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u32::MAX as i128,
            i64::MAX as i128,
            -1,
            -24,
            -25,
            -256,
            -257,
            i64::MIN as i128,
        ] {
            let value = Ipld::Integer(i);
            let bytes = encode_ipld(&value).expect("encodes");
            assert_eq!(bytes, serde_ipld_dagcbor::to_vec(&value).expect("encodes"), "{i}");
            assert_eq!(decode_ipld(&bytes).expect("decodes"), value, "{i}");
        }
        assert!(matches!(encode_ipld(&Ipld::Integer(i64::MAX as i128 + 1)), Err(CborError::IntegerOutOfRange { .. })));
        // u64::MAX and -2^64 are valid CBOR but outside atproto's range.
        assert!(matches!(
            decode_ipld(&[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(CborError::IntegerOutOfRange { .. })
        ));
        assert!(matches!(
            decode_ipld(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(CborError::IntegerOutOfRange { .. })
        ));
    }

    #[test]
    fn rejects_floats_non_canonical_and_trailing_bytes() {
        assert!(matches!(encode_ipld(&Ipld::Float(1.5)), Err(CborError::Float { .. })));
        assert!(matches!(decode_ipld(&[0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), Err(CborError::Float { .. })));
        // 1 encoded in two bytes.
        assert!(decode_ipld(&[0x18, 0x01]).is_err());
        // {"b": 1, "a": 2}: unsorted keys.
        assert!(decode_ipld(&[0xa2, 0x61, b'b', 0x01, 0x61, b'a', 0x02]).is_err());
        // {"aa": 1, "b": 2}: bytewise but not length-first.
        assert!(decode_ipld(&[0xa2, 0x62, b'a', b'a', 0x01, 0x61, b'b', 0x02]).is_err());
        // Duplicate keys.
        assert!(decode_ipld(&[0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02]).is_err());
        // Trailing byte, indefinite-length list, undefined, empty input.
        assert!(decode_ipld(&[0xf6, 0x00]).is_err());
        assert!(decode_ipld(&[0x9f, 0xff]).is_err());
        assert!(decode_ipld(&[0xf7]).is_err());
        assert!(decode_ipld(&[]).is_err());
    }

    #[test]
    fn depth_limit_matches_the_decoder() {
        let nested = |n: usize| {
            let mut bytes = vec![0x81; n];
            bytes.push(0xf6);
            bytes
        };
        assert!(decode_ipld(&nested(MAX_DEPTH)).is_ok());
        assert!(decode_ipld(&nested(MAX_DEPTH + 1)).is_err());
        let mut value = Ipld::Null;
        for _ in 0..=MAX_DEPTH {
            value = Ipld::List(vec![value]);
        }
        assert!(matches!(encode_ipld(&value), Err(CborError::TooDeep { .. })));
    }

    #[test]
    fn links_round_trip() {
        let cid = crate::data::cid::cid_for_raw(b"blob");
        let value = map(&[("ref", Ipld::Link(cid))]);
        let bytes = encode_ipld(&value).expect("encodes");
        assert_eq!(bytes, serde_ipld_dagcbor::to_vec(&value).expect("encodes"));
        assert_eq!(decode_ipld(&bytes).expect("decodes"), value);
    }
}
