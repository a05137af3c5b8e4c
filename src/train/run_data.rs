//! What a run trains on, gathered before its first step: the library's word
//! vectors, the run's vocabulary and split, the trunk's cached maps and the
//! examples.

use tch::{Device, Tensor};

use super::TrainError;
use super::batches::Layout;
use super::checkpoints::RunDir;
use super::config::TrainConfig;
use super::data::{Dataset, library_dataset, run_vocabulary};
use super::start::{Basis, Parent, RunStart};
use crate::jobs::{Cancel, Progress};
use crate::model::weights::TrunkProvenance;
use crate::store::Library;
use crate::text::corpus::{self, LibraryVectors};
use crate::text::{Vocab, Word2VecConfig};

/// What a run trains on: its examples, their split, its words and trunk.
pub(super) struct RunData {
    pub dataset: Dataset,
    pub labels: Vec<usize>,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub vectors: LibraryVectors,
    pub vocab: Vocab,
    pub provenance: TrunkProvenance,
    pub layout: Layout,
    /// The trunk's block 5, which a trainable copy starts from; `None` when
    /// block 5 stays frozen.
    pub block5_start: Option<Vec<(Tensor, Option<Tensor>)>>,
}

impl RunData {
    /// The library's word vectors (retrained when the corpus changed), the
    /// run's vocabulary and split (saved in its folder; a resumed run's own,
    /// a fine-tuned run's parent's grown by the new words and books), the
    /// trunk's feature cache and the examples.
    pub(super) fn prepare(
        library: &mut Library,
        config: &TrainConfig,
        (device, start): (Device, RunStart),
        run_dir: Option<&RunDir>,
        cancel: &Cancel,
    ) -> Result<(Self, Option<Parent>), TrainError> {
        let library_text = corpus::library_corpus(library)?;
        let (vectors, _) = corpus::vectors_for_corpus(
            library,
            &library_text,
            &Word2VecConfig::default(),
            &|_: Progress| {},
            &Cancel::new(false),
        )?;
        let (_trunk_store, trunk, provenance) = crate::embed::build_trunk(&config.trunk, device)?;
        let subwords = config.model.subword_buckets > 0;
        let library_vocab = run_vocabulary(&vectors.vectors.vocab, &library_text, subwords);
        let basis = Basis::read(library, start, run_dir, library_vocab)?;
        let dataset = library_dataset(
            library,
            &library_text,
            (&basis.vocab, basis.order()),
            &trunk,
            config,
            device,
            cancel,
        )?;
        let labels = dataset.labels();
        let (train, validation) = basis.split(&dataset, config);
        let trainable = (0..dataset.categories.len())
            .filter(|&c| labels.iter().filter(|&&l| l == c).count() >= 2)
            .count();
        if trainable < 2 {
            return Err(TrainError::TooFewBooks(format!(
                "{} books in {} categories",
                labels.len(),
                dataset.categories.len()
            )));
        }
        if let Some(dir) = run_dir {
            basis.save(dir, &dataset, (&train, &validation))?;
        }
        let Basis { vocab, parent, .. } = basis;
        let block5_start = config.trunk.train_block5.then(|| {
            trunk
                .block5_parameters()
                .into_iter()
                .map(|(weights, bias)| (weights.copy(), bias.map(|b| b.copy())))
                .collect()
        });
        let layout = Layout {
            channels: trunk.scale_channels,
            sides: config.trunk.cached_sides(),
            device,
        };
        let data = Self {
            dataset,
            labels,
            train,
            validation,
            vectors,
            vocab,
            provenance,
            layout,
            block5_start,
        };
        Ok((data, parent))
    }

    /// Validation books, or the training books when none are held out.
    pub(super) fn measured(&self) -> &[usize] {
        if self.validation.is_empty() {
            &self.train
        } else {
            &self.validation
        }
    }
}

/// The starting rows of a run's known words: each word's library vector where
/// the library's Word2Vec has one of the right width, zero otherwise (the
/// words below its minimum count, a fine-tuned run's words the library no
/// longer has; their n-grams or training place them).
pub(super) fn word_table(vectors: &LibraryVectors, vocab: &Vocab, word_dim: i64) -> Tensor {
    let library = &vectors.vectors;
    let dim = word_dim as usize;
    let mut table = vec![0f32; vocab.len() * dim];
    if library.dim == dim {
        for id in 0..vocab.unknown_id() {
            if let Some(row) = library.vocab.get(vocab.word(id)) {
                let (from, to) = (row as usize * dim, id as usize * dim);
                table[to..to + dim].copy_from_slice(&library.vectors[from..from + dim]);
            }
        }
    }
    Tensor::from_slice(&table).reshape([vocab.len() as i64, word_dim])
}
