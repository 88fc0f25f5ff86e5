//! CARv1 files (specs/repository.md, "CAR File Serialization"; ipld.io CARv1, DASL CAR).
//!
//! A CAR is a varint-prefixed DAG-CBOR header `{roots: [CID...], version: 1}` followed by
//! sections, each a varint length, a binary CID and the block bytes.
//!
//! - Writing: [`CarWriter`] over any `std::io::Write`, or [`encode_header`] and
//!   [`encode_block_into`] to build chunks for an async stream.
//! - Reading: [`CarReader`] streams blocks from any `std::io::Read` within [`CarLimits`];
//!   [`read_car`] reads a whole in-memory file.
//!
//! Tricky bits:
//! - Untrusted lengths are checked against the limits before anything is allocated, and a
//!   block buffer grows only as its bytes arrive (at most 64 KiB ahead).
//! - Every block is hashed and compared with its CID; only atproto CIDs are accepted for
//!   blocks and roots (CIDv1, `dag-cbor` or `raw`, sha2-256), so a block CID is always 36 bytes.
//! - Varints follow multiformats `unsigned-varint`: minimal and at most 9 bytes.
//! - Block order is not checked, and duplicates and unreferenced blocks are passed through
//!   (the spec requires tolerance); completeness is the repo layer's concern.
//! - The header must be canonical DAG-CBOR; roots may be empty here (a repo import checks
//!   that the first root is the commit).

mod error;
mod header;
mod limits;
mod reader;
mod varint;
mod writer;

pub use error::CarError;
pub use header::encode_header;
pub use limits::CarLimits;
pub use reader::CarReader;
pub use writer::{CarWriter, encode_block_into};

use cid::Cid;

/// One block: its CID and its bytes.
pub type Block = (Cid, Vec<u8>);

/// Read a whole CAR held in memory: its roots and its blocks in file order, every block verified.
pub fn read_car(bytes: &[u8], limits: CarLimits) -> Result<(Vec<Cid>, Vec<Block>), CarError> {
    let mut reader = CarReader::new(bytes, limits)?;
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_block()? {
        blocks.push(block);
    }
    Ok((reader.roots().to_vec(), blocks))
}
