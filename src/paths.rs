//! Where things live: the default library folder (from `directories`) and the
//! bundled demo library.

use std::path::PathBuf;

/// The library used when `--library` is not given: the platform's data folder,
/// e.g. `~/.local/share/shelfwise` on Linux.
pub fn default_library_dir() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("org", "shelfwise", "shelfwise")
        .map(|dirs| dirs.data_dir().join("library"))
        .ok_or_else(|| {
            anyhow::anyhow!("no home folder found for the default library; pass --library DIR")
        })
}

/// The bundled demo library (`assets/demo/books.csv`): `SHELFWISE_DEMO` when set,
/// else next to the executable, else in the source tree it was built from.
pub fn demo_books_csv() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("SHELFWISE_DEMO") {
        candidates.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        for ancestor in exe.ancestors().skip(1).take(4) {
            candidates.push(ancestor.join("assets/demo"));
        }
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo"));
    candidates
        .into_iter()
        .map(|dir| dir.join("books.csv"))
        .find(|csv| csv.is_file())
}
