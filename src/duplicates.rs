//! Near-duplicates among the library's books, for the librarian to merge:
//! books sharing the very same cover bytes, books whose covers look alike
//! (a perceptual hash of each thumbnail, from `image_hasher`, within a few
//! bits), and books with the same title and author once case, accents and
//! punctuation are set aside.

use std::collections::{BTreeMap, HashMap};

use image_hasher::{HashAlg, HasherConfig, ImageHash};
use rayon::prelude::*;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization as _;

use crate::jobs::{Cancel, OnProgress, Progress, is_cancelled};
use crate::store::{BookId, BookSummary, Library, StoreError};

/// Bits two covers' 64-bit gradient hashes may differ by and still be
/// called alike, by default: a re-encoded or slightly resized cover differs
/// by a bit or two, two different paintings by about half the bits.
pub const DEFAULT_MAX_DISTANCE: u32 = 4;

/// Why two books look like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Likeness {
    SameCover,
    /// Perceptual hashes `distance` bits apart.
    SimilarCover {
        distance: u32,
    },
    SameTitleAndAuthor,
}

/// One book of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairBook {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub author: String,
}

/// Two books that may be one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicatePair {
    #[serde(flatten)]
    pub likeness: Likeness,
    pub books: [PairBook; 2],
}

#[derive(Debug, thiserror::Error)]
pub enum DuplicatesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("looking for near-duplicates was cancelled")]
    Cancelled,
}

/// Lower case, without accents, punctuation or repeated spaces.
pub fn normalised(text: &str) -> String {
    let plain: String = text
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_lowercase();
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn pair_book(book: &BookSummary) -> PairBook {
    PairBook {
        book_id: book.book_id,
        external_id: book.external_id.clone(),
        title: book.title.clone(),
        author: book.author.clone(),
    }
}

/// Every pair in each group of two or more books.
fn group_pairs(
    groups: impl IntoIterator<Item = Vec<usize>>,
    books: &[BookSummary],
    likeness: Likeness,
    pairs: &mut Vec<DuplicatePair>,
) {
    for group in groups.into_iter().filter(|g| g.len() > 1) {
        for (n, &a) in group.iter().enumerate() {
            for &b in &group[n + 1..] {
                pairs.push(DuplicatePair {
                    likeness,
                    books: [pair_book(&books[a]), pair_book(&books[b])],
                });
            }
        }
    }
}

/// Pairs of distinct covers whose thumbnails' perceptual hashes are at most
/// `max_distance` bits apart (one hash per distinct cover, on every core).
fn similar_covers(
    books: &[BookSummary],
    by_cover: &BTreeMap<String, Vec<usize>>,
    max_distance: u32,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<Vec<DuplicatePair>, DuplicatesError> {
    let covers: Vec<(usize, &std::path::Path)> = by_cover
        .values()
        .filter_map(|group| {
            let first = group[0];
            books[first].thumb_path.as_deref().map(|path| (first, path))
        })
        .collect();
    let hasher = HasherConfig::new()
        .hash_alg(HashAlg::Gradient)
        .hash_size(8, 8)
        .to_hasher();
    let done = std::sync::atomic::AtomicUsize::new(0);
    on_progress(Progress::new(0, covers.len()));
    let hashes: Vec<(usize, ImageHash)> = covers
        .par_iter()
        .filter_map(|&(book, path)| {
            if is_cancelled(cancel) {
                return None;
            }
            let hash = image::open(path)
                .ok()
                .map(|image| (book, hasher.hash_image(&image)));
            let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if finished.is_multiple_of(256) {
                on_progress(Progress::new(finished, covers.len()));
            }
            hash
        })
        .collect();
    if is_cancelled(cancel) {
        return Err(DuplicatesError::Cancelled);
    }
    on_progress(Progress::new(covers.len(), covers.len()));
    let mut pairs = Vec::new();
    for (n, (a, hash_a)) in hashes.iter().enumerate() {
        for (b, hash_b) in &hashes[n + 1..] {
            let distance = hash_a.dist(hash_b);
            if distance <= max_distance {
                pairs.push(DuplicatePair {
                    likeness: Likeness::SimilarCover { distance },
                    books: [pair_book(&books[*a]), pair_book(&books[*b])],
                });
            }
        }
    }
    Ok(pairs)
}

/// The library's near-duplicate pairs (books in the trash left out): same
/// cover, then covers within `max_distance` bits, then same title and
/// author. Hashing the thumbnails reports progress and can be cancelled.
pub fn near_duplicates(
    library: &Library,
    max_distance: u32,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<Vec<DuplicatePair>, DuplicatesError> {
    let books = library.book_summaries()?;
    let index: HashMap<BookId, usize> = books
        .iter()
        .enumerate()
        .map(|(i, b)| (b.book_id, i))
        .collect();
    let mut by_cover: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (book, hash) in library.book_cover_hashes()? {
        if let Some(&i) = index.get(&book) {
            by_cover.entry(hash).or_default().push(i);
        }
    }
    let mut pairs = Vec::new();
    group_pairs(
        by_cover.values().cloned(),
        &books,
        Likeness::SameCover,
        &mut pairs,
    );

    pairs.extend(similar_covers(
        &books,
        &by_cover,
        max_distance,
        on_progress,
        cancel,
    )?);
    let mut by_name: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, book) in books.iter().enumerate() {
        let title = normalised(&book.title);
        if !title.is_empty() {
            by_name
                .entry((title, normalised(&book.author)))
                .or_default()
                .push(i);
        }
    }
    group_pairs(
        by_name.into_values(),
        &books,
        Likeness::SameTitleAndAuthor,
        &mut pairs,
    );
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_match_whatever_their_case_accents_and_punctuation() {
        assert_eq!(normalised("Les Misérables!"), "les miserables");
        assert_eq!(
            normalised("  THE   Hobbit: or, There and Back "),
            "the hobbit or there and back"
        );
        assert_eq!(normalised("三体"), "三体");
    }
}
