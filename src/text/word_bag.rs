//! A book's words and word pairs, and the character n-grams of its words, as
//! a bag of hashed features with TF-IDF weights: what the model's linear
//! word path and its word classifier read beside the LSTM (see
//! `model::word_bag`). A linear model over words and word pairs (TF-IDF,
//! logistic regression) beat the LSTM alone on held-out books of every
//! benchmark set; the path lets the network learn what that model learns,
//! and the LSTM add what it can.
//!
//! Features are hashed (FNV-1a of the stem, of `stem stem` for a pair, of a
//! piece of ` word ` for a character n-gram) into a fixed number of buckets,
//! so a run needs no feature vocabulary of its own, and a typed
//! description's words find their buckets. Words and pairs take the first
//! `words` buckets, the character n-grams (scikit-learn's `char_wb`, 2 to 5
//! characters) the `characters` buckets after them; each block is scaled to
//! unit length on its own, as scikit-learn's union of two vectorisers is.
//! The inverse document frequencies come from the library's books when the
//! run starts and are kept in its checkpoint; a bucket no library book has
//! gets weight 0, so words the run never saw add nothing (as scikit-learn
//! ignores them), and so does a character n-gram only one book has
//! (`min_df=2`).

use crate::text::preprocess::Token;

/// Buckets of the hashed words and word pairs in `train`'s defaults: room
/// for the words and word pairs of a few thousand synopses with few
/// collisions.
pub const DEFAULT_BUCKETS: i64 = 1 << 17;

/// Buckets of the hashed character n-grams in `train`'s defaults.
pub const DEFAULT_CHARACTER_BUCKETS: i64 = 1 << 18;

/// The shortest and longest character n-grams.
const CHARACTER_GRAMS: std::ops::RangeInclusive<usize> = 2..=5;

/// Books a character n-gram must be in to count (scikit-learn's `min_df`).
const CHARACTER_MIN_BOOKS: u32 = 2;

/// The two blocks of a bag's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BagShape {
    /// Buckets of words and word pairs, first.
    pub words: i64,
    /// Buckets of character n-grams, after the words' (0: none).
    pub characters: i64,
}

impl BagShape {
    pub fn total(self) -> i64 {
        self.words + self.characters
    }
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            hash ^= u64::from(b' ');
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// The bucket of every word and of every pair of neighbouring words, in text
/// order (a feature seen twice comes twice).
pub fn feature_buckets(stems: &[impl AsRef<str>], buckets: i64) -> Vec<i64> {
    let modulo = buckets.max(1) as u64;
    let words = stems.iter().map(|stem| fnv1a(&[stem.as_ref()]));
    let pairs = stems
        .windows(2)
        .map(|pair| fnv1a(&[pair[0].as_ref(), pair[1].as_ref()]));
    words
        .chain(pairs)
        .map(|hash| (hash % modulo) as i64)
        .collect()
}

/// The bucket of every character n-gram of every word, as scikit-learn's
/// `char_wb` cuts them: each word padded with a space on both sides, every
/// n-gram of 2 to 5 characters, a padded word shorter than `n` once. One
/// difference, kept because the quality benchmark measured it so: where
/// scikit-learn stops at the first `n` as long as the padded word, this goes
/// on to the next `n`, so a word of one or two letters gives its padded
/// whole twice (scikit-learn: once).
/// Buckets are offset by `shape.words`.
pub fn character_buckets(words: &[impl AsRef<str>], shape: BagShape) -> Vec<i64> {
    if shape.characters <= 0 {
        return Vec::new();
    }
    let modulo = shape.characters as u64;
    let mut buckets = Vec::new();
    let bucket_of = |gram: &str| shape.words + (fnv1a(&[gram]) % modulo) as i64;
    for word in words {
        let padded = format!(" {} ", word.as_ref());
        // Byte offsets of the padded word's characters, and its end: each
        // n-gram is a slice of it, hashed without a copy.
        let bounds: Vec<usize> = padded
            .char_indices()
            .map(|(offset, _)| offset)
            .chain(std::iter::once(padded.len()))
            .collect();
        let length = bounds.len() - 1;
        for n in CHARACTER_GRAMS {
            if length < n {
                buckets.push(bucket_of(&padded));
                break;
            }
            for start in 0..=length - n {
                buckets.push(bucket_of(&padded[bounds[start]..bounds[start + n]]));
            }
        }
    }
    buckets
}

/// A text's word and pair buckets, then its character n-gram buckets.
fn text_buckets(tokens: &[Token], shape: BagShape) -> (Vec<i64>, Vec<i64>) {
    let stems: Vec<&str> = tokens.iter().map(|t| t.stem.as_str()).collect();
    let words: Vec<&str> = tokens.iter().map(|t| t.word.as_str()).collect();
    (
        feature_buckets(&stems, shape.words),
        character_buckets(&words, shape),
    )
}

/// The inverse document frequency of every bucket, learnt from a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct WordBagWeights {
    idf: Vec<f32>,
    word_buckets: i64,
}

