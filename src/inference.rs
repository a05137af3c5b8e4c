//! A finished run loaded for use: its settings, categories, trunk, the heads of
//! its best checkpoint and the vocabulary it was trained with. It places library
//! books, typed descriptions and image files in the run's embedding space (one
//! modality alone where only one is given), with the fusion weights and CBAM
//! maps that explain each placement, and it evaluates the run on a labelled CSV.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Kind, Tensor};

use crate::embed::{self, EmbedError, FeatureCache};
use crate::eval::ConfusionMatrix;
use crate::model::trunk::Vgg16Trunk;
use crate::model::{FusionHeads, ModelConfig};
use crate::store::{BookId, BookText, Library};
use crate::text::Vocab;
use crate::text::corpus;
use crate::text::preprocess;
use crate::train::{
    Dataset, Example, Modalities, Predictions, TrainConfig, TrainError, batch_tensors, predict_with,
};

/// The file, next to a run's checkpoints, that keeps the vocabulary the run's
/// embedding table was built on, so that retraining the library's word vectors
/// later does not scramble the run's word ids.
pub const RUN_VOCABULARY_FILE: &str = "vocabulary.json";

#[derive(Serialize, Deserialize)]
struct StoredVocabulary {
    words: Vec<String>,
    surfaces: Vec<String>,
    counts: Vec<u64>,
}

/// Writes `vocab` as the run's vocabulary in `run_dir`.
pub fn save_run_vocabulary(vocab: &Vocab, run_dir: &Path) -> Result<(), TrainError> {
    let stored = StoredVocabulary {
        words: vocab.words().to_vec(),
        surfaces: vocab.surfaces().to_vec(),
        counts: vocab.counts().to_vec(),
    };
    let bytes = serde_json::to_vec(&stored)
        .map_err(|e| TrainError::Checkpoint(format!("vocabulary: {e}")))?;
    crate::store::write_file_atomically(&run_dir.join(RUN_VOCABULARY_FILE), &bytes)
        .map_err(|e| TrainError::Checkpoint(e.to_string()))
}

fn load_run_vocabulary(run_dir: &Path) -> Result<Option<Vocab>, String> {
    let path = run_dir.join(RUN_VOCABULARY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let stored: StoredVocabulary =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(Vocab::from_parts(
        stored.words,
        stored.surfaces,
        stored.counts,
    )))
}

/// One embedded item and how much each modality counted in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    /// L2-normalised.
    pub embedding: Vec<f32>,
    /// `S_c` and `S_u`, the mean over the three scales (0 for a missing modality).
    pub image_weight: f32,
    pub text_weight: f32,
    /// The category the classifier head gives it.
    pub category: String,
}

/// Where the model looked on a cover and how it weighed it: CBAM's spatial
/// map `Ms` (row-major `grid x grid`, values in 0..1) and channel weights `Mc`
/// per scale, and the fusion's `S_c` / `S_u` per scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttentionMaps {
    pub grid: usize,
    pub heatmaps: Vec<Vec<f32>>,
    pub channel_weights: Vec<Vec<f32>>,
    pub image_weights: Vec<f32>,
    pub text_weights: Vec<f32>,
}

impl AttentionMaps {
    /// The centre of the hottest cell of the mean heatmap, as fractions of the
    /// cover's width and height: "the model looked here".
    pub fn focus(&self) -> (f32, f32) {
        let cells = self.grid * self.grid;
        let mut mean = vec![0f32; cells];
        for map in &self.heatmaps {
            for (total, value) in mean.iter_mut().zip(map) {
                *total += value / self.heatmaps.len() as f32;
            }
        }
        let hottest = mean
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(cell, _)| cell);
        let side = self.grid as f32;
        (
            ((hottest % self.grid) as f32 + 0.5) / side,
            ((hottest / self.grid) as f32 + 0.5) / side,
        )
    }
}

/// A finished run, ready to embed.
pub struct TrainedRun {
    pub run_id: i64,
    pub config: TrainConfig,
    pub categories: Vec<String>,
    pub embedding_dim: usize,
    pub vocab: Vocab,
    _trunk_store: nn::VarStore,
    trunk: Vgg16Trunk,
    _heads_store: nn::VarStore,
    heads: FusionHeads,
    device: Device,
}

