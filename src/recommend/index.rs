//! A run's book embeddings as one matrix to rank: exact cosine nearest
//! neighbours, found by one matrix-vector product (libtorch) over a bfloat16
//! copy of the L2-normalised embeddings and settled in f32 among the few rows
//! that bound allows, top-K under filters, reader profiles, and maximal
//! marginal relevance for diversity.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use tch::{Kind, Tensor};

use super::graph::{GRAPH_MIN_BOOKS, NeighbourGraph, PendingGraph, RESCORED_PER_NEIGHBOUR};
use super::graph_shelf::GraphShelf;
use crate::store::{BookId, BookSummary, Library, StoreError, StoredFocus};
use crate::text::preprocess::PREPROCESS_VERSION;

/// A run's book embeddings, one row per book, ready to rank.
pub struct EmbeddingIndex {
    pub book_ids: Vec<BookId>,
    pub dim: usize,
    /// Row-major `[books, dim]`, L2-normalised rows (shared with the graph's builder).
    pub embeddings: Arc<[f32]>,
    pub image_weights: Vec<f32>,
    pub text_weights: Vec<f32>,
    /// Where the model looked on each book's cover, as its placement stored
    /// it (all [`StoredFocus::Unknown`] unless given with [`Self::with_focus`]).
    pub focus: Vec<StoredFocus>,
    /// The embeddings in bfloat16, `[books, dim]`, for the first pass.
    matrix: Tensor,
    row_of: HashMap<BookId, usize>,
    /// From [`GRAPH_MIN_BOOKS`] books: the approximate graph, built in the background.
    graph: Option<PendingGraph>,
    /// The books' kept words, when the index keeps them
    /// ([`Self::keep_words`]).
    kept_words: HashMap<BookId, String>,
    /// What a suggestion shows of each book, when the index keeps it
    /// ([`Self::keep_summaries`]).
    kept_summaries: HashMap<BookId, BookSummary>,
}

impl EmbeddingIndex {
    pub fn new(
        book_ids: Vec<BookId>,
        embeddings: Vec<f32>,
        dim: usize,
        image_weights: Vec<f32>,
        text_weights: Vec<f32>,
    ) -> Self {
        Self::with_graph_shelf(book_ids, embeddings, dim, image_weights, text_weights, None)
    }

    /// [`Self::new`], whose graph (from [`GRAPH_MIN_BOOKS`] books) is loaded
    /// from `shelf` when it was kept there, and kept there once built.
    pub fn with_graph_shelf(
        book_ids: Vec<BookId>,
        embeddings: Vec<f32>,
        dim: usize,
        image_weights: Vec<f32>,
        text_weights: Vec<f32>,
        shelf: Option<GraphShelf>,
    ) -> Self {
        let matrix = Tensor::from_slice(&embeddings)
            .reshape([book_ids.len() as i64, dim as i64])
            .to_kind(Kind::BFloat16);
        let row_of = book_ids
            .iter()
            .enumerate()
            .map(|(row, id)| (*id, row))
            .collect();
        let embeddings: Arc<[f32]> = embeddings.into();
        let graph = (book_ids.len() >= GRAPH_MIN_BOOKS)
            .then(|| PendingGraph::start(Arc::clone(&embeddings), dim, shelf));
        Self {
            focus: vec![StoredFocus::Unknown; book_ids.len()],
            book_ids,
            dim,
            embeddings,
            image_weights,
            text_weights,
            matrix,
            row_of,
            graph,
            kept_words: HashMap::new(),
            kept_summaries: HashMap::new(),
        }
    }

    /// Keeps the indexed books' current kept words in memory, for the
    /// queries asked of this index (the window's: it is rebuilt when a book
    /// changes). A reader's query reads some forty books' words, and the
    /// database pages holding them were read from the disk by slow queries
    /// (about 420 bytes a book: 42 MB at 100,000 books). Returns how many
    /// books' words it keeps.
    pub fn keep_words(&mut self, library: &Library) -> Result<usize, StoreError> {
        self.kept_words = library
            .all_current_words(PREPROCESS_VERSION)?
            .into_iter()
            .filter(|(book_id, _)| self.row_of.contains_key(book_id))
            .collect();
        Ok(self.kept_words.len())
    }

    /// The words [`Self::keep_words`] kept (none otherwise).
    pub fn kept_words(&self) -> &HashMap<BookId, String> {
        &self.kept_words
    }

