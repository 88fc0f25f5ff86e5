//! Guessing a blob's MIME type from its first bytes (magic numbers), for
//! the formats a PDS is sent: images, video, audio, a few documents.
//!
//! Only binary formats with a fixed signature are recognised; text formats
//! (SVG, JSON, HTML…) are never sniffed, so they cannot pass for an image.
//! ISO-BMFF files (MP4, QuickTime, HEIC, AVIF) are told apart by the brands
//! of their leading `ftyp` box.

/// The MIME type `head` (the first bytes of a blob, up to
/// [`SNIFF_BYTES`](super::SNIFF_BYTES)) starts like, or `None`.
pub fn sniff_mime(head: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"\xff\x0a", "image/jxl"),
        (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "image/jxl"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"PK\x05\x06", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
        (b"OggS", "audio/ogg"),
        (b"fLaC", "audio/flac"),
        (b"ID3", "audio/mpeg"),
        (b"wOF2", "font/woff2"),
        (b"wOFF", "font/woff"),
    ];
    if let Some((_, mime)) = SIGNATURES.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(mime);
    }
    riff(head).or_else(|| iso_bmff(head)).or_else(|| ebml(head)).or_else(|| bmp(head)).or_else(|| mpeg_audio(head))
}

/// RIFF containers: `RIFF`, a 4-byte size, then the form type.
fn riff(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(b"RIFF") {
        return None;
    }
    match head.get(8..12)? {
        b"WEBP" => Some("image/webp"),
        b"WAVE" => Some("audio/wav"),
        b"AVI " => Some("video/x-msvideo"),
        _ => None,
    }
}

/// ISO base media files: a first box of type `ftyp` holding the major brand,
/// a minor version, then compatible brands (4 bytes each).
fn iso_bmff(head: &[u8]) -> Option<&'static str> {
    if head.get(4..8)? != b"ftyp" {
        return None;
    }
    let box_size = u32::from_be_bytes(head.get(0..4)?.try_into().ok()?) as usize;
    if box_size < 16 || !box_size.is_multiple_of(4) {
        return None;
    }
    let major = head.get(8..12)?;
    // Compatible brands, as far as they are in `head`.
    let compatible = head.get(16..box_size.min(head.len())).unwrap_or_default().chunks_exact(4);
    // The major brand decides when it is specific; otherwise a compatible one.
    std::iter::once(major).chain(compatible).find_map(brand_mime)
}

/// The MIME type an ISO-BMFF brand stands for.
fn brand_mime(brand: &[u8]) -> Option<&'static str> {
    Some(match brand {
        b"avif" | b"avis" => "image/avif",
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => "image/heic",
        b"mif1" | b"msf1" => "image/heif",
        b"qt  " => "video/quicktime",
        b"M4A " | b"M4B " => "audio/mp4",
        b"3gp4" | b"3gp5" | b"3gp6" | b"3g2a" => "video/3gpp",
        b"isom" | b"iso2" | b"iso4" | b"iso5" | b"iso6" | b"mp41" | b"mp42" | b"mp71" | b"avc1" | b"dash" | b"M4V "
        | b"M4VP" | b"f4v " | b"MSNV" => "video/mp4",
        _ => return None,
    })
}

/// EBML (Matroska and WebM): WebM when the doctype says so or is not in
/// `head`, Matroska when it says `matroska`.
fn ebml(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(b"\x1a\x45\xdf\xa3") {
        return None;
    }
    if head.windows(8).any(|w| w == b"matroska") { Some("video/x-matroska") } else { Some("video/webm") }
}

/// BMP: `BM`, then (at 14) the size of a DIB header of a known kind, since
/// two letters alone are too weak a signature.
fn bmp(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(b"BM") {
        return None;
    }
    let dib = u32::from_le_bytes(head.get(14..18)?.try_into().ok()?);
    matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124).then_some("image/bmp")
}

