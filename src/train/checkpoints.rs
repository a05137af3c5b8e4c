//! A run's folder, `runs/<run>/`, in one place: the heads at their best epoch
//! (`best.safetensors`), after the last one (`last.safetensors`), and the
//! vocabulary the run's embedding table was built on (`vocabulary.json`), so
//! that retraining the library's word vectors later does not scramble its ids,
//! and its split (`split.json`): the categories in the classifier's row order
//! and the books it trained on and held out, so that a resumed run goes on
//! with the same books after an import, and a fine-tuned one keeps its
//! parent's held-out books held out.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn;

use super::TrainError;
use super::summary::HeldOutBook;
use crate::store::{BookId, RunId, write_file_atomically};
use crate::text::Vocab;

/// Which of a run's checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// The heads at the best validation macro-F1: what inference loads.
    Best,
    /// The heads after the last finished epoch: what `--resume` goes on from.
    Last,
}

/// The folder of one run's checkpoints and vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct StoredVocabulary {
    words: Vec<String>,
    surfaces: Vec<String>,
    counts: Vec<u64>,
}

/// The books a run trained on and held out, and its categories in the order
/// of the classifier's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSplit {
    pub categories: Vec<String>,
    pub train: Vec<BookId>,
    pub validation: Vec<BookId>,
}

/// A file of a run's folder that could not be read or written.
pub(crate) fn checkpoint_error(path: &Path, error: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint(format!("{}: {error}", path.display()))
}

impl RunDir {
    pub fn new(library_root: &Path, run_id: RunId) -> Self {
        Self {
            path: library_root.join("runs").join(run_id.to_string()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn checkpoint(&self, which: Checkpoint) -> PathBuf {
        self.path.join(match which {
            Checkpoint::Best => "best.safetensors",
            Checkpoint::Last => "last.safetensors",
        })
    }

    pub fn vocabulary_file(&self) -> PathBuf {
        self.path.join("vocabulary.json")
    }

    pub fn split_file(&self) -> PathBuf {
        self.path.join("split.json")
    }

    /// What the run said about each held-out book (the evaluation panel's
    /// confusion cells open these).
    pub fn held_out_file(&self) -> PathBuf {
        self.path.join("held_out.json")
    }

    pub fn create(&self) -> Result<(), TrainError> {
        std::fs::create_dir_all(&self.path).map_err(|e| checkpoint_error(&self.path, e))
    }

    /// Saves `store` through a temporary file and a rename, so a crash never
    /// leaves a half-written checkpoint under the real name.
    pub fn save(&self, store: &nn::VarStore, which: Checkpoint) -> Result<(), TrainError> {
        let path = self.checkpoint(which);
        let tmp = crate::store::temporary::temporary_path(&path);
        let saved = store
            .save(&tmp)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(tch::TchError::from));
        if saved.is_err() {
            // A full disk leaves no half-written checkpoint behind.
            let _ = std::fs::remove_file(&tmp);
        }
        saved.map_err(|e| checkpoint_error(&path, e))
    }

    pub fn load(&self, store: &mut nn::VarStore, which: Checkpoint) -> Result<(), TrainError> {
        let path = self.checkpoint(which);
        store.load(&path).map_err(|e| checkpoint_error(&path, e))
    }

    pub fn save_vocabulary(&self, vocab: &Vocab) -> Result<(), TrainError> {
        let stored = StoredVocabulary {
            words: vocab.words().to_vec(),
            surfaces: vocab.surfaces().to_vec(),
            counts: vocab.counts().to_vec(),
        };
        let path = self.vocabulary_file();
        let bytes = serde_json::to_vec(&stored).map_err(|e| checkpoint_error(&path, e))?;
        write_file_atomically(&path, &bytes).map_err(|e| TrainError::Checkpoint(e.to_string()))
    }

    /// The run's own vocabulary; `None` for runs saved before it was kept.
    pub fn load_vocabulary(&self) -> Result<Option<Vocab>, TrainError> {
        let path = self.vocabulary_file();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(checkpoint_error(&path, e)),
        };
        let stored: StoredVocabulary =
            serde_json::from_slice(&bytes).map_err(|e| checkpoint_error(&path, e))?;
        Ok(Some(Vocab::from_parts(
            stored.words,
            stored.surfaces,
            stored.counts,
        )))
    }
}

impl RunDir {
    pub fn save_split(&self, split: &RunSplit) -> Result<(), TrainError> {
        let path = self.split_file();
        let bytes = serde_json::to_vec(split).map_err(|e| checkpoint_error(&path, e))?;
        write_file_atomically(&path, &bytes).map_err(|e| TrainError::Checkpoint(e.to_string()))
    }

    /// The run's split; `None` for runs saved before it was kept.
    pub fn load_split(&self) -> Result<Option<RunSplit>, TrainError> {
        read_json(&self.split_file())
    }

    pub fn save_held_out(&self, books: &[HeldOutBook]) -> Result<(), TrainError> {
        let path = self.held_out_file();
        let bytes = serde_json::to_vec(books).map_err(|e| checkpoint_error(&path, e))?;
        write_file_atomically(&path, &bytes).map_err(|e| TrainError::Checkpoint(e.to_string()))
    }

    /// The run's held-out books as it predicted them; `None` for runs saved
    /// before they were kept.
    pub fn load_held_out(&self) -> Result<Option<Vec<HeldOutBook>>, TrainError> {
        read_json(&self.held_out_file())
    }
}

/// A JSON file of the run's folder; `None` when it is not there.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, TrainError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| checkpoint_error(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(checkpoint_error(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_names_its_files_once_and_keeps_its_vocabulary() {
        let library = tempfile::tempdir().unwrap();
        let dir = RunDir::new(library.path(), RunId(3));
        assert_eq!(dir.path(), library.path().join("runs/3"));
        assert_eq!(
            dir.checkpoint(Checkpoint::Best),
            library.path().join("runs/3/best.safetensors")
        );
        assert_eq!(dir.load_vocabulary().unwrap(), None);
        dir.create().unwrap();
        let vocab = Vocab::from_parts(vec!["sea".into()], vec!["seas".into()], vec![4]);
        dir.save_vocabulary(&vocab).unwrap();
        assert_eq!(dir.load_vocabulary().unwrap(), Some(vocab));
        assert_eq!(dir.load_split().unwrap(), None);
        let split = RunSplit {
            categories: vec!["Drama".into(), "Adventure".into()],
            train: vec![BookId(3), BookId(1)],
            validation: vec![BookId(2)],
        };
        dir.save_split(&split).unwrap();
        assert_eq!(dir.load_split().unwrap(), Some(split));
        std::fs::write(dir.split_file(), "{").unwrap();
        let error = dir.load_split().unwrap_err().to_string();
        assert!(error.contains("split.json"), "{error}");
    }
}
