//! Reading CARv1 as a stream, with limits and a hash check on every block.

use std::io::{ErrorKind, Read};

use cid::Cid;

use super::header::{check_cid, decode_header};
use super::{Block, CarError, CarLimits, varint};
use crate::data::cid::{DAG_CBOR, RAW, SHA2_256, cid_matches};

/// Length of every CID atproto uses in binary: version, codec, hash code and digest length
/// (one byte each) and a 32-byte sha2-256 digest.
const ATPROTO_CID_LEN: u64 = 36;

/// Largest buffer allocated up front for a block; longer blocks grow as their bytes arrive,
/// so a lying length prefix on a short input costs at most this much.
const INITIAL_BLOCK_CAPACITY: usize = 64 * 1024;

/// Reads a CARv1 stream block by block, within [`CarLimits`].
///
/// Every block's CID must be one atproto uses (CIDv1, `dag-cbor` or `raw`, sha2-256) and its
/// bytes must hash to it. Wrap unbuffered readers in a [`std::io::BufReader`]: length prefixes
/// are read a byte at a time. Blocks come back in file order; duplicates are passed through.
///
/// After an error the reader is finished: [`next_block`](Self::next_block) returns `Ok(None)`
/// and the iterator ends.
#[derive(Debug)]
pub struct CarReader<R: Read> {
    reader: R,
    limits: CarLimits,
    roots: Vec<Cid>,
    offset: u64,
    blocks: u64,
    done: bool,
}

impl<R: Read> CarReader<R> {
    /// Read and check the header. Any number of roots is accepted, none included; a repo
    /// import must itself require `roots()[0]` to be the commit.
    pub fn new(mut reader: R, limits: CarLimits) -> Result<Self, CarError> {
        let Some((len, prefix_len)) = varint::read(&mut reader, 0, "the header length")? else {
            return Err(CarError::Truncated { offset: 0, context: "the header length" });
        };
        if len == 0 || len > limits.max_header_size {
            return Err(CarError::HeaderSize { len, max: limits.max_header_size });
        }
        if prefix_len.saturating_add(len) > limits.max_total_size {
            return Err(CarError::TotalSizeExceeded { offset: 0, len, max: limits.max_total_size });
        }
        let bytes = read_bounded(&mut reader, len, prefix_len, "the header")?;
        let roots = decode_header(&bytes)?;
        Ok(CarReader { reader, limits, roots, offset: prefix_len + len, blocks: 0, done: false })
    }

    /// The header's root CIDs, in order.
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// Blocks returned so far.
    pub fn blocks_read(&self) -> u64 {
        self.blocks
    }

    /// The next block and its CID, verified; `Ok(None)` at the end of the file.
    pub fn next_block(&mut self) -> Result<Option<Block>, CarError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_block();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    /// Hand back the underlying reader, positioned after the last section read.
    pub fn into_inner(self) -> R {
        self.reader
    }

    fn read_block(&mut self) -> Result<Option<Block>, CarError> {
        let start = self.offset;
        let Some((len, prefix_len)) = varint::read(&mut self.reader, start, "a block length")? else {
            return Ok(None);
        };
        if self.blocks >= self.limits.max_blocks {
            return Err(CarError::TooManyBlocks { max: self.limits.max_blocks });
        }
        let max_section = self.limits.max_block_size.saturating_add(ATPROTO_CID_LEN);
        if len > max_section {
            return Err(CarError::BlockTooLarge { offset: start, len, max: self.limits.max_block_size });
        }
        let end = start.saturating_add(prefix_len).saturating_add(len);
        if end > self.limits.max_total_size {
            return Err(CarError::TotalSizeExceeded { offset: start, len, max: self.limits.max_total_size });
        }
        let cid_offset = start + prefix_len;
        if len < ATPROTO_CID_LEN {
            return Err(CarError::UnsupportedCid {
                offset: cid_offset,
                reason: format!("section of {len} bytes is shorter than an atproto CID"),
            });
        }
        let cid = self.read_cid(cid_offset)?;
        let data_offset = cid_offset + ATPROTO_CID_LEN;
        let data = read_bounded(&mut self.reader, len - ATPROTO_CID_LEN, data_offset, "block data")?;
        if !cid_matches(&cid, &data) {
            return Err(CarError::HashMismatch { offset: start, cid });
        }
        self.offset = end;
        self.blocks += 1;
        Ok(Some((cid, data)))
    }

    /// Read a 36-byte atproto CID, naming what is wrong with anything else.
    fn read_cid(&mut self, offset: u64) -> Result<Cid, CarError> {
        let mut buf = [0u8; ATPROTO_CID_LEN as usize];
        read_exact(&mut self.reader, &mut buf, offset, "a block CID")?;
        let unsupported = |reason: String| CarError::UnsupportedCid { offset, reason };
        match buf {
            [0x12, 0x20, ..] => return Err(unsupported("CIDv0 is not allowed".into())),
            [version, ..] if version != 1 => return Err(unsupported(format!("CID version byte 0x{version:02x}"))),
            [_, codec, ..] if u64::from(codec) != DAG_CBOR && u64::from(codec) != RAW => {
                return Err(unsupported(format!("codec byte 0x{codec:02x} is neither dag-cbor nor raw")));
            }
            [_, _, hash, size, ..] if u64::from(hash) != SHA2_256 || size != 32 => {
                return Err(unsupported(format!("multihash 0x{hash:02x} of {size} bytes is not sha2-256")));
            }
            _ => {}
        }
        let cid = Cid::read_bytes(&buf[..]).map_err(|e| unsupported(e.to_string()))?;
        check_cid(&cid, offset)?;
        Ok(cid)
    }
}

impl<R: Read> Iterator for CarReader<R> {
    type Item = Result<Block, CarError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_block().transpose()
    }
}

impl<R: Read> std::iter::FusedIterator for CarReader<R> {}

/// Read exactly `len` bytes (already checked against a limit) without trusting `len` for the
/// allocation: start at most [`INITIAL_BLOCK_CAPACITY`] and double as bytes actually arrive.
fn read_bounded<R: Read>(reader: &mut R, len: u64, offset: u64, context: &'static str) -> Result<Vec<u8>, CarError> {
    let too_big = || CarError::Truncated { offset, context };
    let len = usize::try_from(len).map_err(|_| too_big())?;
    let mut buf = Vec::with_capacity(len.min(INITIAL_BLOCK_CAPACITY));
    while buf.len() < len {
        let filled = buf.len();
        let step = (len - filled).min(filled.max(INITIAL_BLOCK_CAPACITY));
        buf.reserve_exact(step);
        buf.resize(filled + step, 0);
        read_exact(reader, &mut buf[filled..], offset + filled as u64, context)?;
    }
    Ok(buf)
}

fn read_exact<R: Read>(reader: &mut R, buf: &mut [u8], offset: u64, context: &'static str) -> Result<(), CarError> {
    reader.read_exact(buf).map_err(|source| match source.kind() {
        ErrorKind::UnexpectedEof => CarError::Truncated { offset, context },
        _ => CarError::Io { offset, source },
    })
}
