//! Hostile bytes into the streaming CAR reader (`engine::car::CarReader`), with small limits.
//!
//! Reading must never panic. Every block it yields must hash to its CID. The part read
//! without error (header and whole sections) must survive a round trip: written again with
//! `CarWriter`, it reads back to the same roots and blocks, and since the reader only accepts
//! canonical sections (minimal varints, 36-byte CIDs) the sections are byte-identical to the
//! input; the header is too unless it carried keys besides `roots` and `version`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use primal_pds_engine::Ipld;
use primal_pds_engine::car::{CarLimits, CarReader, CarWriter, encode_header, read_car};
use primal_pds_engine::data::cbor::decode_ipld;
use primal_pds_engine::data::cid::cid_matches;
use primal_pds_fuzz::SMALL_CAR_LIMITS;

const LIMITS: CarLimits = SMALL_CAR_LIMITS;

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut reader) = CarReader::new(bytes, LIMITS) else {
        return;
    };
    let roots = reader.roots().to_vec();
    let mut blocks = Vec::new();
    let complete = loop {
        match reader.next_block() {
            Ok(Some((cid, data))) => {
                assert!(cid_matches(&cid, &data), "block {cid} does not hash to its CID");
                assert!(data.len() as u64 <= LIMITS.max_block_size);
                blocks.push((cid, data));
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    assert!(matches!(reader.next_block(), Ok(None)), "the reader must stay finished");
    assert_eq!(reader.blocks_read(), blocks.len() as u64);
    assert!(blocks.len() as u64 <= LIMITS.max_blocks);
    let consumed = usize::try_from(reader.bytes_read()).expect("bounded by the input length");
    assert!(consumed <= bytes.len());
    if complete {
        assert_eq!(consumed, bytes.len(), "a clean end must consume the whole input");
        match read_car(bytes, LIMITS) {
            Ok((all_roots, all_blocks)) => {
                assert_eq!(all_roots, roots);
                assert_eq!(all_blocks, blocks);
            }
            Err(err) => panic!("read_car fails where the stream reader succeeded: {err}"),
        }
    } else {
        assert!(read_car(bytes, LIMITS).is_err(), "read_car succeeds where the stream reader failed");
    }

    let mut writer = CarWriter::new(Vec::new(), &roots).unwrap_or_else(|err| panic!("cannot start a CAR: {err}"));
    for (cid, data) in &blocks {
        writer.write_block(cid, data).unwrap_or_else(|err| panic!("cannot write block {cid}: {err}"));
    }
    let written = writer.finish().unwrap_or_else(|err| panic!("cannot finish the CAR: {err}"));
    match read_car(&written, LIMITS) {
        Ok((again_roots, again_blocks)) => {
            assert_eq!(again_roots, roots, "roots differ after a write and read");
            assert_eq!(again_blocks, blocks, "blocks differ after a write and read");
        }
        Err(err) => panic!("our own CAR does not read back: {err}"),
    }

    let header = encode_header(&roots);
    let sections = &written[header.len()..];
    let read = &bytes[..consumed];
    assert!(read.ends_with(sections), "the sections are not written back byte for byte");
    let input_header = &read[..read.len() - sections.len()];
    if input_header != header.as_slice() {
        // Only a header with extra keys (which the reader ignores) may be re-encoded differently.
        let body = strip_varint(input_header);
        match decode_ipld(body) {
            Ok(Ipld::Map(map)) => assert!(map.len() > 2, "a plain header is not written back as it was"),
            other => panic!("accepted header is not a canonical map: {other:?}"),
        }
    }
});

/// The bytes after a leading unsigned varint.
fn strip_varint(bytes: &[u8]) -> &[u8] {
    let len = bytes.iter().position(|b| b & 0x80 == 0).map_or(bytes.len(), |i| i + 1);
    &bytes[len..]
}
