//! A book's words and word pairs as a bag of hashed features with TF-IDF
//! weights: what the model's linear word path reads beside the LSTM (see
//! `model::word_bag`). A linear model over exactly these features (TF-IDF
//! over words and word pairs, logistic regression) beat the LSTM alone on
//! held-out books of every benchmark set; the path lets the network learn
//! what that model learns, and the LSTM add what it can.
//!
//! Features are hashed (FNV-1a of the stem, or of `stem stem` for a pair)
//! into a fixed number of buckets, so a run needs no feature vocabulary of
//! its own, and a typed description's words find their buckets. The inverse
//! document frequencies come from the library's books when the run starts
//! and are kept in its checkpoint; a bucket no library book has gets weight
//! 0, so words the run never saw add nothing (as scikit-learn ignores them).

/// Buckets of the hashed features in `train`'s defaults: room for the words
/// and word pairs of a few thousand synopses with few collisions.
pub const DEFAULT_BUCKETS: i64 = 1 << 17;

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

/// The inverse document frequency of every bucket, learnt from a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct WordBagWeights {
    idf: Vec<f32>,
}

impl WordBagWeights {
    /// scikit-learn's smoothed IDF, `ln((1 + n) / (1 + df)) + 1`, over the
    /// documents' buckets; 0 for buckets no document has.
    pub fn from_documents<'a, S: AsRef<str> + 'a>(
        documents: impl IntoIterator<Item = &'a [S]>,
        buckets: i64,
    ) -> Self {
        let mut document_frequency = vec![0u32; buckets.max(1) as usize];
        let mut count = 0usize;
        for stems in documents {
            count += 1;
            let mut seen = feature_buckets(stems, buckets);
            seen.sort_unstable();
            seen.dedup();
            for bucket in seen {
                document_frequency[bucket as usize] += 1;
            }
        }
        let idf = document_frequency
            .into_iter()
            .map(|df| {
                if df == 0 {
                    0.0
                } else {
                    (((1 + count) as f64 / (1 + df) as f64).ln() + 1.0) as f32
                }
            })
            .collect();
        Self { idf }
    }

    /// Weights read back from a run's checkpoint.
    pub fn from_idf(idf: Vec<f32>) -> Self {
        Self { idf }
    }

    pub fn idf(&self) -> &[f32] {
        &self.idf
    }

    pub fn buckets(&self) -> i64 {
        self.idf.len() as i64
    }

    /// The text's features and their weights: sublinear term frequency
    /// (`1 + ln tf`) times IDF, scaled to unit length; buckets of weight 0
    /// are left out.
    pub fn bag(&self, stems: &[impl AsRef<str>]) -> Vec<(i64, f32)> {
        let mut features = feature_buckets(stems, self.buckets());
        features.sort_unstable();
        let mut bag: Vec<(i64, f32)> = Vec::new();
        for chunk in features.chunk_by(|a, b| a == b) {
            let bucket = chunk[0];
            let idf = self.idf[bucket as usize];
            if idf > 0.0 {
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
    fn weights_are_tf_idf_of_unit_length_and_unseen_words_count_nothing() {
        let documents: Vec<Vec<&str>> = vec![vec!["sea", "ship"], vec!["sea", "war"]];
        let weights = WordBagWeights::from_documents(documents.iter().map(Vec::as_slice), 1 << 20);
        let bag = weights.bag(&["sea", "sea", "ship", "moon"]);
        // sea (tf 2, in both books), ship (tf 1, in one), `sea sea` and
        // `sea ship` (`sea sea` is in no book); moon and `ship moon` unseen.
        assert_eq!(bag.len(), 3, "{bag:?}");
        let norm: f32 = bag.iter().map(|(_, w)| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let weight_of = |stems: &[&str]| {
            let bucket = feature_buckets(stems, 1 << 20)[0];
            bag.iter().find(|(b, _)| *b == bucket).unwrap().1
        };
        let idf_sea = (3.0f32 / 3.0).ln() + 1.0;
        let idf_ship = (3.0f32 / 2.0).ln() + 1.0;
        let ratio = weight_of(&["sea"]) / weight_of(&["ship"]);
        assert!((ratio - (1.0 + 2f32.ln()) * idf_sea / idf_ship).abs() < 1e-5);
        assert!(weights.bag(&["moon"]).is_empty());
    }
}
