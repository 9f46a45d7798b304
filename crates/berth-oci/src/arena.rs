//! The process's allocator: a bump arena in front of the system allocator.
//!
//! Most berth processes live a few milliseconds (`berth-oci start`, `berth ps`): they allocate a
//! few hundred kilobytes while parsing flags and JSON, then exit. musl's malloc (the runtime's
//! release build is a musl binary) maps and unmaps memory as it goes, some fifty pairs of system
//! calls for such a command, and any malloc touches its pages one fault at a time. The arena
//! hands out memory by moving one offset forward, gives back only the newest block (a temporary,
//! a `Vec` growing in place), never returns memory to the system, and maps its pages 64 KB at a
//! time, one system call each, ahead of their use. Once it is full, or in a process that runs
//! until stopped (the daemon, the monitor zygote: [`disable`]), every allocation goes to the
//! system allocator; blocks from the arena stay valid and their frees stay no-ops. The arena is a
//! zeroed static, so it costs address space, not memory, until it is touched.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Enough for any short-lived command (they use 100–400 KB); a long-lived one strands at most
/// this much before it falls through to the system allocator.
const ARENA_BYTES: usize = 2 << 20;

#[global_allocator]
static ALLOCATOR: Bump<ARENA_BYTES> = Bump::new();

/// Sends every later allocation to the system allocator: for processes that live long and
/// free as much as they allocate.
pub fn disable() {
    ALLOCATOR.disabled.store(true, Ordering::Relaxed);
}

/// What malloc guarantees on 64-bit Linux (the alignment of `max_align_t`).
const MIN_ALIGN: usize = 16;

/// The arena's pages are mapped this many bytes at a time, ahead of use.
const POPULATE_CHUNK: usize = 64 << 10;

/// A bump allocator over `N` bytes of static memory, falling through to the system's allocator.
#[repr(C, align(4096))]
struct Bump<const N: usize> {
    memory: UnsafeCell<[u8; N]>,
    /// Offset of the first free byte.
    next: AtomicUsize,
    /// Highest offset ever handed out: the bytes above it are still the static's zeros, and the
    /// pages up to it (rounded up to a [`POPULATE_CHUNK`]) are mapped.
    high: AtomicUsize,
    /// False at start, like every other field: an all-zero static lies in .bss, so its pages
    /// are neither in the binary nor copied from it when first written.
    disabled: AtomicBool,
}

// SAFETY: the memory is only reached through offsets claimed atomically; a claimed range belongs
// to one caller until it is given back.
unsafe impl<const N: usize> Sync for Bump<N> {}

impl<const N: usize> Bump<N> {
    const fn new() -> Self {
        Bump {
            memory: UnsafeCell::new([0; N]),
            next: AtomicUsize::new(0),
            high: AtomicUsize::new(0),
            disabled: AtomicBool::new(false),
        }
    }

    fn base(&self) -> usize {
        self.memory.get() as usize
    }

    /// The offset of `ptr` when it lies in the arena.
    fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
        (ptr as usize)
            .checked_sub(self.base())
            .filter(|&offset| offset < N)
    }

    /// Claims `layout` from the arena; returns its offset, and the high-water mark before it.
    fn claim(&self, layout: Layout) -> Option<(usize, usize)> {
        if self.disabled.load(Ordering::Relaxed) || layout.align() > 4096 {
            return None;
        }
        // malloc's alignment at least, whatever the layout asks: code that builds C structures
        // in a byte buffer relies on it (nix's control messages do).
        let align = layout.align().max(MIN_ALIGN);
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            let start = (self.base() + next).next_multiple_of(align) - self.base();
            let end = start.checked_add(layout.size()).filter(|&end| end <= N)?;
            match self
                .next
                .compare_exchange_weak(next, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some((start, self.raise_high(end))),
                Err(now) => next = now,
            }
        }
    }

    /// Moves the end of the newest block from `old_end` to `new_end`, if it is still the newest.
    fn move_end(&self, old_end: usize, new_end: usize) -> bool {
        let moved = self
            .next
            .compare_exchange(old_end, new_end, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if moved {
            self.raise_high(new_end);
        }
        moved
    }

    /// Raises the high-water mark to `end`; returns the old one. Pages are mapped a chunk at a
    /// time with one system call each, where touching them one by one took a page fault each
    /// (some 60 per command, each costly under a hypervisor). Best effort: a kernel before 5.14
    /// refuses the advice, and the faults come as before.
    fn raise_high(&self, end: usize) -> usize {
        let old = self.high.fetch_max(end, Ordering::Relaxed);
        let mapped = old.next_multiple_of(POPULATE_CHUNK);
        if end > mapped {
            let to = end.next_multiple_of(POPULATE_CHUNK).min(N);
            // SAFETY: advice on pages of our own static; it changes no contents.
            unsafe {
                libc::madvise(
                    (self.base() + mapped) as *mut libc::c_void,
                    to - mapped,
                    libc::MADV_POPULATE_WRITE,
                )
            };
        }
        old
    }
}

