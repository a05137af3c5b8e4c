//! Built neighbour graphs kept in the library folder between sessions, one
//! file per set of embeddings, named by their SHA-256: a library opened
//! again, or copied to another machine, loads its run's graph instead of
//! building it anew. Until a graph is ready every query is answered exactly,
//! which at 100,000 books is about 7 ms a query for the 9-15 s of a build,
//! and at 1,000,000 books about 106 ms a query for the 378 s of one (README,
//! "Scale").
//!
//! The name is the content: the same placements find their graph whatever
//! run, path or machine they come from, and placements that changed (a book
//! added, edited or removed) never meet a stale graph.

use std::path::PathBuf;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::graph::NeighbourGraph;
use crate::store::Library;
use crate::store::temporary::temporary_path;

/// The library's folder of kept graphs.
pub const GRAPHS_FOLDER: &str = "graphs";

/// Graphs kept at most; the least recently used beyond them are removed
/// (a run's placements and its covers-only placements are two graphs).
pub const KEPT_GRAPHS: usize = 4;

/// A kept graph's file name ends so.
const EXTENSION: &str = "usearch";

/// Where an index keeps its graph and finds it again.
#[derive(Debug, Clone)]
pub struct GraphShelf {
    folder: PathBuf,
    /// False for a library opened read-only: graphs are loaded, not written.
    writable: bool,
}

impl GraphShelf {
    pub fn new(folder: PathBuf, writable: bool) -> Self {
        Self { folder, writable }
    }

    /// The shelf of `library`'s folder.
    pub fn of_library(library: &Library) -> Self {
        Self::new(library.root().join(GRAPHS_FOLDER), !library.is_read_only())
    }

