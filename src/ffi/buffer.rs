//! Buffers handed to C (`*_to_buffer`) and `bb_buffer_free`.
//!
//! The library keeps every buffer it hands out in a table, keyed by its
//! address, so that freeing needs only the pointer: the caller's `len` is
//! not trusted (a binding that keeps only the pointer, or passes 0, frees
//! correctly), and a pointer the library does not hold (never handed out,
//! or freed already) is ignored instead of reaching the allocator. The buffer is the
//! core's `Vec` itself, handed out without a copy, so a download still
//! allocates once, at its final size, when the server sends Content-Length.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ffi_guard;

/// Buffers held by C, by address, behind [`lock`].
struct Table(UnsafeCell<Option<HashMap<usize, Vec<u8>>>>);
// SAFETY: only touched through `lock`, which lets one thread at a time in.
unsafe impl Sync for Table {}
static BUFFERS: Table = Table(UnsafeCell::new(None));

/// The table's lock: a flag, so that a fork can hold it across. A lock held
/// by another thread at the moment of a fork() would stay locked forever in
/// the child; so the forking thread takes it first (a `pthread_atfork`
/// handler, registered before the lock is first taken) and both processes
/// release it after. It is only ever held for a table lookup or insertion.
static LOCKED: AtomicBool = AtomicBool::new(false);
static FORK_HANDLERS: AtomicBool = AtomicBool::new(false);

fn acquire() {
    while LOCKED
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

extern "C" fn acquire_before_fork() {
    acquire();
}

extern "C" fn release_after_fork() {
    LOCKED.store(false, Ordering::Release);
}

struct Locked;

impl Locked {
    fn table(&mut self) -> &mut HashMap<usize, Vec<u8>> {
        // SAFETY: this thread holds the lock while `self` lives.
        unsafe { &mut *BUFFERS.0.get() }.get_or_insert_with(HashMap::new)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        LOCKED.store(false, Ordering::Release);
    }
}

fn lock() -> Locked {
    if !FORK_HANDLERS.swap(true, Ordering::AcqRel) {
        // SAFETY: the handlers only flip an atomic; the library is never
        // unmapped (-z nodelete), so they stay valid.
        unsafe {
            libc::pthread_atfork(
                Some(acquire_before_fork),
                Some(release_after_fork),
                Some(release_after_fork),
            )
        };
    }
    acquire();
    Locked
}

/// Hands `data` to C: `*out_data` and `*out_len`, until `bb_buffer_free`.
///
/// # Safety
/// Both outputs are non-NULL and writable.
pub(crate) unsafe fn give_buffer(mut data: Vec<u8>, out_data: *mut *mut u8, out_len: *mut usize) {
    // The caller holds the buffer as long as it likes: no spare capacity
    // (there is none when the server sent Content-Length).
    data.shrink_to_fit();
    if data.capacity() == 0 {
        // An empty Vec has no address of its own; give it one, so that no two
        // buffers share a key. (A downloaded archive is never empty.)
        data.reserve_exact(1);
    }
    let len = data.len();
    let ptr = data.as_mut_ptr();
    lock().table().insert(ptr as usize, data);
    // SAFETY: the caller promises both outputs are non-NULL and writable.
    unsafe {
        *out_len = len;
        *out_data = ptr;
    }
}

/// Hands `data` out as a `*_to_buffer` function does, for tests that need
/// many buffers without a server (`bb_buffer_free` frees it).
#[doc(hidden)]
pub fn buffer_for_tests(data: Vec<u8>) -> (*mut u8, usize) {
    let (mut ptr, mut len) = (std::ptr::null_mut(), 0);
    // SAFETY: both outputs are local.
    unsafe { give_buffer(data, &mut ptr, &mut len) };
    (ptr, len)
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
            let buffer = lock().table().remove(&(data as usize));
            drop(buffer);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn give(data: Vec<u8>) -> (*mut u8, usize) {
        let (mut ptr, mut len) = (std::ptr::null_mut(), 0);
        // SAFETY: both outputs are local.
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
            // SAFETY: `a` is a live buffer of `a_len` bytes until freed below.
            unsafe { std::slice::from_raw_parts(a, a_len) },
            &[7u8; 1000][..]
        );
        assert!(a != b && b != c && a != c);
        let capacity = |p: *mut u8| lock().table()[&(p as usize)].capacity();
        assert_eq!((capacity(a), capacity(b), capacity(c)), (1000, 1, 1));
        let held = |p: *mut u8| lock().table().contains_key(&(p as usize));
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
