//! The text encoder: word embeddings initialised from the library's Word2Vec
//! vectors, then a 3-layer LSTM built as three single-layer LSTMs so that each
//! layer's output is at hand. `U1, U2, U3` are those outputs pooled over time
//! (mean and max over the real words, concatenated).
//!
//! Optionally each layer also reads the text right to left (a bidirectional
//! LSTM): a title's last words ("... a novel", an author's surname) then shape
//! every position, not only the last ones. An option, off by default: on
//! openlibrary_covers5 it gained a little on each of three splits with the
//! author token, within a run's noise on the benchmark split (README).
//!
//! Optionally each word's vector is its own row plus the mean of vectors of
//! its character 3- to 5-grams (hashed into buckets, as fastText does):
//! surnames, Spanish endings and compounds seen in no other book of the
//! library still say something through the pieces they share with words that
//! were. The words come from the run's vocabulary, so the ids that flow in are
//! unchanged; the unknown and padding rows have no pieces.

use std::collections::BTreeMap;

use tch::nn::{self, RNN as _};
use tch::{Kind, Tensor};

use super::pooling;

/// Each vocabulary row's character n-grams as bucket ids, in the flat form
/// `embedding_bag` reads: `ids` of every row one after another, `offsets`
/// where each row starts.
#[derive(Debug)]
pub struct SubwordBags {
    ids: Tensor,
    offsets: Tensor,
    pub buckets: i64,
}

/// Shortest and longest character n-grams of a word, with its `<` and `>`
/// boundary marks (fastText's defaults).
const NGRAM_SIZES: std::ops::RangeInclusive<usize> = 3..=5;

impl SubwordBags {
    /// `words`: the known words in id order; `rows`: the embedding table's
    /// rows (the rows past `words` get empty bags). Words starting with
    /// `skip_mark` (the author tokens) get none either: their letters are
    /// already the name's words.
    pub fn new(words: &[String], rows: i64, buckets: i64, skip_mark: char) -> Self {
        let mut ids: Vec<i64> = Vec::new();
        let mut offsets: Vec<i64> = Vec::with_capacity(rows as usize);
        for row in 0..rows as usize {
            offsets.push(ids.len() as i64);
            if let Some(word) = words.get(row).filter(|w| !w.starts_with(skip_mark)) {
                ids.extend(word_ngrams(word).map(|hash| (hash % buckets as u64) as i64));
            }
        }
        Self {
            ids: Tensor::from_slice(&ids),
            offsets: Tensor::from_slice(&offsets),
            buckets,
        }
    }

    fn to_device(&self, device: tch::Device) -> Self {
        Self {
            ids: self.ids.to_device(device),
            offsets: self.offsets.to_device(device),
            buckets: self.buckets,
        }
    }
}

/// FNV-1a hashes of the character n-grams of `<word>`; n-grams are cut on
/// characters, not bytes, so accented letters stay whole.
pub fn word_ngrams(word: &str) -> impl Iterator<Item = u64> + '_ {
    let marked: Vec<char> = std::iter::once('<')
        .chain(word.chars())
        .chain(std::iter::once('>'))
        .collect();
    NGRAM_SIZES.flat_map(move |n| {
        let grams: Vec<u64> = marked
            .windows(n)
            .map(|gram| {
                let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
                let mut buffer = [0u8; 4];
                for c in gram {
                    for byte in c.encode_utf8(&mut buffer).bytes() {
                        hash ^= u64::from(byte);
                        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
                    }
                }
                hash
            })
            .collect();
        grams
    })
}

/// The group of a text of `length` words: the powers of two from 8.
fn length_bucket(length: i64) -> i64 {
    (length.max(1) as u64).next_power_of_two().max(8) as i64
}

#[derive(Debug)]
pub struct TextEncoder {
    pub(crate) embedding: nn::Embedding,
    /// The n-gram vectors and each row's n-grams, when subwords are on.
    subwords: Option<(Tensor, SubwordBags)>,
    layers: Vec<nn::LSTM>,
    /// The right-to-left LSTM of each layer; empty when reading one way.
    backward_layers: Vec<nn::LSTM>,
    pub hidden: i64,
}