    /// The file the graph of `embeddings` (`dim` wide) is kept in: the
    /// graph's settings and the embeddings' bytes name it.
    pub fn file_for(&self, embeddings: &[f32], dim: usize) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(NeighbourGraph::settings_signature().as_bytes());
        hasher.update((dim as u64).to_le_bytes());
        for chunk in embeddings.chunks(4096) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            hasher.update(&bytes);
        }
        let digest = hasher.finalize();
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.folder.join(format!("{name}.{EXTENSION}"))
    }

    /// The kept graph of `embeddings`, when there is one and it reads back
    /// whole with one point per row; marked as just used.
    pub fn load(&self, embeddings: &[f32], dim: usize) -> Option<NeighbourGraph> {
        self.load_from(&self.file_for(embeddings, dim), embeddings, dim)
    }

    /// [`Self::load`] from `file`, [`Self::file_for`] the embeddings (named
    /// once by a caller that may keep the graph there next: naming reads
    /// every placement).
    pub(super) fn load_from(
        &self,
        file: &std::path::Path,
        embeddings: &[f32],
        dim: usize,
    ) -> Option<NeighbourGraph> {
        if !file.is_file() {
            return None;
        }
        let graph = NeighbourGraph::load(file, embeddings, dim)?;
        if self.writable {
            // The last use orders the graphs for removal; a file whose time
            // cannot be set is only removed sooner.
            let _ = std::fs::File::options()
                .append(true)
                .open(file)
                .and_then(|opened| opened.set_modified(SystemTime::now()));
        }
        Some(graph)
    }

    /// Keeps `graph`, built from `embeddings`, for the next session, then
    /// removes the least recently used graphs beyond [`KEPT_GRAPHS`]. Written
    /// through a temporary file and a rename, as every file of a library.
    pub fn keep(
        &self,
        embeddings: &[f32],
        dim: usize,
        graph: &NeighbourGraph,
    ) -> Result<(), ShelfError> {
        self.keep_at(&self.file_for(embeddings, dim), graph)
    }

    /// [`Self::keep`] in `file`, [`Self::file_for`] the graph's embeddings.
    pub(super) fn keep_at(
        &self,
        file: &std::path::Path,
        graph: &NeighbourGraph,
    ) -> Result<(), ShelfError> {
        if !self.writable {
            return Ok(());
        }
        std::fs::create_dir_all(&self.folder).map_err(|source| ShelfError::Write {
            path: self.folder.clone(),
            reason: source.to_string(),
        })?;
        let temporary = temporary_path(file);
        let written = graph
            .save(&temporary)
            .and_then(|()| std::fs::rename(&temporary, file).map_err(|e| e.to_string()));
        if let Err(reason) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(ShelfError::Write {
                path: file.to_path_buf(),
                reason,
            });
        }
        self.remove_beyond(KEPT_GRAPHS);
        Ok(())
    }

    /// The kept graphs' files, most recently used first.
    pub fn kept_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.folder) else {
            return Vec::new();
        };
        let mut files: Vec<(SystemTime, PathBuf)> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == EXTENSION))
            .map(|path| {
                let used = path
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                (used, path)
            })
            .collect();
        files.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        files.into_iter().map(|(_, path)| path).collect()
    }

    fn remove_beyond(&self, kept: usize) {
        for file in self.kept_files().into_iter().skip(kept) {
            // One left behind is removed by the next graph kept.
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Why a built graph could not be kept (it is built again next session).
#[derive(Debug, thiserror::Error)]
pub enum ShelfError {
    #[error("could not keep the neighbour graph in {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::recommend::graph::PendingGraph;

    fn unit_rows(rows: usize, dim: usize, seed: usize) -> Vec<f32> {
        (0..rows)
            .flat_map(|row| {
                let values: Vec<f32> = (0..dim)
                    .map(|i| ((row * 31 + i * 17 + seed * 7) as f32 * 0.37).sin())
                    .collect();
                let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
                values.into_iter().map(move |v| v / norm)
            })
            .collect()
    }

    /// A writable shelf in a folder of its own, removed when dropped.
    fn scratch_shelf() -> (tempfile::TempDir, GraphShelf) {
        let folder = tempfile::tempdir().unwrap();
        let shelf = GraphShelf::new(folder.path().to_path_buf(), true);
        (folder, shelf)
    }

    fn build_and_keep(shelf: &GraphShelf, embeddings: &[f32], dim: usize) {
        let graph = NeighbourGraph::build(embeddings, dim, &AtomicBool::new(false)).unwrap();
        shelf.keep(embeddings, dim, &graph).unwrap();
    }

    fn answers(graph: &NeighbourGraph, embeddings: &[f32], dim: usize) -> Vec<Vec<usize>> {
        (0..20)
            .map(|row| graph.search(&embeddings[row * dim..][..dim], 10, &|_| true))
            .collect()
    }

    /// The second index of the same placements loads the graph the first
    /// one built and kept, and it answers as the built one did.
    #[test]
    fn a_kept_graph_is_loaded_and_answers_as_the_built_one() {
        let folder = tempfile::tempdir().unwrap();
        let shelf = GraphShelf::new(folder.path().join(GRAPHS_FOLDER), true);
        let (rows, dim) = (1_500, 16);
        let embeddings: Arc<[f32]> = unit_rows(rows, dim, 1).into();
        let mut first = PendingGraph::start(Arc::clone(&embeddings), dim, Some(shelf.clone()));
        let built = first.wait().expect("a graph");
        assert!(!built.was_loaded());
        assert_eq!(shelf.kept_files(), vec![shelf.file_for(&embeddings, dim)]);
        let mut second = PendingGraph::start(Arc::clone(&embeddings), dim, Some(shelf.clone()));
        let loaded = second.wait().expect("a graph");
        assert!(loaded.was_loaded());
        assert_eq!(
            answers(loaded, &embeddings, dim),
            answers(built, &embeddings, dim)
        );

        // A library copied elsewhere finds it in its own folder.
        let elsewhere = tempfile::tempdir().unwrap();
        let moved = GraphShelf::new(elsewhere.path().join(GRAPHS_FOLDER), true);
        std::fs::create_dir_all(elsewhere.path().join(GRAPHS_FOLDER)).unwrap();
        let kept = shelf.file_for(&embeddings, dim);
        std::fs::copy(&kept, moved.file_for(&embeddings, dim)).unwrap();
        assert!(moved.load(&embeddings, dim).is_some());
    }

    /// Placements that changed in one value do not meet the graph of the
    /// old ones: they are another file.
    #[test]
    fn changed_placements_build_their_own_graph() {
        let (_folder, shelf) = scratch_shelf();
        let dim = 8;
        let old = unit_rows(600, dim, 2);
        let mut new = old.clone();
        new[5] = -new[5];
        assert_ne!(shelf.file_for(&old, dim), shelf.file_for(&new, dim));
        build_and_keep(&shelf, &old, dim);
        assert!(shelf.load(&new, dim).is_none());
        assert!(shelf.load(&old, dim).is_some());
    }

    /// A damaged file (a copy cut short) is not loaded: the graph is built
    /// again and kept whole.
    #[test]
    fn a_damaged_kept_graph_is_built_again() {
        let (_folder, shelf) = scratch_shelf();
        let (rows, dim) = (800, 8);
        let embeddings: Arc<[f32]> = unit_rows(rows, dim, 3).into();
        build_and_keep(&shelf, &embeddings, dim);
        let file = shelf.file_for(&embeddings, dim);
        let whole = std::fs::read(&file).unwrap();
        std::fs::write(&file, &whole[..whole.len() / 2]).unwrap();
        assert!(shelf.load(&embeddings, dim).is_none());
        let mut again = PendingGraph::start(Arc::clone(&embeddings), dim, Some(shelf.clone()));
        assert!(!again.wait().expect("a graph").was_loaded());
        assert!(shelf.load(&embeddings, dim).is_some());
    }

    /// The shelf keeps the most recently used graphs and removes the rest;
    /// a read-only one writes nothing.
    #[test]
    fn the_shelf_keeps_the_most_recently_used_graphs() {
        let (folder, shelf) = scratch_shelf();
        let dim = 8;
        let sets: Vec<Vec<f32>> = (0..=KEPT_GRAPHS)
            .map(|seed| unit_rows(300, dim, seed))
            .collect();
        for set in &sets {
            build_and_keep(&shelf, set, dim);
            // File times are coarse on some file systems.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kept = shelf.kept_files();
        assert_eq!(kept.len(), KEPT_GRAPHS);
        assert!(!kept.contains(&shelf.file_for(&sets[0], dim)));
        assert_eq!(kept[0], shelf.file_for(&sets[KEPT_GRAPHS], dim));

        let read_only = GraphShelf::new(folder.path().join("other"), false);
        build_and_keep(&read_only, &sets[0], dim);
        assert!(read_only.kept_files().is_empty());
        assert!(!folder.path().join("other").exists());
    }
}
