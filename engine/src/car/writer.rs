//! Writing CARv1: a header, then one section per block.

use std::io::Write;

use cid::Cid;

use super::{CarError, encode_header, varint};
use crate::data::cid::with_cid_bytes;

/// Append one block section (varint length, binary CID, data) to `out`.
///
/// The CID is trusted to match `bytes`; nothing is hashed.
pub fn encode_block_into(out: &mut Vec<u8>, cid: &Cid, bytes: &[u8]) {
    let cid_len = cid.encoded_len();
    let mut prefix = [0u8; varint::BUF_LEN];
    let n = varint::encode((cid_len + bytes.len()) as u64, &mut prefix);
    out.reserve(n + cid_len + bytes.len());
    out.extend_from_slice(&prefix[..n]);
    with_cid_bytes(cid, |cid_bytes| out.extend_from_slice(cid_bytes));
    out.extend_from_slice(bytes);
}

/// Streams a CARv1 file into any [`Write`]. Wrap unbuffered writers (files, sockets) in a
/// [`std::io::BufWriter`]: each block is three small writes.
#[derive(Debug)]
pub struct CarWriter<W: Write> {
    writer: W,
    written: u64,
}

impl<W: Write> CarWriter<W> {
    /// Start a CAR with the given roots (for a repo export, the commit CID first); writes the header.
    pub fn new(writer: W, roots: &[Cid]) -> Result<Self, CarError> {
        let mut car = CarWriter { writer, written: 0 };
        car.put(&encode_header(roots))?;
        Ok(car)
    }

    /// Write one block. The CID is trusted to match `bytes`; nothing is hashed.
    pub fn write_block(&mut self, cid: &Cid, bytes: &[u8]) -> Result<(), CarError> {
        let cid_len = cid.encoded_len();
        let mut prefix = [0u8; varint::BUF_LEN];
        let n = varint::encode((cid_len + bytes.len()) as u64, &mut prefix);
        self.put(&prefix[..n])?;
        with_cid_bytes(cid, |cid_bytes| self.put(cid_bytes))?;
        self.put(bytes)
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flush and hand back the writer.
    pub fn finish(mut self) -> Result<W, CarError> {
        self.writer.flush().map_err(|source| CarError::Io { offset: self.written, source })?;
        Ok(self.writer)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CarError> {
        self.writer.write_all(bytes).map_err(|source| CarError::Io { offset: self.written, source })?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}
