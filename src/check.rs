//! `shelfwise check`: what a library folder should hold against what it
//! holds. SQLite's own integrity check; every cover present and hashing to
//! its name, with its thumbnail; files nobody names (orphans, temporary files
//! a crash left); runs whose process died, finished runs without their best
//! checkpoint, run folders without a run. With `repair`, what can be mended is:
//! orphans and temporary files removed, thumbnails rebuilt, covers that are
//! gone or damaged forgotten (their books keep every other field).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::import::cover::{file_hash, restore_cover_files};
use crate::store::{Library, RunStatus, StoreError, StoredCover, temporary};
use crate::train::{Checkpoint, RunDir, TrainError, list_runs};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One thing found wrong, and whether `--repair` mended it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `database`, `missing_cover`, `damaged_cover`, `missing_thumbnail`,
    /// `orphan_file`, `temporary_file`, `interrupted_run`, `missing_checkpoint`
    /// or `orphan_run_folder`.
    pub kind: &'static str,
    /// The file, folder or run it is about.
    pub subject: String,
    pub detail: String,
    pub repaired: bool,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Findings left as they were.
    pub fn unrepaired(&self) -> usize {
        self.findings.iter().filter(|f| !f.repaired).count()
    }
}

fn finding(kind: &'static str, subject: impl ToString, detail: impl Into<String>) -> Finding {
    Finding {
        kind,
        subject: subject.to_string(),
        detail: detail.into(),
        repaired: false,
    }
}

/// Every file two levels under `dir` (the shard folders of covers and thumbnails).
fn sharded_files(dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckError::Io { path, source }
    };
    let mut files = Vec::new();
    let Ok(shards) = std::fs::read_dir(dir) else {
        return Ok(files);
    };
    for shard in shards {
        let shard = shard.map_err(io(dir))?.path();
        if !shard.is_dir() {
            files.push(shard);
            continue;
        }
        for file in std::fs::read_dir(&shard).map_err(io(&shard))? {
            files.push(file.map_err(io(&shard))?.path());
        }
    }
    Ok(files)
}

fn check_cover(library: &mut Library, cover: &StoredCover, repair: bool) -> Option<Finding> {
    let cover_file = library.cover_path(&cover.file_name);
    let hash = file_hash(&cover_file).ok();
    let mut found = match hash.as_deref() {
        None => finding(
            "missing_cover",
            cover_file.display(),
            "the cover file is gone",
        ),
        Some(hash) if hash != cover.cover_hash => finding(
            "damaged_cover",
            cover_file.display(),
            "the file no longer hashes to its name",
        ),
        Some(_) if !library.thumb_path(&cover.thumb_name).is_file() => {
            let mut found = finding(
                "missing_thumbnail",
                library.thumb_path(&cover.thumb_name).display(),
                "the thumbnail is gone",
            );
            found.repaired = repair && restore_cover_files(library.root(), &cover_file).is_ok();
            return Some(found);
        }
        Some(_) => return None,
    };
    if repair && library.forget_cover(&cover.cover_hash).is_ok() {
        // What is left of it, a damaged file and its thumbnail, goes too.
        for file in [cover_file, library.thumb_path(&cover.thumb_name)] {
            let _ = std::fs::remove_file(file);
        }
        found.repaired = true;
    }
    Some(found)
}

/// Covers and thumbnails: each stored one whole, and no file nobody names.
fn check_cover_files(library: &mut Library, repair: bool) -> Result<Vec<Finding>, CheckError> {
    let covers = library.stored_covers()?;
    let mut findings = Vec::new();
    let mut named = HashSet::new();
    for cover in covers.values() {
        named.insert(library.cover_path(&cover.file_name));
        named.insert(library.thumb_path(&cover.thumb_name));
        findings.extend(check_cover(library, cover, repair));
    }
    for folder in ["covers", "thumbs"] {
        for file in sharded_files(&library.root().join(folder))? {
            if named.contains(&file) {
                continue;
            }
            let (kind, detail) = if temporary::is_temporary(&file) {
                if !temporary::is_leftover(&file) {
                    continue; // another process is writing it now
                }
                ("temporary_file", "left by a write that did not finish")
            } else {
                ("orphan_file", "no book or cover names it")
            };
            let mut found = finding(kind, file.display(), detail);
            found.repaired = repair && std::fs::remove_file(&file).is_ok();
            findings.push(found);
        }
    }
    Ok(findings)
}

/// Runs: interrupted ones, finished ones without their best checkpoint, and
/// run folders without a run.
fn check_runs(library: &mut Library, repair: bool) -> Result<Vec<Finding>, CheckError> {
    let runs = list_runs(library)?;
    let mut findings = Vec::new();
    for run in &runs {
        let run_dir = RunDir::new(library.root(), run.run_id);
        if run.status == RunStatus::Interrupted {
            let detail = format!(
                "its process died; `shelfwise train --resume {}`",
                run.run_id
            );
            findings.push(finding(
                "interrupted_run",
                format!("run {}", run.run_id),
                detail,
            ));
        }
        let best = run_dir.checkpoint(Checkpoint::Best);
        if run.status == RunStatus::Finished && !best.is_file() {
            let detail = format!("{} is gone; the run cannot be used", best.display());
            findings.push(finding(
                "missing_checkpoint",
                format!("run {}", run.run_id),
                detail,
            ));
        }
    }
    let known: HashSet<String> = runs.iter().map(|r| r.run_id.to_string()).collect();
    let Ok(folders) = std::fs::read_dir(library.root().join("runs")) else {
        return Ok(findings);
    };
    for folder in folders.flatten() {
        let name = folder.file_name().to_string_lossy().into_owned();
        if folder.path().is_dir() && !known.contains(&name) {
            let mut found = finding(
                "orphan_run_folder",
                folder.path().display(),
                "no run has it",
            );
            found.repaired = repair && std::fs::remove_dir_all(folder.path()).is_ok();
            findings.push(found);
        }
    }
    Ok(findings)
}

/// Checks the library in `library_root`, mending what `repair` can.
pub fn check_library(library_root: &Path, repair: bool) -> Result<CheckReport, CheckError> {
    let mut library = Library::open(library_root)?;
    if repair {
        library.ensure_writable("check --repair")?;
    }
    let mut findings = Vec::new();
    let integrity = library.integrity_check()?;
    if integrity != "ok" {
        findings.push(finding("database", library_root.display(), integrity));
    }
    for removed in library.removed_temporaries() {
        let mut found = finding(
            "temporary_file",
            removed.display(),
            "left by a write that did not finish; removed when the library opened",
        );
        found.repaired = true;
        findings.push(found);
    }
    findings.extend(check_cover_files(&mut library, repair)?);
    findings.extend(check_runs(&mut library, repair)?);
    Ok(CheckReport { findings })
}
