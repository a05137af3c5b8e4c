//! The vocabulary: stems seen at least `min_count` times, most frequent first,
//! each with the surface word it most often came from (for display).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Word ids `0..len()` name known words, most frequent first; `unknown_id()`
/// (= `len()`) stands for every word below the minimum count or never seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    words: Vec<String>,
    surfaces: Vec<String>,
    counts: Vec<u64>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Vocab {
    /// Counts `sentences` of (stem, surface word) and keeps stems seen at least
    /// `min_count` times. Ties in count are ordered by stem, so the ids are
    /// deterministic.
    pub fn build<'a, I, S>(sentences: I, min_count: u64) -> Self
    where
        I: IntoIterator<Item = S>,
        S: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut counts: HashMap<&str, (u64, HashMap<&str, u64>)> = HashMap::new();
        for sentence in sentences {
            for (stem, surface) in sentence {
                let entry = counts.entry(stem).or_default();
                entry.0 += 1;
                *entry.1.entry(surface).or_default() += 1;
            }
        }
        let mut kept: Vec<(&str, u64, &str)> = counts
            .into_iter()
            .filter(|(_, (count, _))| *count >= min_count.max(1))
            .map(|(stem, (count, surfaces))| {
                let surface = surfaces
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
                    .map_or(stem, |(surface, _)| surface);
                (stem, count, surface)
            })
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        Self::from_parts(
            kept.iter().map(|k| k.0.to_string()).collect(),
            kept.iter().map(|k| k.2.to_string()).collect(),
            kept.iter().map(|k| k.1).collect(),
        )
    }

    /// Rebuilds a vocabulary from stored columns.
    pub fn from_parts(words: Vec<String>, surfaces: Vec<String>, counts: Vec<u64>) -> Self {
        let index = words
            .iter()
            .enumerate()
            .map(|(id, word)| (word.clone(), id as u32))
            .collect();
        Self {
            words,
            surfaces,
            counts,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The id every unknown word maps to.
    pub fn unknown_id(&self) -> u32 {
        self.words.len() as u32
    }

    /// The word's id, or `unknown_id()`.
    pub fn id(&self, stem: &str) -> u32 {
        self.get(stem).unwrap_or(self.unknown_id())
    }

    /// The word's id if it is in the vocabulary.
    pub fn get(&self, stem: &str) -> Option<u32> {
        self.index.get(stem).copied()
    }

    pub fn word(&self, id: u32) -> &str {
        &self.words[id as usize]
    }

    /// The surface word this stem most often came from.
    pub fn surface(&self, id: u32) -> &str {
        &self.surfaces[id as usize]
    }

    pub fn count(&self, id: u32) -> u64 {
        self.counts[id as usize]
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn surfaces(&self) -> &[String] {
        &self.surfaces
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Total count of all known words.
    pub fn total_count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_count_order_and_unknown_id() {
        let sentences = [
            vec![
                ("sea", "sea"),
                ("ship", "ships"),
                ("sea", "seas"),
                ("mutini", "mutiny"),
            ],
            vec![("ship", "ship"), ("sea", "sea"), ("ship", "ships")],
        ];
        let vocab = Vocab::build(sentences.iter().map(|s| s.iter().copied()), 2);
        assert_eq!(vocab.words(), ["sea", "ship"]);
        assert_eq!(vocab.counts(), [3, 3]);
        assert_eq!(vocab.surface(1), "ships");
        assert_eq!(vocab.surface(0), "sea");
        assert_eq!(vocab.id("ship"), 1);
        assert_eq!(vocab.id("mutini"), vocab.unknown_id());
        assert_eq!(vocab.unknown_id(), 2);
        assert_eq!(vocab.total_count(), 6);
    }
}
