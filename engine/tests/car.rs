//! CARv1 reading and writing: the atproto CAR fixture, every real indigo CAR, tampered and
//! truncated input, limits (with an allocation probe), and round-trip / no-panic properties.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use multihash::Multihash;
use primal_pds_engine::Cid;
use primal_pds_engine::car::{
    Block, CarError, CarLimits, CarReader, CarWriter, encode_block_into, encode_header, read_car,
};
use primal_pds_engine::data::cid::{cid_for_dag_cbor, cid_for_raw};
use proptest::prelude::*;
use serde_json::Value;

// ---- an allocation probe: the largest single allocation made by the current thread ----

struct ProbeAllocator;

thread_local! {
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    let _ = LARGEST_ALLOCATION.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: forwards to the system allocator unchanged; only records sizes in a const-initialized
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for ProbeAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: ProbeAllocator = ProbeAllocator;

/// Run `f` and return its result with the largest allocation it made on this thread.
fn largest_allocation_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOCATION.with(|largest| largest.set(0));
    let result = f();
    (result, LARGEST_ALLOCATION.with(Cell::get))
}

// ---- helpers ----

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn interop(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/interop").join(path)
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(interop(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

struct Fixture {
    root: Cid,
    blocks: Vec<(Cid, Vec<u8>)>,
    car: Vec<u8>,
}

fn car_fixtures() -> Vec<Fixture> {
    let json = read_json("extra/atproto-repo-tests/car-file-fixtures.json");
    let cid = |v: &Value| -> Cid { v.as_str().expect("CID string").parse().expect("fixture CID") };
    let b64 = |v: &Value| BASE64.decode(v.as_str().expect("base64 string")).expect("fixture base64");
    json.as_array()
        .expect("fixture list")
        .iter()
        .map(|f| Fixture {
            root: cid(&f["root"]),
            blocks: f["blocks"]
                .as_array()
                .expect("blocks")
                .iter()
                .map(|b| (cid(&b["cid"]), b64(&b["bytes"])))
                .collect(),
            car: b64(&f["car"]),
        })
        .collect()
}

fn write_car(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    let mut writer = CarWriter::new(Vec::new(), roots).expect("header");
    for (cid, bytes) in blocks {
        writer.write_block(cid, bytes).expect("block");
    }
    writer.finish().expect("finish")
}

fn write_car_in_chunks(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    let mut out = encode_header(roots);
    for (cid, bytes) in blocks {
        encode_block_into(&mut out, cid, bytes);
    }
    out
}

/// A reader that hands out one byte per call, to exercise every partial-read path.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((byte, rest)), Some(slot)) => {
                *slot = *byte;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

fn read_streamed<R: Read>(reader: R) -> Result<(Vec<Cid>, Vec<Block>), CarError> {
    let reader = CarReader::new(reader, CarLimits::default())?;
    let roots = reader.roots().to_vec();
    let blocks = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((roots, blocks))
}

/// Offsets where each section (header, then each block) ends.
fn section_ends(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<usize> {
    let mut out = encode_header(roots);
    let mut ends = vec![out.len()];
    for (cid, bytes) in blocks {
        encode_block_into(&mut out, cid, bytes);
        ends.push(out.len());
    }
    ends
}

/// An unsigned LEB128 varint, written independently of the library.
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

// ---- the atproto fixture ----

#[test]
fn fixture_writes_exactly() {
    let fixtures = car_fixtures();
    assert!(!fixtures.is_empty());
    let mut failures = Vec::new();
    for (i, f) in fixtures.iter().enumerate() {
        if write_car(&[f.root], &f.blocks) != f.car {
            failures.push(format!("fixture {i}: CarWriter output differs"));
        }
        if write_car_in_chunks(&[f.root], &f.blocks) != f.car {
            failures.push(format!("fixture {i}: encode_header + encode_block_into output differs"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn fixture_reads_exactly() {
    let fixtures = car_fixtures();
    let mut failures = Vec::new();
    for (i, f) in fixtures.iter().enumerate() {
        for (how, result) in
            [("read_car", read_car(&f.car, CarLimits::default())), ("trickle", read_streamed(Trickle(&f.car)))]
        {
            match result {
                Ok((roots, blocks)) => {
                    if roots != [f.root] {
                        failures.push(format!("fixture {i} ({how}): roots {roots:?}"));
                    }
                    if blocks != f.blocks {
                        failures.push(format!("fixture {i} ({how}): blocks differ"));
                    }
                }
                Err(e) => failures.push(format!("fixture {i} ({how}): {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---- real CARs ----

#[test]
fn every_indigo_car_parses_and_verifies() {
    let expectations = read_json("extra/indigo-repo-cars/expectations.json");
    let cars = expectations["cars"].as_array().expect("cars list");
    let dir = interop("extra/indigo-repo-cars");
    // Every CAR in the folder must have an expectation, so none is silently skipped.
    for entry in std::fs::read_dir(&dir).expect("folder") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".car") || name == "divy.repo" {
            assert!(cars.iter().any(|c| c["file"] == name.as_str()), "{name} has no expectation");
        }
    }
    let mut failures = Vec::new();
    for car in cars {
        let file = car["file"].as_str().expect("file");
        let bytes = std::fs::read(dir.join(file)).expect("CAR file");
        let check = || -> Result<(), String> {
            let (roots, blocks) = read_car(&bytes, CarLimits::default()).map_err(|e| e.to_string())?;
            let want_root: Cid = car["root"].as_str().ok_or("root")?.parse().map_err(|e| format!("{e}"))?;
            if roots != [want_root] {
                return Err(format!("roots {roots:?}"));
            }
            if Some(blocks.len() as u64) != car["blockCount"].as_u64() {
                return Err(format!("{} blocks, want {}", blocks.len(), car["blockCount"]));
            }
            if !blocks.iter().any(|(cid, _)| *cid == want_root) {
                return Err("the root block is missing".into());
            }
            if read_streamed(Trickle(&bytes)).map_err(|e| format!("trickle: {e}"))? != (roots.clone(), blocks.clone()) {
                return Err("streamed one byte at a time gives different blocks".into());
            }
            if write_car(&roots, &blocks) != bytes {
                return Err("rewriting the blocks does not give the same file".into());
            }
            Ok(())
        };
        if let Err(e) = check() {
            failures.push(format!("{file}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} CARs failed:\n{}", failures.len(), cars.len(), failures.join("\n"));
}

// ---- damaged input ----

#[test]
fn flipping_a_block_byte_names_the_block() {
    for f in car_fixtures() {
        let ends = section_ends(&[f.root], &f.blocks);
        for (i, (cid, _)) in f.blocks.iter().enumerate() {
            let mut car = f.car.clone();
            let last_data_byte = ends[i + 1] - 1;
            car[last_data_byte] ^= 0x01;
            match read_car(&car, CarLimits::default()) {
                Err(CarError::HashMismatch { cid: named, .. }) => assert_eq!(named, *cid),
                other => panic!("block {i}: expected a hash mismatch, got {other:?}"),
            }
            // The streaming reader hands out the blocks before the damaged one, then fails.
            let mut reader = CarReader::new(&car[..], CarLimits::default()).expect("header intact");
            for (want, _) in &f.blocks[..i] {
                assert_eq!(reader.next_block().expect("intact block").map(|b| b.0), Some(*want));
            }
            assert!(matches!(reader.next_block(), Err(CarError::HashMismatch { .. })));
            assert!(matches!(reader.next_block(), Ok(None)), "finished after an error");
        }
    }
}

#[test]
fn truncating_anywhere_fails_except_at_section_ends() {
    for f in car_fixtures() {
        let ends = section_ends(&[f.root], &f.blocks);
        for cut in 0..f.car.len() {
            let result = read_car(&f.car[..cut], CarLimits::default());
            match ends.iter().position(|&end| end == cut) {
                // A cut right after a section is a valid, shorter CAR.
                Some(sections) => {
                    let (_, blocks) = result.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
                    assert_eq!(blocks, f.blocks[..sections], "cut at {cut}");
                }
                None => assert!(
                    matches!(result, Err(CarError::Truncated { .. } | CarError::HeaderSize { .. })),
                    "cut at {cut}: {result:?}"
                ),
            }
        }
    }
}

#[test]
fn flipping_any_byte_never_panics_nor_yields_unverified_blocks() {
    for f in car_fixtures() {
        for at in 0..f.car.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut car = f.car.clone();
                car[at] ^= mask;
                if let Ok((_, blocks)) = read_car(&car, CarLimits::default()) {
                    for (cid, bytes) in blocks {
                        assert!(primal_pds_engine::data::cid::cid_matches(&cid, &bytes), "byte {at}");
                    }
                }
            }
        }
    }
}

#[test]
fn unsupported_cids_are_refused() {
    let data = b"\xa0".to_vec();
    let sha256 = *cid_for_dag_cbor(&data).hash();
    let sha512 = Multihash::<64>::wrap(0x13, &[7u8; 64]).expect("64-byte digest");
    let truncated_sha256 = Multihash::<64>::wrap(0x12, &[7u8; 20]).expect("20-byte digest");
    let cases = [
        ("CIDv0", Cid::new_v0(sha256).expect("v0")),
        ("dag-pb codec", Cid::new_v1(0x70, sha256)),
        ("dag-json codec", Cid::new_v1(0x0129, sha256)),
        ("sha2-512", Cid::new_v1(0x71, sha512)),
        ("short digest", Cid::new_v1(0x71, truncated_sha256)),
    ];
    let good = cid_for_dag_cbor(&data);
    for (what, cid) in cases {
        let car = write_car(&[good], &[(cid, data.clone())]);
        let result = read_car(&car, CarLimits::default());
        assert!(matches!(result, Err(CarError::UnsupportedCid { .. })), "{what}: {result:?}");
        let car = write_car(&[cid], &[]);
        let result = read_car(&car, CarLimits::default());
        assert!(matches!(result, Err(CarError::UnsupportedCid { .. })), "{what} as a root: {result:?}");
    }
    // A raw-codec block is fine.
    let raw = cid_for_raw(b"blob bytes");
    let car = write_car(&[raw], &[(raw, b"blob bytes".to_vec())]);
    assert_eq!(read_car(&car, CarLimits::default()).expect("raw block").1.len(), 1);
}

#[test]
fn bad_headers_are_refused() {
    let header = |cbor: &[u8]| {
        let mut out = vec![cbor.len() as u8];
        out.extend_from_slice(cbor);
        out
    };
    let cid = cid_for_dag_cbor(b"\xa0");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty input", vec![]),
        ("zero-length header", vec![0]),
        // {version: 2}: the CARv2 pragma.
        ("CARv2 pragma", header(&[0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x02])),
        // {roots: [], version: 1} with keys in the wrong order.
        (
            "unsorted keys",
            header(&[
                0xa2, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x01, 0x65, b'r', b'o', b'o', b't', b's', 0x80,
            ]),
        ),
        ("no roots", header(&[0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x01])),
        (
            "roots not a list",
            header(&[
                0xa2, 0x65, b'r', b'o', b'o', b't', b's', 0xf6, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x01,
            ]),
        ),
        (
            "root not a CID",
            header(&[
                0xa2, 0x65, b'r', b'o', b'o', b't', b's', 0x81, 0x01, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n',
                0x01,
            ]),
        ),
        ("not a map", header(&[0x80])),
        ("non-minimal header length", [vec![0x80 | 1, 0x00], encode_header(&[cid])[1..].to_vec()].concat()),
    ];
    for (what, bytes) in cases {
        assert!(read_car(&bytes, CarLimits::default()).is_err(), "{what} accepted");
    }
    // Zero roots is a valid CAR (the repo layer decides whether a root is required).
    assert_eq!(read_car(&encode_header(&[]), CarLimits::default()).expect("no roots").0, vec![]);
}

// ---- limits ----

#[test]
fn limits_are_enforced() {
    let f = &car_fixtures()[0];
    let largest = f.blocks.iter().map(|(_, b)| b.len() as u64).max().expect("blocks");
    let strict = |change: fn(&mut CarLimits, u64)| {
        let mut limits = CarLimits::default();
        change(&mut limits, largest);
        read_car(&f.car, limits)
    };
    assert!(matches!(strict(|l, big| l.max_block_size = big - 1), Err(CarError::BlockTooLarge { .. })));
    assert!(strict(|l, big| l.max_block_size = big).is_ok());
    let blocks = f.blocks.len() as u64;
    let total = f.car.len() as u64;
    let mut limits = CarLimits { max_blocks: blocks - 1, ..CarLimits::default() };
    assert!(matches!(read_car(&f.car, limits), Err(CarError::TooManyBlocks { .. })));
    limits.max_blocks = blocks;
    assert!(read_car(&f.car, limits).is_ok());
    let mut limits = CarLimits { max_total_size: total - 1, ..CarLimits::default() };
    assert!(matches!(read_car(&f.car, limits), Err(CarError::TotalSizeExceeded { .. })));
    limits.max_total_size = total;
    assert!(read_car(&f.car, limits).is_ok());
    let header_len = (encode_header(&[f.root]).len() - 1) as u64;
    let limits = CarLimits { max_header_size: header_len - 1, ..CarLimits::default() };
    assert!(matches!(read_car(&f.car, limits), Err(CarError::HeaderSize { .. })));
}

#[test]
fn huge_declared_lengths_fail_before_allocating() {
    // The probe sees allocations (so the bounds below are not vacuous).
    let (buffer, largest) = largest_allocation_during(|| vec![1u8; 1 << 20]);
    assert!(largest >= 1 << 20 && buffer.len() == 1 << 20);

    let root = cid_for_dag_cbor(b"\xa0");
    // A block section claiming 2^62 bytes: refused by the block limit at once.
    let mut car = encode_header(&[root]);
    car.extend_from_slice(&varint(1 << 62));
    let (result, largest) = largest_allocation_during(|| read_car(&car, CarLimits::default()));
    assert!(matches!(result, Err(CarError::BlockTooLarge { .. })), "{result:?}");
    assert!(largest < 1 << 20, "allocated {largest} bytes");

    // A section within a generous limit (1 GiB) but cut short: the buffer grows only as bytes
    // arrive, so the failure costs kilobytes, not the declared gigabyte.
    let limits = CarLimits { max_block_size: 1 << 30, max_total_size: 1 << 31, ..CarLimits::default() };
    let mut car = encode_header(&[root]);
    let mut section = Vec::new();
    encode_block_into(&mut section, &root, &[0u8; 1000]);
    car.extend_from_slice(&varint((1 << 30) + 36));
    car.extend_from_slice(&section[2..]); // the CID and 1000 bytes, then the input ends
    let (result, largest) = largest_allocation_during(|| read_car(&car, limits));
    assert!(matches!(result, Err(CarError::Truncated { .. })), "{result:?}");
    assert!(largest <= 256 * 1024, "allocated {largest} bytes");

    // Same for the header length.
    let car = varint(1 << 30);
    let limits = CarLimits { max_header_size: 1 << 31, max_total_size: 1 << 32, ..CarLimits::default() };
    let (result, largest) = largest_allocation_during(|| read_car(&car, limits));
    assert!(matches!(result, Err(CarError::Truncated { .. })), "{result:?}");
    assert!(largest <= 256 * 1024, "allocated {largest} bytes");
}

#[test]
fn large_blocks_read_correctly() {
    // Past the 64 KiB first step, the buffer doubles; the bytes must still come out intact.
    for len in [0usize, 1, 65_535, 65_536, 65_537, 300_000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let cid = cid_for_raw(&data);
        let car = write_car(&[cid], &[(cid, data.clone())]);
        let (_, blocks) = read_car(&car, CarLimits::default()).expect("reads");
        assert_eq!(blocks, vec![(cid, data)], "len {len}");
    }
}

// ---- properties ----

fn arb_blocks() -> impl Strategy<Value = Vec<(Cid, Vec<u8>)>> {
    proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), any::<bool>()), 0..12).prop_map(
        |blocks| {
            blocks
                .into_iter()
                .map(|(bytes, raw)| (if raw { cid_for_raw(&bytes) } else { cid_for_dag_cbor(&bytes) }, bytes))
                .collect()
        },
    )
}

proptest! {
    #[test]
    fn round_trip(blocks in arb_blocks(), root_count in 0usize..3) {
        let roots: Vec<Cid> = blocks.iter().take(root_count).map(|(cid, _)| *cid).collect();
        let car = write_car(&roots, &blocks);
        prop_assert_eq!(&car, &write_car_in_chunks(&roots, &blocks));
        let (read_roots, read_blocks) = read_car(&car, CarLimits::default()).expect("own output reads");
        prop_assert_eq!(read_roots, roots.clone());
        prop_assert_eq!(read_blocks, blocks.clone());
        prop_assert_eq!(read_streamed(Trickle(&car)).expect("streams"), (roots, blocks));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_car(&bytes, CarLimits::default());
    }

    #[test]
    fn random_tails_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut car = encode_header(&[cid_for_dag_cbor(b"\xa0")]);
        car.extend_from_slice(&tail);
        if let Ok((_, blocks)) = read_car(&car, CarLimits::default()) {
            for (cid, bytes) in blocks {
                prop_assert!(primal_pds_engine::data::cid::cid_matches(&cid, &bytes));
            }
        }
    }
}