impl TextEncoder {
    /// `vocabulary` rows: the known words, then one for unknown words and one
    /// for padding (ids `vocabulary - 2` and `vocabulary - 1`).
    /// `bidirectional`: each layer reads both ways, and its output (the next
    /// layer's input and the pooled features) is twice `hidden` wide.
    /// `subwords`: the rows' n-grams; their vectors start at zero, so the
    /// encoder starts from the Word2Vec vectors alone.
    pub fn new(
        path: &nn::Path,
        vocabulary: i64,
        word_dim: i64,
        hidden: i64,
        bidirectional: bool,
        subwords: Option<SubwordBags>,
    ) -> Self {
        let embedding = nn::embedding(path / "embedding", vocabulary, word_dim, Default::default());
        let subwords = subwords.map(|bags| {
            let vectors = path.zeros("subwords", &[bags.buckets, word_dim]);
            let bags = bags.to_device(vectors.device());
            (vectors, bags)
        });
        let config = nn::RNNConfig {
            batch_first: true,
            ..Default::default()
        };
        let directions = if bidirectional { 2 } else { 1 };
        let input_of = |layer: i64| {
            if layer == 0 {
                word_dim
            } else {
                directions * hidden
            }
        };
        let layers = (0..3)
            .map(|layer| {
                nn::lstm(
                    path / format!("lstm{}", layer + 1),
                    input_of(layer),
                    hidden,
                    config,
                )
            })
            .collect();
        let backward_layers = if bidirectional {
            (0..3)
                .map(|layer| {
                    nn::lstm(
                        path / format!("lstm{}_reverse", layer + 1),
                        input_of(layer),
                        hidden,
                        config,
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            embedding,
            subwords,
            layers,
            backward_layers,
            hidden,
        }
    }

    /// Width of each of U1, U2, U3: mean and max of every direction's output.
    pub fn feature_width(&self) -> i64 {
        2 * self.output_width()
    }

    fn output_width(&self) -> i64 {
        if self.backward_layers.is_empty() {
            self.hidden
        } else {
            2 * self.hidden
        }
    }

    /// Copies word vectors (`[words, word_dim]`, row = word id) into the first
    /// rows of the embedding table.
    pub fn load_word_vectors(&mut self, vectors: &Tensor) {
        let words = vectors.size()[0];
        tch::no_grad(|| {
            self.embedding.ws.narrow(0, 0, words).copy_(vectors);
        });
    }

    /// Zeroes `count` rows from `first`: words that Word2Vec has no vector
    /// for (seen once in the library) start as their n-grams alone.
    pub fn zero_rows(&mut self, first: i64, count: i64) {
        tch::no_grad(|| {
            let _ = self.embedding.ws.narrow(0, first, count).zero_();
        });
    }

    /// Every row's vector: its own, plus the mean of its n-grams' when
    /// subwords are on (computed once per forward, for all rows: a few
    /// thousand rows of a few dozen n-grams each).
    pub(crate) fn word_table(&self) -> Tensor {
        match &self.subwords {
            None => self.embedding.ws.shallow_clone(),
            Some((vectors, bags)) => {
                let (pieces, _, _, _) = Tensor::embedding_bag(
                    vectors,
                    &bags.ids,
                    &bags.offsets,
                    false,
                    1, // mean
                    false,
                    None::<Tensor>,
                    false,
                );
                &self.embedding.ws + pieces
            }
        }
    }

    /// `ids`: `[batch, T]` word ids; `lengths`: `[batch]` real words per row
    /// (at least 1). Returns U1, U2, U3, each `[batch, feature_width]`.
    ///
    /// Rows are run in groups of similar length (powers of two), so that one
    /// long synopsis does not make every title in the batch walk through
    /// hundreds of padding steps; the LSTM reads left to right and the pooling
    /// masks padding, so the result is the same as one padded batch.
    pub fn forward(&self, ids: &Tensor, lengths: &Tensor) -> [Tensor; 3] {
        let row_lengths = Vec::<i64>::try_from(lengths.to_device(tch::Device::Cpu))
            .unwrap_or_else(|_| vec![ids.size()[1]; ids.size()[0] as usize]);
        let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (row, &length) in row_lengths.iter().enumerate() {
            groups
                .entry(length_bucket(length))
                .or_default()
                .push(row as i64);
        }
        let steps = ids.size()[1];
        let table = self.word_table();
        if groups.len() <= 1 {
            // Padded to the bucket's length, not the longest row's: the LSTM
            // makes its kernels anew for each length it meets first, and a
            // typed description of a length not met yet took ten times as
            // long. One row's result does not change with its padding.
            let bucket = groups.keys().next().copied().unwrap_or(1);
            return self.forward_padded(&table, &ids.narrow(1, 0, bucket.min(steps)), lengths);
        }
        let mut parts: [Vec<Tensor>; 3] = Default::default();
        let mut order = Vec::with_capacity(row_lengths.len());
        for rows in groups.values() {
            let longest = rows
                .iter()
                .map(|&row| row_lengths[row as usize])
                .max()
                .unwrap_or(1)
                .clamp(1, steps);
            let index = Tensor::from_slice(rows).to_device(ids.device());
            let pooled = self.forward_padded(
                &table,
                &ids.index_select(0, &index).narrow(1, 0, longest),
                &lengths.index_select(0, &index),
            );
            for (part, tensor) in parts.iter_mut().zip(pooled) {
                part.push(tensor);
            }
            order.extend_from_slice(rows);
        }
        let inverse = Tensor::from_slice(&order)
            .argsort(0, false)
            .to_device(ids.device());
        parts.map(|part| Tensor::cat(&part, 0).index_select(0, &inverse))
    }

    fn forward_padded(&self, table: &Tensor, ids: &Tensor, lengths: &Tensor) -> [Tensor; 3] {
        let steps = ids.size()[1];
        let positions = Tensor::arange(steps, (Kind::Int64, ids.device())).unsqueeze(0);
        let mask = positions
            .lt_tensor(&lengths.unsqueeze(1))
            .to_kind(Kind::Float)
            .unsqueeze(-1);
        let count = mask
            .sum_dim_intlist([1i64].as_slice(), false, None)
            .clamp_min(1.0);
        // Right to left over each row's real words only: position t reads
        // word `length - 1 - t`, padding stays in place (and is masked), so a
        // row's result does not depend on how far it was padded.
        let reversed = (!self.backward_layers.is_empty()).then(|| {
            let from_end = lengths.unsqueeze(1) - 1 - &positions;
            let index = from_end.where_self(&from_end.ge(0), &positions.expand_as(&from_end));
            index.unsqueeze(-1)
        });
        let mut xs = Tensor::embedding(table, ids, -1, false, false);
        let mut pooled = Vec::with_capacity(3);
        for (layer_index, layer) in self.layers.iter().enumerate() {
            let (mut output, _) = layer.seq(&xs);
            if let Some(index) = &reversed {
                let width = xs.size()[2];
                let flipped = xs.gather(1, &index.expand([-1, -1, width], false), false);
                let (back, _) = self.backward_layers[layer_index].seq(&flipped);
                let back = back.gather(1, &index.expand([-1, -1, self.hidden], false), false);
                output = Tensor::cat(&[output, back], 2);
            }
            let mean = (&output * &mask).sum_dim_intlist([1i64].as_slice(), false, None) / &count;
            let max = pooling::max_over(&(&output + (&mask - 1.0) * 1e9), 1, false);
            pooled.push(Tensor::cat(&[mean, max], 1));
            xs = output;
        }
        let [u1, u2, u3]: [Tensor; 3] = pooled.try_into().expect("three layers");
        [u1, u2, u3]
    }
}
