//! Reading a frame back: the header and the body as data-model values.

use ipld_core::ipld::Ipld;

use super::{FrameError, MAX_FRAME_BYTES};
use crate::data::cbor::decode_ipld;

/// A frame header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// `1` for a message, `-1` for an error.
    pub op: i64,
    /// The message type (`#commit`, ...) for `op: 1`.
    pub t: Option<String>,
}

/// Length of the first canonical DAG-CBOR item of `bytes` (a header map of
/// small integers and short strings: only the head sizes are needed).
fn item_len(bytes: &[u8], pos: usize, depth: usize) -> Result<usize, FrameError> {
    let bad = || FrameError::Invalid("truncated or unsupported header".into());
    if depth > 4 {
        return Err(bad());
    }
    let first = *bytes.get(pos).ok_or_else(bad)?;
    let major = first >> 5;
    let info = first & 0x1f;
    let (arg, head) = match info {
        0..=23 => (u64::from(info), 1),
        24 => (u64::from(*bytes.get(pos + 1).ok_or_else(bad)?), 2),
        25 => {
            let b = bytes.get(pos + 1..pos + 3).ok_or_else(bad)?;
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 3)
        }
        _ => return Err(bad()),
    };
    let arg = usize::try_from(arg).map_err(|_| bad())?;
    match major {
        0 | 1 | 7 => Ok(head),
        2 | 3 => Ok(head + arg),
        4 => {
            let mut len = head;
            for _ in 0..arg {
                len += item_len(bytes, pos + len, depth + 1)?;
            }
            Ok(len)
        }
        5 => {
            let mut len = head;
            for _ in 0..arg * 2 {
                len += item_len(bytes, pos + len, depth + 1)?;
            }
            Ok(len)
        }
        _ => Err(bad()),
    }
}

/// Split a frame into its header and body, both strictly decoded.
pub fn decode_frame(bytes: &[u8]) -> Result<(FrameHeader, Ipld), FrameError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { size: bytes.len(), max: MAX_FRAME_BYTES });
    }
    let split = item_len(bytes, 0, 0)?;
    if split > bytes.len() {
        return Err(FrameError::Invalid("truncated header".into()));
    }
    let header = decode_ipld(&bytes[..split]).map_err(|e| FrameError::Invalid(format!("header: {e}")))?;
    let body = decode_ipld(&bytes[split..]).map_err(|e| FrameError::Invalid(format!("body: {e}")))?;
    let Ipld::Map(map) = header else { return Err(FrameError::Invalid("header is not a map".into())) };
    let op = match map.get("op") {
        Some(Ipld::Integer(op)) => i64::try_from(*op).map_err(|_| FrameError::Invalid("op out of range".into()))?,
        _ => return Err(FrameError::Invalid("header has no integer op".into())),
    };
    let t = match map.get("t") {
        Some(Ipld::String(t)) => Some(t.clone()),
        None => None,
        Some(_) => return Err(FrameError::Invalid("header t is not a string".into())),
    };
    if !matches!(body, Ipld::Map(_)) {
        return Err(FrameError::Invalid("body is not a map".into()));
    }
    Ok((FrameHeader { op, t }, body))
}
