//! One query answered: the query's vector and what it leaves out, the nearest
//! books under the filters, and for each suggestion why (its similarity, the
//! fusion's weights, the words it shares with the query, where the model
//! looked on its cover).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::index::{maximal_marginal_relevance, reader_profile};
use super::{EmbeddingIndex, Query, RecommendError, RecommendOptions, find_book};
use crate::inference::TrainedRun;
use crate::inference::attention::{self, cover_counted};
use crate::store::{BookId, BookSummary, Library, StoredFocus};
use crate::text::kept_words::{BookWords, words_of_books};

/// One suggestion and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub book_id: BookId,
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

/// The query's words that the book's text has too, as the book writes them.
fn shared_words(
    run: &TrainedRun,
    query_stems: &HashSet<&str>,
    book_words: Option<&BookWords>,
) -> Vec<String> {
    let Some(book_words) = book_words else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut shared: Vec<(u64, String)> = book_words
        .stems_and_words()
        .filter(|&(stem, _)| query_stems.contains(stem) && seen.insert(stem))
        .map(|(stem, word)| match run.vocab.get(stem) {
            Some(id) => (run.vocab.count(id), run.vocab.surface(id).to_string()),
            None => (0, word.to_string()),
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

/// What a query asks: its vector, the books it leaves out (the query book, a
/// reader's own books) and its words, for the words a suggestion shares.
struct Asked {
    vector: Vec<f32>,
    excluded: BTreeSet<BookId>,
    words: AskedWords,
}

/// The words a query asks with.
enum AskedWords {
    /// A typed description's stems (none for a cover image).
    Stems(BTreeSet<String>),
    /// The query book's words, or a reader's books'.
    OfBooks(HashMap<BookId, BookWords>),
}

impl AskedWords {
    /// The stems, borrowed.
    fn stems(&self) -> HashSet<&str> {
        match self {
            Self::Stems(stems) => stems.iter().map(String::as_str).collect(),
            Self::OfBooks(books) => books
                .values()
                .flat_map(|words| words.stems_and_words().map(|(stem, _)| stem))
                .collect(),
        }
    }
}

fn reader_query(
    library: &Library,
    index: &EmbeddingIndex,
    reader: &str,
) -> Result<Asked, RecommendError> {
    let read = library.books_read_by(reader)?;
    if read.is_empty() && !library.has_reader(reader)? {
        return Err(RecommendError::UnknownReader(reader.to_string()));
    }
    let vector = reader_profile(index, &read)
        .ok_or_else(|| RecommendError::EmptyProfile(reader.to_string()))?;
    let read_ids: Vec<BookId> = read.iter().map(|(id, _)| *id).collect();
    Ok(Asked {
        vector,
        excluded: read.iter().map(|(id, _)| *id).collect(),
        words: AskedWords::OfBooks(words_of_books(library, index.kept_words(), &read_ids)?),
    })
}

fn asked(
    library: &Library,
    run: &TrainedRun,
    index: &EmbeddingIndex,
    query: &Query,
) -> Result<Asked, RecommendError> {
    Ok(match query {
        Query::Like(book) => {
            let book_id = find_book(library, book)?;
            let row = index
                .row(book_id)
                .ok_or_else(|| RecommendError::UnknownBook(book.clone()))?;
            Asked {
                vector: index.embedding(row).to_vec(),
                excluded: BTreeSet::from([book_id]),
                words: AskedWords::OfBooks(words_of_books(
                    library,
                    index.kept_words(),
                    &[book_id],
                )?),
            }
        }
        Query::Text(description) => {
            let tokens = run.query_tokens(description);
            if tokens
                .iter()
                .all(|token| run.vocab.get(&token.stem).is_none())
            {
                return Err(RecommendError::NoKnownWords(description.clone()));
            }
            Asked {
                vector: run.description_vector(&tokens),
                excluded: BTreeSet::new(),
                words: AskedWords::Stems(tokens.into_iter().map(|token| token.stem).collect()),
            }
        }
        Query::Image(path) => Asked {
            vector: run.embed_image(path)?.embedding,
            excluded: BTreeSet::new(),
            words: AskedWords::Stems(BTreeSet::new()),
        },
        Query::Reader(reader) => reader_query(library, index, reader)?,
    })
}

/// Where the model looked on each suggested cover that counted and whose
/// placement did not keep it (stored before placements kept their focus):
/// all in one pass of the heads. A cover that did not count has no place the
/// model looked (and its maps are not even read).
fn looked_at(
    library: &Library,
    run: &TrainedRun,
    index: &EmbeddingIndex,
    ranked: &[(usize, f32)],
) -> Result<HashMap<BookId, [f32; 2]>, RecommendError> {
    let unknown: Vec<usize> = ranked
        .iter()
        .map(|&(row, _)| row)
        .filter(|&row| {
            index.focus[row] == StoredFocus::Unknown
                && cover_counted(attention::image_share(
                    index.image_weights[row],
                    index.text_weights[row],
                ))
        })
        .collect();
    if unknown.is_empty() {
        return Ok(HashMap::new());
    }
    let cache = run.feature_cache(library)?;
    let unknown_ids: Vec<BookId> = unknown.iter().map(|&row| index.book_ids[row]).collect();
    let texts = library.book_texts_of(&unknown_ids)?;
    let mut looked_at = Vec::new();
    for text in &texts {
        if let Some(cover) =
            run.book_cover(library, &cache, text.book_id, text.cover_hash.as_deref())?
        {
            looked_at.push((text, cover));
        }
    }
    let looked_ids: Vec<BookId> = looked_at.iter().map(|(text, _)| text.book_id).collect();
    Ok(looked_ids
        .into_iter()
        .zip(run.attention_for_many(looked_at))
        .filter_map(|(book_id, maps)| maps.counted_focus().map(|(x, y)| (book_id, [x, y])))
        .collect())
}

/// Each ranked row as a suggestion with why it is there: its focus from its
/// stored placement, so that a list of suggestions makes no pass of the
/// heads (that pass, and reading the suggested covers' maps, was most of a
/// "more like this" answer's time).
fn explain(
    library: &Library,
    run: &TrainedRun,
    index: &EmbeddingIndex,
    ranked: Vec<(usize, f32)>,
    asked: &Asked,
) -> Result<Vec<Suggestion>, RecommendError> {
    // The suggested books' words alone (kept with the library, or read from
    // their texts): a library of 100,000 books is not read for ten
    // suggestions.
    let ranked_ids: Vec<BookId> = ranked.iter().map(|&(row, _)| index.book_ids[row]).collect();
    let share =
        |row: usize| attention::image_share(index.image_weights[row], index.text_weights[row]);
    let focus_of = looked_at(library, run, index, &ranked)?;
    let words = words_of_books(library, index.kept_words(), &ranked_ids)?;
    let asked_stems = asked.words.stems();
    let mut summaries = summaries_of(library, index, &ranked_ids)?;
    let mut suggestions = Vec::with_capacity(ranked.len());
    for (row, score) in ranked {
        let book_id = index.book_ids[row];
        let summary = summaries
            .remove(&book_id)
            .ok_or_else(|| RecommendError::UnknownBook(book_id.to_string()))?;
        let (image_weight, text_weight) = (index.image_weights[row], index.text_weights[row]);
        let image_share = share(row);
        let focus = match index.focus[row] {
            StoredFocus::At(point) if cover_counted(image_share) => Some(point),
            StoredFocus::Unknown => focus_of.get(&book_id).copied(),
            StoredFocus::At(_) | StoredFocus::Nowhere => None,
        };
        suggestions.push(Suggestion {
            book_id,
            external_id: summary.external_id,
            title: summary.title,
            author: summary.author,
            category: summary.category,
            score,
            image_weight,
            text_weight,
            image_share,
            shared_words: shared_words(run, &asked_stems, words.get(&book_id)),
            focus,
        });
    }
    Ok(suggestions)
}

/// What a suggestion shows of each of `book_ids`: from the index where it
/// kept them, else read in one statement.
fn summaries_of(
    library: &Library,
    index: &EmbeddingIndex,
    book_ids: &[BookId],
) -> Result<HashMap<BookId, BookSummary>, RecommendError> {
    let kept: Option<HashMap<BookId, BookSummary>> = book_ids
        .iter()
        .map(|id| {
            index
                .kept_summary(*id)
                .map(|summary| (*id, summary.clone()))
        })
        .collect();
    Ok(match kept {
        Some(kept) => kept,
        None => library
            .book_summaries_of(book_ids)?
            .into_iter()
            .map(|summary| (summary.book_id, summary))
            .collect(),
    })
}

/// Suggestions for `query` from `index` (built for [`super::query_modalities`]);
/// the query book itself and a reader's own books are never suggested.
pub fn recommend(
    library: &Library,
    run: &TrainedRun,
    index: &EmbeddingIndex,
    query: &Query,
    options: &RecommendOptions,
) -> Result<Vec<Suggestion>, RecommendError> {
    let asked = asked(library, run, index, query)?;
    // Every book's category only when a category is asked for.
    let categories: HashMap<BookId, String> = match options.category {
        Some(_) => library
            .book_summaries()?
            .into_iter()
            .map(|b| (b.book_id, b.category))
            .collect(),
        None => HashMap::new(),
    };
    let keep = |row: usize| {
        let book_id = index.book_ids[row];
        !asked.excluded.contains(&book_id)
            && options
                .category
                .as_ref()
                .is_none_or(|wanted| categories.get(&book_id) == Some(wanted))
    };
    let ranked = if options.diverse {
        let candidates = index.nearest(&asked.vector, options.k * 4, &keep);
        maximal_marginal_relevance(index, &candidates, options.k, options.diversity_lambda)
    } else {
        index.nearest(&asked.vector, options.k, &keep)
    };
    explain(library, run, index, ranked, &asked)
}
