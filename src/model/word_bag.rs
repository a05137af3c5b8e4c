//! The linear word path: a book's bag of hashed words and word pairs (TF-IDF
//! weighted, see `text::word_bag`; not the bag's character n-grams) summed
//! into a small vector per book, then mapped to the embedding's width and
//! added to it. The classifier above is linear, so this path alone is a
//! (low-rank) logistic regression on the features a linear baseline reads;
//! the LSTM and the cover add to it.
//!
//! The bucket vectors start at zero, so a run starts from the paper's model
//! and the path grows as it helps. The inverse document frequencies are kept
//! as a variable that does not train: a run's checkpoint carries them.
//!
//! Beside it the path holds a word classifier fitted after training as a
//! linear model on its own (`train::word_classifier`): multinomial logistic
//! regression on the whole bags (words, pairs and character n-grams), its L2
//! strength chosen on folds of the run's labelled books. Trained jointly,
//! the path learnt the training books by heart long before it generalised
//! (goodreads: 0.62 held-out macro-F1 against the linear baseline's 0.73);
//! fitted alone and regularised, it is that baseline, and the network's
//! categories come from the sum of both softmaxes, the classifier's weighted
//! by `mix` (0 leaves the network alone). These variables do not train with
//! the network.

use tch::nn::{self, Module as _};
use tch::{Kind, Tensor};

use crate::text::word_bag::BagShape;

/// Width of the summed bag vector: far more than the categories a library
/// has, so the path's rank does not limit it.
pub const BAG_WIDTH: i64 = 64;

/// The optimiser group of the path's variables: it trains at its own rate.
pub const WORD_BAG_GROUP: usize = 1;

/// A batch's bags in the flat form `embedding_bag` reads.
#[derive(Debug)]
pub struct BagInput {
    pub buckets: Tensor,
    pub offsets: Tensor,
    pub weights: Tensor,
}

/// One `(bucket, weight)` entry of a bag. Bags are held as `u32` buckets
/// (8 bytes an entry, not 16): at 100,000 books of character n-grams the
/// bags and the word classifier's copies of them were most of a run's
/// memory.
pub trait BagEntry: Copy {
    fn bucket(self) -> i64;
    fn weight(self) -> f32;
}

impl BagEntry for (i64, f32) {
    fn bucket(self) -> i64 {
        self.0
    }
    fn weight(self) -> f32 {
        self.1
    }
}

impl BagEntry for (u32, f32) {
    fn bucket(self) -> i64 {
        i64::from(self.0)
    }
    fn weight(self) -> f32 {
        self.1
    }
}

impl<E: BagEntry> BagEntry for &E {
    fn bucket(self) -> i64 {
        (*self).bucket()
    }
    fn weight(self) -> f32 {
        (*self).weight()
    }
}

/// `values` (`len` of them) as a tensor of `int32` where `narrow`, else of
/// `int64`: `embedding_bag` reads either, as long as a bag's buckets and
/// offsets agree, and `int32` halves the indices' memory. Built at its exact
/// size and copied once.
fn index_tensor(
    values: impl Iterator<Item = i64>,
    len: usize,
    narrow: bool,
    device: tch::Device,
) -> Tensor {
    if narrow {
        let mut narrowed = Vec::with_capacity(len);
        narrowed.extend(values.map(|value| value as i32));
        Tensor::from_slice(&narrowed).to_device(device)
    } else {
        let mut wide = Vec::with_capacity(len);
        wide.extend(values);
        Tensor::from_slice(&wide).to_device(device)
    }
}

impl BagInput {
    /// Each row's `(bucket, weight)` entries, one row per bag (an empty row
    /// is an empty bag). The rows are read a few times over, so that each
    /// tensor is laid out at its exact size, one after another: at 100,000
    /// books a run's bags, built by growing vectors and copied, took several
    /// times their own size at once. Indices are `int32` while every bucket
    /// and offset fits.
    pub fn from_rows<R, E>(rows: impl IntoIterator<Item = R> + Clone, device: tch::Device) -> Self
    where
        R: IntoIterator<Item = E>,
        E: BagEntry,
    {
        let (mut count, mut entries, mut largest) = (0usize, 0usize, 0i64);
        for row in rows.clone() {
            count += 1;
            for entry in row {
                entries += 1;
                largest = largest.max(entry.bucket());
            }
        }
        let narrow = entries <= i32::MAX as usize && largest <= i64::from(i32::MAX);
        let offsets = rows.clone().into_iter().scan(0i64, |start, row| {
            let offset = *start;
            *start += row.into_iter().count() as i64;
            Some(offset)
        });
        let offsets = index_tensor(offsets, count, narrow, device);
        let buckets = rows.clone().into_iter().flatten().map(BagEntry::bucket);
        let buckets = index_tensor(buckets, entries, narrow, device);
        let mut weights = Vec::with_capacity(entries);
        weights.extend(rows.into_iter().flatten().map(BagEntry::weight));
        Self {
            buckets,
            offsets,
            weights: Tensor::from_slice(&weights).to_device(device),
        }
    }
}