impl TrainedRun {
    /// Loads run `run_id`'s best checkpoint from the library.
    pub fn load(library: &Library, run_id: i64, device: Device) -> Result<Self, TrainError> {
        let unusable = |reason: String| TrainError::RunNotUsable {
            run: run_id,
            reason,
        };
        let (config_json, summary_json, status) = library
            .run_record(run_id)?
            .ok_or(TrainError::RunNotFound(run_id))?;
        if status != "finished" {
            return Err(unusable(format!("it is {status}")));
        }
        let config: TrainConfig =
            serde_json::from_str(&config_json).map_err(|e| unusable(format!("settings: {e}")))?;
        let summary: serde_json::Value =
            serde_json::from_str(summary_json.as_deref().unwrap_or("{}"))
                .map_err(|e| unusable(format!("summary: {e}")))?;
        let categories: Vec<String> = serde_json::from_value(summary["categories"].clone())
            .map_err(|e| unusable(format!("its categories: {e}")))?;
        let run_dir = run_directory(library, run_id);
        let vocab = match load_run_vocabulary(&run_dir).map_err(unusable)? {
            Some(vocab) => vocab,
            None => {
                corpus::load_vectors(library)?
                    .ok_or_else(|| unusable("the library has no word vectors".into()))?
                    .vectors
                    .vocab
            }
        };
        let (trunk_store, trunk, _) = embed::build_trunk(&config.trunk, device)?;
        let mut heads_store = nn::VarStore::new(device);
        let model_config = ModelConfig {
            categories: categories.len() as i64,
            width: config.trunk.width,
            image_size: config.trunk.image_size,
            ..config.model.clone()
        };
        let heads = FusionHeads::new(
            &heads_store.root(),
            &model_config,
            trunk.scale_channels,
            vocab.words(),
        );
        let checkpoint = run_dir.join("best.safetensors");
        heads_store.load(&checkpoint).map_err(|e| {
            unusable(format!(
                "{}: {e} (were the library's word vectors retrained since the run?)",
                checkpoint.display()
            ))
        })?;
        Ok(Self {
            run_id,
            embedding_dim: model_config.embedding_dim as usize,
            config,
            categories,
            vocab,
            _trunk_store: trunk_store,
            trunk,
            _heads_store: heads_store,
            heads,
            device,
        })
    }

    /// A book's stems, as the run reads its text.
    pub fn stems(&self, text: &BookText) -> Vec<String> {
        let language = corpus::book_language(text);
        corpus::book_stems(text, &language)
    }

    /// The stems of a typed description (language detected, English otherwise).
    pub fn query_stems(&self, description: &str) -> Vec<String> {
        let language = preprocess::detect_language(description).unwrap_or_else(|| "en".into());
        preprocess::tokens(description, &language)
    }

    fn word_ids(&self, stems: &[String]) -> Vec<i64> {
        stems
            .iter()
            .take(self.config.max_words)
            .map(|stem| i64::from(self.vocab.id(stem)))
            .collect()
    }

    /// The trunk's maps of one cover image, pooled to the cache's grid.
    pub fn cover_maps(&self, path: &Path) -> Result<[Tensor; 3], EmbedError> {
        let image = embed::cover_tensor(path, self.config.trunk.image_size)?;
        let maps = tch::no_grad(|| {
            self.trunk
                .forward(&image.unsqueeze(0).to_device(self.device))
        });
        let grid = self.config.trunk.grid;
        Ok(maps.map(|m| {
            m.adaptive_avg_pool2d([grid, grid])
                .get(0)
                .to_device(Device::Cpu)
        }))
    }

    /// The feature cache of this run's trunk in `library`.
    pub fn feature_cache(&self, library: &Library) -> Result<FeatureCache, EmbedError> {
        FeatureCache::for_settings(
            library.root(),
            &self.config.trunk,
            self.trunk.scale_channels,
        )
    }