impl WordBagWeights {
    /// scikit-learn's smoothed IDF, `ln((1 + n) / (1 + df)) + 1`, over the
    /// documents' buckets; 0 for buckets no document has, and for character
    /// n-grams fewer than two documents have.
    pub fn from_documents<'a>(
        documents: impl IntoIterator<Item = &'a [Token]>,
        shape: BagShape,
    ) -> Self {
        let mut document_frequency = vec![0u32; shape.total().max(1) as usize];
        let mut count = 0usize;
        for tokens in documents {
            count += 1;
            let (mut seen, characters) = text_buckets(tokens, shape);
            seen.extend(characters);
            seen.sort_unstable();
            seen.dedup();
            for bucket in seen {
                document_frequency[bucket as usize] += 1;
            }
        }
        let idf = document_frequency
            .into_iter()
            .enumerate()
            .map(|(bucket, df)| {
                let least = if (bucket as i64) < shape.words {
                    1
                } else {
                    CHARACTER_MIN_BOOKS
                };
                if df < least {
                    0.0
                } else {
                    (((1 + count) as f64 / (1 + df) as f64).ln() + 1.0) as f32
                }
            })
            .collect();
        Self {
            idf,
            word_buckets: shape.words,
        }
    }

    /// Weights read back from a run's checkpoint: the first `word_buckets`
    /// are the words', the rest the character n-grams'.
    pub fn from_idf(idf: Vec<f32>, word_buckets: i64) -> Self {
        Self { idf, word_buckets }
    }

    pub fn idf(&self) -> &[f32] {
        &self.idf
    }

    pub fn shape(&self) -> BagShape {
        BagShape {
            words: self.word_buckets,
            characters: (self.idf.len() as i64 - self.word_buckets).max(0),
        }
    }

    /// The text's features and their weights: sublinear term frequency
    /// (`1 + ln tf`) times IDF, each block (words and pairs, character
    /// n-grams) scaled to unit length; buckets of weight 0 are left out.
    /// Buckets are `u32` and the bag is as long as its entries, no longer:
    /// a run holds every book's bag, and with character n-grams at 100,000
    /// books `i64` buckets and a grown vector's spare room came to gigabytes.
    pub fn bag(&self, tokens: &[Token]) -> Vec<(u32, f32)> {
        let (words, characters) = text_buckets(tokens, self.shape());
        let (words, characters) = (self.block(words), self.block(characters));
        let mut bag = Vec::with_capacity(words.len() + characters.len());
        bag.extend(words);
        bag.extend(characters);
        bag
    }

    /// One block's weighted features, of unit length.
    fn block(&self, mut features: Vec<i64>) -> Vec<(u32, f32)> {
        features.sort_unstable();
        let mut bag: Vec<(u32, f32)> = Vec::new();
        for chunk in features.chunk_by(|a, b| a == b) {
            let bucket = chunk[0];
            let idf = self.idf[bucket as usize];
            if idf > 0.0 {
                let bucket = u32::try_from(bucket).expect("a bag's table has under 2^32 buckets");
                bag.push((bucket, (1.0 + (chunk.len() as f32).ln()) * idf));
            }
        }
        let norm = bag.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, weight) in &mut bag {
                *weight /= norm;
            }
        }
        bag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens whose words are their stems.
    fn tokens(words: &[&str]) -> Vec<Token> {
        words
            .iter()
            .map(|w| Token {
                stem: w.to_string(),
                word: w.to_string(),
            })
            .collect()
    }

    const WORDS_ONLY: BagShape = BagShape {
        words: 1 << 20,
        characters: 0,
    };

    #[test]
    fn words_and_neighbouring_pairs_are_features() {
        let buckets = feature_buckets(&["sea", "ship", "sea"], 1 << 20);
        assert_eq!(buckets.len(), 5, "three words and two pairs");
        assert_eq!(buckets[0], buckets[2], "the same word, the same bucket");
        assert_ne!(buckets[3], buckets[4], "`sea ship` and `ship sea` differ");
        let no_words: [&str; 0] = [];
        assert!(feature_buckets(&no_words, 8).is_empty());
    }

    #[test]
    fn character_grams_are_cut_as_scikit_learns_char_wb_but_a_short_word_whole_twice() {
        let shape = BagShape {
            words: 10,
            characters: 1 << 30,
        };
        // " ab " gives 3 bigrams, 2 trigrams, 1 four-gram (itself), and is
        // shorter than 5: counted once more whole, where scikit-learn stops
        // at the four-gram. " a " gives 2 bigrams, 1 trigram (itself), then
        // once more whole (it is shorter than 4). " abc " gives its whole
        // once, as scikit-learn does.
        let grams = character_buckets(&["ab"], shape);
        assert_eq!(grams.len(), 3 + 2 + 1 + 1);
        assert_eq!(grams[5], grams[6], "the whole padded word, twice");
        assert_eq!(character_buckets(&["a"], shape).len(), 2 + 1 + 1);
        assert_eq!(character_buckets(&["abc"], shape).len(), 4 + 3 + 2 + 1);
        assert!(grams.iter().all(|&b| b >= 10), "after the words' buckets");
        let hash = |s: &str| 10 + (fnv1a(&[s]) % (1 << 30)) as i64;
        assert_eq!(grams[0], hash(" a"));
        assert_eq!(grams[3], hash(" ab"));
        assert!(character_buckets(&["ab"], WORDS_ONLY).is_empty());
    }

    #[test]
    fn weights_are_tf_idf_of_unit_length_and_unseen_words_count_nothing() {
        let documents = [tokens(&["sea", "ship"]), tokens(&["sea", "war"])];
        let weights =
            WordBagWeights::from_documents(documents.iter().map(Vec::as_slice), WORDS_ONLY);
        let bag = weights.bag(&tokens(&["sea", "sea", "ship", "moon"]));
        // sea (tf 2, in both books), ship (tf 1, in one), `sea sea` and
        // `sea ship` (`sea sea` is in no book); moon and `ship moon` unseen.
        assert_eq!(bag.len(), 3, "{bag:?}");
        let norm: f32 = bag.iter().map(|(_, w)| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let weight_of = |stems: &[&str]| {
            let bucket = feature_buckets(stems, 1 << 20)[0];
            bag.iter().find(|(b, _)| i64::from(*b) == bucket).unwrap().1
        };
        let idf_sea = (3.0f32 / 3.0).ln() + 1.0;
        let idf_ship = (3.0f32 / 2.0).ln() + 1.0;
        let ratio = weight_of(&["sea"]) / weight_of(&["ship"]);
        assert!((ratio - (1.0 + 2f32.ln()) * idf_sea / idf_ship).abs() < 1e-5);
        assert!(weights.bag(&tokens(&["moon"])).is_empty());
    }

    #[test]
    fn character_grams_of_two_books_or_more_count_in_a_block_of_their_own() {
        let shape = BagShape {
            words: 1 << 20,
            characters: 1 << 20,
        };
        // Stems differ from words: the grams are cut from the words.
        let sailing = |stem: &str| Token {
            stem: stem.into(),
            word: "sailing".into(),
        };
        let documents = [
            vec![sailing("sail")],
            vec![sailing("sailer")],
            tokens(&["zq"]),
        ];
        let weights = WordBagWeights::from_documents(documents.iter().map(Vec::as_slice), shape);
        let bag = weights.bag(&[
            sailing("sail"),
            Token {
                stem: "zq".into(),
                word: "zq".into(),
            },
        ]);
        let (words, characters): (Vec<_>, Vec<_>) = bag
            .iter()
            .partition(|(bucket, _)| i64::from(*bucket) < shape.words);
        assert_eq!(
            bag.capacity(),
            bag.len(),
            "a run holds every bag: no spare room"
        );
        // sail and zq; `sail zq` is in no book.
        assert_eq!(words.len(), 2, "{words:?}");
        // sailing's grams are in two books; zq's in one, so they count nothing.
        let sailing_grams = character_buckets(&["sailing"], shape);
        assert!(
            characters
                .iter()
                .all(|(b, _)| sailing_grams.contains(&i64::from(*b)))
        );
        assert!(!characters.is_empty());
        for block in [&words, &characters] {
            let norm: f32 = block.iter().map(|(_, w)| w * w).sum();
            assert!((norm - 1.0).abs() < 1e-5, "each block of unit length");
        }
        assert_eq!(weights.shape(), shape);
    }
}
