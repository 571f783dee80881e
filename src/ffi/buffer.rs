//! Buffers handed to C (`*_to_buffer`) and `bb_buffer_free`.
//!
//! The library keeps every buffer it hands out in a table, keyed by its
//! address, so that freeing needs only the pointer: the caller's `len` is
//! not trusted (a binding that keeps only the pointer, or passes 0, frees
//! correctly), and a pointer the library does not hold (never handed out,
//! or freed already) is ignored instead of reaching the allocator. The buffer is the
//! core's `Vec` itself, handed out without a copy, so a download still
//! allocates once, at its final size, when the server sends Content-Length.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::ffi_guard;

/// Buffers held by C, by address.
static BUFFERS: Mutex<Option<HashMap<usize, Vec<u8>>>> = Mutex::new(None);

fn buffers() -> MutexGuard<'static, Option<HashMap<usize, Vec<u8>>>> {
    // The table is consistent between statements: a panic elsewhere while
    // it was locked leaves nothing half-done.
    BUFFERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands `data` to C: `*out_data` and `*out_len`, until `bb_buffer_free`.
///
/// # Safety
/// Both outputs are non-NULL and writable.
pub(crate) unsafe fn give_buffer(mut data: Vec<u8>, out_data: *mut *mut u8, out_len: *mut usize) {
    if data.capacity() == 0 {
        // An empty Vec has no address of its own; give it one, so that no two
        // buffers share a key. (A downloaded archive is never empty.)
        data.reserve_exact(1);
    }
    let len = data.len();
    let ptr = data.as_mut_ptr();
    buffers()
        .get_or_insert_with(HashMap::new)
        .insert(ptr as usize, data);
    *out_len = len;
    *out_data = ptr;
}

/// How many buffers C holds now (for tests).
#[doc(hidden)]
pub fn outstanding_buffers() -> usize {
    buffers().as_ref().map_or(0, HashMap::len)
}

/// Frees a buffer returned by a `*_to_buffer` function. `data` NULL is fine.
///
/// `len` is not needed and not trusted: the library remembers each buffer's
/// size itself, so a wrong `len`, or 0, frees the buffer all the same
/// (`len` stays in the signature for callers written against it). A `data`
/// that is not a buffer the library currently holds for the caller is
/// ignored rather than handed to an allocator; still, free each buffer
/// once: after a free, its address may be reused by the next buffer.
///
/// Use this function, never `free()`: the buffer comes from the library's
/// allocator, which need not be the one `free()` belongs to (a program may
/// link another C runtime or allocator than the library's), and the library
/// may change how it allocates in any release.
///
/// Ownership: takes ownership of `data`.
#[no_mangle]
pub extern "C" fn bb_buffer_free(data: *mut u8, len: usize) {
    let _ = len;
    ffi_guard!(value: (), {
        if !data.is_null() {
            // Removed under the lock, dropped (freed) after it.
            let buffer = buffers().as_mut().and_then(|t| t.remove(&(data as usize)));
            drop(buffer);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn give(data: Vec<u8>) -> (*mut u8, usize) {
        let (mut ptr, mut len) = (std::ptr::null_mut(), 0);
        unsafe { give_buffer(data, &mut ptr, &mut len) };
        (ptr, len)
    }

    #[test]
    fn a_buffer_is_freed_whatever_len_says_and_a_foreign_pointer_is_ignored() {
        let (a, a_len) = give(vec![7u8; 1000]);
        let (b, b_len) = give(Vec::with_capacity(4096));
        let (c, _) = give(Vec::new());
        assert_eq!((a_len, b_len), (1000, 0));
        assert_eq!(
            unsafe { std::slice::from_raw_parts(a, a_len) },
            &[7u8; 1000][..]
        );
        assert!(a != b && b != c && a != c);
        let held = |p: *mut u8| buffers().as_ref().unwrap().contains_key(&(p as usize));
        bb_buffer_free(a, 0);
        bb_buffer_free(b, 12345);
        bb_buffer_free(c, usize::MAX);
        assert!(!held(a) && !held(b) && !held(c));
        // Again, and a pointer that never came from here: ignored.
        bb_buffer_free(a, a_len);
        let mut local = 5u8;
        bb_buffer_free(&mut local, 1);
        bb_buffer_free(std::ptr::null_mut(), 0);
        assert_eq!(local, 5);
    }
}
