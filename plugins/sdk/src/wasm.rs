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
    let outcomes = crate::map_batch::<M, _>(&WasmHost, records)
        .into_iter()
        .map(Into::into)
        .collect();
    allocator::call_finished();
    outcomes
}

/// The allocator of every SDK plugin on `wasm32`: the system allocator
/// (wasi-libc's dlmalloc), except that frees are skipped once `map` has built
/// its result.
///
/// The host runs every call in a fresh instance and drops the instance right
/// after the canonical ABI's post-return step, which frees each returned
/// string and the input records one by one: 3.5 % of a mapping call in a
/// `perf` profile, for memory nobody will use again. Skipping a free can only
/// leak, never corrupt, so an instance that did get a second call would only
/// use more memory (still under the host's cap). Hand-written because it is a
/// flag in front of `System`, which no allocator crate offers.
mod allocator {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Set when the export has built its result.
    static FINISHED: AtomicBool = AtomicBool::new(false);

    pub(super) fn call_finished() {
        FINISHED.store(true, Ordering::Relaxed);
    }

    struct FreeUntilFinished;

    // SAFETY: every allocation comes from `System`; `dealloc` either returns
    // the block to `System` or leaves it allocated, which is always sound.
    unsafe impl GlobalAlloc for FreeUntilFinished {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if !FINISHED.load(Ordering::Relaxed) {
                // SAFETY: forwarded with the caller's guarantees.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: FreeUntilFinished = FreeUntilFinished;
}

/// The `action` export.
pub fn action<M: Mapper>(name: &str, input: &str) -> Result<String, wit::ActionError> {
    crate::run_action::<M>(&WasmHost, name, input).map_err(Into::into)
}
