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

/// Give the heap's free memory back to the system (glibc's `malloc_trim`):
/// frames below the mmap threshold come from the heap arenas, which keep
/// their freed pages otherwise (measured: half of what 20 stalled firehose
/// subscribers had queued stayed resident after they left). Takes the
/// arenas' locks while it walks them: call it rarely, off the async
/// workers. Does nothing with another C library.
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a plain integer and works under the
    // allocator's own locks; it only releases pages malloc holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}
