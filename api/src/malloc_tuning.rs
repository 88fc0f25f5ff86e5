//! [`keep_large_blocks_out_of_the_heap`]: stop glibc from keeping the
//! memory of password hashing.
//!
//! glibc's malloc serves blocks above its mmap threshold with `mmap` and
//! gives them back on `free`, but after such a free it *raises* the
//! threshold to that block's size. argon2id allocates 19 MiB per hash, so
//! after the first login every later hash is carved from the heap arenas
//! instead, and each arena keeps its 19 MiB for good: measured, +19 MiB of
//! RSS per concurrent hash, levelling off near 256 MiB. Setting the
//! threshold explicitly turns the dynamic raise off.

/// Blocks of this size and above are mmapped (and returned when freed).
pub const MMAP_THRESHOLD: usize = 1024 * 1024;

/// Fix glibc's mmap threshold at [`MMAP_THRESHOLD`]; call once at start-up.
/// Does nothing with another C library.
pub fn keep_large_blocks_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let threshold = libc::c_int::try_from(MMAP_THRESHOLD).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt takes plain integers and only changes allocator
        // parameters (under the allocator's own lock); called first thing
        // in `main`, before any other thread exists.
        let done = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) };
        if done != 1 {
            tracing::warn!("mallopt(M_MMAP_THRESHOLD) refused; password hashing memory stays in the heap");
        }
    }
}
