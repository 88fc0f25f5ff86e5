//! Firehose frames (`com.atproto.sync.subscribeRepos`, specs/event-stream.md
//! and sync.md): DAG-CBOR header `{op, t}` followed by the DAG-CBOR body.
//!
//! Events are built at write time, before they have a sequence number: a
//! [`PendingEvent`] holds the whole frame *without* the body's `seq` entry
//! and the byte offset where that entry goes (its place in canonical key
//! order, the map header already counting it). The sequencer later splices
//! `"seq": N` in with [`PendingEvent::sequence`] / [`sequence_frame`]: no
//! re-encoding, and every subscriber is sent the same bytes.

mod commit_event;
mod decode;
mod event;

pub use commit_event::CommitEvent;
pub use decode::{FrameHeader, decode_frame};
pub use event::{EventKind, PendingEvent, error_frame, info_frame, sequence_frame};

/// Largest frame sent (the 5 MB hard limit of sync.md).
pub const MAX_FRAME_BYTES: usize = 5_000_000;

/// Why a frame could not be built or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame would be larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {size} bytes exceeds the {max} byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a header and a body of canonical DAG-CBOR.
    #[error("invalid frame: {0}")]
    Invalid(String),
}
