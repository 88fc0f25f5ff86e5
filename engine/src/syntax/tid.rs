//! Timestamp identifiers (specs/tid.md): 64-bit integers (53 bits of
//! microseconds since the epoch, 10 bits of clock id, top bit zero) written as
//! 13 characters of base32-sortable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{SyntaxError, SyntaxKind, string_type};

const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// A valid TID, e.g. `3jzfcijpj2z2a`. Ordering of TIDs is their time order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tid(String);

string_type!(Tid);

impl Tid {
    /// Parse a TID: 13 base32-sortable characters, the first in `234567abcdefghij`.
    pub fn parse(s: &str) -> Result<Tid, SyntaxError> {
        let err = |reason| SyntaxError::new(SyntaxKind::Tid, s, reason);
        let bytes = s.as_bytes();
        if bytes.len() != 13 {
            return Err(err("must be 13 characters"));
        }
        if !bytes.iter().all(|b| ALPHABET.contains(b)) {
            return Err(err("must use the base32-sortable alphabet"));
        }
        if !b"234567abcdefghij".contains(&bytes[0]) {
            return Err(err("high bit must be zero"));
        }
        Ok(Tid(s.to_owned()))
    }

    /// Build a TID from microseconds since the Unix epoch and a 10-bit clock id.
    pub fn from_parts(micros: u64, clock_id: u16) -> Tid {
        Tid::from_integer(((micros & ((1 << 53) - 1)) << 10) | u64::from(clock_id & 0x3ff))
    }

    fn from_integer(value: u64) -> Tid {
        let mut out = [0u8; 13];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 60 - 5 * i as u32;
            *slot = ALPHABET[((value >> shift) & 0x1f) as usize];
        }
        // Every byte comes from ALPHABET, which is ASCII.
        Tid(out.iter().map(|&b| b as char).collect())
    }

    /// The TID as its 64-bit integer.
    pub fn to_integer(&self) -> u64 {
        self.0.bytes().fold(0u64, |acc, b| {
            let digit = ALPHABET.iter().position(|&a| a == b).unwrap_or(0) as u64;
            (acc << 5) | digit
        })
    }

    /// Microseconds since the Unix epoch encoded in this TID.
    pub fn timestamp_micros(&self) -> u64 {
        self.to_integer() >> 10
    }
}

/// A TID source that never repeats and never goes backwards within a process,
/// even if the system clock does. Safe to share between threads.
#[derive(Debug)]
pub struct TidClock {
    last: AtomicU64,
    clock_id: u16,
}

impl Default for TidClock {
    fn default() -> Self {
        Self::new()
    }
}

impl TidClock {
    /// A clock with a random 10-bit clock id.
    pub fn new() -> TidClock {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let clock_id = (seed ^ std::process::id()) as u16 & 0x3ff;
        TidClock::with_clock_id(clock_id)
    }

    /// A clock with a fixed clock id (the low 10 bits are used).
    pub fn with_clock_id(clock_id: u16) -> TidClock {
        TidClock { last: AtomicU64::new(0), clock_id: clock_id & 0x3ff }
    }

    /// The next TID: the current time in microseconds, or one past the last TID
    /// this clock handed out, whichever is greater.
    pub fn next(&self) -> Tid {
        self.next_after_micros(0)
    }

    /// The next TID that is also strictly greater than `prev` (e.g. a repo's
    /// current rev, which may come from before a restart or another node).
    pub fn next_after(&self, prev: &Tid) -> Tid {
        self.next_after_micros(prev.timestamp_micros() + 1)
    }

    fn next_after_micros(&self, floor: u64) -> Tid {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let candidate = now.max(last + 1).max(floor);
            match self.last.compare_exchange_weak(last, candidate, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Tid::from_parts(candidate, self.clock_id),
                Err(actual) => last = actual,
            }
        }
    }
}
