//! A finished run loaded for use: its settings, categories, trunk, the heads of
//! its best checkpoint and the vocabulary it was trained with. It places library
//! books, typed descriptions and image files in the run's embedding space (one
//! modality alone where only one is given), explains placements with the
//! fusion weights and CBAM maps ([`attention`]), and evaluates the run on a
//! labelled CSV ([`evaluate`]).

pub mod attention;
pub mod evaluate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use tch::nn;
use tch::{Device, Tensor};

pub use crate::embed::Placement;
pub use attention::AttentionMaps;
pub use evaluate::{CategoryReport, EvalReport, evaluate_csv};

use crate::embed::{self, EmbedError, FeatureCache, PlaceBooks};
use crate::jobs::{Cancel, OnProgress};
use crate::model::FusionHeads;
use crate::model::flat_heads::FlatTextHeads;
use crate::model::generator::with_generator;
use crate::model::trunk::Vgg16Trunk;
use crate::store::{BookId, BookText, Library, Modalities, RunId, RunStatus};
use crate::text::kept_words::WordKeeper;
use crate::text::preprocess::Token;
use crate::text::{Vocab, WordBagWeights, corpus, preprocess};
use crate::train::batches::{Layout, batch_tensors};
use crate::train::covers::{CachedCovers, CoverMaps};
use crate::train::data::{Dataset, Example, word_ids};
use crate::train::predict::{Predictions, Predictor};
use crate::train::{Checkpoint, RunDir, RunSummary, TrainConfig, TrainError};

/// A finished run, ready to embed.
pub struct TrainedRun {
    pub run_id: RunId,
    pub config: TrainConfig,
    pub categories: Vec<String>,
    pub embedding_dim: usize,
    pub vocab: Vocab,
    _trunk_store: nn::VarStore,
    trunk: Vgg16Trunk,
    _heads_store: nn::VarStore,
    heads: FusionHeads,
    /// The heads' weights a typed description's placement reads.
    flat_heads: FlatTextHeads,
    /// The linear word path's weights, read from the checkpoint.
    word_bag: Option<WordBagWeights>,
    device: Device,
}

impl TrainedRun {
    /// Loads run `run_id`'s best checkpoint from the library.
    pub fn load(library: &Library, run_id: RunId, device: Device) -> Result<Self, TrainError> {
        let unusable = |reason: String| TrainError::RunNotUsable {
            run: run_id,
            reason,
        };
        let record = library
            .run_record(run_id)?
            .ok_or(TrainError::RunNotFound(run_id))?;
        if record.status != RunStatus::Finished {
            let owner = crate::train::run_owner(library.root(), run_id);
            let why = match (record.status, owner) {
                (RunStatus::Running, None) | (RunStatus::Interrupted, _) => format!(
                    "its training was interrupted; resume it with `shelfwise train --resume {run_id}`"
                ),
                (status, _) => format!("it is {status}"),
            };
            return Err(unusable(why));
        }
        let config = TrainConfig::from_stored(&record.config, library.root())
            .map_err(|e| unusable(format!("settings: {e}")))?;
        let summary: RunSummary = serde_json::from_str(record.summary.as_deref().unwrap_or("{}"))
            .map_err(|e| unusable(format!("summary: {e}")))?;
        let run_dir = RunDir::new(library.root(), run_id);
        let vocab = match run_dir.load_vocabulary()? {
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
        let model_config = config.model_config(summary.categories.len());
        // Built with libtorch's generator to itself: a run may be seeding
        // its heads on another thread (see `model::generator`).
        let heads = with_generator(None, || {
            FusionHeads::new(
                &heads_store.root(),
                &model_config,
                trunk.scale_channels,
                vocab.words(),
            )
        });
        run_dir
            .load(&mut heads_store, Checkpoint::Best)
            .map_err(|e| {
                unusable(format!(
                    "{e} (were the library's word vectors retrained since the run?)"
                ))
            })?;
        let word_bag = heads
            .word_bag
            .as_ref()
            .map(|path| WordBagWeights::from_idf(path.idf_values(), model_config.word_bag_buckets));
        Ok(Self {
            run_id,
            word_bag,
            embedding_dim: model_config.embedding_dim as usize,
            config,
            categories: summary.categories,
            vocab,
            _trunk_store: trunk_store,
            trunk,
            _heads_store: heads_store,
            flat_heads: FlatTextHeads::new(&heads),
            heads,
            device,
        })
    }

    /// A book's tokens, as the run reads its text.
    pub fn tokens(&self, text: &BookText) -> Vec<Token> {
        let language = corpus::book_language(text);
        corpus::book_tokens(text, &language)
    }

    /// The tokens of a typed description (language detected, English
    /// otherwise).
    pub fn query_tokens(&self, description: &str) -> Vec<Token> {
        let language = preprocess::detect_language(description).unwrap_or_else(|| "en".into());
        preprocess::tokens_with_words(description, &language)
    }

    /// The word ids and word bag of a text's tokens, as the run reads them.
    fn words(&self, tokens: &[Token]) -> (Vec<i64>, Arc<[(u32, f32)]>) {
        let bag = self
            .word_bag
            .as_ref()
            .map(|weights| weights.bag(tokens).into())
            .unwrap_or_default();
        let stems: Vec<&str> = tokens.iter().map(|t| t.stem.as_str()).collect();
        (word_ids(&self.vocab, &stems, self.config.max_words), bag)
    }

    fn layout(&self) -> Layout {
        Layout {
            channels: self.trunk.scale_channels,
            sides: self.config.trunk.cached_sides(),
            device: self.device,
        }
    }

    fn predictor(&self) -> Predictor<'_> {
        Predictor {
            heads: &self.heads,
            layout: self.layout(),
        }
    }

