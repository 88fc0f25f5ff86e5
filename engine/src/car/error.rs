//! Why a CAR file could not be read or written.

use cid::Cid;

/// A CAR file that could not be read or written. Offsets are byte positions in the stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CarError {
    /// Reading from or writing to the underlying stream failed.
    #[error("CAR I/O error at byte {offset}: {source}")]
    Io {
        /// Stream position of the failed operation.
        offset: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input ended inside the header or a block.
    #[error("CAR truncated at byte {offset}: input ended inside {context}")]
    Truncated {
        /// Stream position where more bytes were expected.
        offset: u64,
        /// What was being read.
        context: &'static str,
    },
    /// A length varint of more than 9 bytes (63 bits), the multiformats maximum.
    #[error("CAR varint at byte {offset} is longer than 9 bytes")]
    VarintOverflow {
        /// Stream position of the varint.
        offset: u64,
    },
    /// A length varint with redundant trailing zero groups (multiformats varints are minimal).
    #[error("CAR varint at byte {offset} is not minimally encoded")]
    VarintNotMinimal {
        /// Stream position of the varint.
        offset: u64,
    },
    /// The header's declared length is zero or above [`CarLimits::max_header_size`](super::CarLimits).
    #[error("CAR header length {len} is not within 1..={max}")]
    HeaderSize {
        /// The declared length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The header is not a DAG-CBOR map with `version` and a `roots` list of CIDs.
    #[error("invalid CAR header: {reason}")]
    InvalidHeader {
        /// What was wrong.
        reason: String,
    },
    /// The header's version is not 1 (CARv2 files start with a `{version: 2}` pragma).
    #[error("unsupported CAR version {version} (only CARv1 is supported)")]
    UnsupportedVersion {
        /// The version found, as written.
        version: String,
    },
    /// A block section longer than [`CarLimits::max_block_size`](super::CarLimits) plus its CID.
    #[error("CAR block at byte {offset} is {len} bytes, over the limit of {max}")]
    BlockTooLarge {
        /// Stream position of the section.
        offset: u64,
        /// The declared section length (CID and data).
        len: u64,
        /// The block-size limit.
        max: u64,
    },
    /// Reading the next section would pass [`CarLimits::max_total_size`](super::CarLimits).
    #[error("CAR section at byte {offset} of {len} bytes passes the total size limit of {max}")]
    TotalSizeExceeded {
        /// Stream position of the section.
        offset: u64,
        /// The declared section length.
        len: u64,
        /// The total-size limit.
        max: u64,
    },
    /// More blocks than [`CarLimits::max_blocks`](super::CarLimits).
    #[error("CAR has more than {max} blocks")]
    TooManyBlocks {
        /// The block-count limit.
        max: u64,
    },
    /// A block or root CID that is not one atproto uses (CIDv1, `dag-cbor` or `raw`, sha2-256).
    #[error("unsupported CID at byte {offset}: {reason}")]
    UnsupportedCid {
        /// Stream position of the CID (0 for a root in the header).
        offset: u64,
        /// What was wrong with it.
        reason: String,
    },
    /// A block whose bytes do not hash to its CID.
    #[error("CAR block {cid} at byte {offset}: bytes do not match the CID")]
    HashMismatch {
        /// Stream position of the section.
        offset: u64,
        /// The CID the block claimed.
        cid: Cid,
    },
}
