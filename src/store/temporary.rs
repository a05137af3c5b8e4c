//! Temporary files: every file shelfwise writes goes first to a temporary name
//! that carries the writer's process id, then is renamed. A writer killed
//! before the rename leaves its temporary behind; the next open of the library
//! removes those whose writer is gone (and only those: another process may be
//! writing its own right now).

use std::path::{Path, PathBuf};

/// The temporary name `path` is written under by this process: in the same
/// folder (so the rename is atomic), keeping the extension last, since tch
/// picks a checkpoint's format by it (`best.4711.tmp.safetensors`).
pub fn temporary_path(path: &Path) -> PathBuf {
    let pid = std::process::id();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = match name.rsplit_once('.') {
        Some((stem, "safetensors")) => format!("{stem}.{pid}.tmp.safetensors"),
        _ => format!(".{name}.{pid}.tmp"),
    };
    path.with_file_name(temporary)
}

/// The process id a temporary file's name carries; `None` when `path` is not
/// a temporary file.
fn writer_of(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let rest = name
        .strip_suffix(".tmp.safetensors")
        .or_else(|| name.strip_suffix(".tmp"))?;
    let (_, pid) = rest.rsplit_once('.')?;
    pid.parse().ok()
}

/// True when `path` is a temporary file (named by [`temporary_path`], or by an
/// older shelfwise without a process id).
pub fn is_temporary(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".tmp") || name.ends_with(".tmp.safetensors")
}

/// True when `path` is a temporary file no running process is writing.
pub fn is_leftover(path: &Path) -> bool {
    if !is_temporary(path) {
        return false;
    }
    match writer_of(path) {
        Some(pid) => pid != std::process::id() && !process_is_alive(pid),
        // Without a process id: left when it is older than any write takes.
        None => older_than(path, std::time::Duration::from_secs(24 * 3600)),
    }
}

#[cfg(target_os = "linux")]
fn process_is_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Elsewhere a process id cannot be looked up without a crate for it: a
/// temporary counts as left once it is a day old.
#[cfg(not(target_os = "linux"))]
fn process_is_alive(_pid: u32) -> bool {
    true
}

fn older_than(path: &Path, age: std::time::Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|elapsed| elapsed > age)
}

/// The files in `dir` and in its subfolders `depth` levels down.
pub(crate) fn files_under(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() && depth > 0 => files.extend(files_under(&path, depth - 1)),
            Ok(kind) if kind.is_file() => files.push(path),
            _ => {}
        }
    }
    files
}

/// Removes the leftover temporary files of a library folder (covers, thumbnails,
/// run checkpoints and vocabularies); returns those removed.
pub fn remove_leftovers(root: &Path) -> Vec<PathBuf> {
    let mut candidates = files_under(&root.join("covers"), 1);
    candidates.extend(files_under(&root.join("thumbs"), 1));
    candidates.extend(files_under(&root.join("runs"), 1));
    candidates.extend(files_under(&root.join("graphs"), 0));
    candidates
        .into_iter()
        .filter(|path| is_leftover(path) && std::fs::remove_file(path).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_carry_the_writer_and_keep_a_checkpoints_extension() {
        let pid = std::process::id();
        let cover = temporary_path(Path::new("/lib/covers/ab/abcd.jpg"));
        assert_eq!(
            cover,
            Path::new(&format!("/lib/covers/ab/.abcd.jpg.{pid}.tmp"))
        );
        let best = temporary_path(Path::new("/lib/runs/3/best.safetensors"));
        assert_eq!(
            best,
            Path::new(&format!("/lib/runs/3/best.{pid}.tmp.safetensors"))
        );
        assert_eq!(writer_of(&cover), Some(pid));
        assert_eq!(writer_of(&best), Some(pid));
        assert_eq!(writer_of(Path::new("/lib/covers/ab/abcd.jpg")), None);
    }

    #[test]
    fn only_temporaries_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("covers/ab");
        let run = dir.path().join("runs/2");
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        // A process that has ended: a child that ran and was waited for.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let alive = std::process::id();
        let left = [
            shard.join(format!(".abcd.jpg.{dead}.tmp")),
            run.join(format!("best.{dead}.tmp.safetensors")),
        ];
        let kept = [
            shard.join(format!(".efgh.jpg.{alive}.tmp")),
            shard.join("abcd.jpg"),
            run.join("best.safetensors"),
            // No process id and written just now: perhaps still being written.
            shard.join(".old.jpg.tmp"),
        ];
        for file in left.iter().chain(&kept) {
            std::fs::write(file, b"x").unwrap();
        }
        let mut removed = remove_leftovers(dir.path());
        removed.sort();
        let mut expected = left.to_vec();
        expected.sort();
        assert_eq!(removed, expected);
        assert!(kept.iter().all(|file| file.is_file()));
    }
}
