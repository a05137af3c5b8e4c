//! One run from start to summary, as orchestration over the small parts of
//! this module: prepare the data, build the heads, train epoch after epoch
//! (validating, checkpointing and keeping the best), then the tables.

use std::sync::Mutex;

use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Tensor};

use super::averaging::WeightAverage;
use super::batches::{Dropouts, Layout, batch_tensors};
use super::checkpoints::{Checkpoint, RunDir};
use super::config::TrainConfig;
use super::data::{Dataset, cover_statistics, library_dataset, run_vocabulary};
use super::predict::Predictor;
use super::split::{epoch_rng, pk_batches};
use super::start::{Basis, Parent};
pub use super::start::{ResumePoint, RunStart};
use super::summary::RunSummary;
use super::validation::validation_tables;
use super::warm_start::warm_start;
use super::word_classifier;
use super::{TrainError, TrainEvent, schedule};
use crate::eval::ConfusionMatrix;
use crate::jobs::{Cancel, Progress, is_cancelled};
use crate::model::block5::BLOCK5_GROUP;
use crate::model::weights::TrunkProvenance;
use crate::model::word_bag::WORD_BAG_GROUP;
use crate::model::{FusionHeads, loss};
use crate::store::{Library, Modalities};
use crate::text::corpus::{self, LibraryVectors};
use crate::text::{Vocab, Word2VecConfig};

/// Serialises the seeding and initialisation of heads: libtorch's generator is
/// global, so models built at once on other threads (a window training while
/// it embeds) must not draw from the same sequence.
pub(crate) static HEADS_INITIALISATION: Mutex<()> = Mutex::new(());

/// What a run trains on: its examples, their split, its words and trunk.
struct RunData {
    dataset: Dataset,
    labels: Vec<usize>,
    train: Vec<usize>,
    validation: Vec<usize>,
    vectors: LibraryVectors,
    vocab: Vocab,
    provenance: TrunkProvenance,
    layout: Layout,
    /// The trunk's block 5, which a trainable copy starts from; `None` when
    /// block 5 stays frozen.
    block5_start: Option<Vec<(Tensor, Option<Tensor>)>>,
}

