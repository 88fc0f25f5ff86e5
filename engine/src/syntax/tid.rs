//! Timestamp identifiers (specs/tid.md): 64-bit integers (53 bits of
//! microseconds since the epoch, 10 bits of clock id, top bit zero) written as
//! 13 characters of base32-sortable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{SyntaxError, SyntaxKind, string_type};

const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
/// The largest timestamp a TID can hold (53 bits of microseconds).
const MAX_MICROS: u64 = (1 << 53) - 1;

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

    /// Build a TID from microseconds since the Unix epoch and a 10-bit clock id (only the low
    /// 53 bits of `micros` and the low 10 bits of `clock_id` are used).
    pub fn from_parts(micros: u64, clock_id: u16) -> Tid {
        Tid::from_integer(((micros & MAX_MICROS) << 10) | u64::from(clock_id & 0x3ff))
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

    /// The 10-bit clock id encoded in this TID.
    pub fn clock_id(&self) -> u16 {
        (self.to_integer() & 0x3ff) as u16
    }
}

/// A TID source that never repeats and never goes backwards within a process,
/// even if the system clock does. Safe to share between threads.
///
/// The timestamp part saturates at its 53-bit maximum (in the year 2255) instead of wrapping
/// to zero; past that point TIDs from one clock would repeat.
#[derive(Debug)]
pub struct TidClock {
    /// The timestamp (microseconds) of the last TID handed out, 0 before the first.
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
        self.next_at(now_micros(), 0)
    }

    /// The next TID that is also strictly greater than `prev` (e.g. a repo's
    /// current rev, which may come from before a restart or another node).
    /// If `prev` already holds the largest possible timestamp, the result has that same
    /// timestamp and so may not be greater.
    pub fn next_after(&self, prev: &Tid) -> Tid {
        self.next_at(now_micros(), prev.timestamp_micros() + 1)
    }

    /// The TID for a clock reading of `now` microseconds: at least `floor`, and strictly after
    /// every TID this clock handed out before, whatever `now` says.
    fn next_at(&self, now: u64, floor: u64) -> Tid {
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let candidate = now.max(last + 1).max(floor).min(MAX_MICROS);
            match self.last.compare_exchange_weak(last, candidate, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Tid::from_parts(candidate, self.clock_id),
                Err(actual) => last = actual,
            }
        }
    }
}

/// The system clock in microseconds since the Unix epoch (0 if it reads before 1970).
fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn strictly_increasing_when_the_clock_goes_backwards() {
        let clock = TidClock::with_clock_id(5);
        let readings = [1_000, 1_000, 999, 500, 0, 1_001, 1_001, 2_000, 1_500, 2_000, 10, 3_000];
        let tids: Vec<Tid> = readings.iter().map(|&now| clock.next_at(now, 0)).collect();
        for pair in tids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
            assert!(pair[0].to_integer() < pair[1].to_integer());
        }
        assert_eq!(tids[0].timestamp_micros(), 1_000);
        assert_eq!(tids[7].timestamp_micros(), 2_000);
        assert_eq!(tids[11].timestamp_micros(), 3_000);
        assert!(tids.iter().all(|t| t.clock_id() == 5));
    }

    #[test]
    fn next_after_passes_a_future_tid() {
        let clock = TidClock::with_clock_id(0);
        let future = Tid::from_parts(now_micros() + 3_600_000_000, 1023);
        let next = clock.next_after(&future);
        assert!(next > future);
        assert!(clock.next() > next, "the clock remembers the jump");
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        let clock = TidClock::with_clock_id(0);
        let max = Tid::parse("jzzzzzzzzzzzz").expect("largest TID");
        let next = clock.next_after(&max);
        assert_eq!(next.timestamp_micros(), MAX_MICROS);
        assert!(clock.next().timestamp_micros() == MAX_MICROS);
    }

    #[test]
    fn unique_across_threads() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 5_000;
        let clock = Arc::new(TidClock::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let clock = Arc::clone(&clock);
                std::thread::spawn(move || (0..PER_THREAD).map(|_| clock.next()).collect::<Vec<Tid>>())
            })
            .collect();
        let mut all = HashSet::new();
        for handle in handles {
            let tids = handle.join().expect("TID thread does not panic");
            assert!(tids.windows(2).all(|pair| pair[0] < pair[1]), "each thread sees increasing TIDs");
            all.extend(tids);
        }
        assert_eq!(all.len(), THREADS * PER_THREAD);
    }

    proptest! {
        #[test]
        fn from_parts_round_trip(micros in 0..=MAX_MICROS, clock_id in 0u16..1024) {
            let tid = Tid::from_parts(micros, clock_id);
            let parsed = Tid::parse(tid.as_str()).expect("from_parts makes valid TIDs");
            prop_assert_eq!(parsed.timestamp_micros(), micros);
            prop_assert_eq!(parsed.clock_id(), clock_id);
            prop_assert_eq!(&parsed, &tid);
        }

        #[test]
        fn order_matches_integer_order(a in 0..=MAX_MICROS, b in 0..=MAX_MICROS, ca in 0u16..1024, cb in 0u16..1024) {
            let (x, y) = (Tid::from_parts(a, ca), Tid::from_parts(b, cb));
            prop_assert_eq!(x.cmp(&y), x.to_integer().cmp(&y.to_integer()));
        }
    }
}
