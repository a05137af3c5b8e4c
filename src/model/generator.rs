//! libtorch's one random generator, shared by every thread of the process.
//! Building a module draws its starting weights from it (tch's default
//! initialisations), so a run's heads are seeded and built with the
//! generator to themselves: any other module built meanwhile on another
//! thread (the next run's trunk, the window's copy of a trained run) would
//! take draws out of the seeded sequence, and the run would start from other
//! weights depending on timing.

use std::sync::Mutex;

static GENERATOR: Mutex<()> = Mutex::new(());

/// Runs `build` with libtorch's generator to itself, seeded with `seed`
/// first when one is given. Every module built outside a test goes through
/// here, so that seeded builds see the same draws whatever else is built at
/// the same time.
pub fn with_generator<T>(seed: Option<u64>, build: impl FnOnce() -> T) -> T {
    let _held = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(seed) = seed {
        tch::manual_seed(seed as i64);
    }
    build()
}
