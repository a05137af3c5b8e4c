//! Training one run of the model on the library: a seeded split by book
//! (stratified by category), P x K batches from the feature cache, the
//! objective `beta * CE + alpha * triplet`, Adam, and a report of every step's
//! loss and every epoch's validation metrics through a callback, stopping at
//! the next step when cancelled.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Kind, Tensor};

use crate::embed::{self, EmbedError, FeatureCache, TrunkSettings};
use crate::eval::ConfusionMatrix;
use crate::model::weights::TrunkProvenance;
use crate::model::{FusionHeads, ModelConfig, loss};
use crate::store::{BookId, Library};
use crate::text::corpus::{self, CorpusError};
use crate::text::{Vocab, Word2VecConfig};

/// Which inputs a run sees: both (the paper's model) or one alone (the
/// baselines a sweep draws beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modalities {
    Fused,
    Image,
    Text,
}

/// Serialises the seeding and initialisation of heads (see [`train_run`]).
static HEADS_INITIALISATION: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One run's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub beta: f64,
    /// Triplet weight; `1 - beta` when not set.
    pub alpha: Option<f64>,
    pub epochs: usize,
    /// Categories per batch (P) and books per category (K).
    pub categories_per_batch: usize,
    pub books_per_category: usize,
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW); 0 is plain Adam.
    #[serde(default)]
    pub weight_decay: f64,
    /// Lowers the learning rate along a half cosine to zero at the last
    /// epoch, so that the last epochs settle instead of wandering.
    #[serde(default)]
    pub cosine_schedule: bool,
    pub seed: u64,
    /// Share of each category held out for validation.
    pub validation_share: f64,
    /// Share of training books whose cover or text is hidden in a step.
    pub modality_dropout: f64,
    /// Share of a training book's words replaced by the unknown word in a
    /// step, so that no single rare word (an author's name) decides alone.
    #[serde(default)]
    pub word_dropout: f64,
    /// Fused runs: classify by the mean of the three modality passes (both,
    /// text alone, cover alone) of the same heads; see [`predict_with`].
    #[serde(default)]
    pub mask_ensemble: bool,
    /// Also tries the mean of the heads' weights over the second half of the
    /// epochs, kept as the best checkpoint when it validates better.
    #[serde(default)]
    pub weight_averaging: bool,
    /// Cross-entropy against labels smoothed by this share (0: none).
    #[serde(default)]
    pub label_smoothing: f64,
    pub modalities: Modalities,
    /// Words of a book's text read by the LSTM, at most.
    pub max_words: usize,
    pub model: ModelConfig,
    pub trunk: TrunkSettings,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            beta: 0.3,
            alpha: None,
            epochs: 15,
            categories_per_batch: 5,
            books_per_category: 16,
            learning_rate: 3e-3,
            weight_decay: 0.01,
            cosine_schedule: true,
            seed: 1,
            validation_share: 0.2,
            modality_dropout: 0.1,
            word_dropout: 0.2,
            mask_ensemble: false,
            weight_averaging: false,
            label_smoothing: 0.0,
            modalities: Modalities::Fused,
            max_words: 200,
            model: ModelConfig::default(),
            trunk: TrunkSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the library needs at least two categories with two books each to train; it has {0}")]
    TooFewBooks(String),
    #[error("there is no run {0} in this library")]
    RunNotFound(i64),
    #[error("run {run} cannot be evaluated: {reason}")]
    RunNotUsable { run: i64, reason: String },
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error("saving a checkpoint: {0}")]
    Checkpoint(String),
    #[error("cannot set up the optimiser: {0}")]
    Optimizer(String),
    #[error("training was cancelled")]
    Cancelled,
}

/// What a run reports while it trains.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Step {
        epoch: usize,
        step: usize,
        loss: f64,
        cross_entropy: f64,
        triplet: f64,
    },
    Epoch {
        epoch: usize,
        train_loss: f64,
        val_accuracy: f64,
        val_macro_f1: f64,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub trunk: TrunkProvenance,
    pub best_epoch: usize,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    pub train_accuracy: f64,
    pub categories: Vec<String>,
    /// The paper's tables on the held-out books at the best epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationTables>,
    /// When the best weights are the mean over epochs `averaged_from..=best_epoch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub averaged_from: Option<usize>,
}

/// The paper's Table 3 (per category) and Table 2 (retrieval) on the held-out
/// books, with the confusion matrix they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationTables {
    pub per_category: BTreeMap<String, crate::eval::ClassMetrics>,
    pub confusion: ConfusionMatrix,
    /// `None` when the held-out books lack covers or texts to pair.
    pub retrieval: Option<crate::eval::CrossModalRecall>,
}

/// One book as training reads it.
#[derive(Debug)]
pub(crate) struct Example {
    /// The library's book, when the example is one.
    pub book_id: Option<BookId>,
    pub label: usize,
    pub word_ids: Vec<i64>,
    pub cover: Option<[Tensor; 3]>,
}

