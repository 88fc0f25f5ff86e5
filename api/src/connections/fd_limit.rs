//! The process's open-file limit: raised to its hard limit at start-up,
//! and the connection cap derived from it.

/// The default connection cap never exceeds this.
pub const MAX_DEFAULT_CONNECTIONS: usize = 10_000;

/// The soft limit is not raised above this even when the hard limit is
/// unlimited (Linux refuses more than `fs.nr_open`, 1,048,576 by default).
const HIGHEST_SOFT_LIMIT: u32 = 1 << 20;

/// The open-file limit before and after [`raise_to_hard_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit found.
    pub before: u64,
    /// The soft limit now in force.
    pub after: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit (capped at 2^20); call
/// once at start-up. Returns the limits, or the OS error.
#[cfg(unix)]
pub fn raise_to_hard_limit() -> std::io::Result<FdLimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct we own and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let target = limit.rlim_max.min(libc::rlim_t::from(HIGHEST_SOFT_LIMIT)).max(limit.rlim_cur);
    let (before, after, hard) = (to_u64(limit.rlim_cur), to_u64(target), to_u64(limit.rlim_max));
    if target > limit.rlim_cur {
        let raised = libc::rlimit { rlim_cur: target, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit
        // up to the hard limit needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(FdLimit { before, after, hard })
}

/// `rlim_t` is `u64` on 64-bit targets, narrower on some 32-bit ones.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)]
fn to_u64(value: libc::rlim_t) -> u64 {
    value as u64
}

/// Not supported off Unix.
#[cfg(not(unix))]
pub fn raise_to_hard_limit() -> std::io::Result<FdLimit> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no RLIMIT_NOFILE on this platform"))
}

/// The current soft open-file limit, if the platform has one.
pub fn soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the struct we own and nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            return Some(to_u64(limit.rlim_cur));
        }
    }
    None
}

/// The connection cap when none is configured: half the open-file limit
/// (the other half stays for database, blob and log files), at most
/// [`MAX_DEFAULT_CONNECTIONS`], at least 1.
pub fn default_max_connections(soft_limit: Option<u64>) -> usize {
    match soft_limit {
        Some(limit) => usize::try_from(limit / 2).unwrap_or(usize::MAX).clamp(1, MAX_DEFAULT_CONNECTIONS),
        None => MAX_DEFAULT_CONNECTIONS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cap_is_half_the_limit_at_most_ten_thousand() {
        assert_eq!(default_max_connections(Some(1024)), 512);
        assert_eq!(default_max_connections(Some(20_000)), 10_000);
        assert_eq!(default_max_connections(Some(1 << 20)), 10_000);
        assert_eq!(default_max_connections(Some(1)), 1);
        assert_eq!(default_max_connections(None), 10_000);
    }
}
