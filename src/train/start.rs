//! What a run starts from: nothing (a new run), its own last checkpoint (a
//! resume) or a finished parent (a fine-tune); and so which words, category
//! rows and split it reads, kept in its folder for the next resume or child.

use std::collections::HashSet;

use super::TrainError;
use super::checkpoints::{Checkpoint, RunDir, RunSplit};
use super::config::TrainConfig;
use super::data::{CategoryOrder, Dataset, extended_vocabulary};
use super::split::stratified_split;
use crate::store::{BookId, Library, RunId};
use crate::text::Vocab;

/// Where a stopped run picks up: the epoch and step after the last ones
/// recorded, and the best epoch so far.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    pub next_epoch: usize,
    pub next_step: usize,
    pub best_epoch: usize,
    pub best_accuracy: f64,
    pub best_macro_f1: f64,
}

/// What a run starts from.
#[derive(Debug, Clone, Copy)]
pub enum RunStart<'a> {
    /// A new run: the library's words and categories, a new split.
    Fresh,
    /// A stopped run going on from its last checkpoint, with its own words,
    /// categories and split (books imported since are left for a fine-tune).
    Resume(&'a ResumePoint),
    /// A new run warm-started from this finished run's best checkpoint: its
    /// words, categories and split, grown by what the library has since.
    FineTune(RunId),
}

/// A fine-tuned run's parent, as its words and split were kept.
pub(crate) struct Parent {
    pub dir: RunDir,
    pub vocab: Vocab,
    pub split: RunSplit,
}

impl Parent {
    fn read(library: &Library, run: RunId) -> Result<Self, TrainError> {
        let dir = RunDir::new(library.root(), run);
        let unusable = |what: &str| TrainError::RunNotUsable {
            run,
            reason: format!(
                "it has no {what} in {} (runs trained before shelfwise kept one cannot be fine-tuned; train a new run)",
                dir.path().display()
            ),
        };
        let vocab = dir
            .load_vocabulary()?
            .ok_or_else(|| unusable("vocabulary"))?;
        let split = dir.load_split()?.ok_or_else(|| unusable("split"))?;
        if !dir.checkpoint(Checkpoint::Best).is_file() {
            return Err(unusable("best checkpoint"));
        }
        Ok(Self { dir, vocab, split })
    }
}

/// The words, category rows and kept split a run reads.
pub(crate) struct Basis {
    pub vocab: Vocab,
    /// A resumed run's own split, when it was kept.
    own_split: Option<RunSplit>,
    pub parent: Option<Parent>,
}

impl Basis {
    /// `library_vocab`: the words a new run would read.
    pub fn read(
        library: &Library,
        start: RunStart,
        run_dir: Option<&RunDir>,
        library_vocab: Vocab,
    ) -> Result<Self, TrainError> {
        let (own_vocab, own_split) = match (start, run_dir) {
            (RunStart::Resume(_), Some(dir)) => (dir.load_vocabulary()?, dir.load_split()?),
            _ => (None, None),
        };
        let parent = match start {
            RunStart::FineTune(run) => Some(Parent::read(library, run)?),
            _ => None,
        };
        let vocab = match (&parent, own_vocab) {
            (Some(parent), _) => extended_vocabulary(&parent.vocab, &library_vocab),
            (None, Some(own)) => own,
            (None, None) => library_vocab,
        };
        Ok(Self {
            vocab,
            own_split,
            parent,
        })
    }

    pub fn order(&self) -> CategoryOrder<'_> {
        match (&self.parent, &self.own_split) {
            (Some(parent), _) => CategoryOrder::Extended(&parent.split.categories),
            (None, Some(own)) => CategoryOrder::Fixed(&own.categories),
            (None, None) => CategoryOrder::Library,
        }
    }

    /// The training and held-out examples: a new split, or the kept one.
    pub fn split(&self, dataset: &Dataset, config: &TrainConfig) -> (Vec<usize>, Vec<usize>) {
        let kept = self
            .own_split
            .as_ref()
            .or(self.parent.as_ref().map(|p| &p.split));
        match kept {
            None => stratified_split(&dataset.labels(), config.validation_share, config.seed),
            Some(kept) => kept_split(dataset, kept, self.parent.is_some(), config),
        }
    }

    /// Keeps the run's words and split in its folder.
    pub fn save(
        &self,
        dir: &RunDir,
        dataset: &Dataset,
        (train, validation): (&[usize], &[usize]),
    ) -> Result<(), TrainError> {
        dir.create()?;
        dir.save_vocabulary(&self.vocab)?;
        let books = |indices: &[usize]| -> Vec<BookId> {
            indices
                .iter()
                .filter_map(|&i| dataset.examples[i].book_id)
                .collect()
        };
        dir.save_split(&RunSplit {
            categories: dataset.categories.clone(),
            train: books(train),
            validation: books(validation),
        })
    }
}

/// The split a run keeps: the kept split's books on their sides (books gone
/// from the library dropped); with `grow` (a fine-tune), the library's other
/// books split among themselves by the run's seed and share and added to
/// each side, so the old held-out books stay held out. Without it (a resume)
/// those books are left out.
fn kept_split(
    dataset: &Dataset,
    kept: &RunSplit,
    grow: bool,
    config: &TrainConfig,
) -> (Vec<usize>, Vec<usize>) {
    let kept_train: HashSet<BookId> = kept.train.iter().copied().collect();
    let kept_validation: HashSet<BookId> = kept.validation.iter().copied().collect();
    let (mut train, mut validation, mut new) = (Vec::new(), Vec::new(), Vec::new());
    for (index, example) in dataset.examples.iter().enumerate() {
        match example.book_id {
            Some(id) if kept_train.contains(&id) => train.push(index),
            Some(id) if kept_validation.contains(&id) => validation.push(index),
            _ => new.push(index),
        }
    }
    if grow {
        let labels: Vec<usize> = new.iter().map(|&i| dataset.examples[i].label).collect();
        let (new_train, new_validation) =
            stratified_split(&labels, config.validation_share, config.seed);
        train.extend(new_train.iter().map(|&i| new[i]));
        validation.extend(new_validation.iter().map(|&i| new[i]));
        train.sort_unstable();
        validation.sort_unstable();
    }
    (train, validation)
}