// SAFETY: blocks are disjoint ranges of the static (claimed atomically) or come from System;
// each pointer is routed back by the range it lies in.
unsafe impl<const N: usize> GlobalAlloc for Bump<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.claim(layout) {
            Some((start, _)) => (self.base() + start) as *mut u8,
            // SAFETY: the caller's layout contract passes through.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.claim(layout) {
            Some((start, high)) => {
                let ptr = (self.base() + start) as *mut u8;
                // Only bytes below the old high-water mark can hold a given-back block's data.
                let dirty = high.saturating_sub(start).min(layout.size());
                // SAFETY: the range was just claimed for this caller.
                unsafe { ptr.write_bytes(0, dirty) };
                ptr
            }
            // SAFETY: the caller's layout contract passes through.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset_of(ptr) {
            Some(offset) => {
                self.move_end(offset + layout.size(), offset);
            }
            // SAFETY: not ours, so System's.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(offset) = self.offset_of(ptr) else {
            // SAFETY: not ours, so System's; the caller's contract passes through.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        let old_end = offset + layout.size();
        if offset + new_size <= N && self.move_end(old_end, offset + new_size) {
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: the caller guarantees new_size is valid for the alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a fresh block of new_size bytes; the old one holds layout.size() bytes.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn newest_block_is_given_back_and_reused() {
        let bump = Box::new(Bump::<4096>::new());
        unsafe {
            let a = bump.alloc(layout(100, 8));
            let b = bump.alloc(layout(50, 8));
            assert_eq!(bump.offset_of(b), Some(112));
            bump.dealloc(b, layout(50, 8));
            assert_eq!(
                bump.alloc(layout(10, 8)),
                b,
                "the newest block's space is reused"
            );
            bump.dealloc(a, layout(100, 8));
            assert_eq!(
                bump.next.load(Ordering::Relaxed),
                122,
                "an older block is not"
            );
        }
    }

    #[test]
    fn newest_block_grows_in_place_and_others_move() {
        let bump = Box::new(Bump::<4096>::new());
        unsafe {
            let a = bump.alloc(layout(16, 8));
            a.write_bytes(7, 16);
            let grown = bump.realloc(a, layout(16, 8), 64);
            assert_eq!(grown, a);
            let b = bump.alloc(layout(8, 8));
            let moved = bump.realloc(a, layout(64, 8), 128);
            assert_ne!(moved, a);
            assert!(moved as usize > b as usize);
            assert_eq!(std::slice::from_raw_parts(moved, 16), &[7; 16]);
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_after_reuse() {
        let bump = Box::new(Bump::<4096>::new());
        unsafe {
            let a = bump.alloc(layout(256, 8));
            a.write_bytes(0xff, 256);
            bump.dealloc(a, layout(256, 8));
            let z = bump.alloc_zeroed(layout(512, 8));
            assert_eq!(z, a);
            assert!(std::slice::from_raw_parts(z, 512).iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn full_or_disabled_arena_falls_through_to_the_system() {
        let bump = Box::new(Bump::<4096>::new());
        unsafe {
            let big = bump.alloc(layout(8192, 8));
            assert_eq!(bump.offset_of(big), None, "too big for the arena");
            let grown = bump.realloc(bump.alloc(layout(4000, 8)), layout(4000, 8), 5000);
            assert_eq!(bump.offset_of(grown), None, "grown past the arena's end");
            bump.disabled.store(true, Ordering::Relaxed);
            let small = bump.alloc(layout(8, 8));
            assert_eq!(bump.offset_of(small), None, "disabled");
            bump.dealloc(big, layout(8192, 8));
            bump.dealloc(grown, layout(5000, 8));
            bump.dealloc(small, layout(8, 8));
        }
    }

    #[test]
    fn alignment_is_honoured_and_never_below_mallocs() {
        let bump = Box::new(Bump::<4096>::new());
        unsafe {
            bump.alloc(layout(3, 1));
            let p = bump.alloc(layout(64, 64));
            assert_eq!(p as usize % 64, 0);
            bump.alloc(layout(1, 1));
            let bytes = bump.alloc(layout(24, 1));
            assert_eq!(
                bytes as usize % MIN_ALIGN,
                0,
                "a byte buffer is aligned as malloc's"
            );
        }
    }
}