    /// Keeps what a suggestion shows of each indexed book (id, title,
    /// author, category, thumbnail) in memory, for the queries asked of this
    /// index (the window's: it is rebuilt when a book changes). Ten
    /// suggestions' rows are ten random pages of the database, which a query
    /// waited on the disk for whenever the system had not kept them
    /// (`perf record -e sched:sched_switch` of the query bench: every wait
    /// of a query's thread for I/O was such a read). About 20 MB at 100,000
    /// books. Returns how many books' summaries it keeps.
    pub fn keep_summaries(&mut self, library: &Library) -> Result<usize, StoreError> {
        self.kept_summaries = library
            .book_summaries()?
            .into_iter()
            .filter(|summary| self.row_of.contains_key(&summary.book_id))
            .map(|summary| (summary.book_id, summary))
            .collect();
        Ok(self.kept_summaries.len())
    }

    /// What [`Self::keep_summaries`] kept of `book_id`, if it did.
    pub fn kept_summary(&self, book_id: BookId) -> Option<&BookSummary> {
        self.kept_summaries.get(&book_id)
    }

    /// The same index with each book's stored focus, row for row (a list
    /// of another length is ignored: every focus stays unknown).
    pub fn with_focus(mut self, focus: Vec<StoredFocus>) -> Self {
        if focus.len() == self.book_ids.len() {
            self.focus = focus;
        }
        self
    }

    /// The approximate graph when the index has one and it is built.
    pub fn graph(&self) -> Option<&NeighbourGraph> {
        self.graph.as_ref().and_then(PendingGraph::get)
    }

    /// Waits for the graph's build (benchmarks, tests); false when the index
    /// is too small to have one.
    pub fn wait_for_graph(&mut self) -> bool {
        self.graph.as_mut().and_then(PendingGraph::wait).is_some()
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

    /// The `k` most similar rows that `keep` accepts, best first. A large
    /// library's graph answers when it is built and finds `k` such rows (its
    /// recall@10 against the exact ranking is measured by
    /// `benches/recommend_query.rs`); otherwise [`Self::exact_nearest`].
    pub fn nearest(
        &self,
        query: &[f32],
        k: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        if let Some(graph) = self.graph() {
            let rows = graph.search(query, RESCORED_PER_NEIGHBOUR * k, keep);
            if rows.len() >= k.min(self.len()) {
                let mut found: Vec<(usize, f32)> = rows
                    .into_iter()
                    .map(|row| (row, self.exact_score(row, query)))
                    .collect();
                found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                found.truncate(k);
                return found;
            }
        }
        self.exact_nearest(query, k, keep)
    }

    /// The `k` most similar rows that `keep` accepts, best first, exactly as a
    /// full f32 ranking orders them: the bfloat16 product finds the k-th best
    /// approximate score `A`; every row of the exact top k scores at least
    /// `A - 2 x bound` there, so those rows alone are re-scored in f32.
    pub fn exact_nearest(
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

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// L2-normalises in place; false when the vector is zero.
pub(crate) fn normalise(vector: &mut [f32]) -> bool {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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

    /// Books in `clusters` groups (a trained run's placements gather by
    /// category): each a random centre plus noise, normalised.
    fn clustered_index(books: usize, dim: usize, clusters: usize, seed: u64) -> EmbeddingIndex {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut uniform = move || rng.next_u32() as f32 / u32::MAX as f32 - 0.5;
        let centres: Vec<f32> = (0..clusters * dim).map(|_| uniform()).collect();
        let mut embeddings = Vec::with_capacity(books * dim);
        for book in 0..books {
            let centre = &centres[(book % clusters) * dim..][..dim];
            let mut row: Vec<f32> = centre.iter().map(|c| c + 0.6 * uniform()).collect();
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

    #[test]
    fn a_large_librarys_graph_finds_nearly_every_exact_neighbour() {
        let mut index = clustered_index(GRAPH_MIN_BOOKS, 32, 20, 11);
        assert!(index.wait_for_graph(), "a library this large gets a graph");
        let (mut hits, queries) = (0, 100);
        for query_row in (0..queries).map(|q| q * 197) {
            let query = index.embedding(query_row).to_vec();
            let not_itself = |row: usize| row != query_row;
            let found = index.nearest(&query, 10, &not_itself);
            assert_eq!(found.len(), 10);
            assert!(found.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
            let exact: BTreeSet<usize> = brute_force(&index, &query, 10, &not_itself)
                .into_iter()
                .collect();
            hits += found.iter().filter(|(row, _)| exact.contains(row)).count();
        }
        let recall = hits as f64 / (10 * queries) as f64;
        assert!(recall >= 0.95, "recall@10 {recall:.3}");
        // A filter that leaves too few books for the graph: the exact answer.
        let query = index.embedding(5).to_vec();
        let rare = |row: usize| row.is_multiple_of(1_000);
        let found: Vec<usize> = index
            .nearest(&query, 10, &rare)
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(found, brute_force(&index, &query, 10, &rare));
        assert!(random_index(100, 8, 1).graph().is_none());
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
}