    fn dataset(&self, examples: Vec<Example>) -> Dataset {
        Dataset {
            examples,
            categories: self.categories.clone(),
            padding_id: self.vocab.len() as i64 + 1,
        }
    }

    fn predict(&self, dataset: &Dataset, modalities: Modalities) -> Predictions {
        let indices: Vec<usize> = (0..dataset.examples.len()).collect();
        predict_with(
            &self.heads,
            dataset,
            &indices,
            self.trunk.scale_channels,
            self.config.trunk.grid,
            modalities,
            self.config.mask_ensemble,
            self.device,
        )
    }

    fn placements(&self, predictions: Predictions) -> Vec<Placement> {
        let dim = self.embedding_dim;
        (0..predictions.predicted.len())
            .map(|row| Placement {
                embedding: predictions.embeddings[row * dim..(row + 1) * dim].to_vec(),
                image_weight: predictions.image_weights[row],
                text_weight: predictions.text_weights[row],
                category: self
                    .categories
                    .get(predictions.predicted[row])
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// A typed description, embedded with the text modality alone.
    pub fn embed_description(&self, description: &str) -> Placement {
        let example = Example {
            book_id: None,
            label: 0,
            word_ids: self.word_ids(&self.query_stems(description)),
            cover: None,
        };
        let dataset = self.dataset(vec![example]);
        self.placements(self.predict(&dataset, Modalities::Text))
            .remove(0)
    }

    /// An image file, embedded with the cover modality alone.
    pub fn embed_image(&self, path: &Path) -> Result<Placement, EmbedError> {
        let example = Example {
            book_id: None,
            label: 0,
            word_ids: Vec::new(),
            cover: Some(self.cover_maps(path)?),
        };
        let dataset = self.dataset(vec![example]);
        Ok(self
            .placements(self.predict(&dataset, Modalities::Image))
            .remove(0))
    }

    /// Every book of the library (with or without a category, with whatever
    /// modalities it has), filling the feature cache where covers are missing
    /// from it. Books added after training are embedded the same way.
    pub fn embed_library(
        &self,
        library: &mut Library,
        progress: &(dyn Fn(usize, usize) + Sync),
        cancel: &AtomicBool,
    ) -> Result<Vec<(BookId, Placement)>, TrainError> {
        self.embed_books(library, None, self.config.modalities, progress, cancel)
    }

    /// [`Self::embed_library`] for `only` these books, when given, from
    /// `modalities` (a cover-only placement of every book is what an image
    /// query is ranked against).
    pub fn embed_books(
        &self,
        library: &mut Library,
        only: Option<&[BookId]>,
        modalities: Modalities,
        progress: &(dyn Fn(usize, usize) + Sync),
        cancel: &AtomicBool,
    ) -> Result<Vec<(BookId, Placement)>, TrainError> {
        let wanted: Option<std::collections::BTreeSet<BookId>> =
            only.map(|ids| ids.iter().copied().collect());
        let cache = self.feature_cache(library)?;
        embed::fill_cache(
            library,
            &self.trunk,
            &cache,
            &self.config.trunk,
            self.device,
            progress,
            cancel,
        )
        .map_err(|e| match e {
            EmbedError::Cancelled => TrainError::Cancelled,
            other => other.into(),
        })?;
        let cover_of: BTreeMap<BookId, String> = library.book_cover_hashes()?.into_iter().collect();
        let mut examples = Vec::new();
        for text in library.book_texts()? {
            if wanted.as_ref().is_some_and(|w| !w.contains(&text.book_id))
                || (modalities == Modalities::Image && !cover_of.contains_key(&text.book_id))
            {
                continue;
            }
            let cover = match cover_of.get(&text.book_id) {
                Some(hash) => cache.load(hash)?,
                None => None,
            };
            examples.push(Example {
                book_id: Some(text.book_id),
                label: 0,
                word_ids: self.word_ids(&self.stems(&text)),
                cover,
            });
        }
        let dataset = self.dataset(examples);
        let ids: Vec<BookId> = dataset.examples.iter().filter_map(|e| e.book_id).collect();
        Ok(ids
            .into_iter()
            .zip(self.placements(self.predict(&dataset, modalities)))
            .collect())
    }

    /// CBAM's maps and the fusion weights for one book of the library.
    pub fn attention(
        &self,
        library: &Library,
        book_id: BookId,
    ) -> Result<Option<AttentionMaps>, TrainError> {
        let Some(text) = library
            .book_texts()?
            .into_iter()
            .find(|t| t.book_id == book_id)
        else {
            return Ok(None);
        };
        let cover_hash = library
            .book_cover_hashes()?
            .into_iter()
            .find(|(id, _)| *id == book_id)
            .map(|(_, hash)| hash);
        let cover = self.book_cover(
            library,
            &self.feature_cache(library)?,
            book_id,
            cover_hash.as_deref(),
        )?;
        Ok(Some(self.attention_for(&text, cover)))
    }

    /// A library book's trunk maps: from `cache` when there, else computed
    /// from its cover file; `None` for a book without a cover.
    pub fn book_cover(
        &self,
        library: &Library,
        cache: &FeatureCache,
        book_id: BookId,
        cover_hash: Option<&str>,
    ) -> Result<Option<[Tensor; 3]>, TrainError> {
        let Some(hash) = cover_hash else {
            return Ok(None);
        };
        if let Some(maps) = cache.load(hash)? {
            return Ok(Some(maps));
        }
        Ok(
            match library.book_detail(book_id)?.and_then(|d| d.cover_path) {
                Some(path) => Some(self.cover_maps(&path)?),
                None => None,
            },
        )
    }

    /// CBAM's maps and the fusion weights for a book's text and trunk maps.
    pub fn attention_for(&self, text: &BookText, cover: Option<[Tensor; 3]>) -> AttentionMaps {
        self.attention_of(Example {
            book_id: Some(text.book_id),
            label: 0,
            word_ids: self.word_ids(&self.stems(text)),
            cover,
        })
    }

    fn attention_of(&self, example: Example) -> AttentionMaps {
        let dataset = self.dataset(vec![example]);
        let batch = batch_tensors(
            &dataset,
            &[0],
            self.trunk.scale_channels,
            self.config.trunk.grid,
            self.config.modalities,
            None,
            self.device,
        );
        let output = tch::no_grad(|| {
            self.heads.forward(
                &batch.scales,
                &batch.ids,
                &batch.lengths,
                &batch.image_present,
                &batch.text_present,
            )
        });
        let flat = |t: &Tensor| {
            Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1).to_device(Device::Cpu))
                .unwrap_or_default()
        };
        let scalar = |t: &Tensor| flat(t).first().copied().unwrap_or(0.0);
        AttentionMaps {
            grid: self.config.trunk.grid as usize,
            heatmaps: output.heatmaps.iter().map(flat).collect(),
            channel_weights: output.channel_weights.iter().map(flat).collect(),
            image_weights: output.image_weights.iter().map(scalar).collect(),
            text_weights: output.text_weights.iter().map(scalar).collect(),
        }
    }
}

/// The folder of run `run_id`'s checkpoints.
pub fn run_directory(library: &Library, run_id: i64) -> PathBuf {
    library.root().join("runs").join(run_id.to_string())
}

/// One category's row of the evaluation table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryReport {
    #[serde(flatten)]
    pub metrics: crate::eval::ClassMetrics,
    pub f1: f64,
}

