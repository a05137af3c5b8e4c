//! The library turned into what a run reads: its vocabulary, and one example
//! per categorised book (word ids and the cover's cached trunk maps).

use std::sync::Arc;

use tch::{Device, Tensor};

use super::TrainError;
use super::config::TrainConfig;
use super::covers::{CachedCovers, CoverMaps, take_cover_failure};
use crate::embed::{self, EmbedError, FeatureCache};
use crate::jobs::{Cancel, Progress};
use crate::model::trunk::Vgg16Trunk;
use crate::store::{BookId, Library, Modalities};
use crate::text::corpus;
use crate::text::{Vocab, WordBagWeights};

/// One book as training reads it.
#[derive(Debug)]
pub(crate) struct Example {
    /// The library's book, when the example is one.
    pub book_id: Option<BookId>,
    pub label: usize,
    pub word_ids: Vec<i64>,
    /// The linear word path's features and weights (empty without the path),
    /// shared with the word classifier's fits rather than copied for them
    /// (at 100,000 books a copy took 800 MB).
    pub bag: Arc<[(u32, f32)]>,
    pub cover: Option<CoverMaps>,
}

impl Example {
    /// Whether the book can be placed both ways, by its cover alone and by
    /// its text alone: what cross-modal retrieval and its alignment term pair.
    pub fn has_cover_and_text(&self) -> bool {
        self.cover.is_some() && !self.word_ids.is_empty()
    }
}

/// The library turned into examples: labels by category name (sorted), word ids
/// of the library's vectors (unknown and padding rows after the known words),
/// and each cover's cached trunk maps.
pub(crate) struct Dataset {
    pub examples: Vec<Example>,
    pub categories: Vec<String>,
    pub padding_id: i64,
    /// The weights the examples' bags were made with, when a run made them
    /// (a loaded run's examples come with their bags).
    pub word_bag: Option<WordBagWeights>,
}

impl Dataset {
    pub fn labels(&self) -> Vec<usize> {
        self.examples.iter().map(|e| e.label).collect()
    }

