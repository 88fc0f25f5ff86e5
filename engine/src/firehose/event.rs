//! Building event frames with the `seq` entry left out, and splicing it in.

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use super::{FrameError, MAX_FRAME_BYTES};
use crate::car::{encode_block_into, encode_header};
use crate::data::cbor::encode_ipld;
use crate::repo::CommitResult;
use crate::syntax::{Datetime, Did, Handle, Tid};

/// The message types of `com.atproto.sync.subscribeRepos` we emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `#commit`: a repository commit.
    Commit,
    /// `#sync`: the repository's current commit (account creation, activation).
    Sync,
    /// `#identity`: the DID document or handle may have changed.
    Identity,
    /// `#account`: the hosting status may have changed.
    Account,
}

impl EventKind {
    /// The stored name: `commit`, `sync`, `identity` or `account`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Commit => "commit",
            EventKind::Sync => "sync",
            EventKind::Identity => "identity",
            EventKind::Account => "account",
        }
    }

    /// Parse the stored name.
    pub fn parse(s: &str) -> Option<EventKind> {
        match s {
            "commit" => Some(EventKind::Commit),
            "sync" => Some(EventKind::Sync),
            "identity" => Some(EventKind::Identity),
            "account" => Some(EventKind::Account),
            _ => None,
        }
    }

    /// The header's `t`: `#commit`, ...
    pub fn tag(self) -> &'static str {
        match self {
            EventKind::Commit => "#commit",
            EventKind::Sync => "#sync",
            EventKind::Identity => "#identity",
            EventKind::Account => "#account",
        }
    }
}

/// An event frame waiting for its sequence number (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// The account the event is about.
    pub did: Did,
    /// Its type.
    pub kind: EventKind,
    /// Whether sequencing it deletes the account's earlier events (account deletion).
    pub purge_earlier: bool,
    frame: Bytes,
    seq_at: usize,
}

impl std::fmt::Debug for PendingEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEvent")
            .field("did", &self.did)
            .field("kind", &self.kind)
            .field("purge_earlier", &self.purge_earlier)
            .field("bytes", &self.frame.len())
            .finish()
    }
}

/// The canonical DAG-CBOR of a text string.
fn text(s: &str) -> Vec<u8> {
    // Encoding a string cannot fail.
    encode_ipld(&Ipld::String(s.to_owned())).unwrap_or_default()
}

/// DAG-CBOR canonical key order: shorter first, then bytewise.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

fn encode_err(e: impl std::fmt::Display) -> FrameError {
    FrameError::Invalid(e.to_string())
}

/// Header `{op: 1, t}` + a body map of `fields` plus a `seq` entry left
/// out; returns the bytes and where the entry goes.
fn build(kind: EventKind, mut fields: Vec<(&'static str, Ipld)>) -> Result<(Vec<u8>, usize), FrameError> {
    let header =
        Ipld::Map([("op".to_owned(), Ipld::Integer(1)), ("t".to_owned(), Ipld::String(kind.tag().into()))].into());
    let mut out = encode_ipld(&header).map_err(encode_err)?;
    fields.sort_by(|a, b| key_order(a.0, b.0));
    let count = fields.len() + 1;
    // Every body has fewer than 24 entries: a one-byte map head.
    let head = u8::try_from(0xa0 + count).map_err(|_| FrameError::Invalid("too many fields".into()))?;
    out.push(head);
    let mut seq_at = None;
    for (key, value) in &fields {
        if seq_at.is_none() && key_order("seq", key).is_lt() {
            seq_at = Some(out.len());
        }
        out.extend_from_slice(&text(key));
        crate::data::cbor::encode_into(value, &mut out).map_err(encode_err)?;
    }
    let seq_at = seq_at.unwrap_or(out.len());
    let size = out.len() + 12;
    if size > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { size, max: MAX_FRAME_BYTES });
    }
    Ok((out, seq_at))
}

/// A CAR slice with `root` as its only root and first block, then `blocks`.
fn car_slice<'a>(root: &Cid, root_bytes: &[u8], blocks: impl Iterator<Item = (&'a Cid, &'a Bytes)>) -> Vec<u8> {
    let mut out = encode_header(&[*root]);
    encode_block_into(&mut out, root, root_bytes);
    for (cid, bytes) in blocks {
        if cid != root {
            encode_block_into(&mut out, cid, bytes);
        }
    }
    out
}

fn link_or_null(cid: Option<Cid>) -> Ipld {
    cid.map_or(Ipld::Null, Ipld::Link)
}

