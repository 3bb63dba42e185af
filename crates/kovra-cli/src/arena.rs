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
//! Only the piece handed out last can be given back (freed, or grown and shrunk in place):
//! a growing vector or a short-lived buffer then reuses pages already touched, since each new
//! page costs a fault. Anything else freed stays unused. Buffers that held anything sensitive
//! are zeroized by their owners before they are dropped (`zeroize`), as everywhere.
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
/// Every piece starts at a multiple of this, as `malloc`'s do on 64-bit Linux. Code that
/// takes a byte buffer for a C structure relies on it: nix builds the control message of a
/// descriptor passing in a `Vec<u8>` and reads it as a `cmsghdr` (8-byte aligned), which on a
/// byte-aligned piece is a misaligned read.
const MIN_ALIGN: usize = 16;

/// Bytes of `BLOCK` handed out so far (less the last pieces given back).
static USED: AtomicUsize = AtomicUsize::new(0);
/// The most of `BLOCK` ever handed out: bytes above it are still as the block started, zero.
/// Raised before a piece is returned, so before anyone can write to it or give it back; the
/// two counters move with sequentially consistent operations, so whoever claims bytes given
/// back also sees the mark raised over them.
static HIGH: AtomicUsize = AtomicUsize::new(0);

pub struct Arena;

impl Arena {
    fn base() -> usize {
        BLOCK.0.get() as usize
    }

    fn owns(ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= Self::base() && p < Self::base() + SIZE
    }

    /// A piece of the block for `layout`, or `None` when it no longer fits. Aligned to at
    /// least [`MIN_ALIGN`], whatever the layout asks. With it, the mark `HIGH` had before:
    /// the piece's bytes below it may hold what an earlier piece left there.
    fn claim(layout: Layout) -> Option<(*mut u8, usize)> {
        let base = Self::base();
        let align = layout.align().max(MIN_ALIGN);
        let mut used = USED.load(Ordering::Relaxed);
        loop {
            let start = (base + used).checked_add(align - 1)? & !(align - 1);
            let end = (start - base).checked_add(layout.size())?;
            if end > SIZE {
                return None;
            }
            match USED.compare_exchange_weak(used, end, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => {
                    let high = HIGH.fetch_max(end, Ordering::SeqCst);
                    return Some((start as *mut u8, high));
                }
                Err(now) => used = now,
            }
        }
    }

    /// Move the end of the piece at `ptr` from `old` to `new` bytes, if it is the piece handed
    /// out last; nothing happens otherwise (`false`).
    fn resize_last(ptr: *mut u8, old: usize, new: usize) -> bool {
        let start = ptr as usize - Self::base();
        let Some(end) = start.checked_add(new).filter(|e| *e <= SIZE) else {
            return false;
        };
        let moved = USED
            .compare_exchange(start + old, end, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        if moved {
            HIGH.fetch_max(end, Ordering::SeqCst);
        }
        moved
    }
}

// SAFETY: `alloc` returns either a piece of `BLOCK` that no live piece overlaps, aligned and
// sized for `layout`, or what the system allocator returns; `dealloc` hands the system's
// pointers back to it and takes back a piece of the block only while it is the last one
// handed out (one atomic exchange, so no other piece can be claimed over it). `realloc`
// resizes that last piece in place the same way, keeps any smaller piece where it is, and
// otherwise allocates, copies and deallocates through the two.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match Self::claim(layout) {
            Some((p, _)) => p,
            // SAFETY: the caller's `layout` contract is passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match Self::claim(layout) {
            // Bytes at or above `high` were never handed out: still zero.
            Some((p, high)) => {
                let start = p as usize - Self::base();
                let reused = high.saturating_sub(start).min(layout.size());
                // SAFETY: `p` is a fresh piece of at least `layout.size()` bytes.
                unsafe { p.write_bytes(0, reused) };
                p
            }
            // SAFETY: as in `alloc`.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::owns(ptr) {
            // The last piece comes back for the next allocation; any other stays unused.
            Self::resize_last(ptr, layout.size(), 0);
        } else {
            // SAFETY: `ptr` came from `System.alloc*` with this `layout` (not from the block).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::owns(ptr)
            && (Self::resize_last(ptr, layout.size(), new_size) || new_size <= layout.size())
        {
            // The last piece, grown or shrunk in place; or any piece made smaller, whose
            // layout is `new_size` for the caller from now on.
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does not
        // overflow, which is what `Layout` requires.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size (`new_size` > 0 by the caller's contract).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both pieces are valid for the smaller size and do not overlap (`ptr`
            // is still live); `ptr` is then freed once, with its own layout.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_aligned_apart_and_the_rest_goes_to_the_system() {
        let _turn = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let sizes = [
            (1, 1),
            (3, 2),
            (24, 8),
            (100, 64),
            (5000, 4096),
            (7, 16),
            (5, 1),
        ];
        for (size, align) in sizes {
            let layout = Layout::from_size_align(size, align).unwrap();
            let p = Arena::claim(layout).expect("fits in the block").0 as usize;
            assert_eq!(
                p % align.max(MIN_ALIGN),
                0,
                "aligned to {align} and to {MIN_ALIGN}"
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

    /// The block is one for the whole test binary: tests that depend on which piece was
    /// handed out last take turns.
    static LAST: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn zeroed_pieces_are_zero_even_where_a_freed_piece_was() {
        let _turn = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let layout = Layout::from_size_align(256, 8).unwrap();
        // SAFETY: valid layouts; each pointer is used within its size and freed once.
        unsafe {
            let p = Arena.alloc_zeroed(layout);
            assert!(std::slice::from_raw_parts(p, 256).iter().all(|&b| b == 0));
            p.write_bytes(0xAA, 256);
            Arena.dealloc(p, layout);
            let q = Arena.alloc_zeroed(layout);
            assert_eq!(p, q, "the last piece freed is handed out again");
            assert!(std::slice::from_raw_parts(q, 256).iter().all(|&b| b == 0));
            Arena.dealloc(q, layout);
        }
    }

    #[test]
    fn the_last_piece_grows_and_comes_back_in_place_and_no_other_does() {
        let _turn = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let small = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: valid layouts; every pointer is used within its current size and freed
        // once, with the layout it has at that time.
        unsafe {
            let a = Arena.alloc(small);
            a.write_bytes(1, 64);
            // The last piece grows where it is, its bytes kept.
            let a = Arena.realloc(a, small, 4096);
            assert!(Arena::owns(a));
            let grown = Layout::from_size_align(4096, 8).unwrap();
            let b = Arena.alloc(small);
            assert_eq!(b as usize, a as usize + 4096, "the growth was in place");
            assert!(std::slice::from_raw_parts(a, 64).iter().all(|&x| x == 1));
            // `a` is no longer last: growing it moves it, and freeing it takes nothing back.
            let moved = Arena.realloc(a, grown, 8192);
            assert_ne!(moved, a);
            assert!(
                std::slice::from_raw_parts(moved, 64)
                    .iter()
                    .all(|&x| x == 1)
            );
            let c = Arena.alloc(small);
            assert_eq!(c as usize, moved as usize + 8192);
            // Freed in the reverse order, each is the last when freed and comes back, down
            // to `b`: what `a` held before it moved stays unused.
            Arena.dealloc(c, small);
            Arena.dealloc(moved, Layout::from_size_align(8192, 8).unwrap());
            Arena.dealloc(b, small);
            let d = Arena.alloc(small);
            assert_eq!(d, b, "the pieces after `b`, and `b`, came back");
            Arena.dealloc(d, small);
        }
    }
}
