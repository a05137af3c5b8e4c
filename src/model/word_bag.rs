//! The linear word path: a book's bag of hashed words and word pairs (TF-IDF
//! weighted, see `text::word_bag`) summed into a small vector per book, then
//! mapped to the embedding's width and added to it. The classifier above is
//! linear, so this path alone is a (low-rank) logistic regression on the
//! features a linear baseline reads; the LSTM and the cover add to it.
//!
//! The bucket vectors start at zero, so a run starts from the paper's model
//! and the path grows as it helps. The inverse document frequencies are kept
//! as a variable that does not train: a run's checkpoint carries them.

use tch::nn::{self, Module as _};
use tch::{Kind, Tensor};

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

#[derive(Debug)]
pub struct WordBagPath {
    pub(crate) vectors: Tensor,
    pub(crate) idf: Tensor,
    project: nn::Linear,
}

impl WordBagPath {
    pub fn new(path: &nn::Path, buckets: i64, embedding_dim: i64) -> Self {
        let path = &path.set_group(WORD_BAG_GROUP);
        Self {
            vectors: path.zeros("vectors", &[buckets, BAG_WIDTH]),
            idf: path.zeros_no_train("idf", &[buckets]),
            project: nn::linear(
                path / "project",
                BAG_WIDTH,
                embedding_dim,
                Default::default(),
            ),
        }
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
    pub fn forward(&self, bags: &BagInput) -> Tensor {
        let (summed, _, _, _) = Tensor::embedding_bag(
            &self.vectors,
            &bags.buckets,
            &bags.offsets,
            false,
            0, // sum
            false,
            Some(&bags.weights),
            false,
        );
        self.project.forward(&summed)
    }
}
