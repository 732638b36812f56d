//! Returning freed memory to the system.
//!
//! A reload that reads thousands of files builds and drops large temporary
//! structures on several threads; glibc's allocator keeps the freed pages
//! of each thread's arena mapped, so a daemon's resident memory stayed near
//! its start-up peak (measured by `bench/startup_bench.sh`).

/// Gives the allocator's free pages back to the system. Costs a walk over
/// the allocator's free lists (a few milliseconds): called after reloads
/// that applied something, not on every rescan.
pub(crate) fn release_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and locks each arena it walks;
    // glibc documents it as safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
