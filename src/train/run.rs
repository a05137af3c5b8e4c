//! One run from start to summary, as orchestration over the small parts of
//! this module: prepare the data, build the heads, train epoch after epoch
//! (validating, checkpointing and keeping the best), then the tables.

use rand::Rng as _;
use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Tensor};

use super::averaging::WeightAverage;
use super::bag_rows::TrainedBagRows;
use super::batches::{BatchTensors, Dropouts, batch_tensors};
use super::checkpoints::{Checkpoint, RunDir};
use super::config::TrainConfig;
use super::cover_classifier::{CoverFits, CoverProblemAhead};
use super::data::cover_statistics;
use super::fitted_classifiers::{Fit, fit_classifiers, set_classifiers};
use super::predict::Predictor;
use super::run_data::{RunData, word_table};
use super::split::{epoch_rng, pk_batches};
pub use super::start::{ResumePoint, RunStart};
use super::summary::RunSummary;
use super::validation::validation_tables;
use super::warm_start::warm_start;
use super::word_classifier;
use super::{TrainError, TrainEvent, schedule};
use crate::eval::ConfusionMatrix;
use crate::jobs::{Cancel, is_cancelled};
use crate::model::block5::BLOCK5_GROUP;
use crate::model::generator::with_generator;
use crate::model::word_bag::{BagInput, WORD_BAG_GROUP};
use crate::model::{FusionHeads, loss};
use crate::store::{Library, Modalities};

/// Mixed into the run's seed for each epoch's dropout masks (see
/// `model::dropout`), so that they are a stream apart from the epoch's
/// batches and modality dropout, which are drawn as before.
const DROPOUT_STREAM: u64 = 0xD809_0D7A;

/// The heads being trained, with their variables and settings.
struct Trainer<'a> {
    config: &'a TrainConfig,
    data: &'a RunData,
    run_dir: Option<&'a RunDir>,
    store: nn::VarStore,
    heads: FusionHeads,
    embedding_dim: usize,
    /// The word bag rows the epochs train, while they run.
    bag_rows: Option<TrainedBagRows>,
}