    /// The trunk's maps of one cover image, as the feature cache keeps them.
    pub fn cover_maps(&self, path: &Path) -> Result<[Tensor; 3], EmbedError> {
        let image = embed::cover_tensor(path, self.config.trunk.image_size)?;
        let maps = self
            .config
            .trunk
            .cached_maps(&self.trunk, &image.unsqueeze(0).to_device(self.device));
        Ok(maps.map(|m| m.get(0).to_device(Device::Cpu)))
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
            word_bag: None,
        }
    }

    fn predict(&self, dataset: &Dataset, modalities: Modalities) -> Predictions {
        let indices: Vec<usize> = (0..dataset.examples.len()).collect();
        self.predictor()
            .predict(dataset, &indices, modalities, self.config.mask_ensemble)
    }

    fn placements(&self, predictions: Predictions) -> Vec<Placement> {
        let dim = self.embedding_dim;
        (0..predictions.predicted.len())
            .map(|row| {
                let (image_weight, text_weight) = (
                    predictions.image_weights[row],
                    predictions.text_weights[row],
                );
                Placement {
                    embedding: predictions.embeddings[row * dim..(row + 1) * dim].to_vec(),
                    image_weight,
                    text_weight,
                    category: self
                        .categories
                        .get(predictions.predicted[row])
                        .cloned()
                        .unwrap_or_default(),
                    focus: attention::counted_focus(
                        predictions.peak_cells[row],
                        predictions.grid,
                        attention::image_share(image_weight, text_weight),
                    ),
                }
            })
            .collect()
    }

    fn place_one(&self, example: Example, modalities: Modalities) -> Placement {
        let dataset = self.dataset(vec![example]);
        self.placements(self.predict(&dataset, modalities))
            .remove(0)
    }

    /// A typed description, embedded with the text modality alone.
    pub fn embed_description(&self, description: &str) -> Placement {
        self.place_one(
            self.description_example(&self.query_tokens(description)),
            Modalities::Text,
        )
    }

    /// The embedding of a typed description's tokens
    /// ([`Self::query_tokens`]), as [`Self::embed_description`] places it:
    /// what a typed query ranks by, without the category and the attention
    /// that a placement works out too, for a query that reads the
    /// description's stems as well (its language found and its words
    /// stemmed once).
    ///
    /// The heads' part is worked out by [`FlatTextHeads`], from the text
    /// encoder's output; a description without words takes the model's own
    /// pass.
    pub fn description_vector(&self, tokens: &[Token]) -> Vec<f32> {
        let dataset = self.dataset(vec![self.description_example(tokens)]);
        if dataset.examples[0].word_ids.is_empty() {
            return self
                .predictor()
                .embeddings(&dataset, &[0], Modalities::Text);
        }
        let batch = batch_tensors(&dataset, &[0], self.layout(), Modalities::Text, None);
        self.flat_heads
            .embedding_of_words(&self.heads, batch.text())
    }

    fn description_example(&self, tokens: &[Token]) -> Example {
        let (word_ids, bag) = self.words(tokens);
        Example {
            book_id: None,
            label: 0,
            word_ids,
            bag,
            cover: None,
        }
    }

    /// An image file, embedded with the cover modality alone.
    pub fn embed_image(&self, path: &Path) -> Result<Placement, EmbedError> {
        let example = Example {
            book_id: None,
            label: 0,
            word_ids: Vec::new(),
            bag: Arc::default(),
            cover: Some(CoverMaps::Loaded(self.cover_maps(path)?)),
        };
        Ok(self.place_one(example, Modalities::Image))
    }

    /// Every book of the library (with or without a category, with whatever
    /// modalities it has), filling the feature cache where covers are missing
    /// from it. Books added after training are embedded the same way.
    pub fn embed_library(
        &self,
        library: &mut Library,
        progress: OnProgress,
        cancel: &Cancel,
    ) -> Result<Vec<(BookId, Placement)>, TrainError> {
        self.embed_books(library, None, self.config.modalities, progress, cancel)
    }

    /// The library's books that `keep` (given each text and whether it has a
    /// cover) keeps, with their examples as the run reads them from
    /// `modalities`: filling the feature cache first where covers are missing
    /// from it, unless the text alone is read (then no cover is loaded).
    fn library_examples(
        &self,
        library: &mut Library,
        (modalities, progress, cancel): (Modalities, OnProgress, &Cancel),
        keep: impl Fn(&BookText, bool) -> bool,
    ) -> Result<(Vec<BookText>, Vec<Example>), TrainError> {
        let reads_covers = modalities != Modalities::Text;
        let cache = self.feature_cache(library)?;
        let covers = CachedCovers::new(cache.clone());
        if reads_covers {
            embed::fill_cache(
                library,
                &self.trunk,
                &cache,
                &self.config.trunk,
                self.device,
                progress,
                cancel,
            )?;
        }
        let cover_of: BTreeMap<BookId, String> = library.book_cover_hashes()?.into_iter().collect();
        let mut books = Vec::new();
        let mut examples = Vec::new();
        let mut keeper = WordKeeper::new(library)?;
        for text in library.book_texts()? {
            let hash = cover_of.get(&text.book_id);
            if !keep(&text, hash.is_some()) {
                continue;
            }
            let cover = hash
                .filter(|_| reads_covers)
                .and_then(|hash| covers.entry(hash));
            let tokens = self.tokens(&text);
            keeper.offer(text.book_id, &tokens);
            let (word_ids, bag) = self.words(&tokens);
            examples.push(Example {
                book_id: Some(text.book_id),
                label: 0,
                word_ids,
                bag,
                cover,
            });
            books.push(text);
        }
        keeper.keep(library)?;
        Ok((books, examples))
    }

    /// [`Self::embed_library`] for `only` these books, when given, from
    /// `modalities` (a cover-only placement of every book is what an image
    /// query is ranked against).
    pub fn embed_books(
        &self,
        library: &mut Library,
        only: Option<&[BookId]>,
        modalities: Modalities,
        progress: OnProgress,
        cancel: &Cancel,
    ) -> Result<Vec<(BookId, Placement)>, TrainError> {
        let wanted: Option<BTreeSet<BookId>> = only.map(|ids| ids.iter().copied().collect());
        let (_, examples) = self.library_examples(
            library,
            (modalities, progress, cancel),
            |text, has_cover| {
                wanted.as_ref().is_none_or(|w| w.contains(&text.book_id))
                    && (modalities != Modalities::Image || has_cover)
            },
        )?;
        let dataset = self.dataset(examples);
        let ids: Vec<BookId> = dataset.examples.iter().filter_map(|e| e.book_id).collect();
        let placements = self.placements(self.predict(&dataset, modalities));
        dataset.check_covers()?;
        Ok(ids.into_iter().zip(placements).collect())
    }
}

