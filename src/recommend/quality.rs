//! How good a run's suggestions are on its own library: "more like this" by
//! category, and the leave-one-out hit rate of readers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::RecommendError;
use super::index::{EmbeddingIndex, reader_profile};
use crate::store::{BookId, Library};

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
    let names = crate::store::sorted_categories(category_of.values());
    // Uncategorised books are never relevant: each gets a label of its own.
    let labels: Vec<usize> = index
        .book_ids
        .iter()
        .enumerate()
        .map(|(row, id)| {
            category_of
                .get(id)
                .and_then(|c| names.iter().position(|n| n == c))
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
    use crate::recommend::index::normalise;

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