impl<'a> Trainer<'a> {
    /// Heads seeded by the run's seed, their word table started from the
    /// library's vectors (words without one start at zero).
    fn new(config: &'a TrainConfig, data: &'a RunData, run_dir: Option<&'a RunDir>) -> Self {
        let store = nn::VarStore::new(data.layout.device);
        let model_config = config.model_config(data.dataset.categories.len());
        let mut heads = with_generator(Some(config.seed), || {
            FusionHeads::new(
                &store.root(),
                &model_config,
                data.layout.channels,
                data.vocab.words(),
            )
        });
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
        Self {
            config,
            data,
            run_dir,
            store,
            heads,
            embedding_dim: model_config.embedding_dim as usize,
            bag_rows: None,
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
            // With a checkpoint, measured once in `finish` on the best one
            // (a pass over every training book, at each new best, was a
            // tenth of a demo run).
            train_accuracy: match self.run_dir {
                Some(_) => f64::NAN,
                None => self.confusion(&self.data.train).accuracy(),
            },
            categories: self.data.dataset.categories.clone(),
            validation: None,
            averaged_from,
            word_classifier: None,
            cover_classifier: None,
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
        self.heads
            .reseed_dropout(epoch_rng(config.seed ^ DROPOUT_STREAM, epoch).next_u64());
        let dropouts = Dropouts {
            modality: config.modality_dropout,
            word: config.word_dropout,
        };
        let mut epoch_loss = 0.0;
        for (index, batch) in batches.iter().enumerate() {
            let rate = schedule::learning_rate(config, epoch, index, batches.len());
            optimizer.set_lr(rate);
            let bag_rate = rate * config.word_bag_rate_scale;
            if self.heads.word_bag.is_some() {
                optimizer.set_lr_group(WORD_BAG_GROUP, bag_rate);
            }
            if let Some(rows) = self.bag_rows.as_mut() {
                rows.set_lr(bag_rate);
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
            let texts = self.heads.encode_text(&tensors.ids, &tensors.lengths, true);
            let bag_words = self.encode_bags(&tensors.bags);
            let output = self.pass(&tensors, &texts, bag_words.as_ref());
            let (mut objective, cross_entropy, triplet) = loss::objective_smoothed(
                &output.logits,
                &output.embeddings,
                &tensors.labels,
                config.beta,
                config.alpha(),
                config.label_smoothing,
            );
            let encoded = (&texts, bag_words.as_ref());
            let alignment = self.alignment_term(batch, &tensors, encoded).map(|term| {
                let value = term.double_value(&[]);
                objective += term * config.alignment;
                value
            });
            self.backward_step(optimizer, &objective);
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

    /// The batch's word bags, read from the rows the epochs train.
    fn encode_bags(&self, bags: &BagInput) -> Option<Tensor> {
        match &self.bag_rows {
            Some(rows) => rows.encode(&self.heads, bags),
            None => self.heads.encode_bags(bags),
        }
    }

    /// The step's backward pass and updates, of the heads and of the word
    /// bag rows the epochs train.
    fn backward_step(&mut self, optimizer: &mut nn::Optimizer, objective: &Tensor) {
        optimizer.zero_grad();
        if let Some(rows) = self.bag_rows.as_mut() {
            rows.zero_grad();
        }
        objective.backward();
        optimizer.step();
        if let Some(rows) = self.bag_rows.as_mut() {
            rows.step();
        }
    }

    /// A training pass of the heads over `part`, its words and word bags
    /// already encoded.
    fn pass(
        &self,
        part: &BatchTensors,
        texts: &[Tensor; 3],
        bag_words: Option<&Tensor>,
    ) -> crate::model::ModelOutput {
        self.heads.forward_encoded(
            part.covers(),
            texts,
            bag_words,
            &part.image_present,
            &part.text_present,
            true,
        )
    }

    /// The alignment term of a step (see [`Self::alignment_rows`]): the
    /// text-only placements read the words and word bags as the step's pass
    /// read them (`encoded`: one LSTM pass and one read of the bag table
    /// serve both); the cover-only pass ignores the words.
    fn alignment_term(
        &self,
        batch: &[usize],
        tensors: &BatchTensors,
        (texts, bag_words): (&[Tensor; 3], Option<&Tensor>),
    ) -> Option<Tensor> {
        let (books, rows) = self.alignment_rows(batch, tensors)?;
        let data = self.data;
        let texts = texts.each_ref().map(|u| u.index_select(0, &rows));
        let text_bag_words = bag_words.map(|words| words.index_select(0, &rows));
        let [text, image] = [Modalities::Text, Modalities::Image]
            .map(|only| batch_tensors(&data.dataset, &books, data.layout, only, None));
        let image_bag_words = self.heads.encode_bags(&image.bags);
        Some(loss::alignment(
            &self.pass(&text, &texts, text_bag_words.as_ref()).embeddings,
            &self
                .pass(&image, &texts, image_bag_words.as_ref())
                .embeddings,
        ))
    }

    /// The batch's distinct books that have a cover and a text, and this
    /// step's text was shown for (`batch_rows.text_present`), with the first
    /// row of each in the batch: the alignment term pulls their text-only
    /// placements toward their cover-only ones, both moved by it (with the
    /// text side held fixed as a target, mR on openlibrary_covers5's
    /// validation books was 2.3x chance at weight 2; with both moving, 5.2x).
    /// `None` when the run is not fused, its weight is 0, or fewer than two
    /// books qualify.
    fn alignment_rows(
        &self,
        batch: &[usize],
        batch_rows: &BatchTensors,
    ) -> Option<(Vec<usize>, Tensor)> {
        let config = self.config;
        if config.alignment <= 0.0 || config.modalities != Modalities::Fused {
            return None;
        }
        let dataset = &self.data.dataset;
        let shown = Vec::<f32>::try_from(batch_rows.text_present.to_device(Device::Cpu)).ok()?;
        let mut books = Vec::new();
        let mut rows = Vec::new();
        for (row, &book) in batch.iter().enumerate() {
            if shown[row] > 0.0
                && dataset.examples[book].has_cover_and_text()
                && !books.contains(&book)
            {
                books.push(book);
                rows.push(row as i64);
            }
        }
        (books.len() >= 2).then(|| {
            let rows = Tensor::from_slice(&rows).to_device(batch_rows.ids.device());
            (books, rows)
        })
    }

    /// The epochs from `first_epoch`: each validated, its heads saved, and
    /// `best` replaced when it validates better; then the averaged weights.
    fn train_epochs(
        &mut self,
        optimizer: &mut nn::Optimizer,
        (first_epoch, step): (usize, &mut usize),
        best: &mut Option<RunSummary>,
        on_event: &mut dyn FnMut(TrainEvent),
        cancel: &Cancel,
    ) -> Result<(), TrainError> {
        let config = self.config;
        let mut average = WeightAverage::new(config.weight_averaging, config.epochs);
        self.bag_rows = TrainedBagRows::start(&self.heads, self.data, config)?;
        for epoch in first_epoch..=config.epochs {
            let train_loss = self.epoch(optimizer, epoch, step, on_event, cancel)?;
            if let Some(rows) = &self.bag_rows {
                rows.write_back(&self.heads);
            }
            let matrix = self.confusion(self.data.measured());
            self.data.dataset.check_covers()?;
            on_event(TrainEvent::Epoch {
                epoch,
                epochs: config.epochs,
                train_loss,
                val_accuracy: matrix.accuracy(),
                val_macro_f1: matrix.macro_f1(),
            });
            self.save(Checkpoint::Last)?;
            if best
                .as_ref()
                .is_none_or(|b| matrix.macro_f1() > b.val_macro_f1)
            {
                *best = Some(self.keep_best(epoch, &matrix, None)?);
            }
            average.add(&self.store, epoch);
        }
        if let Some(rows) = self.bag_rows.take() {
            rows.finish(&self.heads);
        }
        self.try_average(&average, best, first_epoch)
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
    fn finish(
        mut self,
        best: Option<RunSummary>,
        ahead: (Option<&word_classifier::Problem>, Option<CoverFits>),
        cancel: &Cancel,
    ) -> Result<RunSummary, TrainError> {
        let mut summary =
            best.ok_or_else(|| TrainError::TooFewBooks("no epoch was run (epochs = 0)".into()))?;
        if let Some(dir) = self.run_dir
            && dir.checkpoint(Checkpoint::Best).is_file()
        {
            dir.load(&mut self.store, Checkpoint::Best)?;
            summary.train_accuracy = self.confusion(&self.data.train).accuracy();
        }
        let config = self.config;
        let chosen = fit_classifiers(&self.predictor(), (config, self.data), ahead, cancel)?;
        set_classifiers(&mut self.heads, &chosen, Fit::OnTraining);
        let (tables, held_out) = validation_tables(
            &self.predictor(),
            &self.data.dataset,
            self.data.measured(),
            config.modalities,
            config.mask_ensemble,
            self.embedding_dim,
        );
        self.data.dataset.check_covers()?;
        if chosen.words.is_some() || chosen.covers.is_some() {
            summary.val_accuracy = tables.confusion.accuracy();
            summary.val_macro_f1 = tables.confusion.macro_f1();
            set_classifiers(&mut self.heads, &chosen, Fit::OnLabelled);
            summary.word_classifier = chosen.words.map(|words| words.choice);
            summary.cover_classifier = chosen.covers.map(|fits| fits.choice);
            self.save(Checkpoint::Best)?;
        }
        summary.validation = Some(tables);
        if let Some(dir) = self.run_dir {
            dir.save_held_out(&held_out)?;
        }
        Ok(summary)
    }

    /// The cover classifier's books, to be fitted while the epochs run
    /// (see [`CoverProblemAhead`]); `None` where the classifier is not
    /// fitted, or depends on the network (a trainable block 5).
    fn cover_problem_ahead(&self) -> Option<CoverProblemAhead> {
        let (config, data) = (self.config, self.data);
        if self.heads.cover_classifier.is_none()
            || config.trunk.train_block5
            || config.modalities == Modalities::Text
            || data.validation.is_empty()
        {
            return None;
        }
        CoverProblemAhead::new(
            &data.dataset,
            (&data.train, &data.validation),
            config.seed,
            data.layout,
        )
    }

    /// The word classifier's books (see [`word_classifier::Problem`]);
    /// `None` without the word path, a text to read, or books held out.
    fn word_problem(&self) -> Option<word_classifier::Problem> {
        let (config, data) = (self.config, self.data);
        if self.heads.word_bag.is_none()
            || config.modalities == Modalities::Image
            || data.validation.is_empty()
        {
            return None;
        }
        Some(word_classifier::Problem::new(
            &data.dataset,
            (&data.train, &data.validation),
            (config.model.bag_shape().total(), config.seed),
            data.layout.device,
        ))
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
        cover_classifier: None,
    });
    let mut step = resume.map_or(0, |point| point.next_step.saturating_sub(1));
    let first_epoch = resume.map_or(1, |point| point.next_epoch);
    let problem = trainer.word_problem();
    let covers_ahead = trainer.cover_problem_ahead();
    // The classifiers' fits on a thread beside the epochs (see prepare_fits).
    let abandon = Cancel::new(false);
    let (trained, cover_fits) = std::thread::scope(|scope| {
        let fits = (problem.is_some() || covers_ahead.is_some()).then(|| {
            let (abandon, problem) = (&abandon, &problem);
            scope.spawn(move || prepare_fits(problem.as_ref(), covers_ahead, abandon))
        });
        let trained = trainer.train_epochs(
            &mut optimizer,
            (first_epoch, &mut step),
            &mut best,
            on_event,
            cancel,
        );
        if trained.is_err() || is_cancelled(cancel) {
            abandon.store(true, std::sync::atomic::Ordering::Relaxed);
        } else {
            // Said before the scope waits for the folds' thread.
            on_event(TrainEvent::Finishing);
        }
        (
            trained,
            fits.and_then(|thread| thread.join().ok().flatten()),
        )
    });
    trained?;
    trainer.finish(best, (problem.as_ref(), cover_fits), cancel)
}

/// The word and cover classifiers' fits, made ahead of the run's choice;
/// the cover classifier's are returned (the word classifier's are taken
/// from where [`word_classifier::choose`] keeps them). They depend on the
/// books alone, so they are fitted on a thread of their own while the
/// epochs run (on a 2-core machine, the core training leaves free), and
/// stop with the run. The thread inherits the training thread's priority:
/// lowered in the window, not below a headless run's own epochs, which then
/// waited for them.
fn prepare_fits(
    words: Option<&word_classifier::Problem>,
    covers: Option<CoverProblemAhead>,
    stop: &Cancel,
) -> Option<CoverFits> {
    if let Some(words) = words {
        words.prepare_ahead(stop);
    }
    covers.and_then(|covers| covers.prepare(stop))
}
