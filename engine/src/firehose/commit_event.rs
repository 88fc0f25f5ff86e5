//! A `#commit` body read back into typed fields (for consumers and tests).

use cid::Cid;
use ipld_core::ipld::Ipld;

use super::FrameError;
use crate::repo::{RepoOp, WriteAction};

/// The fields of a `#commit` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitEvent {
    /// `seq`.
    pub seq: i64,
    /// `repo` (a DID).
    pub repo: String,
    /// `commit`.
    pub commit: Cid,
    /// `rev`.
    pub rev: String,
    /// `since` (`None` when null).
    pub since: Option<String>,
    /// `prevData` (`None` when absent).
    pub prev_data: Option<Cid>,
    /// `blocks`: the CAR slice.
    pub blocks: Vec<u8>,
    /// `ops`.
    pub ops: Vec<RepoOp>,
    /// `time`.
    pub time: String,
    /// `tooBig`.
    pub too_big: bool,
    /// `rebase`.
    pub rebase: bool,
    /// `blobs` (`None` when absent or null).
    pub blobs: Option<Vec<Cid>>,
}

fn invalid(what: &str) -> FrameError {
    FrameError::Invalid(format!("#commit: {what}"))
}

fn string(map: &std::collections::BTreeMap<String, Ipld>, key: &str) -> Result<String, FrameError> {
    match map.get(key) {
        Some(Ipld::String(s)) => Ok(s.clone()),
        _ => Err(invalid(&format!("{key} is not a string"))),
    }
}

fn link(value: Option<&Ipld>, key: &str) -> Result<Option<Cid>, FrameError> {
    match value {
        Some(Ipld::Link(cid)) => Ok(Some(*cid)),
        None | Some(Ipld::Null) => Ok(None),
        _ => Err(invalid(&format!("{key} is not a link"))),
    }
}

fn boolean(map: &std::collections::BTreeMap<String, Ipld>, key: &str) -> Result<bool, FrameError> {
    match map.get(key) {
        Some(Ipld::Bool(b)) => Ok(*b),
        _ => Err(invalid(&format!("{key} is not a boolean"))),
    }
}

impl CommitEvent {
    /// Read a decoded `#commit` body; every field the lexicon requires must be there.
    pub fn from_body(body: &Ipld) -> Result<CommitEvent, FrameError> {
        let Ipld::Map(map) = body else { return Err(invalid("body is not a map")) };
        let seq = match map.get("seq") {
            Some(Ipld::Integer(n)) => i64::try_from(*n).map_err(|_| invalid("seq out of range"))?,
            _ => return Err(invalid("seq is not an integer")),
        };
        let since = match map.get("since") {
            Some(Ipld::String(s)) => Some(s.clone()),
            Some(Ipld::Null) => None,
            _ => return Err(invalid("since is neither a string nor null")),
        };
        let blocks = match map.get("blocks") {
            Some(Ipld::Bytes(b)) => b.clone(),
            _ => return Err(invalid("blocks is not bytes")),
        };
        let Some(Ipld::List(raw_ops)) = map.get("ops") else { return Err(invalid("ops is not a list")) };
        let mut ops = Vec::with_capacity(raw_ops.len());
        for op in raw_ops {
            let Ipld::Map(op) = op else { return Err(invalid("op is not a map")) };
            let action = match string(op, "action")?.as_str() {
                "create" => WriteAction::Create,
                "update" => WriteAction::Update,
                "delete" => WriteAction::Delete,
                other => return Err(invalid(&format!("unknown action {other:?}"))),
            };
            if !op.contains_key("cid") {
                return Err(invalid("op has no cid"));
            }
            ops.push(RepoOp {
                action,
                path: string(op, "path")?,
                cid: link(op.get("cid"), "cid")?,
                prev: link(op.get("prev"), "prev")?,
            });
        }
        let blobs =
            match map.get("blobs") {
                Some(Ipld::List(list)) => Some(
                    list.iter()
                        .map(|b| link(Some(b), "blob")?.ok_or_else(|| invalid("null blob")))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None | Some(Ipld::Null) => None,
                _ => return Err(invalid("blobs is not a list")),
            };
        Ok(CommitEvent {
            seq,
            repo: string(map, "repo")?,
            commit: link(map.get("commit"), "commit")?.ok_or_else(|| invalid("no commit"))?,
            rev: string(map, "rev")?,
            since,
            prev_data: link(map.get("prevData"), "prevData")?,
            blocks,
            ops,
            time: string(map, "time")?,
            too_big: boolean(map, "tooBig")?,
            rebase: boolean(map, "rebase")?,
            blobs,
        })
    }
}
