//! Headroom at the top of the heap while the store grows.
//!
//! glibc's per-thread arenas (every tokio worker allocates from one) grow their heap only by what
//! the allocation at hand needs, rounded to a page, with one `mprotect` call each time: its
//! `M_TOP_PAD` applies to the main arena only. A store taking a few hundred bytes a request thus
//! makes a system call every few requests, and each takes the process's memory-map lock, which the
//! other worker's page faults wait on. Allocating and freeing a block just under the mmap
//! threshold before the store grows makes the heap grow by that block at once, one call per
//! ~120 KB instead of one per page; freed, the block merges back into the top of the heap (below
//! the trim threshold, so it is not returned) and is what the next small allocations are carved
//! from. Elsewhere, and when the top already has room, it is a malloc and a free.

/// Below glibc's smallest mmap threshold (128 KiB), so the block comes from the heap, and below
/// its trim threshold (the same), so freeing it does not shrink the heap again.
const HEADROOM: usize = 120 * 1024;

/// Calls between two blocks: what the store takes in that many calls (~1–2 KB each) must fit in
/// [`HEADROOM`], and the heap then grows by what they took, in one step.
const EVERY: u32 = 32;

thread_local! {
    static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Called before the store grows by an entry: every [`EVERY`] calls on a thread, makes sure the
/// thread's heap has [`HEADROOM`] bytes free at its top.
pub fn keep() {
    let due = CALLS.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n % EVERY == 0
    });
    if due {
        let block: Vec<u8> = Vec::with_capacity(HEADROOM);
        drop(std::hint::black_box(block));
    }
}
