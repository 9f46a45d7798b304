//! Handing freed heap back to the kernel. glibc's malloc keeps freed pages for reuse until told
//! otherwise; musl's gives them back as it goes, so there it is nothing to do.

/// Returns the pages malloc holds free to the kernel, where the allocator keeps them.
pub fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases pages malloc holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}
