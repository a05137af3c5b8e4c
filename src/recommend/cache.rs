//! The run and index the last query was ranked against, kept for the next
//! one: loading a run and reading its placements of 100,000 books takes
//! seconds, a query on them milliseconds. Reused while the run, the
//! modalities and the library's books are the same.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{EmbeddingIndex, Query, RecommendError, modality_index, query_modalities};
use crate::inference::TrainedRun;
use crate::jobs::{Cancel, OnProgress};
use crate::store::{Library, RunId};

/// What a kept index was built from.
#[derive(Clone, PartialEq)]
struct Key {
    run_id: RunId,
    /// The run's stored summary: run ids are reused when the newest run is
    /// deleted, and a new run under the old id has another summary.
    run_summary: Option<String>,
    /// An image query ranks against the covers' placements alone.
    covers_only: bool,
    books: String,
}

struct Kept {
    key: Key,
    run: TrainedRun,
    index: EmbeddingIndex,
}

/// The library a query reads, opened once for the queries that follow: a
/// library opened anew for each query looked through its folders for
/// leftover temporary files first (100,000 covers and as many thumbnails).
struct QueryLibrary {
    folder: PathBuf,
    library: Library,
}

#[derive(Default)]
struct KeptState {
    library: Option<QueryLibrary>,
    kept: Option<Kept>,
}

/// Shared between the window and its query jobs (clones share one index;
/// libtorch's tensors are not `Sync`, so one query at a time holds it).
#[derive(Clone, Default)]
pub struct IndexCache {
    state: Arc<Mutex<KeptState>>,
}

impl IndexCache {
    /// The library in `folder` (kept open from an earlier query, or opened),
    /// the run `run_id` and the index `query` is ranked against
    /// ([`query_modalities`]): the kept ones when they were built from the
    /// same run, kind of index and books, else loaded (`load_run`), built and
    /// kept for the next query. Held until the returned guard is dropped.
    pub fn prepare(
        &self,
        folder: &Path,
        run_id: RunId,
        query: &Query,
        load_run: impl FnOnce(&Library) -> Result<TrainedRun, RecommendError>,
        progress: OnProgress,
        cancel: &Cancel,
    ) -> Result<PreparedIndex<'_>, RecommendError> {
        let mut state = self.lock();
        let state_now = &mut *state;
        if state_now
            .library
            .as_ref()
            .is_none_or(|open| open.folder != folder)
        {
            state_now.kept = None;
            state_now.library = Some(QueryLibrary {
                folder: folder.to_path_buf(),
                library: Library::open(folder)?,
            });
        }
        let library = &mut state_now.library.as_mut().expect("opened above").library;
        let key = Key {
            run_id,
            run_summary: library.run_record(run_id)?.and_then(|r| r.summary),
            covers_only: matches!(query, Query::Image(_)),
            books: library.books_fingerprint()?,
        };
        if state_now.kept.as_ref().is_none_or(|kept| kept.key != key) {
            state_now.kept = None;
            let run = load_run(library)?;
            let modalities = query_modalities(&run, query);
            let mut index = modality_index(library, &run, modalities, progress, cancel)?;
            index.keep_words(library)?;
            index.keep_summaries(library)?;
            // Building the index may have stored placements, never books.
            state_now.kept = Some(Kept { key, run, index });
        }
        Ok(PreparedIndex { state })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeptState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A kept library, run and index, held for one query.
pub struct PreparedIndex<'a> {
    state: std::sync::MutexGuard<'a, KeptState>,
}

impl PreparedIndex<'_> {
    pub fn library(&self) -> &Library {
        &self.state.library.as_ref().expect("prepared").library
    }

    pub fn run(&self) -> &TrainedRun {
        &self.kept().run
    }

    pub fn index(&self) -> &EmbeddingIndex {
        &self.kept().index
    }

    fn kept(&self) -> &Kept {
        self.state.kept.as_ref().expect("prepared")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_change_shows_in_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let empty = library.books_fingerprint().unwrap();
        let book = crate::store::NewBook {
            external_id: "b1".into(),
            title: "One".into(),
            author: "A".into(),
            synopsis: String::new(),
            category: "Drama".into(),
            language: None,
            cover: None,
        };
        library.upsert_books(&[book], "test").unwrap();
        let one = library.books_fingerprint().unwrap();
        assert_ne!(empty, one);
        assert_eq!(
            one,
            library.books_fingerprint().unwrap(),
            "stable while unchanged"
        );
        let id = library.book_id_by_external("b1").unwrap().unwrap();
        library.trash_books(&[id]).unwrap();
        assert_ne!(
            one,
            library.books_fingerprint().unwrap(),
            "a deletion changes it"
        );
        let trashed = library.books_fingerprint().unwrap();
        library.restore_books(&[id]).unwrap();
        let restored = library.books_fingerprint().unwrap();
        assert_ne!(trashed, restored, "a restore changes it");
        let edit = crate::store::BookEdit {
            synopsis: Some("A new synopsis.".into()),
            ..Default::default()
        };
        library.edit_book(id, &edit).unwrap();
        let edited = library.books_fingerprint().unwrap();
        assert_ne!(restored, edited, "an edit changes it");
        // Reading the books' languages changes no book's text: the index
        // stays (a training run's start reads them).
        library
            .set_detected_languages(&[(id, Some("en".into()))])
            .unwrap();
        assert_eq!(edited, library.books_fingerprint().unwrap());
    }
}
