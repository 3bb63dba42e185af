//! The front program's allocator: a bump arena that never frees, over the C library's
//! allocator once the arena is full.
//!
//! A `kovra run` or `status` lives for a few milliseconds and allocates a few hundred
//! kilobytes. musl's allocator (the front is built with musl for its start-up cost) gives
//! each size class its own mapping and unmaps it on the last free: one such start made about
//! 30 `mmap` and 30 `munmap` calls, which with the allocator's own bookkeeping were close to
//! half of the program's CPU time. Handing out memory from one static block, and never taking
//! it back, makes an allocation an addition. The block lives in `.bss`: pages nobody touches
//! cost nothing. What does not fit (a long `list`, a terminal session's traffic) goes to the
//! C library's allocator as before, so memory stays bounded by the block plus what is live.
//!
//! Freeing is a no-op here, so nothing reuses freed memory; buffers that held anything
//! sensitive are zeroized by their owners before they are dropped (`zeroize`), as everywhere.
//! Hand-written because the crates that offer a static bump allocator do not fall back to
//! another allocator when full.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The block's size: a `run`, `status` or short `list` uses a few hundred KiB of it.
const SIZE: usize = 4 << 20;

#[repr(C, align(4096))]
struct Block(UnsafeCell<[u8; SIZE]>);

// SAFETY: the block is only ever handed out in disjoint pieces, each claimed by one atomic
// update of `USED` below; no two callers get overlapping bytes.
unsafe impl Sync for Block {}

static BLOCK: Block = Block(UnsafeCell::new([0; SIZE]));
/// Every piece is aligned at least this much, as C's `malloc` aligns (`max_align_t`), whatever
/// the layout asks: code that hands a byte buffer to the C library relies on it. nix's
/// `sendmsg` builds its control-message header in a `Vec<u8>` and writes `cmsghdr` fields
/// through it, so a piece aligned to 1 made `kovra run`'s descriptor passing trip Rust's
/// misaligned-pointer check, depending on what was allocated before.
const MIN_ALIGN: usize = 16;

/// Bytes of `BLOCK` handed out so far.
static USED: AtomicUsize = AtomicUsize::new(0);

pub struct Arena;

impl Arena {
    fn base() -> usize {
        BLOCK.0.get() as usize
    }

    fn owns(ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= Self::base() && p < Self::base() + SIZE
    }

    /// A piece of the block for `layout`, or `None` when it no longer fits.
    fn claim(layout: Layout) -> Option<*mut u8> {
        let base = Self::base();
        let align = layout.align().max(MIN_ALIGN);
        let mut used = USED.load(Ordering::Relaxed);
        loop {
            let start = (base + used).checked_add(align - 1)? & !(align - 1);
            let end = (start - base).checked_add(layout.size())?;
            if end > SIZE {
                return None;
            }
            match USED.compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(start as *mut u8),
                Err(now) => used = now,
            }
        }
    }
}

// SAFETY: `alloc` returns either a piece of `BLOCK` no other caller was given, aligned and
// sized for `layout`, or what the system allocator returns; `dealloc` hands the system's
// pointers back to it and ignores the block's. `realloc` (the default) allocates, copies and
// deallocates through these two.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match Self::claim(layout) {
            Some(p) => p,
            // SAFETY: the caller's `layout` contract is passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match Self::claim(layout) {
            // The block starts zeroed and no piece is handed out twice.
            Some(p) => p,
            // SAFETY: as in `alloc`.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !Self::owns(ptr) {
            // SAFETY: `ptr` came from `System.alloc*` with this `layout` (not from the block).
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_aligned_apart_and_the_rest_goes_to_the_system() {
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        for (size, align) in [(1, 1), (3, 2), (24, 8), (100, 64), (5000, 4096), (7, 16)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let p = Arena::claim(layout).expect("fits in the block") as usize;
            assert_eq!(
                p % align.max(MIN_ALIGN),
                0,
                "aligned to {align} and to malloc's"
            );
            assert!(Arena::owns(p as *mut u8) && Arena::owns((p + size - 1) as *mut u8));
            for &(q, qsize) in &pieces {
                assert!(p + size <= q || q + qsize <= p, "pieces overlap");
            }
            pieces.push((p, size));
        }
        // Larger than the block: not claimed, so it comes from (and returns to) the system.
        let huge = Layout::from_size_align(SIZE + 1, 8).unwrap();
        assert!(Arena::claim(huge).is_none());
        // SAFETY: a valid non-zero layout; the pointer is written, read and freed once.
        unsafe {
            let p = Arena.alloc(huge);
            assert!(!p.is_null() && !Arena::owns(p));
            p.write(7);
            assert_eq!(p.read(), 7);
            Arena.dealloc(p, huge);
        }
    }

    #[test]
    fn zeroed_pieces_are_zero_and_freeing_one_is_harmless() {
        let layout = Layout::from_size_align(256, 8).unwrap();
        // SAFETY: valid layouts; each pointer is used within its size and freed once.
        unsafe {
            let p = Arena.alloc_zeroed(layout);
            assert!(std::slice::from_raw_parts(p, 256).iter().all(|&b| b == 0));
            p.write_bytes(0xAA, 256);
            Arena.dealloc(p, layout);
            let q = Arena.alloc_zeroed(layout);
            assert_ne!(p, q, "a freed piece is never handed out again");
            assert!(std::slice::from_raw_parts(q, 256).iter().all(|&b| b == 0));
        }
    }
}