#[derive(Debug)]
pub struct WordBagPath {
    pub(crate) vectors: Tensor,
    pub(crate) idf: Tensor,
    project: nn::Linear,
    /// The fitted word classifier, `[buckets, categories]` and `[categories]`.
    pub(crate) classifier: Tensor,
    pub(crate) classifier_bias: Tensor,
    /// Weight of the classifier's softmax beside the network's, `[1]`.
    pub(crate) mix: Tensor,
}

impl WordBagPath {
    pub fn new(path: &nn::Path, shape: BagShape, embedding_dim: i64, categories: i64) -> Self {
        let path = &path.set_group(WORD_BAG_GROUP);
        let buckets = shape.total();
        Self {
            vectors: path.zeros("vectors", &[shape.words, BAG_WIDTH]),
            idf: path.zeros_no_train("idf", &[buckets]),
            project: nn::linear(
                path / "project",
                BAG_WIDTH,
                embedding_dim,
                Default::default(),
            ),
            classifier: path.zeros_no_train("classifier", &[buckets, categories]),
            classifier_bias: path.zeros_no_train("classifier_bias", &[categories]),
            mix: path.zeros_no_train("mix", &[1]),
        }
    }

    /// Keeps a fitted word classifier and its weight beside the network.
    pub fn set_classifier(&mut self, weights: &Tensor, bias: &Tensor, mix: f64) {
        tch::no_grad(|| {
            self.classifier.copy_(weights);
            self.classifier_bias.copy_(bias);
            let _ = self.mix.fill_(mix);
        });
    }

    /// The weight of the word classifier's softmax (0: not used).
    pub fn mix_value(&self) -> f64 {
        self.mix.double_value(&[0])
    }

    /// The word classifier's logits, `[batch, categories]`.
    pub fn classifier_logits(&self, bags: &BagInput) -> Tensor {
        bag_sum(&self.classifier, bags) + &self.classifier_bias
    }

    /// Sets the inverse document frequencies a new run learnt from its library.
    pub fn set_idf(&mut self, idf: &[f32]) {
        tch::no_grad(|| {
            self.idf
                .copy_(&Tensor::from_slice(idf).to_device(self.idf.device()));
        });
    }

    /// The weights stored with the run, for building its bags.
    pub fn idf_values(&self) -> Vec<f32> {
        Vec::<f32>::try_from(self.idf.to_kind(Kind::Float).to_device(tch::Device::Cpu))
            .unwrap_or_default()
    }

    /// `[batch, embedding_dim]`; an empty bag gives the projection's bias.
    /// The path reads the words and pairs only: the character n-grams
    /// (buckets past the vectors' rows) are the word classifier's alone, so
    /// the network's table stays the size it was.
    ///
    /// Empty bags (a batch without words: an image-only run's, or the cover
    /// pass of the alignment term) give the bias without reading the table,
    /// whose gradient would be all zeros at the table's size.
    pub fn forward(&self, bags: &BagInput) -> Tensor {
        if bags.buckets.numel() == 0 {
            let rows = bags.offsets.size()[0];
            let nothing = Tensor::zeros([rows, BAG_WIDTH], (Kind::Float, self.vectors.device()));
            return self.project.forward(&nothing);
        }
        let words = self.vectors.size()[0];
        if self.idf.size()[0] == words {
            return self.project_sum(&self.vectors, bags);
        }
        let in_words = bags.buckets.lt(words);
        let word_bags = BagInput {
            buckets: bags.buckets.clamp_max(words - 1),
            offsets: bags.offsets.shallow_clone(),
            weights: &bags.weights * in_words.to_kind(bags.weights.kind()),
        };
        self.project_sum(&self.vectors, &word_bags)
    }

    /// Each bag's rows of `table` (the path's own, or the rows a run trains
    /// of it, see `word_bag_rows`), summed and projected.
    pub(crate) fn project_sum(&self, table: &Tensor, bags: &BagInput) -> Tensor {
        self.project.forward(&bag_sum(table, bags))
    }
}

