//! Suggestions from a run's embeddings: exact cosine nearest neighbours, found
//! by one matrix-vector product (libtorch) over a bfloat16 copy of the
//! L2-normalised book embeddings and settled in f32 among the few rows that
//! bound allows, top-K under filters, reader profiles, maximal marginal relevance
//! for diversity, and the numbers that explain each suggestion (similarity,
//! S_c / S_u, shared words, where the model looked on the cover).

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::Serialize;
use tch::{Kind, Tensor};

use crate::inference::TrainedRun;
use crate::store::{BookId, Library, StoreError, StoredEmbedding};
use crate::train::{Modalities, TrainError};

#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Run(#[from] TrainError),
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    #[error("no book `{0}` in the library (give its id from the import file, or its exact title)")]
    UnknownBook(String),
    #[error("no reader `{0}` in the library")]
    UnknownReader(String),
    #[error("reader `{0}` has no readings of books the run has embedded")]
    EmptyProfile(String),
    #[error("the description has no word the run knows: {0:?}")]
    NoKnownWords(String),
}

/// A run's book embeddings, one row per book, ready to rank.
pub struct EmbeddingIndex {
    pub book_ids: Vec<BookId>,
    pub dim: usize,
    /// Row-major `[books, dim]`, L2-normalised rows.
    pub embeddings: Vec<f32>,
    pub image_weights: Vec<f32>,
    pub text_weights: Vec<f32>,
    /// The embeddings in bfloat16, `[books, dim]`, for the first pass.
    matrix: Tensor,
    row_of: HashMap<BookId, usize>,
}

impl EmbeddingIndex {
    pub fn new(
        book_ids: Vec<BookId>,
        embeddings: Vec<f32>,
        dim: usize,
        image_weights: Vec<f32>,
        text_weights: Vec<f32>,
    ) -> Self {
        let matrix = Tensor::from_slice(&embeddings)
            .reshape([book_ids.len() as i64, dim as i64])
            .to_kind(Kind::BFloat16);
        let row_of = book_ids
            .iter()
            .enumerate()
            .map(|(row, id)| (*id, row))
            .collect();
        Self {
            book_ids,
            dim,
            embeddings,
            image_weights,
            text_weights,
            matrix,
            row_of,
        }
    }

    pub fn len(&self) -> usize {
        self.book_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.book_ids.is_empty()
    }

    pub fn row(&self, book_id: BookId) -> Option<usize> {
        self.row_of.get(&book_id).copied()
    }

    pub fn embedding(&self, row: usize) -> &[f32] {
        &self.embeddings[row * self.dim..(row + 1) * self.dim]
    }

    /// Approximate cosine similarity of every book to `query`: one
    /// matrix-vector product over the bfloat16 copy (half the bytes of f32 to
    /// stream through memory, which is what bounds a query over 100,000 books).
    /// Each score is within [`APPROXIMATION_BOUND`] of the exact one.
    pub fn approximate_scores(&self, query: &[f32]) -> Vec<f32> {
        let query = Tensor::from_slice(query).to_kind(Kind::BFloat16);
        Vec::<f32>::try_from(self.matrix.mv(&query).to_kind(Kind::Float)).unwrap_or_default()
    }

    /// The exact cosine similarity of one row to `query`.
    pub fn exact_score(&self, row: usize, query: &[f32]) -> f32 {
        dot(self.embedding(row), query)
    }

    /// The `k` most similar rows that `keep` accepts, best first, exactly as a
    /// full f32 ranking orders them: the bfloat16 product finds the k-th best
    /// approximate score `A`; every row of the exact top k scores at least
    /// `A - 2 x bound` there, so those rows alone are re-scored in f32.
    pub fn nearest(
        &self,
        query: &[f32],
        k: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let approximate = self.approximate_scores(query);
        let Some(&(_, kth)) = top_k(&approximate, k, keep).last() else {
            return Vec::new();
        };
        let threshold = kth - 2.0 * APPROXIMATION_BOUND;
        let mut exact = Vec::new();
        let mut rows = Vec::new();
        for (row, &score) in approximate.iter().enumerate() {
            if score >= threshold && keep(row) {
                rows.push(row);
                exact.push(self.exact_score(row, query));
            }
        }
        top_k(&exact, k, &|_| true)
            .into_iter()
            .map(|(position, score)| (rows[position], score))
            .collect()
    }
}