impl RunData {
    /// The library's word vectors (retrained when the corpus changed), the
    /// run's vocabulary and split (saved in its folder; a resumed run's own,
    /// a fine-tuned run's parent's grown by the new words and books), the
    /// trunk's feature cache and the examples.
    fn prepare(
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
    fn measured(&self) -> &[usize] {
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
fn word_table(vectors: &LibraryVectors, vocab: &Vocab, word_dim: i64) -> Tensor {
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

/// The heads being trained, with their variables and settings.
struct Trainer<'a> {
    config: &'a TrainConfig,
    data: &'a RunData,
    run_dir: Option<&'a RunDir>,
    store: nn::VarStore,
    heads: FusionHeads,
    embedding_dim: usize,
}

impl<'a> Trainer<'a> {
    /// Heads seeded by the run's seed, their word table started from the
    /// library's vectors (words without one start at zero).
    fn new(config: &'a TrainConfig, data: &'a RunData, run_dir: Option<&'a RunDir>) -> Self {
        let initialising = HEADS_INITIALISATION
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tch::manual_seed(config.seed as i64);
        let store = nn::VarStore::new(data.layout.device);
        let model_config = config.model_config(data.dataset.categories.len());
        let mut heads = FusionHeads::new(
            &store.root(),
            &model_config,
            data.layout.channels,
            data.vocab.words(),
        );
        heads.text.load_word_vectors(
            &word_table(&data.vectors, &data.vocab, model_config.word_dim)
                .to_device(data.layout.device),
        );
        if let (Some(path), Some(weights)) = (heads.word_bag.as_mut(), &data.dataset.word_bag) {
            path.set_idf(weights.idf());
        }
        let device = data.layout.device;
        if let Some(start) = &data.block5_start {
            heads.start_block5_from(start);
        }
        let as_read = |cached: &[Tensor; 3]| {
            heads.trunk_scales(&cached.each_ref().map(|m| m.to_device(device)))
        };
        if let Some(statistics) = cover_statistics(&data.dataset, &data.train, &as_read) {
            heads.set_cover_statistics(
                &statistics
                    .map(|(mean, spread)| (mean.to_device(device), spread.to_device(device))),
            );
        }
        drop(initialising);
        Self {
            config,
            data,
            run_dir,
            store,
            heads,
            embedding_dim: model_config.embedding_dim as usize,
        }
    }

    fn predictor(&self) -> Predictor<'_> {
        Predictor {
            heads: &self.heads,
            layout: self.data.layout,
        }
    }

    fn confusion(&self, indices: &[usize]) -> ConfusionMatrix {
        let config = self.config;
        self.predictor().confusion(
            &self.data.dataset,
            indices,
            config.modalities,
            config.mask_ensemble,
        )
    }

    fn save(&self, which: Checkpoint) -> Result<(), TrainError> {
        match self.run_dir {
            Some(dir) => dir.save(&self.store, which),
            None => Ok(()),
        }
    }

    /// The summary of a new best model, after its checkpoint is kept.
    fn keep_best(
        &self,
        best_epoch: usize,
        matrix: &ConfusionMatrix,
        averaged_from: Option<usize>,
    ) -> Result<RunSummary, TrainError> {
        self.save(Checkpoint::Best)?;
        Ok(RunSummary {
            trunk: self.data.provenance.clone(),
            block5_trained: self.config.trunk.train_block5,
            best_epoch,
            val_accuracy: matrix.accuracy(),
            val_macro_f1: matrix.macro_f1(),
            train_accuracy: self.confusion(&self.data.train).accuracy(),
            categories: self.data.dataset.categories.clone(),
            validation: None,
            averaged_from,
            word_classifier: None,
        })
    }

    /// One epoch of P x K batches; returns the mean loss.
    fn epoch(
        &mut self,
        optimizer: &mut nn::Optimizer,
        epoch: usize,
        step: &mut usize,
        on_event: &mut dyn FnMut(TrainEvent),
        cancel: &Cancel,
    ) -> Result<f64, TrainError> {
        let config = self.config;
        let mut rng = epoch_rng(config.seed, epoch);
        let labels = &self.data.labels;
        let (p, k) = (config.categories_per_batch, config.books_per_category);
        let batches = pk_batches(&self.data.train, labels, p, k, &mut rng);
        let dropouts = Dropouts {
            modality: config.modality_dropout,
            word: config.word_dropout,
        };
        let mut epoch_loss = 0.0;
        for (index, batch) in batches.iter().enumerate() {
            let rate = schedule::learning_rate(config, epoch, index, batches.len());
            optimizer.set_lr(rate);
            if self.heads.word_bag.is_some() {
                optimizer.set_lr_group(WORD_BAG_GROUP, rate * config.word_bag_rate_scale);
            }
            if config.trunk.train_block5 {
                optimizer.set_lr_group(BLOCK5_GROUP, rate * config.block5_rate_scale);
            }
            if is_cancelled(cancel) {
                return Err(TrainError::Cancelled);
            }
            let data = &self.data;
            let tensors = batch_tensors(
                &data.dataset,
                batch,
                data.layout,
                config.modalities,
                Some((dropouts, &mut rng)),
            );
            let output = self.heads.forward_t(
                &tensors.scales,
                tensors.text(),
                &tensors.image_present,
                &tensors.text_present,
                true,
            );
            let (mut objective, cross_entropy, triplet) = loss::objective_smoothed(
                &output.logits,
                &output.embeddings,
                &tensors.labels,
                config.beta,
                config.alpha(),
                config.label_smoothing,
            );
            let alignment = self.alignment_loss(batch).map(|term| {
                let value = term.double_value(&[]);
                objective += term * config.alignment;
                value
            });
            optimizer.backward_step(&objective);
            let value = objective.double_value(&[]);
            epoch_loss += value;
            *step += 1;
            on_event(TrainEvent::Step {
                epoch,
                step: *step,
                loss: value,
                cross_entropy,
                triplet,
                alignment,
            });
        }
        Ok(epoch_loss / batches.len() as f64)
    }

    /// The alignment term over the batch's distinct books that have a cover
    /// and a text: their text-only placements against their cover-only ones,
    /// both moved by it (with the text side held fixed as a target, mR on
    /// openlibrary_covers5's validation books was 2.3x chance at weight 2;
    /// with both moving, 5.2x). `None` when the run is not fused, its
    /// weight is 0, or fewer than two books have both.
    fn alignment_loss(&self, batch: &[usize]) -> Option<Tensor> {
        let config = self.config;
        if config.alignment <= 0.0 || config.modalities != Modalities::Fused {
            return None;
        }
        let dataset = &self.data.dataset;
        let mut paired: Vec<usize> = batch
            .iter()
            .copied()
            .filter(|&i| dataset.examples[i].has_cover_and_text())
            .collect();
        paired.sort_unstable();
        paired.dedup();
        if paired.len() < 2 {
            return None;
        }
        let pass = |alone: Modalities, train: bool| {
            let tensors = batch_tensors(dataset, &paired, self.data.layout, alone, None);
            let output = self.heads.forward_t(
                &tensors.scales,
                tensors.text(),
                &tensors.image_present,
                &tensors.text_present,
                train,
            );
            output.embeddings
        };
        Some(loss::alignment(
            &pass(Modalities::Text, true),
            &pass(Modalities::Image, true),
        ))
    }

    /// After the last epoch: the averaged weights when they validate better.
    fn try_average(
        &self,
        average: &WeightAverage,
        best: &mut Option<RunSummary>,
        first_epoch: usize,
    ) -> Result<(), TrainError> {
        let Some(last) = average.apply(&self.store) else {
            return Ok(());
        };
        let matrix = self.confusion(self.data.measured());
        if best
            .as_ref()
            .is_none_or(|b| matrix.macro_f1() > b.val_macro_f1)
        {
            let from = average.from_epoch.max(first_epoch);
            *best = Some(self.keep_best(self.config.epochs, &matrix, Some(from))?);
        } else {
            last.restore(&self.store);
        }
        Ok(())
    }

    /// The best epoch's summary with the paper's tables, from its checkpoint
    /// when one was kept.
    fn finish(mut self, best: Option<RunSummary>) -> Result<RunSummary, TrainError> {
        let mut summary =
            best.ok_or_else(|| TrainError::TooFewBooks("no epoch was run (epochs = 0)".into()))?;
        if let Some(dir) = self.run_dir
            && dir.checkpoint(Checkpoint::Best).is_file()
        {
            dir.load(&mut self.store, Checkpoint::Best)?;
        }
        let config = self.config;
        let chosen = self.fit_word_classifier()?;
        let (tables, held_out) = validation_tables(
            &self.predictor(),
            &self.data.dataset,
            self.data.measured(),
            config.modalities,
            config.mask_ensemble,
            self.embedding_dim,
        );
        if let Some(chosen) = chosen {
            summary.val_accuracy = tables.confusion.accuracy();
            summary.val_macro_f1 = tables.confusion.macro_f1();
            if let Some(path) = self.heads.word_bag.as_mut() {
                let kept = &chosen.on_labelled;
                path.set_classifier(&kept.weights, &kept.bias, chosen.choice.mix);
            }
            summary.word_classifier = Some(chosen.choice);
            self.save(Checkpoint::Best)?;
        }
        summary.validation = Some(tables);
        if let Some(dir) = self.run_dir {
            dir.save_held_out(&held_out)?;
        }
        Ok(summary)
    }

    /// Chooses and fits the word classifier (see [`word_classifier::choose`])
    /// and sets the one fitted on the training books, for the validation
    /// figures; `None` without the word path, a text to read, or books held
    /// out. The caller keeps the refitted one.
    fn fit_word_classifier(&mut self) -> Result<Option<word_classifier::Chosen>, TrainError> {
        let config = self.config;
        let data = self.data;
        let buckets = config.model.word_bag_buckets;
        if self.heads.word_bag.is_none()
            || config.modalities == Modalities::Image
            || data.validation.is_empty()
        {
            return Ok(None);
        }
        let network = self.predictor().network_probabilities(
            &data.dataset,
            &data.validation,
            config.modalities,
            config.mask_ensemble,
        );
        let chosen = word_classifier::choose(
            &data.dataset,
            (&data.train, &data.validation),
            &network,
            (buckets, config.seed),
            data.layout.device,
        )?;
        if let Some(path) = self.heads.word_bag.as_mut() {
            let fitted = &chosen.on_training;
            path.set_classifier(&fitted.weights, &fitted.bias, chosen.choice.mix);
        }
        Ok(Some(chosen))
    }
}

/// Trains one run and returns its summary; `on_event` hears every step and
/// epoch. With `run_dir`, the heads are saved there after every epoch
/// ([`Checkpoint::Last`]) and at the best validation macro-F1
/// ([`Checkpoint::Best`]), beside the run's vocabulary and split. A
/// [`RunStart::Resume`] starts the heads from the last checkpoint and goes on
/// with the epochs and steps from there; each epoch's batches are seeded by
/// the run's seed and the epoch, so a resumed run sees the batches the
/// uninterrupted one would have. A [`RunStart::FineTune`] starts them from
/// the parent's best checkpoint (see [`warm_start`]) and counts its own
/// epochs from one.
pub fn train_run(
    library: &mut Library,
    config: &TrainConfig,
    (device, start): (Device, RunStart),
    run_dir: Option<&RunDir>,
    on_event: &mut dyn FnMut(TrainEvent),
    cancel: &Cancel,
) -> Result<RunSummary, TrainError> {
    let (data, parent) = RunData::prepare(library, config, (device, start), run_dir, cancel)?;
    let mut trainer = Trainer::new(config, &data, run_dir);
    if let Some(parent) = &parent {
        let words = (parent.vocab.len() as i64, data.vocab.len() as i64);
        warm_start(
            &trainer.store,
            &parent.dir.checkpoint(Checkpoint::Best),
            words,
        )?;
    }
    let mut optimizer = nn::AdamW {
        wd: config.weight_decay,
        ..Default::default()
    }
    .build(&trainer.store, config.learning_rate)
    .map_err(|e| TrainError::Optimizer(e.to_string()))?;
    let resume = match start {
        RunStart::Resume(point) => Some(point),
        _ => None,
    };
    if resume.is_some() {
        let dir = run_dir.ok_or_else(|| {
            TrainError::Checkpoint("resuming needs the run's checkpoint folder".into())
        })?;
        dir.load(&mut trainer.store, Checkpoint::Last)?;
    }
    let mut best = resume.map(|point| RunSummary {
        trunk: data.provenance.clone(),
        block5_trained: config.trunk.train_block5,
        best_epoch: point.best_epoch,
        val_accuracy: point.best_accuracy,
        val_macro_f1: point.best_macro_f1,
        train_accuracy: f64::NAN,
        categories: data.dataset.categories.clone(),
        validation: None,
        averaged_from: None,
        word_classifier: None,
    });
    let mut step = resume.map_or(0, |point| point.next_step.saturating_sub(1));
    let first_epoch = resume.map_or(1, |point| point.next_epoch);
    let mut average = WeightAverage::new(config.weight_averaging, config.epochs);
    for epoch in first_epoch..=config.epochs {
        let train_loss = trainer.epoch(&mut optimizer, epoch, &mut step, on_event, cancel)?;
        let matrix = trainer.confusion(data.measured());
        on_event(TrainEvent::Epoch {
            epoch,
            train_loss,
            val_accuracy: matrix.accuracy(),
            val_macro_f1: matrix.macro_f1(),
        });
        trainer.save(Checkpoint::Last)?;
        if best
            .as_ref()
            .is_none_or(|b| matrix.macro_f1() > b.val_macro_f1)
        {
            best = Some(trainer.keep_best(epoch, &matrix, None)?);
        }
        average.add(&trainer.store, epoch);
    }
    trainer.try_average(&average, &mut best, first_epoch)?;
    trainer.finish(best)
}
