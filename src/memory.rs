//! Live heap accounting, so the scan gate can bound concurrency by memory.
//!
//! [`Counting`] wraps mimalloc and keeps one relaxed atomic
//! count of the bytes in use. Resident memory (RSS) would not do: the
//! allocator keeps freed pages, so RSS stays at its peak after a burst of
//! scans and a gate reading it would never open again.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as Inner;
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// mimalloc, counting the bytes it hands out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

// SAFETY: every call is passed through to `Inner` unchanged; the counter is
// only arithmetic on the sizes, and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { Inner.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { Inner.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `Inner`.
        unsafe { Inner.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc` and `alloc`.
        let p = unsafe { Inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// mimalloc's `arena_eager_commit`: its index in `mi_option_e`, the same in
/// the v2 and v3 sources `libmimalloc-sys` builds.
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// mimalloc's `purge_delay` (milliseconds), index 15 in both sources.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// The v2 default; the v3 sources wait 1,000 ms, which kept about 20 MB more
/// resident at 2,000 accounts, freed memory waiting to go back while new
/// scans allocated their own.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Runs before `main` and before the first allocation (Rust's runtime set-up
/// comes after the `.init_array` constructors): mimalloc otherwise commits
/// its first arena eagerly on Linux, and memory freed there is never handed
/// back, which showed as about 20 MB more peak resident memory at 2,000
/// accounts for no gain in speed. Setting it later has no effect: the first
/// arena already exists by then. Freed memory goes back after 10 ms.
extern "C" fn arena_commit_on_demand() {
    // SAFETY: sets plain integer options; no thread but this one exists yet.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static ARENA_COMMIT_ON_DEMAND: extern "C" fn() = arena_commit_on_demand;

/// Bytes of heap in use, when [`Counting`] is the global allocator.
pub fn heap_bytes() -> Option<usize> {
    let live = LIVE.load(Ordering::Relaxed);
    (live > 0).then_some(live)
}

/// Resident memory of the process now (not the peak), where the OS tells it.
pub fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The most resident memory this process has held (`VmHWM`), where the OS tells it.
pub fn peak_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Memory in use by this process: the live heap if counted, else resident memory.
pub fn in_use_bytes() -> Option<usize> {
    heap_bytes().or_else(rss_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mimalloc_commits_arenas_on_demand_and_purges_soon_from_the_start() {
        // The constructor ran before this test's first allocation.
        // SAFETY: reads a plain integer option.
        let value = unsafe { libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT) };
        assert_eq!(value, 0);
        // SAFETY: as above.
        let delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(delay, PURGE_DELAY_MS);
    }

    #[test]
    fn the_heap_count_follows_allocations() {
        let before = heap_bytes().expect("the counting allocator is installed in lib.rs");
        let big = vec![7u8; 8 << 20];
        let during = heap_bytes().unwrap();
        // Other test threads allocate too; 8 MB stands well above their noise.
        assert!(during >= before + (6 << 20), "{before} -> {during}");
        drop(big);
        let after = heap_bytes().unwrap();
        assert!(after + (6 << 20) <= during, "{during} -> {after}");
        assert!(in_use_bytes().is_some());
        assert!(peak_rss_bytes().unwrap() >= rss_bytes().unwrap() / 2);
    }
}