/// How far a bfloat16 score may be from the exact one for unit vectors: the
/// rounding of both operands (2 x 2^-9) and of the result (2^-9), with room to
/// spare for the order of summation. Measured worst case: 0.003.
pub const APPROXIMATION_BOUND: f32 = 0.01;

/// A score ordered for the heap (total order on f32, smallest on top).
#[derive(PartialEq)]
struct Ranked(f32, usize);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .0
            .total_cmp(&self.0)
            .then_with(|| self.1.cmp(&other.1))
    }
}

/// The `k` best `scores` among the rows `keep` accepts, best first (ties by
/// row), with a heap of `k` so that a query over 100,000 books stays cheap.
pub fn top_k(scores: &[f32], k: usize, keep: &dyn Fn(usize) -> bool) -> Vec<(usize, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
    for (row, &score) in scores.iter().enumerate() {
        if heap.len() == k && heap.peek().is_some_and(|worst| score <= worst.0) {
            continue;
        }
        if !keep(row) {
            continue;
        }
        heap.push(Ranked(score, row));
        if heap.len() > k {
            heap.pop();
        }
    }
    let mut best: Vec<(usize, f32)> = heap.into_iter().map(|r| (r.1, r.0)).collect();
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    best
}

/// Maximal marginal relevance: from `candidates` (row, similarity to the
/// query), picks `k` one at a time, each maximising
/// `lambda * similarity - (1 - lambda) * max similarity to those picked`, so
/// that a reader is not handed ten books of one series.
pub fn maximal_marginal_relevance(
    index: &EmbeddingIndex,
    candidates: &[(usize, f32)],
    k: usize,
    lambda: f32,
) -> Vec<(usize, f32)> {
    let mut left: Vec<(usize, f32)> = candidates.to_vec();
    let mut picked: Vec<(usize, f32)> = Vec::with_capacity(k);
    while picked.len() < k && !left.is_empty() {
        let (best, _) = left
            .iter()
            .enumerate()
            .map(|(position, &(row, similarity))| {
                let redundancy = picked
                    .iter()
                    .map(|&(other, _)| dot(index.embedding(row), index.embedding(other)))
                    .fold(f32::NEG_INFINITY, f32::max);
                let redundancy = if picked.is_empty() { 0.0 } else { redundancy };
                (position, lambda * similarity - (1.0 - lambda) * redundancy)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .expect("candidates left");
        picked.push(left.remove(best));
    }
    picked
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// L2-normalises in place; false when the vector is zero.
fn normalise(vector: &mut [f32]) -> bool {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm <= f32::EPSILON {
        return false;
    }
    vector.iter_mut().for_each(|v| *v /= norm);
    true
}

/// A reader's profile: the normalised weighted mean of the embeddings of the
/// books they read. A rating above the reader's own mean pulls harder; with no
/// ratings every book counts the same. `None` when no book is in the index.
pub fn reader_profile(
    index: &EmbeddingIndex,
    readings: &[(BookId, Option<f64>)],
) -> Option<Vec<f32>> {
    let rated: Vec<f64> = readings.iter().filter_map(|(_, r)| *r).collect();
    let mean = if rated.is_empty() {
        0.0
    } else {
        rated.iter().sum::<f64>() / rated.len() as f64
    };
    let mut profile = vec![0f32; index.dim];
    let mut any = false;
    for (book_id, rating) in readings {
        let Some(row) = index.row(*book_id) else {
            continue;
        };
        // 1 for an unrated or average book, more for a liked one, down to 0.25.
        let weight = rating.map_or(1.0, |r| (1.0 + (r - mean) / 2.0).max(0.25)) as f32;
        for (total, value) in profile.iter_mut().zip(index.embedding(row)) {
            *total += weight * value;
        }
        any = true;
    }
    (any && normalise(&mut profile)).then_some(profile)
}

/// The run's embeddings of every book of the library: the stored ones where
/// the book has not changed since, the others (new or edited books) embedded
/// now without retraining and stored.
pub fn library_index(
    library: &mut Library,
    run: &TrainedRun,
    progress: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<EmbeddingIndex, RecommendError> {
    modality_index(library, run, run.config.modalities, progress, cancel)
}

/// [`library_index`] from `modalities` alone: with `Image`, each book placed
/// by its cover only (books without a cover are left out), which is what an
/// image query is compared with.
pub fn modality_index(
    library: &mut Library,
    run: &TrainedRun,
    modalities: Modalities,
    progress: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> Result<EmbeddingIndex, RecommendError> {
    let kind = modalities_name(modalities);
    let stamps: BTreeMap<BookId, String> = library.book_update_stamps()?.into_iter().collect();
    let mut stored: BTreeMap<BookId, StoredEmbedding> = library
        .run_embeddings(run.run_id, kind)?
        .into_iter()
        .filter(|row| {
            stamps.get(&row.book_id) == Some(&row.book_updated)
                && row.embedding.len() == run.embedding_dim
        })
        .map(|row| (row.book_id, row))
        .collect();
    let stale: Vec<BookId> = stamps
        .keys()
        .filter(|id| !stored.contains_key(id))
        .copied()
        .collect();
    if !stale.is_empty() {
        let placed = run.embed_books(library, Some(&stale), modalities, progress, cancel)?;
        let fresh: Vec<StoredEmbedding> = placed
            .into_iter()
            .map(|(book_id, placement)| StoredEmbedding {
                book_id,
                book_updated: stamps[&book_id].clone(),
                embedding: placement.embedding,
                image_weight: placement.image_weight,
                text_weight: placement.text_weight,
            })
            .collect();
        library.save_run_embeddings(run.run_id, kind, &fresh)?;
        stored.extend(fresh.into_iter().map(|row| (row.book_id, row)));
    }
    let mut book_ids = Vec::with_capacity(stored.len());
    let mut embeddings = Vec::with_capacity(stored.len() * run.embedding_dim);
    let (mut image_weights, mut text_weights) = (Vec::new(), Vec::new());
    for (book_id, row) in stored {
        book_ids.push(book_id);
        embeddings.extend_from_slice(&row.embedding);
        image_weights.push(row.image_weight);
        text_weights.push(row.text_weight);
    }
    Ok(EmbeddingIndex::new(
        book_ids,
        embeddings,
        run.embedding_dim,
        image_weights,
        text_weights,
    ))
}

fn modalities_name(modalities: Modalities) -> &'static str {
    match modalities {
        Modalities::Fused => "fused",
        Modalities::Image => "image",
        Modalities::Text => "text",
    }
}

/// What a librarian asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// More like this book (external id, or exact title).
    Like(String),
    Text(String),
    Image(PathBuf),
    Reader(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecommendOptions {
    pub k: usize,
    /// Only books of this category.
    pub category: Option<String>,
    /// Maximal marginal relevance over the best `4 k` candidates.
    pub diverse: bool,
    /// MMR's balance between relevance (1) and variety (0).
    pub diversity_lambda: f32,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        Self {
            k: 10,
            category: None,
            diverse: false,
            diversity_lambda: 0.7,
        }
    }
}

/// One suggestion and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub book_id: i64,
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub category: String,
    /// Cosine similarity to the query.
    pub score: f32,
    /// The fusion's S_c and S_u for this book (mean over scales).
    pub image_weight: f32,
    pub text_weight: f32,
    /// `S_c / (S_c + S_u)`: how much the cover counted.
    pub image_share: f32,
    /// Words of the query found in the book's text, the rarest first (at
    /// most [`MAX_SHARED_WORDS`]).
    pub shared_words: Vec<String>,
    /// Where the model looked on the cover: the hottest cell of CBAM's
    /// spatial map, as fractions of width and height; none without a cover.
    pub focus: Option<[f32; 2]>,
}

/// The index a query is ranked against: an image query against the books'
/// cover-only placements (covers that look like it), the others against the
/// run's own placements.
pub fn query_modalities(run: &TrainedRun, query: &Query) -> Modalities {
    match query {
        Query::Image(_) => Modalities::Image,
        _ => run.config.modalities,
    }
}

/// Suggestions for `query` from `index` (built for [`query_modalities`]); the
/// query book itself and a reader's own books are never suggested.
pub fn recommend(
    library: &Library,
    run: &TrainedRun,
    index: &EmbeddingIndex,
    query: &Query,
    options: &RecommendOptions,
) -> Result<Vec<Suggestion>, RecommendError> {
    let texts: HashMap<BookId, crate::store::BookText> = library
        .book_texts()?
        .into_iter()
        .map(|t| (t.book_id, t))
        .collect();
    let (vector, excluded, query_stems): (Vec<f32>, BTreeSet<BookId>, BTreeSet<String>) =
        match query {
            Query::Like(book) => {
                let book_id = find_book(library, book)?;
                let row = index
                    .row(book_id)
                    .ok_or_else(|| RecommendError::UnknownBook(book.clone()))?;
                let stems = texts
                    .get(&book_id)
                    .map(|t| run.stems(t))
                    .unwrap_or_default();
                (
                    index.embedding(row).to_vec(),
                    BTreeSet::from([book_id]),
                    stems.into_iter().collect(),
                )
            }
            Query::Text(description) => {
                let stems = run.query_stems(description);
                if stems.iter().all(|s| run.vocab.get(s).is_none()) {
                    return Err(RecommendError::NoKnownWords(description.clone()));
                }
                (
                    run.embed_description(description).embedding,
                    BTreeSet::new(),
                    stems.into_iter().collect(),
                )
            }
            Query::Image(path) => (
                run.embed_image(path)?.embedding,
                BTreeSet::new(),
                BTreeSet::new(),
            ),
            Query::Reader(reader) => {
                let readings = library.readings_of(reader)?;
                if readings.is_empty() && !library.reader_ids()?.contains(reader) {
                    return Err(RecommendError::UnknownReader(reader.clone()));
                }
                let mut read = Vec::new();
                for reading in &readings {
                    if let Some(book_id) = library.book_id_by_external(&reading.book_external_id)? {
                        read.push((book_id, reading.rating));
                    }
                }
                let profile = reader_profile(index, &read)
                    .ok_or_else(|| RecommendError::EmptyProfile(reader.clone()))?;
                let stems = read
                    .iter()
                    .filter_map(|(id, _)| texts.get(id))
                    .flat_map(|t| run.stems(t))
                    .collect();
                (profile, read.iter().map(|(id, _)| *id).collect(), stems)
            }
        };
    let categories: HashMap<BookId, String> = library
        .book_summaries()?
        .into_iter()
        .map(|b| (b.book_id, b.category))
        .collect();
    let keep = |row: usize| {
        let book_id = index.book_ids[row];
        !excluded.contains(&book_id)
            && options
                .category
                .as_ref()
                .is_none_or(|wanted| categories.get(&book_id) == Some(wanted))
    };
    let ranked = if options.diverse {
        let candidates = index.nearest(&vector, options.k * 4, &keep);
        maximal_marginal_relevance(index, &candidates, options.k, options.diversity_lambda)
    } else {
        index.nearest(&vector, options.k, &keep)
    };
    // Read once for every suggestion's "where the model looked".
    let cover_hashes: HashMap<BookId, String> = library.book_cover_hashes()?.into_iter().collect();
    let cache = run.feature_cache(library)?;
    let mut suggestions = Vec::with_capacity(ranked.len());
    for (row, score) in ranked {
        let book_id = index.book_ids[row];
        let detail = library
            .book_detail(book_id)?
            .ok_or_else(|| RecommendError::UnknownBook(book_id.0.to_string()))?;
        let shared_words = shared_words(run, &query_stems, texts.get(&book_id));
        let cover = run.book_cover(
            library,
            &cache,
            book_id,
            cover_hashes.get(&book_id).map(String::as_str),
        )?;
        let focus = match (cover, texts.get(&book_id)) {
            (Some(cover), Some(text)) => {
                let (x, y) = run.attention_for(text, Some(cover)).focus();
                Some([x, y])
            }
            _ => None,
        };
        let (image_weight, text_weight) = (index.image_weights[row], index.text_weights[row]);
        suggestions.push(Suggestion {
            book_id: book_id.0,
            external_id: detail.external_id,
            title: detail.title,
            author: detail.author,
            category: detail.category,
            score,
            image_weight,
            text_weight,
            image_share: image_weight / (image_weight + text_weight).max(f32::EPSILON),
            shared_words,
            focus,
        });
    }
    Ok(suggestions)
}

/// The query's words that the book's text has too, as the book writes them.
fn shared_words(
    run: &TrainedRun,
    query_stems: &BTreeSet<String>,
    book: Option<&crate::store::BookText>,
) -> Vec<String> {
    let Some(book) = book else {
        return Vec::new();
    };
    let language = crate::text::corpus::book_language(book);
    let mut seen = BTreeSet::new();
    let mut shared: Vec<(u64, String)> = crate::text::corpus::book_tokens(book, &language)
        .into_iter()
        .filter(|token| query_stems.contains(&token.stem) && seen.insert(token.stem.clone()))
        .map(|token| match run.vocab.get(&token.stem) {
            Some(id) => (run.vocab.count(id), run.vocab.surface(id).to_string()),
            None => (0, token.word),
        })
        .collect();
    // The rarest words say the most ("mutiny" before "published").
    shared.sort();
    shared
        .into_iter()
        .take(MAX_SHARED_WORDS)
        .map(|(_, word)| word)
        .collect()
}

/// Shared words shown per suggestion, the rarest first.
pub const MAX_SHARED_WORDS: usize = 8;

/// A book by external id, else by exact title (case-insensitive).
pub fn find_book(library: &Library, book: &str) -> Result<BookId, RecommendError> {
    if let Some(id) = library.book_id_by_external(book)? {
        return Ok(id);
    }
    library
        .book_summaries()?
        .into_iter()
        .find(|b| b.title.eq_ignore_ascii_case(book))
        .map(|b| b.book_id)
        .ok_or_else(|| RecommendError::UnknownBook(book.to_string()))
}

/// Leave-one-out hit rate at `k` for readers: for each reader with two or
/// more books in the index, hide one (seeded choice), build the profile from
/// the rest, and count a hit when the hidden book is among the top `k` of
/// the books they have not read.
pub fn reader_hit_rate(
    index: &EmbeddingIndex,
    readings: &[(String, BookId, Option<f64>)],
    k: usize,
    seed: u64,
) -> ReaderHitRate {
    let mut by_reader: BTreeMap<&str, Vec<(BookId, Option<f64>)>> = BTreeMap::new();
    for (reader, book_id, rating) in readings {
        if index.row(*book_id).is_some() {
            by_reader
                .entry(reader.as_str())
                .or_default()
                .push((*book_id, *rating));
        }
    }
    let (mut readers, mut hits) = (0usize, 0usize);
    for (position, books) in by_reader.values().enumerate() {
        if books.len() < 2 {
            continue;
        }
        let hidden_at = (seed as usize)
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(position * 7919)
            % books.len();
        let hidden = books[hidden_at].0;
        let rest: Vec<(BookId, Option<f64>)> = books
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != hidden_at)
            .map(|(_, b)| *b)
            .collect();
        let Some(profile) = reader_profile(index, &rest) else {
            continue;
        };
        let read: BTreeSet<BookId> = rest.iter().map(|(id, _)| *id).collect();
        let top = index.nearest(&profile, k, &|row| !read.contains(&index.book_ids[row]));
        readers += 1;
        if top.iter().any(|&(row, _)| index.book_ids[row] == hidden) {
            hits += 1;
        }
    }
    ReaderHitRate {
        k,
        readers,
        hit_rate: if readers == 0 {
            0.0
        } else {
            hits as f64 / readers as f64
        },
    }
}

/// How good a run's suggestions are on its own library.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SuggestionQuality {
    /// "More like this" from every categorised book, same category relevant.
    pub more_like_this: crate::eval::RankingQuality,
    pub readers: ReaderHitRate,
}

/// [`SuggestionQuality`] of `index` over `library`'s categories and readings.
pub fn suggestion_quality(
    library: &Library,
    index: &EmbeddingIndex,
    k: usize,
) -> Result<SuggestionQuality, RecommendError> {
    let category_of: HashMap<BookId, String> = library
        .book_summaries()?
        .into_iter()
        .map(|b| (b.book_id, b.category))
        .collect();
    let mut names: Vec<&String> = category_of.values().filter(|c| !c.is_empty()).collect();
    names.sort();
    names.dedup();
    // Uncategorised books are never relevant: each gets a label of its own.
    let labels: Vec<usize> = index
        .book_ids
        .iter()
        .enumerate()
        .map(|(row, id)| {
            category_of
                .get(id)
                .and_then(|c| names.iter().position(|n| *n == c))
                .unwrap_or(names.len() + row)
        })
        .collect();
    let queries: Vec<usize> = (0..index.len())
        .filter(|&row| labels[row] < names.len())
        .collect();
    let query_embeddings: Vec<f32> = queries
        .iter()
        .flat_map(|&row| index.embedding(row).iter().copied())
        .collect();
    let query_labels: Vec<usize> = queries.iter().map(|&row| labels[row]).collect();
    let more_like_this = crate::eval::ranking_quality(
        &query_embeddings,
        &query_labels,
        &index.embeddings,
        &labels,
        index.dim,
        k,
        Some(&queries),
    )
    .unwrap_or(crate::eval::RankingQuality {
        k,
        precision: f64::NAN,
        ndcg: f64::NAN,
    });
    let readers = reader_hit_rate(index, &library.all_readings()?, k, 1);
    Ok(SuggestionQuality {
        more_like_this,
        readers,
    })
}

/// Leave-one-out hit rate for readers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReaderHitRate {
    pub k: usize,
    /// Readers with two or more embedded books, the ones measured.
    pub readers: usize,
    pub hit_rate: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng as _, SeedableRng as _};

    fn random_index(books: usize, dim: usize, seed: u64) -> EmbeddingIndex {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut embeddings = Vec::with_capacity(books * dim);
        for _ in 0..books {
            let mut row: Vec<f32> = (0..dim)
                .map(|_| (rng.next_u32() as f32 / u32::MAX as f32) - 0.5)
                .collect();
            normalise(&mut row);
            embeddings.extend(row);
        }
        EmbeddingIndex::new(
            (0..books as i64).map(BookId).collect(),
            embeddings,
            dim,
            vec![0.5; books],
            vec![0.5; books],
        )
    }

    /// Every pair by a plain loop, sorted: the reference.
    fn brute_force(
        index: &EmbeddingIndex,
        query: &[f32],
        k: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut all: Vec<(usize, f32)> = (0..index.len())
            .filter(|&row| keep(row))
            .map(|row| (row, dot(index.embedding(row), query)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.into_iter().take(k).map(|(row, _)| row).collect()
    }

    #[test]
    fn neighbours_match_a_brute_force_reference() {
        let index = random_index(2_000, 32, 7);
        for query_row in [0, 17, 1_999] {
            let query = index.embedding(query_row).to_vec();
            let found: Vec<usize> = index
                .nearest(&query, 25, &|_| true)
                .iter()
                .map(|r| r.0)
                .collect();
            assert_eq!(found, brute_force(&index, &query, 25, &|_| true));
            assert_eq!(found[0], query_row, "a book is its own nearest neighbour");
        }
    }

    #[test]
    fn filters_are_honoured() {
        let index = random_index(500, 16, 3);
        let query = index.embedding(4).to_vec();
        let even = |row: usize| row.is_multiple_of(2) && row != 4;
        let found = index.nearest(&query, 10, &even);
        assert_eq!(found.len(), 10);
        assert!(found.iter().all(|&(row, _)| even(row)));
        assert_eq!(
            found.iter().map(|r| r.0).collect::<Vec<_>>(),
            brute_force(&index, &query, 10, &even)
        );
        // Fewer allowed rows than k: all of them, no padding.
        assert_eq!(index.nearest(&query, 10, &|row| row < 3).len(), 3);
    }

    #[test]
    fn a_reader_profile_leaves_their_books_out_and_leans_to_what_they_liked() {
        let index = random_index(300, 16, 5);
        let read = [(BookId(10), Some(5.0)), (BookId(20), Some(1.0))];
        let profile = reader_profile(&index, &read).expect("books in the index");
        let to_liked = dot(&profile, index.embedding(10));
        let to_disliked = dot(&profile, index.embedding(20));
        assert!(to_liked > to_disliked, "{to_liked} <= {to_disliked}");
        let own: BTreeSet<BookId> = read.iter().map(|r| r.0).collect();
        let found = index.nearest(&profile, 50, &|row| !own.contains(&index.book_ids[row]));
        assert!(
            found
                .iter()
                .all(|&(row, _)| !own.contains(&index.book_ids[row]))
        );
        assert!(reader_profile(&index, &[(BookId(9_999), None)]).is_none());
    }

    #[test]
    fn diversity_avoids_near_duplicates() {
        // Rows 0 and 1 are the same book twice; 2 is a little further from the
        // query but unlike them; 3 is unrelated.
        let dim = 3;
        let embeddings = vec![
            0.9, 0.436, 0.0, 0.9, 0.436, 0.0, 0.8, -0.6, 0.0, 0.0, 0.0, 1.0,
        ];
        let index = EmbeddingIndex::new(
            (0..4).map(BookId).collect(),
            embeddings,
            dim,
            vec![0.5; 4],
            vec![0.5; 4],
        );
        let query = [1.0, 0.0, 0.0];
        let plain: Vec<usize> = index
            .nearest(&query, 2, &|_| true)
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(plain, vec![0, 1]);
        let candidates = index.nearest(&query, 4, &|_| true);
        let diverse: Vec<usize> = maximal_marginal_relevance(&index, &candidates, 2, 0.5)
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(diverse, vec![0, 2]);
    }

    #[test]
    fn leave_one_out_hits_when_a_reader_reads_one_cluster() {
        // Two tight clusters; reader "a" read three books of the first one.
        let mut embeddings = Vec::new();
        for row in 0..20 {
            let mut v = if row < 10 {
                vec![1.0, 0.05 * row as f32]
            } else {
                vec![0.05 * row as f32, 1.0]
            };
            normalise(&mut v);
            embeddings.extend(v);
        }
        let index = EmbeddingIndex::new(
            (0..20).map(BookId).collect(),
            embeddings,
            2,
            vec![0.5; 20],
            vec![0.5; 20],
        );
        let readings: Vec<(String, BookId, Option<f64>)> = [1, 2, 3]
            .iter()
            .map(|&b| ("a".to_string(), BookId(b), None))
            .collect();
        let rate = reader_hit_rate(&index, &readings, 10, 1);
        assert_eq!((rate.readers, rate.hit_rate), (1, 1.0));
    }
}
