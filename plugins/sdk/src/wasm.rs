//! The component glue used by [`crate::export_plugin!`] on `wasm32`: a [`Host`]
//! over the real WIT imports, and the three exports delegating to a [`Mapper`].

use std::cell::RefCell;
use std::collections::HashMap;

use crate::bindings::dialsync::plugin::{host as wit_host, types as wit};
use crate::{Host, LogLevel, Mapper, PhoneError};

thread_local! {
    /// Configuration values already read in this instance.
    static CONFIG: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
}

/// The host inside the dialsync runtime: every call is a WIT import.
pub struct WasmHost;

impl Host for WasmHost {
    fn log(&self, level: LogLevel, msg: &str) {
        wit_host::log(level.into(), msg);
    }

    /// Each key crosses into the host once per instance: the host gives every
    /// call a fresh instance, and the configuration cannot change during a call,
    /// so a mapper that reads its configuration per record (like custom-crm)
    /// pays one host call per key per batch instead of one per record.
    fn config(&self, key: &str) -> Option<String> {
        CONFIG.with(|cache| {
            if let Some(value) = cache.borrow().get(key) {
                return value.clone();
            }
            let value = wit_host::config(key);
            cache.borrow_mut().insert(key.to_owned(), value.clone());
            value
        })
    }

    fn normalize_phone(&self, raw: &str, region: Option<&str>) -> Result<String, PhoneError> {
        wit_host::normalize_phone(raw, region).map_err(Into::into)
    }
}

/// The `describe` export.
pub fn describe<M: Mapper>() -> wit::PluginInfo {
    M::describe(&WasmHost).into()
}

/// The `map` export.
pub fn map<M: Mapper>(records: &[String]) -> Vec<wit::MapOutcome> {
    allocator::call_started(records.len());
    let outcomes = crate::map_batch::<M, _>(&WasmHost, records)
        .into_iter()
        .map(Into::into)
        .collect();
    allocator::call_finished();
    outcomes
}

