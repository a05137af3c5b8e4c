//! Suggestions from a run's embeddings: the index a query is ranked against
//! ([`index`]), the queries a librarian asks and why each suggestion is there
//! ([`query`]), and how good suggestions are on the run's own library
//! ([`quality`]).

pub mod cache;
pub mod graph;
pub mod graph_shelf;
pub mod index;
pub mod quality;
pub mod query;

use std::path::PathBuf;

pub use cache::{IndexCache, PreparedIndex};
pub use index::{
    APPROXIMATION_BOUND, EmbeddingIndex, maximal_marginal_relevance, reader_profile, top_k,
};
pub use quality::{ReaderHitRate, SuggestionQuality, reader_hit_rate, suggestion_quality};
pub use query::{MAX_SHARED_WORDS, Suggestion, recommend};

use crate::embed::current_embeddings;
use crate::inference::TrainedRun;
use crate::jobs::{Cancel, OnProgress};
use crate::store::{BookId, Library, Modalities, StoreError};
use crate::train::TrainError;

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

/// The run's embeddings of every book of the library: the stored ones where
/// the book has not changed since, the others (new or edited books) embedded
/// now without retraining and stored.
pub fn library_index(
    library: &mut Library,
    run: &TrainedRun,
    progress: OnProgress,
    cancel: &Cancel,
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
    progress: OnProgress,
    cancel: &Cancel,
) -> Result<EmbeddingIndex, RecommendError> {
    let rows = current_embeddings(library, run, modalities, progress, cancel)?;
    let mut book_ids = Vec::with_capacity(rows.len());
    let mut embeddings = Vec::with_capacity(rows.len() * run.embedding_dim);
    let (mut image_weights, mut text_weights) = (Vec::new(), Vec::new());
    let mut focus = Vec::with_capacity(rows.len());
    for row in rows {
        book_ids.push(row.book_id);
        embeddings.extend_from_slice(&row.embedding);
        image_weights.push(row.image_weight);
        text_weights.push(row.text_weight);
        focus.push(row.focus);
    }
    Ok(EmbeddingIndex::with_graph_shelf(
        book_ids,
        embeddings,
        run.embedding_dim,
        image_weights,
        text_weights,
        Some(graph_shelf::GraphShelf::of_library(library)),
    )
    .with_focus(focus))
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

/// The index a query is ranked against: an image query against the books'
/// cover-only placements (covers that look like it), the others against the
/// run's own placements.
pub fn query_modalities(run: &TrainedRun, query: &Query) -> Modalities {
    match query {
        Query::Image(_) => Modalities::Image,
        _ => run.config.modalities,
    }
}

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