impl PendingEvent {
    fn new(did: &Did, kind: EventKind, fields: Vec<(&'static str, Ipld)>) -> Result<PendingEvent, FrameError> {
        let (frame, seq_at) = build(kind, fields)?;
        Ok(PendingEvent { did: did.clone(), kind, purge_earlier: false, frame: Bytes::from(frame), seq_at })
    }

    /// `#commit` for a commit made by `Repo::apply_writes`: every required
    /// field, Sync 1.1 `prevData` and per-op `prev`, `blocks` the CAR slice
    /// rooted at the commit, `tooBig`/`rebase` false, `blobs` empty.
    pub fn commit(result: &CommitResult, time: &Datetime) -> Result<PendingEvent, FrameError> {
        let blocks = car_slice(&result.commit, &result.commit_bytes, result.blocks.iter());
        let ops = result
            .ops
            .iter()
            .map(|op| {
                let mut map = std::collections::BTreeMap::new();
                map.insert("action".to_owned(), Ipld::String(op.action.as_str().into()));
                map.insert("path".to_owned(), Ipld::String(op.path.clone()));
                map.insert("cid".to_owned(), link_or_null(op.cid));
                if let Some(prev) = op.prev {
                    map.insert("prev".to_owned(), Ipld::Link(prev));
                }
                Ipld::Map(map)
            })
            .collect();
        let mut fields = vec![
            ("repo", Ipld::String(result.did.to_string())),
            ("commit", Ipld::Link(result.commit)),
            ("rev", Ipld::String(result.rev.to_string())),
            ("since", result.since.as_ref().map_or(Ipld::Null, |s| Ipld::String(s.to_string()))),
            ("blocks", Ipld::Bytes(blocks)),
            ("ops", Ipld::List(ops)),
            ("blobs", Ipld::List(Vec::new())),
            ("rebase", Ipld::Bool(false)),
            ("tooBig", Ipld::Bool(false)),
            ("time", Ipld::String(time.to_string())),
        ];
        if let Some(prev_data) = result.prev_data {
            fields.push(("prevData", Ipld::Link(prev_data)));
        }
        PendingEvent::new(&result.did, EventKind::Commit, fields)
    }

    /// `#sync`: `blocks` holds only the commit block (`commit`, `commit_bytes`).
    pub fn sync(
        did: &Did,
        rev: &Tid,
        commit: &Cid,
        commit_bytes: &[u8],
        time: &Datetime,
    ) -> Result<PendingEvent, FrameError> {
        let blocks = car_slice(commit, commit_bytes, std::iter::empty());
        let fields = vec![
            ("did", Ipld::String(did.to_string())),
            ("rev", Ipld::String(rev.to_string())),
            ("blocks", Ipld::Bytes(blocks)),
            ("time", Ipld::String(time.to_string())),
        ];
        PendingEvent::new(did, EventKind::Sync, fields)
    }

    /// `#identity`, with the current handle when known.
    pub fn identity(did: &Did, handle: Option<&Handle>, time: &Datetime) -> Result<PendingEvent, FrameError> {
        let mut fields = vec![("did", Ipld::String(did.to_string())), ("time", Ipld::String(time.to_string()))];
        if let Some(handle) = handle {
            fields.push(("handle", Ipld::String(handle.to_string())));
        }
        PendingEvent::new(did, EventKind::Identity, fields)
    }

    /// `#account`: `active`, and the wire `status` when not active.
    pub fn account(did: &Did, active: bool, status: Option<&str>, time: &Datetime) -> Result<PendingEvent, FrameError> {
        let mut fields = vec![
            ("did", Ipld::String(did.to_string())),
            ("active", Ipld::Bool(active)),
            ("time", Ipld::String(time.to_string())),
        ];
        if let Some(status) = status {
            fields.push(("status", Ipld::String(status.to_owned())));
        }
        PendingEvent::new(did, EventKind::Account, fields)
    }

    /// Mark the event as deleting the account's earlier events when sequenced.
    pub fn purging_earlier(mut self) -> PendingEvent {
        self.purge_earlier = true;
        self
    }

    /// An event read back from storage. Fails when `seq_at` is not inside `frame`.
    pub fn from_parts(
        did: Did,
        kind: EventKind,
        purge_earlier: bool,
        frame: Bytes,
        seq_at: usize,
    ) -> Result<PendingEvent, FrameError> {
        if seq_at > frame.len() {
            return Err(FrameError::Invalid(format!("seq offset {seq_at} beyond a {} byte frame", frame.len())));
        }
        Ok(PendingEvent { did, kind, purge_earlier, frame, seq_at })
    }

    /// The frame without its `seq` entry.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// Where the `seq` entry goes.
    pub fn seq_at(&self) -> usize {
        self.seq_at
    }

    /// The complete frame with sequence number `seq`.
    pub fn sequence(&self, seq: i64) -> Bytes {
        sequence_frame(&self.frame, self.seq_at, seq)
    }
}

/// `frame` with `"seq": seq` inserted at `seq_at` (see [`PendingEvent`]).
/// `seq_at` past the end appends.
pub fn sequence_frame(frame: &[u8], seq_at: usize, seq: i64) -> Bytes {
    let at = seq_at.min(frame.len());
    let key = text("seq");
    // Encoding an integer cannot fail.
    let value = encode_ipld(&Ipld::Integer(i128::from(seq))).unwrap_or_default();
    let mut out = Vec::with_capacity(frame.len() + key.len() + value.len());
    out.extend_from_slice(&frame[..at]);
    out.extend_from_slice(&key);
    out.extend_from_slice(&value);
    out.extend_from_slice(&frame[at..]);
    Bytes::from(out)
}

fn header_and(header: Ipld, body: Ipld) -> Bytes {
    let mut out = encode_ipld(&header).unwrap_or_default();
    let _ = crate::data::cbor::encode_into(&body, &mut out);
    Bytes::from(out)
}

/// An error frame: `{op: -1}` + `{error, message}`.
pub fn error_frame(error: &str, message: &str) -> Bytes {
    let header = Ipld::Map([("op".to_owned(), Ipld::Integer(-1))].into());
    let body = Ipld::Map(
        [("error".to_owned(), Ipld::String(error.into())), ("message".to_owned(), Ipld::String(message.into()))].into(),
    );
    header_and(header, body)
}

/// An `#info` frame (not sequenced): `{name, message}`, e.g. `OutdatedCursor`.
pub fn info_frame(name: &str, message: &str) -> Bytes {
    let header =
        Ipld::Map([("op".to_owned(), Ipld::Integer(1)), ("t".to_owned(), Ipld::String("#info".into()))].into());
    let body = Ipld::Map(
        [("name".to_owned(), Ipld::String(name.into())), ("message".to_owned(), Ipld::String(message.into()))].into(),
    );
    header_and(header, body)
}
