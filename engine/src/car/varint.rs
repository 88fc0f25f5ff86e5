//! Unsigned varints (multiformats `unsigned-varint`: LEB128, minimal, at most 9 bytes).

use std::io::{ErrorKind, Read};

use super::CarError;

/// Longest varint the multiformats spec allows (63 bits of payload).
const MAX_VARINT_LEN: usize = 9;
/// Longest encoding of a `u64` (10 groups of 7 bits), the buffer size for [`encode`].
pub(crate) const BUF_LEN: usize = 10;

/// Encode `value` into `buf`, returning the number of bytes used.
#[inline]
pub(crate) fn encode(mut value: u64, buf: &mut [u8; BUF_LEN]) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        buf[i] = (value as u8) | 0x80;
        value >>= 7;
        i += 1;
    }
    buf[i] = value as u8;
    i + 1
}

/// Read one varint starting at stream position `offset`. `Ok(None)` means the stream ended
/// cleanly before its first byte; returns the value and its encoded length.
pub(crate) fn read<R: Read>(
    reader: &mut R,
    offset: u64,
    context: &'static str,
) -> Result<Option<(u64, u64)>, CarError> {
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        let Some(byte) = read_byte(reader, offset + i as u64)? else {
            if i == 0 {
                return Ok(None);
            }
            return Err(CarError::Truncated { offset: offset + i as u64, context });
        };
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(CarError::VarintNotMinimal { offset });
            }
            return Ok(Some((value, i as u64 + 1)));
        }
    }
    Err(CarError::VarintOverflow { offset })
}

fn read_byte<R: Read>(reader: &mut R, offset: u64) -> Result<Option<u8>, CarError> {
    let mut byte = [0u8; 1];
    loop {
        match reader.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(byte[0])),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(source) => return Err(CarError::Io { offset, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<Option<(u64, u64)>, CarError> {
        read(&mut &bytes[..], 0, "test")
    }

    #[test]
    fn round_trips_and_edges() {
        for value in [0u64, 1, 127, 128, 300, 16_383, 16_384, (1 << 63) - 1] {
            let mut buf = [0; BUF_LEN];
            let n = encode(value, &mut buf);
            assert_eq!(read_all(&buf[..n]).expect("reads"), Some((value, n as u64)));
        }
        assert!(matches!(read_all(&[]), Ok(None)));
        assert!(matches!(read_all(&[0x80]), Err(CarError::Truncated { .. })));
        assert!(matches!(read_all(&[0x80, 0x00]), Err(CarError::VarintNotMinimal { .. })));
        assert!(matches!(read_all(&[0xff; 10]), Err(CarError::VarintOverflow { .. })));
        // 2^63 needs a tenth byte.
        let mut buf = [0; BUF_LEN];
        let n = encode(1 << 63, &mut buf);
        assert!(matches!(read_all(&buf[..n]), Err(CarError::VarintOverflow { .. })));
    }
}
