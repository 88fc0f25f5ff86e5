//! Resource limits for reading an untrusted CAR file.

/// Limits the [`CarReader`](super::CarReader) enforces while reading, each checked against
/// the declared length *before* any memory is allocated for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarLimits {
    /// Largest block data (excluding its CID), in bytes.
    pub max_block_size: u64,
    /// Largest whole file (header, length prefixes, CIDs and data), in bytes.
    pub max_total_size: u64,
    /// Most blocks in the file.
    pub max_blocks: u64,
    /// Largest encoded header (after its length prefix), in bytes.
    pub max_header_size: u64,
}

impl Default for CarLimits {
    /// Generous limits for a whole-repo import; tighten them per use (a firehose commit, for
    /// example, is a few hundred KiB at most).
    ///
    /// - `max_block_size`: 5 MiB, the largest CBOR object atproto allows in any context
    ///   (indigo `MAX_CBOR_SIZE`); records are limited to 1 MiB.
    /// - `max_total_size`: 1 GiB.
    /// - `max_blocks`: 10 million (a 1 GiB CAR of the smallest possible blocks has ~25 million).
    /// - `max_header_size`: 64 KiB (a one-root header is 58 bytes).
    fn default() -> Self {
        CarLimits {
            max_block_size: 5 * 1024 * 1024,
            max_total_size: 1024 * 1024 * 1024,
            max_blocks: 10_000_000,
            max_header_size: 64 * 1024,
        }
    }
}
