//! The text half of the model's input: preprocessing, the vocabulary and
//! Word2Vec vectors learned from the library's own corpus.

pub mod corpus;
mod hogwild;
pub mod kept_words;
pub mod preprocess;
pub mod vocab;
pub mod word2vec;
pub mod word_bag;

pub use corpus::{Corpus, LibraryVectors, NearWord};
pub use vocab::Vocab;
pub use word_bag::WordBagWeights;
pub use word2vec::{TrainError, TrainStats, Word2VecConfig, WordVectors};