/// `shelfwise eval`'s report on a labelled CSV.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub run: i64,
    pub books: usize,
    pub skipped: Vec<crate::store::ImportIssue>,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_category: BTreeMap<String, CategoryReport>,
    pub categories: Vec<String>,
    pub confusion: ConfusionMatrix,
    pub retrieval: crate::eval::CrossModalRecall,
    /// The CSV's books as queries against the library's books, relevant when
    /// of the same category (a query's own book, if in the library, left out).
    pub recommendation: crate::eval::RankingQuality,
}

/// Evaluates run `run_id`'s best checkpoint on the labelled books of `csv`
/// (the import format) without adding them to the library: classification
/// with both modalities, and text ↔ cover retrieval from single-modality
/// embeddings. Books of a category the run never saw are skipped and reported.
pub fn evaluate_csv(
    library: &mut Library,
    run_id: i64,
    csv: &Path,
    device: Device,
) -> Result<EvalReport, TrainError> {
    let run = TrainedRun::load(library, run_id, device)?;
    let unusable = |reason: String| TrainError::RunNotUsable {
        run: run_id,
        reason,
    };
    let categories = run.categories.clone();
    let (pending, mut skipped) = crate::import::csv_files::read_books(csv)?;
    let mut examples = Vec::new();
    for item in pending {
        let Some(label) = categories.iter().position(|c| c == &item.book.category) else {
            skipped.push(crate::store::ImportIssue {
                source: csv.display().to_string(),
                line: Some(item.line),
                reason: format!(
                    "category `{}` was not trained on by run {run_id}",
                    item.book.category
                ),
            });
            continue;
        };
        let text = BookText {
            book_id: BookId(0),
            language: item.book.language.clone(),
            detected_language: None,
            title: item.book.title.clone(),
            author: item.book.author.clone(),
            synopsis: item.book.synopsis.clone(),
        };
        let cover = match &item.cover {
            Ok(Some(path)) => match run.cover_maps(path) {
                Ok(maps) => Some(maps),
                Err(error) => {
                    skipped.push(crate::store::ImportIssue {
                        source: csv.display().to_string(),
                        line: Some(item.line),
                        reason: format!("{error}; evaluated without a cover"),
                    });
                    None
                }
            },
            _ => None,
        };
        examples.push(Example {
            book_id: library.book_id_by_external(&item.book.external_id)?,
            label,
            word_ids: run.word_ids(&run.stems(&text)),
            cover,
        });
    }
    let dataset = run.dataset(examples);
    let fused = run.predict(&dataset, run.config.modalities);
    let text_only = run.predict(&dataset, Modalities::Text);
    let image_only = run.predict(&dataset, Modalities::Image);
    let actual: Vec<usize> = dataset.examples.iter().map(|e| e.label).collect();
    let confusion = ConfusionMatrix::from_labels(&actual, &fused.predicted, categories.len())
        .expect("labels in range");
    let retrieval = crate::eval::cross_modal_recall(
        &text_only.embeddings,
        &image_only.embeddings,
        run.embedding_dim,
    )
    .map_err(|e| unusable(e.to_string()))?;
    // The library's books, embedded by the same run, as what the queries rank.
    let shelf = run.embed_library(library, &|_, _| {}, &AtomicBool::new(false))?;
    let category_of: BTreeMap<BookId, String> = library
        .book_summaries()?
        .into_iter()
        .map(|b| (b.book_id, b.category))
        .collect();
    let shelf_labels: Vec<usize> = shelf
        .iter()
        .map(|(book_id, _)| {
            category_of
                .get(book_id)
                .and_then(|name| categories.iter().position(|c| c == name))
                .unwrap_or(categories.len())
        })
        .collect();
    let shelf_embeddings: Vec<f32> = shelf
        .iter()
        .flat_map(|(_, placement)| placement.embedding.iter().copied())
        .collect();
    let own_rows: Vec<usize> = dataset
        .examples
        .iter()
        .map(|e| {
            e.book_id
                .and_then(|id| shelf.iter().position(|(book_id, _)| *book_id == id))
                .unwrap_or(usize::MAX)
        })
        .collect();
    let recommendation = crate::eval::ranking_quality(
        &fused.embeddings,
        &actual,
        &shelf_embeddings,
        &shelf_labels,
        run.embedding_dim,
        10,
        Some(&own_rows),
    )
    .map_err(|e| unusable(e.to_string()))?;
    let per_category = categories
        .iter()
        .enumerate()
        .map(|(class, name)| {
            let metrics = confusion.class_metrics(class);
            (
                name.clone(),
                CategoryReport {
                    f1: metrics.dice,
                    metrics,
                },
            )
        })
        .collect();
    Ok(EvalReport {
        run: run_id,
        books: actual.len(),
        skipped,
        accuracy: confusion.accuracy(),
        macro_f1: confusion.macro_f1(),
        per_category,
        categories,
        confusion,
        retrieval,
        recommendation,
    })
}