/// The library turned into examples: labels by category name (sorted), word ids
/// of the library's vectors (unknown and padding rows after the known words),
/// and each cover's cached trunk maps.
pub(crate) struct Dataset {
    pub examples: Vec<Example>,
    pub categories: Vec<String>,
    pub padding_id: i64,
}

pub(crate) fn build_dataset(
    library: &mut Library,
    library_text: &corpus::Corpus,
    vocab: &Vocab,
    cache: &FeatureCache,
    max_words: usize,
) -> Result<Dataset, TrainError> {
    let summaries = library.book_summaries()?;
    let covers = library.stored_covers()?;
    let cover_of: BTreeMap<BookId, String> = library
        .book_cover_hashes()?
        .into_iter()
        .filter(|(_, hash)| covers.contains_key(hash))
        .collect();
    let category_of: BTreeMap<BookId, String> = summaries
        .into_iter()
        .map(|b| (b.book_id, b.category))
        .collect();
    let categories: Vec<String> = {
        let mut names: Vec<String> = category_of
            .values()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let mut examples = Vec::new();
    for (book_id, document) in library_text.book_ids.iter().zip(&library_text.documents) {
        let Some(label) = category_of
            .get(book_id)
            .and_then(|c| categories.iter().position(|name| name == c))
        else {
            continue;
        };
        let word_ids = document
            .iter()
            .take(max_words)
            .map(|t| i64::from(vocab.id(&t.stem)))
            .collect();
        let cover = match cover_of.get(book_id) {
            Some(hash) => cache.load(hash)?,
            None => None,
        };
        examples.push(Example {
            book_id: Some(*book_id),
            label,
            word_ids,
            cover,
        });
    }
    Ok(Dataset {
        examples,
        categories,
        padding_id: vocab.len() as i64 + 1,
    })
}

/// The library's books as examples of `config`'s trunk, filling its feature
/// cache first where covers are missing from it.
pub(crate) fn library_dataset(
    library: &mut Library,
    library_text: &corpus::Corpus,
    vocab: &Vocab,
    trunk: &crate::model::trunk::Vgg16Trunk,
    config: &TrainConfig,
    device: Device,
    cancel: &AtomicBool,
) -> Result<Dataset, TrainError> {
    let cache = FeatureCache::for_settings(library.root(), &config.trunk, trunk.scale_channels)?;
    embed::fill_cache(
        library,
        trunk,
        &cache,
        &config.trunk,
        device,
        &|_, _| {},
        cancel,
    )
    .map_err(|e| match e {
        EmbedError::Cancelled => TrainError::Cancelled,
        other => other.into(),
    })?;
    build_dataset(library, library_text, vocab, &cache, config.max_words)
}

/// The words a run reads: the library's Word2Vec vocabulary and, with
/// subwords on, every other stem of the corpus after it (words below
/// Word2Vec's minimum count, most of them seen in one book only). Those have
/// no vector of their own to start from, but their n-grams place them:
/// an author or a title word seen nowhere else then still counts.
pub(crate) fn run_vocabulary(
    library_vocab: &Vocab,
    library_text: &corpus::Corpus,
    subwords: bool,
) -> Vocab {
    if !subwords {
        return library_vocab.clone();
    }
    // Every stem of the corpus, counted and ordered as Word2Vec's own
    // vocabulary is (most seen first); the ones it left out follow its words.
    let every_word = library_text.vocab(1);
    let mut words = library_vocab.words().to_vec();
    let mut surfaces = library_vocab.surfaces().to_vec();
    let mut counts = library_vocab.counts().to_vec();
    for id in 0..every_word.unknown_id() {
        if library_vocab.get(every_word.word(id)).is_none() {
            words.push(every_word.word(id).to_string());
            surfaces.push(every_word.surface(id).to_string());
            counts.push(every_word.count(id));
        }
    }
    Vocab::from_parts(words, surfaces, counts)
}

/// Splits example indices by category: `share` of each category (at least one
/// book when it has two or more) goes to validation. Seeded.
pub fn stratified_split(labels: &[usize], share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, &label) in labels.iter().enumerate() {
        by_label.entry(label).or_default().push(index);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for members in by_label.values_mut() {
        shuffle(members, &mut rng);
        let held = if members.len() < 2 {
            0
        } else {
            ((members.len() as f64 * share).round() as usize).clamp(1, members.len() - 1)
        };
        validation.extend_from_slice(&members[..held]);
        train.extend_from_slice(&members[held..]);
    }
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

fn shuffle<T>(items: &mut [T], rng: &mut SmallRng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// One epoch of P x K batches over `train` (indices with `labels`): each batch
/// takes P categories at random and K books of each, with repeats when a
/// category has fewer. Steps per epoch: enough to see every training book once
/// on average.
pub fn pk_batches(
    train: &[usize],
    labels: &[usize],
    p: usize,
    k: usize,
    rng: &mut SmallRng,
) -> Vec<Vec<usize>> {
    let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &index in train {
        by_label.entry(labels[index]).or_default().push(index);
    }
    let classes: Vec<usize> = by_label.keys().copied().collect();
    let per_batch = p.min(classes.len()).max(1) * k.max(1);
    let steps = train.len().div_ceil(per_batch).max(1);
    (0..steps)
        .map(|_| {
            let mut chosen = classes.clone();
            shuffle(&mut chosen, rng);
            chosen.truncate(p.max(1));
            let mut batch = Vec::with_capacity(per_batch);
            for class in chosen {
                let mut members = by_label[&class].clone();
                shuffle(&mut members, rng);
                for i in 0..k.max(1) {
                    batch.push(members[i % members.len()]);
                }
            }
            batch
        })
        .collect()
}

/// Training-time hiding: the share of books losing one modality, and the
/// share of words replaced by the unknown word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dropouts {
    pub modality: f64,
    pub word: f64,
}

/// The tensors of one batch for the heads.
pub(crate) struct BatchTensors {
    pub scales: [Tensor; 3],
    pub ids: Tensor,
    pub lengths: Tensor,
    pub image_present: Tensor,
    pub text_present: Tensor,
    pub labels: Tensor,
}

pub(crate) fn batch_tensors(
    dataset: &Dataset,
    batch: &[usize],
    channels: [i64; 3],
    grid: i64,
    modalities: Modalities,
    dropout: Option<(Dropouts, &mut SmallRng)>,
    device: Device,
) -> BatchTensors {
    let longest = if modalities == Modalities::Image {
        1
    } else {
        batch
            .iter()
            .map(|&i| dataset.examples[i].word_ids.len())
            .max()
            .unwrap_or(1)
            .max(1)
    };
    let mut ids = Vec::with_capacity(batch.len() * longest);
    let (mut lengths, mut image_present, mut text_present, mut labels) =
        (vec![], vec![], vec![], vec![]);
    let mut maps: [Vec<Tensor>; 3] = Default::default();
    let mut dropout = dropout;
    for &index in batch {
        let example = &dataset.examples[index];
        let mut has_image = example.cover.is_some() && modalities != Modalities::Text;
        let mut has_text = !example.word_ids.is_empty() && modalities != Modalities::Image;
        if let Some((shares, rng)) = dropout.as_mut()
            && has_image
            && has_text
            && (rng.next_u32() as f64 / u32::MAX as f64) < shares.modality
        {
            if rng.next_u32() % 2 == 0 {
                has_image = false;
            } else {
                has_text = false;
            }
        }
        for scale in 0..3 {
            maps[scale].push(match (&example.cover, has_image) {
                (Some(cover), true) => cover[scale].shallow_clone(),
                _ => Tensor::zeros([channels[scale], grid, grid], (Kind::Float, Device::Cpu)),
            });
        }
        let words = if has_text {
            &example.word_ids[..]
        } else {
            &[][..]
        };
        match dropout.as_mut() {
            Some((shares, rng)) if shares.word > 0.0 => {
                let unknown = dataset.padding_id - 1;
                ids.extend(words.iter().map(|&id| {
                    if (rng.next_u32() as f64 / u32::MAX as f64) < shares.word {
                        unknown
                    } else {
                        id
                    }
                }));
            }
            _ => ids.extend_from_slice(words),
        }
        ids.extend(std::iter::repeat_n(
            dataset.padding_id,
            longest - words.len(),
        ));
        lengths.push(words.len().max(1) as i64);
        image_present.push(if has_image { 1f32 } else { 0.0 });
        text_present.push(if has_text { 1f32 } else { 0.0 });
        labels.push(example.label as i64);
    }
    let [m1, m2, m3] = maps;
    BatchTensors {
        scales: [
            Tensor::stack(&m1, 0).to_device(device),
            Tensor::stack(&m2, 0).to_device(device),
            Tensor::stack(&m3, 0).to_device(device),
        ],
        ids: Tensor::from_slice(&ids)
            .reshape([batch.len() as i64, longest as i64])
            .to_device(device),
        lengths: Tensor::from_slice(&lengths).to_device(device),
        image_present: Tensor::from_slice(&image_present).to_device(device),
        text_present: Tensor::from_slice(&text_present).to_device(device),
        labels: Tensor::from_slice(&labels).to_device(device),
    }
}

/// The device training uses: CUDA when libtorch sees a GPU, else the CPU with
/// one core left free for the window.
pub fn training_device() -> Device {
    let device = Device::cuda_if_available();
    if device == Device::Cpu {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tch::set_num_threads(cores.saturating_sub(1).max(1) as i32);
    }
    device
}

/// What the heads say about a list of examples, row by row.
#[derive(Debug, Default)]
pub(crate) struct Predictions {
    pub predicted: Vec<usize>,
    /// L2-normalised embeddings, `embedding_dim` values per row.
    pub embeddings: Vec<f32>,
    /// `S_c` and `S_u`, each the mean over the three scales.
    pub image_weights: Vec<f32>,
    pub text_weights: Vec<f32>,
}

/// The heads on `indices`, in batches of 64 without gradients.
pub(crate) fn predict(
    heads: &FusionHeads,
    dataset: &Dataset,
    indices: &[usize],
    channels: [i64; 3],
    grid: i64,
    modalities: Modalities,
    device: Device,
) -> Predictions {
    predict_with(
        heads, dataset, indices, channels, grid, modalities, false, device,
    )
}

/// [`predict`]; with `mask_ensemble` (fused runs only) the category is the
/// argmax of the mean of the softmaxes of three passes of the same heads: both
/// modalities, the text alone and the cover alone.
#[allow(clippy::too_many_arguments)]
pub(crate) fn predict_with(
    heads: &FusionHeads,
    dataset: &Dataset,
    indices: &[usize],
    channels: [i64; 3],
    grid: i64,
    modalities: Modalities,
    mask_ensemble: bool,
    device: Device,
) -> Predictions {
    let mut predictions = Predictions::default();
    let to_vec = |t: &Tensor| Vec::<f32>::try_from(t.to_device(Device::Cpu)).unwrap_or_default();
    let mean_weight = |weights: &[Tensor]| {
        to_vec(&(Tensor::stack(weights, 0).mean_dim([0i64].as_slice(), false, Kind::Float)))
    };
    for chunk in indices.chunks(64) {
        let batch = batch_tensors(dataset, chunk, channels, grid, modalities, None, device);
        let output = tch::no_grad(|| {
            heads.forward(
                &batch.scales,
                &batch.ids,
                &batch.lengths,
                &batch.image_present,
                &batch.text_present,
            )
        });
        let mut probabilities = output.logits.softmax(1, Kind::Float);
        if mask_ensemble && modalities == Modalities::Fused {
            for alone in [Modalities::Text, Modalities::Image] {
                let single = batch_tensors(dataset, chunk, channels, grid, alone, None, device);
                let logits = tch::no_grad(|| {
                    heads
                        .forward(
                            &single.scales,
                            &single.ids,
                            &single.lengths,
                            &single.image_present,
                            &single.text_present,
                        )
                        .logits
                });
                probabilities += logits.softmax(1, Kind::Float);
            }
        }
        let labels = Vec::<i64>::try_from(probabilities.argmax(1, false).to_device(Device::Cpu))
            .unwrap_or_default();
        predictions
            .predicted
            .extend(labels.into_iter().map(|label| label as usize));
        predictions
            .embeddings
            .extend(to_vec(&output.embeddings.flatten(0, -1)));
        predictions
            .image_weights
            .extend(mean_weight(&output.image_weights));
        predictions
            .text_weights
            .extend(mean_weight(&output.text_weights));
    }
    predictions
}

/// Saves a var store through a temporary file and a rename, so a crash never
/// leaves a half-written checkpoint under the real name.
fn save_checkpoint(store: &nn::VarStore, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp.safetensors");
    store
        .save(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(tch::TchError::from))
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", path.display())))
}

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

/// Trains one run and returns its summary; `on_event` hears every step and
/// epoch. With `checkpoints`, the heads are saved there after every epoch
/// (`last.safetensors`) and at the best validation macro-F1 (`best.safetensors`).
/// With `resume`, the heads start from `checkpoints/last.safetensors` and the
/// epochs and steps go on from there. Each epoch's batches come from a
/// generator seeded by the run's seed and the epoch, so a resumed run sees the
/// batches the uninterrupted one would have.
#[allow(clippy::too_many_arguments)]
pub fn train_run(
    library: &mut Library,
    config: &TrainConfig,
    device: Device,
    checkpoints: Option<&Path>,
    resume: Option<&ResumePoint>,
    on_event: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<RunSummary, TrainError> {
    let never = AtomicBool::new(false);
    let library_text = corpus::library_corpus(library)?;
    let (vectors, _) = corpus::vectors_for_corpus(
        library,
        &library_text,
        &Word2VecConfig::default(),
        &|_, _| {},
        &never,
    )?;
    let (_trunk_store, trunk, provenance) = embed::build_trunk(&config.trunk, device)?;
    let vocab = run_vocabulary(
        &vectors.vectors.vocab,
        &library_text,
        config.model.subword_buckets > 0,
    );
    if let Some(dir) = checkpoints {
        std::fs::create_dir_all(dir)
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", dir.display())))?;
        crate::inference::save_run_vocabulary(&vocab, dir)?;
    }
    let dataset = library_dataset(
        library,
        &library_text,
        &vocab,
        &trunk,
        config,
        device,
        cancel,
    )?;
    let labels: Vec<usize> = dataset.examples.iter().map(|e| e.label).collect();
    let trainable_classes = (0..dataset.categories.len())
        .filter(|&c| labels.iter().filter(|&&l| l == c).count() >= 2)
        .count();
    if trainable_classes < 2 {
        return Err(TrainError::TooFewBooks(format!(
            "{} books in {} categories",
            labels.len(),
            dataset.categories.len()
        )));
    }
    let (train, validation) = stratified_split(&labels, config.validation_share, config.seed);

    // libtorch's generator is global: hold the lock from seeding to the last
    // initialised weight, so that models built at once on other threads (a
    // window training while it embeds) do not draw from the same sequence.
    let initialising = HEADS_INITIALISATION
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(config.seed as i64);
    let mut heads_store = nn::VarStore::new(device);
    let model_config = ModelConfig {
        categories: dataset.categories.len() as i64,
        width: config.trunk.width,
        image_size: config.trunk.image_size,
        ..config.model.clone()
    };
    let mut heads = FusionHeads::new(
        &heads_store.root(),
        &model_config,
        trunk.scale_channels,
        vocab.words(),
    );
    let word_vectors = Tensor::from_slice(&vectors.vectors.vectors)
        .reshape([
            vectors.vectors.vocab.len() as i64,
            vectors.vectors.dim as i64,
        ])
        .to_device(device);
    if vectors.vectors.dim as i64 == model_config.word_dim {
        heads.text.load_word_vectors(&word_vectors);
    }
    let library_words = vectors.vectors.vocab.len() as i64;
    heads
        .text
        .zero_rows(library_words, vocab.len() as i64 - library_words);
    drop(initialising);
    let mut optimizer = nn::AdamW {
        wd: config.weight_decay,
        ..Default::default()
    }
    .build(&heads_store, config.learning_rate)
    .map_err(|e| TrainError::Optimizer(e.to_string()))?;
    if resume.is_some() {
        let dir = checkpoints.ok_or_else(|| {
            TrainError::Checkpoint("resuming needs the run's checkpoint folder".into())
        })?;
        let last = dir.join("last.safetensors");
        heads_store
            .load(&last)
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", last.display())))?;
    }
    let alpha = config.alpha.unwrap_or(1.0 - config.beta);
    let grid = config.trunk.grid;
    let evaluate = |heads: &FusionHeads, indices: &[usize]| -> ConfusionMatrix {
        let Predictions { predicted, .. } = predict_with(
            heads,
            &dataset,
            indices,
            trunk.scale_channels,
            grid,
            config.modalities,
            config.mask_ensemble,
            device,
        );
        let actual: Vec<usize> = indices.iter().map(|&i| labels[i]).collect();
        ConfusionMatrix::from_labels(&actual, &predicted, dataset.categories.len())
            .expect("labels in range")
    };

    let mut best: Option<RunSummary> = resume.map(|point| RunSummary {
        trunk: provenance.clone(),
        best_epoch: point.best_epoch,
        val_accuracy: point.best_accuracy,
        val_macro_f1: point.best_macro_f1,
        train_accuracy: f64::NAN,
        categories: dataset.categories.clone(),
        validation: None,
        averaged_from: None,
    });
    let mut step = resume.map_or(0, |point| point.next_step.saturating_sub(1));
    let first_epoch = resume.map_or(1, |point| point.next_epoch);
    // Validation books, or the training books when none are held out.
    let measured: &[usize] = if validation.is_empty() {
        &train
    } else {
        &validation
    };
    // The summary of a new best model, after its checkpoint is kept.
    let new_best = |heads: &FusionHeads,
                    best_epoch: usize,
                    matrix: &ConfusionMatrix,
                    averaged_from: Option<usize>|
     -> Result<RunSummary, TrainError> {
        if let Some(dir) = checkpoints {
            save_checkpoint(&heads_store, &dir.join("best.safetensors"))?;
        }
        Ok(RunSummary {
            trunk: provenance.clone(),
            best_epoch,
            val_accuracy: matrix.accuracy(),
            val_macro_f1: matrix.macro_f1(),
            train_accuracy: evaluate(heads, &train).accuracy(),
            categories: dataset.categories.clone(),
            validation: None,
            averaged_from,
        })
    };
    // Running sums of the heads' weights for weight averaging, and how many.
    let mut averaged: Option<(BTreeMap<String, Tensor>, usize)> = None;
    let average_from = config.epochs / 2 + 1;
    for epoch in first_epoch..=config.epochs {
        let mut rng = SmallRng::seed_from_u64(
            config.seed ^ 0x5EED ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let batches = pk_batches(
            &train,
            &labels,
            config.categories_per_batch,
            config.books_per_category,
            &mut rng,
        );
        let mut epoch_loss = 0.0;
        for (index, batch) in batches.iter().enumerate() {
            if config.cosine_schedule {
                let progress = ((epoch - 1) as f64 + index as f64 / batches.len() as f64)
                    / config.epochs.max(1) as f64;
                optimizer.set_lr(
                    config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
                );
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled);
            }
            let tensors = batch_tensors(
                &dataset,
                batch,
                trunk.scale_channels,
                grid,
                config.modalities,
                Some((
                    Dropouts {
                        modality: config.modality_dropout,
                        word: config.word_dropout,
                    },
                    &mut rng,
                )),
                device,
            );
            let output = heads.forward_t(
                &tensors.scales,
                &tensors.ids,
                &tensors.lengths,
                &tensors.image_present,
                &tensors.text_present,
                true,
            );
            let (objective, cross_entropy, triplet) = loss::objective_smoothed(
                &output.logits,
                &output.embeddings,
                &tensors.labels,
                config.beta,
                alpha,
                config.label_smoothing,
            );
            optimizer.backward_step(&objective);
            let value = objective.double_value(&[]);
            epoch_loss += value;
            step += 1;
            on_event(TrainEvent::Step {
                epoch,
                step,
                loss: value,
                cross_entropy,
                triplet,
            });
        }
        let matrix = evaluate(&heads, measured);
        let (val_accuracy, val_macro_f1) = (matrix.accuracy(), matrix.macro_f1());
        on_event(TrainEvent::Epoch {
            epoch,
            train_loss: epoch_loss / batches.len() as f64,
            val_accuracy,
            val_macro_f1,
        });
        if let Some(dir) = checkpoints {
            save_checkpoint(&heads_store, &dir.join("last.safetensors"))?;
        }
        if best.as_ref().is_none_or(|b| val_macro_f1 > b.val_macro_f1) {
            best = Some(new_best(&heads, epoch, &matrix, None)?);
        }
        if config.weight_averaging && epoch >= average_from {
            tch::no_grad(|| {
                let variables = heads_store.variables();
                let (sums, count) = averaged.get_or_insert_with(|| {
                    let zeros = variables
                        .iter()
                        .map(|(name, v)| (name.clone(), v.zeros_like()))
                        .collect();
                    (zeros, 0)
                });
                for (name, variable) in &variables {
                    if let Some(sum) = sums.get_mut(name) {
                        *sum += variable;
                    }
                }
                *count += 1;
            });
        }
    }
    if let Some((sums, count)) = averaged.filter(|(_, count)| *count >= 2) {
        let variables = heads_store.variables();
        let last: BTreeMap<String, Tensor> = variables
            .iter()
            .map(|(name, v)| (name.clone(), v.detach().copy()))
            .collect();
        let set = |values: &dyn Fn(&str) -> Tensor| {
            tch::no_grad(|| {
                for (name, variable) in &variables {
                    variable.shallow_clone().copy_(&values(name));
                }
            })
        };
        set(&|name| &sums[name] / count as f64);
        let matrix = evaluate(&heads, measured);
        if best
            .as_ref()
            .is_none_or(|b| matrix.macro_f1() > b.val_macro_f1)
        {
            best = Some(new_best(
                &heads,
                config.epochs,
                &matrix,
                Some(average_from.max(first_epoch)),
            )?);
        } else {
            set(&|name| last[name].shallow_clone());
        }
    }
    let mut summary =
        best.ok_or_else(|| TrainError::TooFewBooks("no epoch was run (epochs = 0)".into()))?;
    // The tables at the best epoch: its checkpoint, when one was kept.
    if let Some(dir) = checkpoints {
        let best_file = dir.join("best.safetensors");
        if best_file.is_file() {
            heads_store
                .load(&best_file)
                .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", best_file.display())))?;
        }
    }
    let run_on = |modalities: Modalities| {
        predict_with(
            &heads,
            &dataset,
            measured,
            trunk.scale_channels,
            grid,
            modalities,
            config.mask_ensemble,
            device,
        )
    };
    let actual: Vec<usize> = measured.iter().map(|&i| labels[i]).collect();
    let confusion = ConfusionMatrix::from_labels(
        &actual,
        &run_on(config.modalities).predicted,
        dataset.categories.len(),
    )
    .expect("labels in range");
    let paired: Vec<usize> = measured
        .iter()
        .copied()
        .filter(|&i| {
            let example = &dataset.examples[i];
            example.cover.is_some() && !example.word_ids.is_empty()
        })
        .collect();
    let retrieval = if paired.len() >= 2 {
        let on_paired = |modalities| {
            predict(
                &heads,
                &dataset,
                &paired,
                trunk.scale_channels,
                grid,
                modalities,
                device,
            )
            .embeddings
        };
        crate::eval::cross_modal_recall(
            &on_paired(Modalities::Text),
            &on_paired(Modalities::Image),
            model_config.embedding_dim as usize,
        )
        .ok()
    } else {
        None
    };
    summary.validation = Some(ValidationTables {
        per_category: dataset
            .categories
            .iter()
            .enumerate()
            .map(|(class, name)| (name.clone(), confusion.class_metrics(class)))
            .collect(),
        confusion,
        retrieval,
    });
    Ok(summary)
}

/// A sweep: one fused run per beta, plus (optionally) an image-only and a
/// text-only run, all on the same split and seed.
#[derive(Debug, Clone)]
pub struct SweepRequest {
    pub betas: Vec<f64>,
    pub single_modal: bool,
    pub base: TrainConfig,
}

/// One run of a sweep, as `shelfwise train --json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRun {
    pub run: i64,
    pub beta: f64,
    pub modalities: Modalities,
    pub best_epoch: usize,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    /// The paper's tables on the held-out books.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationTables>,
}

impl SweepRequest {
    /// The runs' settings in order. Single-modal runs use the first beta.
    ///
    /// The image-only run trains without dropout: dropout is there against
    /// titles learnt by heart, and on a random trunk's weak cover maps it
    /// left the image-only run at the loss of every book sharing one
    /// embedding (openlibrary_covers5: macro-F1 0.123 with it, 0.416 without;
    /// on a second start 0.384 and 0.433).
    pub fn configs(&self) -> Vec<TrainConfig> {
        let mut configs: Vec<TrainConfig> = self
            .betas
            .iter()
            .map(|&beta| TrainConfig {
                beta,
                modalities: Modalities::Fused,
                ..self.base.clone()
            })
            .collect();
        if self.single_modal {
            let beta = self.betas.first().copied().unwrap_or(self.base.beta);
            for modalities in [Modalities::Image, Modalities::Text] {
                let mut config = TrainConfig {
                    beta,
                    modalities,
                    ..self.base.clone()
                };
                if modalities == Modalities::Image {
                    config.model.dropout = 0.0;
                }
                configs.push(config);
            }
        }
        configs
    }
}

/// Runs a sweep on the library in `library_root`, recording every run, step
/// and epoch in the library (a second connection writes while the first
/// trains) and saving checkpoints under `runs/<run>/`. `on_event` hears each
/// run's events with its run id.
pub fn run_sweep(
    library_root: &Path,
    request: &SweepRequest,
    device: Device,
    on_event: &mut dyn FnMut(i64, &TrainEvent),
    cancel: &AtomicBool,
) -> Result<Vec<SweepRun>, TrainError> {
    let mut library = Library::open(library_root)?;
    let mut recorder = Library::open(library_root)?;
    let sweep_id = recorder.create_sweep()?;
    let mut runs = Vec::new();
    for config in request.configs() {
        let modalities = serde_json::to_value(config.modalities)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let config_json = serde_json::to_string(&config).expect("settings serialise");
        let run_id = recorder.create_run(Some(sweep_id), config.beta, &modalities, &config_json)?;
        runs.push(recorded_run(
            &mut library,
            &mut recorder,
            run_id,
            &config,
            None,
            device,
            on_event,
            cancel,
        )?);
    }
    Ok(runs)
}

/// Goes on with a stopped (cancelled, failed or finished) run from its last
/// checkpoint, up to `epochs` in all (default: the run's own setting).
pub fn resume_run(
    library_root: &Path,
    run_id: i64,
    epochs: Option<usize>,
    device: Device,
    on_event: &mut dyn FnMut(i64, &TrainEvent),
    cancel: &AtomicBool,
) -> Result<SweepRun, TrainError> {
    let mut library = Library::open(library_root)?;
    let mut recorder = Library::open(library_root)?;
    let unusable = |reason: String| TrainError::RunNotUsable {
        run: run_id,
        reason,
    };
    let (config_json, _, status) = recorder
        .run_record(run_id)?
        .ok_or(TrainError::RunNotFound(run_id))?;
    let mut config: TrainConfig =
        serde_json::from_str(&config_json).map_err(|e| unusable(format!("settings: {e}")))?;
    if let Some(epochs) = epochs {
        config.epochs = epochs;
    }
    let progress = recorder.run_progress(run_id)?;
    let Some(best) = progress.best else {
        return Err(unusable(format!(
            "it is {status} and has no finished epoch to resume from; train it anew"
        )));
    };
    if progress.last_epoch as usize >= config.epochs {
        return Err(unusable(format!(
            "it has already trained {} of {} epochs; pass --epochs to train longer",
            progress.last_epoch, config.epochs
        )));
    }
    let point = ResumePoint {
        next_epoch: progress.last_epoch as usize + 1,
        next_step: progress.last_step as usize + 1,
        best_epoch: best.0 as usize,
        best_accuracy: best.1,
        best_macro_f1: best.2,
    };
    recorder.restart_run(
        run_id,
        &serde_json::to_string(&config).expect("settings serialise"),
    )?;
    recorded_run(
        &mut library,
        &mut recorder,
        run_id,
        &config,
        Some(&point),
        device,
        on_event,
        cancel,
    )
}

/// Trains one run (from scratch or from `resume`), recording each epoch's steps
/// and metrics as it ends and the run's outcome when it stops.
#[allow(clippy::too_many_arguments)]
fn recorded_run(
    library: &mut Library,
    recorder: &mut Library,
    run_id: i64,
    config: &TrainConfig,
    resume: Option<&ResumePoint>,
    device: Device,
    on_event: &mut dyn FnMut(i64, &TrainEvent),
    cancel: &AtomicBool,
) -> Result<SweepRun, TrainError> {
    let checkpoints = library.root().join("runs").join(run_id.to_string());
    let mut steps: Vec<crate::store::RunStep> = Vec::new();
    let mut record_error = None;
    let result = train_run(
        library,
        config,
        device,
        Some(&checkpoints),
        resume,
        &mut |event| {
            match &event {
                TrainEvent::Step {
                    epoch,
                    step,
                    loss,
                    cross_entropy,
                    triplet,
                } => steps.push(crate::store::RunStep {
                    step: *step as i64,
                    epoch: *epoch as i64,
                    loss: *loss,
                    cross_entropy: *cross_entropy,
                    triplet: *triplet,
                }),
                TrainEvent::Epoch {
                    epoch,
                    train_loss,
                    val_accuracy,
                    val_macro_f1,
                } => {
                    let row = crate::store::RunEpoch {
                        epoch: *epoch as i64,
                        train_loss: *train_loss,
                        val_accuracy: *val_accuracy,
                        val_macro_f1: *val_macro_f1,
                    };
                    if let Err(error) = recorder.record_epoch(run_id, &steps, &row) {
                        record_error.get_or_insert(error);
                    }
                    steps.clear();
                }
            }
            on_event(run_id, &event);
        },
        cancel,
    );
    let outcome = match &result {
        Ok(summary) => crate::store::RunOutcome {
            status: "finished".into(),
            trunk: serde_json::to_string(&summary.trunk).ok(),
            best_epoch: Some(summary.best_epoch as i64),
            val_accuracy: Some(summary.val_accuracy),
            val_macro_f1: Some(summary.val_macro_f1),
            summary: serde_json::to_string(summary).expect("summary serialises"),
        },
        Err(error) => crate::store::RunOutcome {
            status: if matches!(error, TrainError::Cancelled) {
                "cancelled"
            } else {
                "failed"
            }
            .into(),
            trunk: None,
            best_epoch: None,
            val_accuracy: None,
            val_macro_f1: None,
            summary: serde_json::json!({ "error": error.to_string() }).to_string(),
        },
    };
    recorder.finish_run(run_id, &outcome)?;
    if let Some(error) = record_error {
        return Err(error.into());
    }
    let summary = result?;
    Ok(SweepRun {
        run: run_id,
        beta: config.beta,
        modalities: config.modalities,
        best_epoch: summary.best_epoch,
        val_accuracy: summary.val_accuracy,
        val_macro_f1: summary.val_macro_f1,
        validation: summary.validation.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_subwords_a_run_reads_the_words_word2vec_left_out_after_its_own() {
        let token = |stem: &str| crate::text::preprocess::Token {
            stem: stem.into(),
            word: format!("{stem}s"),
        };
        let library_text = corpus::Corpus {
            book_ids: vec![BookId(1), BookId(2)],
            documents: vec![
                vec![token("sea"), token("gor"), token("sea")],
                vec![token("sea"), token("tarnsman"), token("gor")],
            ],
            hash: String::new(),
        };
        let library_vocab = library_text.vocab(3);
        assert_eq!(library_vocab.words(), ["sea"]);
        let plain = run_vocabulary(&library_vocab, &library_text, false);
        assert_eq!(plain, library_vocab);
        let extended = run_vocabulary(&library_vocab, &library_text, true);
        // Word2Vec's words keep their ids; the rest follow, most seen first.
        assert_eq!(extended.words(), ["sea", "gor", "tarnsman"]);
        assert_eq!(extended.counts(), [3, 2, 1]);
        assert_eq!(extended.surface(2), "tarnsmans");
        assert_eq!(extended.unknown_id(), 3);
    }

    #[test]
    fn a_sweep_is_one_run_per_beta_then_image_only_without_dropout_and_text_only() {
        let request = SweepRequest {
            betas: vec![0.2, 0.5],
            single_modal: true,
            base: TrainConfig::default(),
        };
        let runs: Vec<(f64, Modalities, f64)> = request
            .configs()
            .iter()
            .map(|c| (c.beta, c.modalities, c.model.dropout))
            .collect();
        assert_eq!(
            runs,
            [
                (0.2, Modalities::Fused, 0.3),
                (0.5, Modalities::Fused, 0.3),
                (0.2, Modalities::Image, 0.0),
                (0.2, Modalities::Text, 0.3),
            ]
        );
    }

    #[test]
    fn the_shipped_configurations_parse_and_the_cpu_one_is_the_default() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let cpu: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cpu-default.json")).unwrap())
                .unwrap();
        assert_eq!(cpu, TrainConfig::default());
        let gpu: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.join("gpu-224.json")).unwrap())
                .unwrap();
        assert_eq!(gpu.trunk.image_size, 224);
    }

    #[test]
    fn the_split_is_stratified_and_seeded() {
        let labels: Vec<usize> = (0..50).map(|i| i % 5).collect();
        let (train, validation) = stratified_split(&labels, 0.2, 7);
        assert_eq!((train.len(), validation.len()), (40, 10));
        for class in 0..5 {
            assert_eq!(
                validation.iter().filter(|&&i| labels[i] == class).count(),
                2
            );
        }
        assert_eq!(
            stratified_split(&labels, 0.2, 7),
            (train.clone(), validation.clone())
        );
        assert_ne!(stratified_split(&labels, 0.2, 8).1, validation);
        // A category of one book stays in training.
        let (train, validation) = stratified_split(&[0, 0, 0, 1], 0.5, 1);
        assert!(train.contains(&3) && !validation.contains(&3));
    }

    #[test]
    fn batches_hold_p_categories_of_k_books() {
        let labels: Vec<usize> = (0..60).map(|i| i % 6).collect();
        let train: Vec<usize> = (0..60).collect();
        let mut rng = SmallRng::seed_from_u64(1);
        let batches = pk_batches(&train, &labels, 3, 4, &mut rng);
        assert_eq!(batches.len(), 5);
        for batch in &batches {
            assert_eq!(batch.len(), 12);
            let mut classes: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
            classes.dedup();
            assert_eq!(classes.len(), 3, "{batch:?}");
        }
    }
}