/// The category a run gives a book that has none, and how sure it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategorySuggestion {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub category: String,
    /// The category's share of the run's probabilities, 0 to 1.
    pub confidence: f32,
}

impl TrainedRun {
    /// The run's category for every book without one (not in the trash),
    /// most confident first, from the modalities the run reads.
    pub fn suggest_categories(
        &self,
        library: &mut Library,
        progress: OnProgress,
        cancel: &Cancel,
    ) -> Result<Vec<CategorySuggestion>, TrainError> {
        let modalities = self.config.modalities;
        let (books, examples) =
            self.library_examples(library, (modalities, progress, cancel), |text, _| {
                text.category.trim().is_empty()
            })?;
        if books.is_empty() {
            return Ok(Vec::new());
        }
        let external_ids: BTreeMap<BookId, String> = library
            .book_summaries()?
            .into_iter()
            .map(|b| (b.book_id, b.external_id))
            .collect();
        let dataset = self.dataset(examples);
        let predictions = self.predict(&dataset, self.config.modalities);
        dataset.check_covers()?;
        let mut suggestions: Vec<CategorySuggestion> = books
            .into_iter()
            .enumerate()
            .map(|(row, text)| CategorySuggestion {
                external_id: external_ids.get(&text.book_id).cloned().unwrap_or_default(),
                book_id: text.book_id,
                title: text.title,
                category: self.categories[predictions.predicted[row]].clone(),
                confidence: predictions.confidence[row],
            })
            .collect();
        suggestions.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(suggestions)
    }
}

impl PlaceBooks for TrainedRun {
    type Error = TrainError;

    fn run_id(&self) -> RunId {
        self.run_id
    }

    fn embedding_dim(&self) -> usize {
        self.embedding_dim
    }

    fn place_books(
        &self,
        library: &mut Library,
        only: &[BookId],
        modalities: Modalities,
        progress: OnProgress,
        cancel: &Cancel,
    ) -> Result<Vec<(BookId, Placement)>, TrainError> {
        self.embed_books(library, Some(only), modalities, progress, cancel)
    }
}