/// The allocator of every SDK plugin on `wasm32`: small blocks are bumped
/// out of regions the allocator grows linear memory for, everything else comes
/// from the system allocator (wasi-libc's dlmalloc), and frees are skipped once
/// `map` has built its result.
///
/// The host runs every call in a fresh instance and drops it right after the
/// call, so memory need not be reused within a call: a mapping allocates a few
/// KiB per record, mostly small strings and JSON maps. Bumping them (a free
/// gives a block back only when it was the last one handed out, which is what
/// a growing `Vec` or `String` does) made a mapping call 7–10 % faster than
/// dlmalloc in the `mapping` bench; talc measured no faster than dlmalloc.
/// Only a `map` call of at least `MIN_BUMPED_RECORDS` records bumps, in
/// regions sized by its record count (up to 2 MiB each); the regions are
/// capped at `BUMP_LIMIT` (8 MiB) per instance, after which every block comes
/// from dlmalloc and is reused as before, so a big batch costs at most that
/// much more memory, still under the host's cap.
///
/// After `map` has built its result, the canonical ABI's post-return step
/// frees each returned string and input record one by one (3.5 % of a call in
/// a `perf` profile) for memory nobody will use again: those frees are
/// skipped. Skipping a free can only leak, never corrupt, so an instance that
/// did get a second call would only use more memory.
///
/// Hand-written because it relies on the one-call lifetime of an instance,
/// which no allocator crate can assume. Single-threaded (`wasm32-wasip2` has
/// no threads), so the atomics below compile to plain loads and stores.
mod allocator {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::arch::wasm32;
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::Relaxed};

    /// Bytes of linear memory bump regions may take per instance.
    const BUMP_LIMIT: usize = 8 << 20;
    /// Largest block bumped; bigger ones come from dlmalloc.
    const MAX_BUMPED: usize = 64 << 10;
    /// Wasm page size.
    const PAGE: usize = 64 << 10;
    /// Records below which a call does not bump at all: growing memory for a
    /// region costs more than a few records' allocations save (a webhook's
    /// single record was 25 % slower with a 2 MiB region).
    const MIN_BUMPED_RECORDS: usize = 16;
    /// Bytes of region grown per record of the call (a mapping allocates
    /// about 4 KiB per record), and the largest region.
    const REGION_PER_RECORD: usize = 4 << 10;
    const MAX_REGION: usize = 2 << 20;

    /// Set when the export has built its result.
    static FINISHED: AtomicBool = AtomicBool::new(false);
    /// The current region: next free byte and end (0 before the first).
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static END: AtomicUsize = AtomicUsize::new(0);
    /// Bytes grown for bump regions so far.
    static GROWN: AtomicUsize = AtomicUsize::new(0);
    /// Pages of each region this call grows; 0 while not bumping.
    static REGION_PAGES: AtomicUsize = AtomicUsize::new(0);
    /// One bit per page of the 4 GiB address space, set for bump-region pages,
    /// so `dealloc` and `realloc` know whose a block is.
    static BUMP_PAGES: [AtomicU32; 1 << 11] = [const { AtomicU32::new(0) }; 1 << 11];

    /// Sizes the bump regions for a `map` call of `records` records (none
    /// for a small call).
    pub(super) fn call_started(records: usize) {
        let pages = if records < MIN_BUMPED_RECORDS {
            0
        } else {
            (records * REGION_PER_RECORD).clamp(PAGE, MAX_REGION) / PAGE
        };
        REGION_PAGES.store(pages, Relaxed);
    }

    pub(super) fn call_finished() {
        FINISHED.store(true, Relaxed);
    }

    /// Whether the bumped block at `ptr` of `size` bytes is the last handed out.
    fn is_last(ptr: *mut u8, size: usize) -> bool {
        ptr as usize + size == NEXT.load(Relaxed)
    }

    fn bumped(ptr: *mut u8) -> bool {
        let page = ptr as usize / PAGE;
        BUMP_PAGES[page / 32].load(Relaxed) & (1 << (page % 32)) != 0
    }

    /// Grows linear memory by one region; `false` when the call does not
    /// bump, at the cap, or when the memory cannot grow.
    fn grow_region() -> bool {
        let pages = REGION_PAGES.load(Relaxed);
        let bytes = pages * PAGE;
        if pages == 0 || GROWN.load(Relaxed) + bytes > BUMP_LIMIT {
            return false;
        }
        let first = wasm32::memory_grow(0, pages);
        if first == usize::MAX {
            GROWN.store(BUMP_LIMIT, Relaxed);
            return false;
        }
        let start = first * PAGE;
        // Keep the region's end a page below the 4 GiB top, so the sums in
        // `allocate` and `realloc` cannot wrap around.
        if start > usize::MAX - bytes - PAGE {
            GROWN.store(BUMP_LIMIT, Relaxed);
            return false;
        }
        for page in first..first + pages {
            BUMP_PAGES[page / 32].fetch_or(1 << (page % 32), Relaxed);
        }
        GROWN.fetch_add(bytes, Relaxed);
        // Memory grown right after the current region extends it.
        if start != END.load(Relaxed) {
            NEXT.store(start, Relaxed);
        }
        END.store(start + bytes, Relaxed);
        true
    }

    /// A bumped block, or one from dlmalloc when `layout` is too big or the
    /// regions are used up.
    ///
    /// # Safety
    /// `layout` has a non-zero size, as `GlobalAlloc::alloc` requires.
    unsafe fn allocate(layout: Layout) -> *mut u8 {
        if layout.size() <= MAX_BUMPED && layout.align() <= PAGE {
            loop {
                // `align` is a power of two: round up with a mask, not a division.
                let at = (NEXT.load(Relaxed) + layout.align() - 1) & !(layout.align() - 1);
                if at != 0 && at + layout.size() <= END.load(Relaxed) {
                    NEXT.store(at + layout.size(), Relaxed);
                    return at as *mut u8;
                }
                if !grow_region() {
                    break;
                }
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    struct BumpThenSystem;

    // SAFETY: a bumped block lies in memory only this allocator grew and hands
    // out once (a block is given back only while it is the last one, and the
    // next block then starts where it did); every other block is dlmalloc's and
    // is returned to it, or leaked, which is always sound.
    unsafe impl GlobalAlloc for BumpThenSystem {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { allocate(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if bumped(ptr) {
                if is_last(ptr, layout.size()) {
                    NEXT.store(ptr as usize, Relaxed);
                }
            } else if !FINISHED.load(Relaxed) {
                // SAFETY: a dlmalloc block, forwarded with the caller's guarantees.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if !bumped(ptr) {
                // SAFETY: a dlmalloc block, forwarded with the caller's guarantees.
                return unsafe { System.realloc(ptr, layout, new_size) };
            }
            let start = ptr as usize;
            // The last block shrinks, or grows while its region has room, in place.
            if is_last(ptr, layout.size())
                && new_size <= MAX_BUMPED.max(layout.size())
                && start + new_size <= END.load(Relaxed)
            {
                NEXT.store(start + new_size, Relaxed);
                return ptr;
            }
            if new_size <= layout.size() {
                return ptr;
            }
            // SAFETY: `new_size` is non-zero (it exceeds the old size) and the
            // caller guarantees it makes a valid layout with this alignment.
            let moved =
                unsafe { allocate(Layout::from_size_align_unchecked(new_size, layout.align())) };
            if !moved.is_null() {
                // SAFETY: both blocks are at least `layout.size()` long and distinct.
                unsafe { std::ptr::copy_nonoverlapping(ptr, moved, layout.size()) };
            }
            moved
        }
    }

    #[global_allocator]
    static ALLOCATOR: BumpThenSystem = BumpThenSystem;
}

/// The `action` export.
pub fn action<M: Mapper>(name: &str, input: &str) -> Result<String, wit::ActionError> {
    crate::run_action::<M>(&WasmHost, name, input).map_err(Into::into)
}