    /// The first cached cover that could not be read since the last check
    /// (its batch went on without it), as an error: checked after each pass
    /// over the books, so that a run never ends on covers it did not read.
    pub fn check_covers(&self) -> Result<(), EmbedError> {
        match take_cover_failure(self.examples.iter().map(|e| &e.cover)) {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

/// The word ids of `stems` in `vocab`, at most `max_words` of them.
pub(crate) fn word_ids(
    vocab: &Vocab,
    stems: impl IntoIterator<Item = impl AsRef<str>>,
    max_words: usize,
) -> Vec<i64> {
    stems
        .into_iter()
        .take(max_words)
        .map(|stem| i64::from(vocab.id(stem.as_ref())))
        .collect()
}

/// Which categories a dataset's labels index, in the order of the
/// classifier's rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CategoryOrder<'a> {
    /// The library's, sorted: a run from scratch.
    Library,
    /// These, in this order; books of any other category are left out (a
    /// resumed run goes on with the rows it has).
    Fixed(&'a [String]),
    /// These, in this order, then the library's other categories, sorted (a
    /// fine-tuned run keeps its parent's rows and grows one per new category).
    Extended(&'a [String]),
}

impl CategoryOrder<'_> {
    fn categories(self, library_text: &corpus::Corpus) -> Vec<String> {
        let library = || crate::store::sorted_categories(library_text.categories.iter());
        match self {
            CategoryOrder::Library => library(),
            CategoryOrder::Fixed(known) => known.to_vec(),
            CategoryOrder::Extended(known) => {
                let mut categories = known.to_vec();
                categories.extend(library().into_iter().filter(|c| !known.contains(c)));
                categories
            }
        }
    }
}

pub(crate) fn build_dataset(
    library: &mut Library,
    library_text: &corpus::Corpus,
    (vocab, order): (&Vocab, CategoryOrder),
    cache: Option<&FeatureCache>,
    max_words: usize,
    word_bag: Option<WordBagWeights>,
) -> Result<Dataset, TrainError> {
    // Labels and covers come from the corpus's snapshot, read with the texts:
    // imports and edits made while the run prepares change the next run only.
    let covers = library.stored_covers()?;
    let cache = cache.cloned().map(CachedCovers::new);
    let categories = order.categories(library_text);
    let mut examples = Vec::new();
    let snapshot = library_text
        .book_ids
        .iter()
        .zip(&library_text.documents)
        .zip(
            library_text
                .categories
                .iter()
                .zip(&library_text.cover_hashes),
        );
    for ((book_id, document), (category, cover_hash)) in snapshot {
        let Some(label) = categories.iter().position(|name| name == category) else {
            continue;
        };
        let cover = match (cover_hash.as_ref(), &cache) {
            (Some(hash), Some(cache)) if covers.contains_key(hash) => cache.entry(hash),
            _ => None,
        };
        let stems: Vec<&str> = document.iter().map(|t| t.stem.as_str()).collect();
        examples.push(Example {
            book_id: Some(*book_id),
            label,
            word_ids: word_ids(vocab, &stems, max_words),
            bag: word_bag
                .as_ref()
                .map(|weights| weights.bag(document).into())
                .unwrap_or_default(),
            cover,
        });
    }
    Ok(Dataset {
        examples,
        categories,
        padding_id: vocab.len() as i64 + 1,
        word_bag,
    })
}

/// The library's books as examples of `config`'s trunk, filling its feature
/// cache first where covers are missing from it; a text-only run's examples
/// have no cover, and its cache is left as it is (at 100,000 books the trunk
/// takes most of an hour, and the maps 8 GB).
pub(crate) fn library_dataset(
    library: &mut Library,
    library_text: &corpus::Corpus,
    words: (&Vocab, CategoryOrder),
    trunk: &Vgg16Trunk,
    config: &TrainConfig,
    device: Device,
    cancel: &Cancel,
) -> Result<Dataset, TrainError> {
    let cache = FeatureCache::for_settings(library.root(), &config.trunk, trunk.scale_channels)?;
    let reads_covers = config.modalities != Modalities::Text;
    if reads_covers {
        embed::fill_cache(
            library,
            trunk,
            &cache,
            &config.trunk,
            device,
            &|_: Progress| {},
            cancel,
        )?;
    }
    build_dataset(
        library,
        library_text,
        words,
        reads_covers.then_some(&cache),
        config.max_words,
        library_word_bag(library_text, config),
    )
}

/// The linear word path's weights learnt from the library's books (labelled
/// or not), when the run's model has the path.
fn library_word_bag(library_text: &corpus::Corpus, config: &TrainConfig) -> Option<WordBagWeights> {
    let shape = config.model.bag_shape();
    (shape.words > 0).then(|| {
        WordBagWeights::from_documents(library_text.documents.iter().map(Vec::as_slice), shape)
    })
}

/// Covers [`cover_statistics`] reads at most.
const STATISTICS_COVERS: usize = 5_000;

/// Per scale, each channel's mean and spread over the covers of `indices`
/// (over covers and grid cells): what the heads standardise the trunk's maps
/// with. `as_read` turns a batch of cached maps into the maps the heads read
/// (C3 through a trainable block 5; the identity otherwise). `None` when none
/// of them has a cover. Beyond [`STATISTICS_COVERS`] covers, over an even
/// sample of that many (a mean and spread over 5,000 covers barely move with
/// more, and each cover is read from the cache).
pub(crate) fn cover_statistics(
    dataset: &Dataset,
    indices: &[usize],
    as_read: &dyn Fn(&[Tensor; 3]) -> [Tensor; 3],
) -> Option<[(Tensor, Tensor); 3]> {
    let covers: Vec<&CoverMaps> = indices
        .iter()
        .filter_map(|&i| dataset.examples[i].cover.as_ref())
        .collect();
    covers.first()?;
    let stride = covers.len().div_ceil(STATISTICS_COVERS);
    let covers: Vec<&CoverMaps> = covers.into_iter().step_by(stride).collect();
    let mut sums: Option<[(Tensor, Tensor); 3]> = None;
    let mut cells = [0.0f64; 3];
    for chunk in covers.chunks(128) {
        let read: Vec<[Tensor; 3]> = chunk.iter().filter_map(|c| c.maps()).collect();
        if read.is_empty() {
            continue;
        }
        let stacked: [Tensor; 3] = std::array::from_fn(|s| {
            Tensor::stack(
                &read
                    .iter()
                    .map(|c| c[s].shallow_clone())
                    .collect::<Vec<_>>(),
                0,
            )
        });
        let maps = tch::no_grad(|| as_read(&stacked));
        let totals = std::array::from_fn(|s| {
            let map = maps[s].to_device(Device::Cpu).to_kind(tch::Kind::Double);
            let size = map.size();
            cells[s] += (size[0] * size[2] * size[3]) as f64;
            let dims = [0i64, 2, 3];
            (
                map.sum_dim_intlist(dims.as_slice(), false, None),
                map.square().sum_dim_intlist(dims.as_slice(), false, None),
            )
        });
        sums = Some(match sums {
            None => totals,
            Some(kept) => {
                let mut s = 0;
                kept.map(|(sum, squares)| {
                    let added = (&sum + &totals[s].0, &squares + &totals[s].1);
                    s += 1;
                    added
                })
            }
        });
    }
    let sums = sums?;
    let mut s = 0;
    Some(sums.map(|(sum, squares)| {
        let mean = &sum / cells[s];
        let spread = (squares / cells[s] - mean.square())
            .clamp_min(0.0)
            .sqrt()
            .clamp_min(1e-3);
        s += 1;
        (
            mean.to_kind(tch::Kind::Float),
            spread.to_kind(tch::Kind::Float),
        )
    }))
}

/// A fine-tuned run's words: its parent's, at their ids (the parent's
/// embedding rows stay where they are), then the library's new ones.
pub(crate) fn extended_vocabulary(parent: &Vocab, library: &Vocab) -> Vocab {
    let mut words = parent.words().to_vec();
    let mut surfaces = parent.surfaces().to_vec();
    let mut counts = parent.counts().to_vec();
    for id in 0..library.unknown_id() {
        if parent.get(library.word(id)).is_none() {
            words.push(library.word(id).to_string());
            surfaces.push(library.surface(id).to_string());
            counts.push(library.count(id));
        }
    }
    Vocab::from_parts(words, surfaces, counts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_trains_on_the_books_and_categories_of_the_moment_it_read_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let book = |id: &str, category: &str| crate::store::NewBook {
            external_id: id.into(),
            title: format!("{id} sea ship"),
            author: String::new(),
            synopsis: String::new(),
            category: category.into(),
            language: Some("en".into()),
            cover: None,
        };
        library
            .upsert_books(&[book("a", "Adventure"), book("b", "Drama")], "t")
            .unwrap();
        let library_text = corpus::library_corpus(&mut library).unwrap();
        // Meanwhile another process imports a book and re-files another.
        library
            .upsert_books(&[book("c", "Horror"), book("b", "Mystery")], "t")
            .unwrap();
        let vocab = library_text.vocab(1);
        let settings = crate::embed::TrunkSettings::default();
        let cache = FeatureCache::for_settings(dir.path(), &settings, [4, 8, 16]).unwrap();
        let build = |library: &mut Library, order| {
            build_dataset(
                library,
                &library_text,
                (&vocab, order),
                Some(&cache),
                10,
                None,
            )
            .unwrap()
        };
        let dataset = build(&mut library, CategoryOrder::Library);
        assert_eq!(dataset.categories, ["Adventure", "Drama"]);
        assert_eq!(dataset.labels(), [0, 1]);
        // A resumed run keeps its rows and leaves other categories' books out;
        // a fine-tuned one keeps its parent's rows first and grows.
        let known = ["Drama".to_string(), "Crime".to_string()];
        let resumed = build(&mut library, CategoryOrder::Fixed(&known));
        assert_eq!(resumed.categories, known);
        assert_eq!(resumed.labels(), [0]);
        let grown = build(&mut library, CategoryOrder::Extended(&known));
        assert_eq!(grown.categories, ["Drama", "Crime", "Adventure"]);
        assert_eq!(grown.labels(), [2, 0]);
    }

    #[test]
    fn cover_statistics_are_each_channels_mean_and_spread_over_covers_and_cells() {
        let cover = |level: f64| {
            CoverMaps::Loaded(
                [1, 2, 3].map(|c| Tensor::full([c, 2, 2], level, (tch::Kind::Float, Device::Cpu))),
            )
        };
        let example = |cover| Example {
            book_id: None,
            label: 0,
            word_ids: vec![],
            bag: Arc::default(),
            cover,
        };
        let dataset = Dataset {
            examples: vec![
                example(Some(cover(1.0))),
                example(Some(cover(3.0))),
                example(None),
                example(Some(cover(100.0))),
            ],
            categories: vec!["a".into()],
            padding_id: 1,
            word_bag: None,
        };
        let as_cached = |maps: &[Tensor; 3]| maps.each_ref().map(Tensor::shallow_clone);
        // The third cover is not among the books asked about.
        let statistics = cover_statistics(&dataset, &[0, 1, 2], &as_cached).unwrap();
        let values = |t: &Tensor| Vec::<f32>::try_from(t).unwrap();
        assert_eq!(values(&statistics[2].0), [2.0; 3]);
        assert_eq!(values(&statistics[2].1), [1.0; 3]);
        assert!(cover_statistics(&dataset, &[2], &as_cached).is_none());
        // Statistics of the maps as the heads read them (C3 from block 5's
        // input), not as cached.
        let doubled = |maps: &[Tensor; 3]| maps.each_ref().map(|m| m * 2.0);
        let statistics = cover_statistics(&dataset, &[0, 1], &doubled).unwrap();
        assert_eq!(values(&statistics[0].0), [4.0]);
        assert_eq!(values(&statistics[0].1), [2.0]);
    }

    #[test]
    fn a_fine_tuned_vocabulary_keeps_the_parents_ids_and_adds_the_new_words() {
        let vocab = |words: &[&str]| {
            Vocab::from_parts(
                words.iter().map(|w| w.to_string()).collect(),
                words.iter().map(|w| format!("{w}s")).collect(),
                vec![1; words.len()],
            )
        };
        let grown = extended_vocabulary(&vocab(&["sea", "ship"]), &vocab(&["whale", "sea", "oar"]));
        assert_eq!(grown.words(), ["sea", "ship", "whale", "oar"]);
        assert_eq!(grown.surface(2), "whales");
        assert_eq!(grown.unknown_id(), 4);
    }

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
            categories: vec!["Adventure".into(), "Drama".into()],
            cover_hashes: vec![None, None],
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
}