/// Each bag's rows of `table`, summed with the bag's weights.
pub fn bag_sum(table: &Tensor, bags: &BagInput) -> Tensor {
    let (summed, _, _, _) = Tensor::embedding_bag(
        table,
        &bags.buckets,
        &bags.offsets,
        false,
        0, // sum
        false,
        Some(&bags.weights),
        false,
    );
    summed
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Bags are laid out with `int32` indices (half the memory), and with
    /// `int64` where a bucket does not fit; `embedding_bag` sums them alike.
    #[test]
    fn bags_take_int32_indices_while_they_fit() {
        let rows: [&[(i64, f32)]; 3] = [&[(1, 0.5), (3, 2.0)], &[], &[(2, 1.0)]];
        let narrow = BagInput::from_rows(rows, Device::Cpu);
        assert_eq!(narrow.buckets.kind(), Kind::Int);
        assert_eq!(narrow.offsets.kind(), Kind::Int);
        assert_eq!(Vec::<i64>::try_from(&narrow.buckets).unwrap(), [1, 3, 2]);
        assert_eq!(Vec::<i64>::try_from(&narrow.offsets).unwrap(), [0, 2, 2]);
        assert_eq!(
            Vec::<f32>::try_from(&narrow.weights).unwrap(),
            [0.5, 2.0, 1.0]
        );
        let table = Tensor::arange(8, (Kind::Float, Device::Cpu)).view([4, 2]);
        assert_eq!(
            Vec::<f32>::try_from(bag_sum(&table, &narrow).view([-1])).unwrap(),
            [13.0, 15.5, 0.0, 0.0, 4.0, 5.0]
        );
        let past_i32: [&[(i64, f32)]; 1] = [&[(1 << 33, 1.0)]];
        let wide = BagInput::from_rows(past_i32, Device::Cpu);
        assert_eq!(wide.buckets.kind(), Kind::Int64);
        assert_eq!(wide.offsets.kind(), Kind::Int64);
    }

    /// A batch without words (an image-only run's, the alignment term's
    /// cover pass) gives what the table would give, the projection's bias,
    /// and leaves the table without a gradient: it was one the table's size
    /// (33.5 MB) in every step's backward pass.
    #[test]
    fn empty_bags_give_the_bias_and_no_gradient_for_the_table() {
        let store = nn::VarStore::new(Device::Cpu);
        let shape = BagShape {
            words: 4,
            characters: 0,
        };
        let path = WordBagPath::new(&store.root(), shape, 3, 2);
        let empty: [&[(u32, f32)]; 2] = [&[], &[]];
        let empty = BagInput::from_rows(empty, Device::Cpu);
        let placed = path.forward(&empty);
        let through_table = path.project.forward(&bag_sum(&path.vectors, &empty));
        assert_eq!(placed.size(), [2, 3]);
        assert!(placed.allclose(&through_table, 0.0, 0.0, false));
        placed.sum(Kind::Float).backward();
        assert!(!path.vectors.grad().defined());
        assert!(path.project.ws.grad().defined());
    }

    #[test]
    fn the_network_reads_words_and_pairs_and_the_classifier_character_grams_too() {
        let store = nn::VarStore::new(Device::Cpu);
        let shape = BagShape {
            words: 4,
            characters: 4,
        };
        let mut path = WordBagPath::new(&store.root(), shape, 3, 2);
        tch::no_grad(|| {
            path.vectors
                .copy_(&Tensor::randn([4, BAG_WIDTH], (Kind::Float, Device::Cpu)));
        });
        let classifier = Tensor::arange(16, (Kind::Float, Device::Cpu)).view([8, 2]);
        path.set_classifier(
            &classifier,
            &Tensor::zeros([2], (Kind::Float, Device::Cpu)),
            1.0,
        );
        let bags = |rows: &[&[(u32, f32)]]| BagInput::from_rows(rows.iter().copied(), Device::Cpu);
        let words_only = bags(&[&[(1, 0.6), (3, 0.8)]]);
        let with_grams = bags(&[&[(1, 0.6), (3, 0.8), (6, 1.0)]]);
        assert_eq!(path.vectors.size(), [4, BAG_WIDTH], "no rows for the grams");
        assert!(
            path.forward(&words_only)
                .allclose(&path.forward(&with_grams), 1e-6, 1e-6, false)
        );
        let gained = path.classifier_logits(&with_grams) - path.classifier_logits(&words_only);
        assert_eq!(
            Vec::<f32>::try_from(gained.view([-1])).unwrap(),
            [12.0, 13.0]
        );
    }
}
