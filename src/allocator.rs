//! How the process's allocator hands memory back to the system.
//!
//! glibc's malloc serves a block of more than a few megabytes from a fresh
//! `mmap` and unmaps it when it is freed, and gives the top of its heap back
//! once more than its trim threshold is free there. A training step allocates
//! and frees blocks of tens of megabytes (the word bag table's gradient is
//! 33.5 MB at the CPU defaults), so every step faulted those pages in anew
//! and had the kernel zero them: on openlibrary_covers5 an epoch of a fused
//! run took 20 s with glibc's defaults and 15-16.5 s with freed blocks kept
//! for the next step (`benches/pipeline.sh`, see the README's pipeline
//! section). It costs memory: a one-epoch run on 5,000 books peaked at
//! 2,668 MB against 2,329 MB without it.

/// Largest block served from the heap rather than a fresh mapping, and the
/// free memory at the heap's top kept rather than given back: large enough
/// for a step's tensors, bounded so that a burst (a 100,000-book run reading
/// its books) is still given back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEPT_BYTES: libc::c_int = 1 << 30;

/// Keeps freed blocks up to [`KEPT_BYTES`] in the process for reuse, instead
/// of unmapping them at once. Call first thing in `main`, before threads
/// start. Does nothing outside glibc, whose allocators keep freed memory of
/// their own accord.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes two of malloc's settings; it is called
    // before any other thread allocates.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEPT_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEPT_BYTES);
    }
}