/// An MPEG audio frame header without an ID3 tag: 11 sync bits, a valid
/// version and layer (layer bits `00` with sync is AAC in ADTS), and a
/// bitrate and sample rate that are not reserved.
fn mpeg_audio(head: &[u8]) -> Option<&'static str> {
    let [0xff, b1, b2, ..] = *head else { return None };
    if b1 & 0xe0 != 0xe0 {
        return None;
    }
    let version = (b1 >> 3) & 0b11;
    let layer = (b1 >> 1) & 0b11;
    if layer == 0 {
        // ADTS: MPEG-4 or MPEG-2 AAC, version bits are the ID bit and 0.
        return (b1 & 0xf6 == 0xf0 && (b2 >> 2) & 0b1111 < 13).then_some("audio/aac");
    }
    let bitrate = b2 >> 4;
    let sample_rate = (b2 >> 2) & 0b11;
    (version != 0b01 && bitrate != 0b1111 && sample_rate != 0b11).then_some("audio/mpeg")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `magic` followed by filler, as a file would continue.
    fn file(magic: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&[0x20; 40]);
        bytes
    }

    /// An `ftyp` box with `major` and `compatible` brands, then filler.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        for brand in compatible {
            bytes.extend_from_slice(*brand);
        }
        bytes.extend_from_slice(b"\x00\x00\x00\x08free");
        bytes
    }

    fn riff(form: &[u8; 4]) -> Vec<u8> {
        let mut bytes = b"RIFF\x24\x08\x00\x00".to_vec();
        bytes.extend_from_slice(form);
        bytes.extend_from_slice(b"fmt \x10\x00\x00\x00");
        bytes
    }

    #[test]
    fn images() {
        assert_eq!(sniff_mime(&file(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")), Some("image/png"));
        assert_eq!(sniff_mime(&file(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")), Some("image/jpeg"));
        assert_eq!(sniff_mime(&file(b"\xff\xd8\xff\xe1\x00\x10Exif\x00")), Some("image/jpeg"));
        assert_eq!(sniff_mime(&file(b"GIF87a\x01\x00\x01\x00")), Some("image/gif"));
        assert_eq!(sniff_mime(&file(b"GIF89a\x01\x00\x01\x00")), Some("image/gif"));
        assert_eq!(sniff_mime(&riff(b"WEBP")), Some("image/webp"));
        assert_eq!(sniff_mime(&file(b"II*\x00\x08\x00\x00\x00")), Some("image/tiff"));
        assert_eq!(sniff_mime(&file(b"MM\x00*\x00\x00\x00\x08")), Some("image/tiff"));
        assert_eq!(sniff_mime(&file(b"\xff\x0a\xfa\x7f")), Some("image/jxl"));
        assert_eq!(sniff_mime(&file(b"\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00\x00\x14ftypjxl ")), Some("image/jxl"));
    }

    #[test]
    fn bmp_needs_a_known_dib_header() {
        let mut bmp = b"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00".to_vec();
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(sniff_mime(&file(&bmp)), Some("image/bmp"));
        assert_eq!(sniff_mime(b"BM is how this text starts"), None);
    }

    #[test]
    fn iso_bmff_brands() {
        assert_eq!(sniff_mime(&ftyp(b"avif", &[b"avif", b"mif1", b"miaf"])), Some("image/avif"));
        assert_eq!(sniff_mime(&ftyp(b"avis", &[b"avis", b"msf1"])), Some("image/avif"));
        assert_eq!(sniff_mime(&ftyp(b"mif1", &[b"mif1", b"avif"])), Some("image/heif"));
        assert_eq!(sniff_mime(&ftyp(b"heic", &[b"mif1", b"heic"])), Some("image/heic"));
        assert_eq!(sniff_mime(&ftyp(b"heix", &[b"mif1"])), Some("image/heic"));
        assert_eq!(sniff_mime(&ftyp(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"])), Some("video/mp4"));
        assert_eq!(sniff_mime(&ftyp(b"mp42", &[b"mp42", b"isom"])), Some("video/mp4"));
        assert_eq!(sniff_mime(&ftyp(b"M4V ", &[b"M4V ", b"mp42"])), Some("video/mp4"));
        assert_eq!(sniff_mime(&ftyp(b"qt  ", &[b"qt  "])), Some("video/quicktime"));
        assert_eq!(sniff_mime(&ftyp(b"M4A ", &[b"M4A ", b"isom"])), Some("audio/mp4"));
        assert_eq!(sniff_mime(&ftyp(b"3gp5", &[b"3gp5", b"isom"])), Some("video/3gpp"));
        // An unknown major brand falls back to the compatible ones.
        assert_eq!(sniff_mime(&ftyp(b"XAVC", &[b"XAVC", b"mp42", b"iso2"])), Some("video/mp4"));
        assert_eq!(sniff_mime(&ftyp(b"zzzz", &[b"yyyy"])), None);
        // A box size that cannot be an ftyp box.
        let mut bad = ftyp(b"isom", &[]);
        bad[3] = 3;
        assert_eq!(sniff_mime(&bad), None);
    }

    #[test]
    fn ebml_webm_and_matroska() {
        let webm =
            b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm";
        assert_eq!(sniff_mime(webm), Some("video/webm"));
        let mkv =
            b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x88matroska";
        assert_eq!(sniff_mime(mkv), Some("video/x-matroska"));
        assert_eq!(sniff_mime(b"\x1a\x45\xdf\xa3"), Some("video/webm"), "doctype not in the head");
    }

    #[test]
    fn audio() {
        assert_eq!(sniff_mime(&file(b"ID3\x04\x00\x00\x00\x00\x00\x00")), Some("audio/mpeg"));
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
        assert_eq!(sniff_mime(&file(b"\xff\xfb\x90\x64")), Some("audio/mpeg"));
        // MPEG-2 layer III.
        assert_eq!(sniff_mime(&file(b"\xff\xf3\x48\xc4")), Some("audio/mpeg"));
        // Reserved version, reserved bitrate, reserved sample rate.
        assert_eq!(sniff_mime(&file(b"\xff\xeb\x90\x64")), None);
        assert_eq!(sniff_mime(&file(b"\xff\xfb\xf0\x64")), None);
        assert_eq!(sniff_mime(&file(b"\xff\xfb\x9c\x64")), None);
        // AAC in ADTS (MPEG-4, 44.1 kHz).
        assert_eq!(sniff_mime(&file(b"\xff\xf1\x50\x80")), Some("audio/aac"));
        assert_eq!(sniff_mime(&file(b"OggS\x00\x02\x00\x00")), Some("audio/ogg"));
        assert_eq!(sniff_mime(&file(b"fLaC\x00\x00\x00\x22")), Some("audio/flac"));
        assert_eq!(sniff_mime(&riff(b"WAVE")), Some("audio/wav"));
    }

    #[test]
    fn video_and_documents() {
        assert_eq!(sniff_mime(&riff(b"AVI ")), Some("video/x-msvideo"));
        assert_eq!(sniff_mime(&file(b"%PDF-1.7\n")), Some("application/pdf"));
        assert_eq!(sniff_mime(&file(b"PK\x03\x04\x14\x00")), Some("application/zip"));
        assert_eq!(sniff_mime(&file(b"PK\x05\x06\x00\x00")), Some("application/zip"));
        assert_eq!(sniff_mime(&file(b"\x1f\x8b\x08\x00")), Some("application/gzip"));
        assert_eq!(sniff_mime(&file(b"wOF2\x00\x01\x00\x00")), Some("font/woff2"));
        assert_eq!(sniff_mime(&file(b"wOFF\x00\x01\x00\x00")), Some("font/woff"));
    }

    #[test]
    fn text_and_junk_are_not_sniffed() {
        for head in [
            &b""[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
            b"<?xml version=\"1.0\"?><svg/>",
            b"{\"$type\":\"app.bsky.feed.post\"}",
            b"<!DOCTYPE html><html>",
            b"RIFF",
            b"RIFF\x00\x00\x00\x00XXXX",
            b"\x00\x00\x00\x18ftyp",
            b"\xff",
            b"\x89PN",
        ] {
            assert_eq!(sniff_mime(head), None, "{head:?}");
        }
    }
}
