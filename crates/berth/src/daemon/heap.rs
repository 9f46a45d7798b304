//! Keeping the idle daemon small. glibc's malloc keeps what a burst of work freed (fifty
//! concurrent starts, a pull) in per-thread arenas, so a daemon that was busy once stays at its
//! peak. Two arenas are enough for a daemon with two workers, and what is free is handed back
//! to the kernel once things are quiet.

use std::time::Duration;

/// How often freed heap is returned: rare enough to cost nothing, soon enough that an idle
/// daemon is small again a few seconds after a burst.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Caps glibc's arenas; call before the runtime's threads start.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free heap pages to the kernel every few seconds, for the life of the daemon.
pub async fn trim_forever() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        berth_engine::heap::release_free_heap();
    }
}
