//! The multimodal model of the paper (MODEL.md), one network piece per module:
//! the VGG16 trunk, its attention and residual module, the LSTM text encoder,
//! the modality-weighted fusion, CBAM, and the embedding and classifier heads.
//! The only place `tch::nn` modules live; callers get plain numbers back.

pub mod attention;
pub mod block5;
pub mod cbam;
pub mod cover_classifier;
pub mod device;
pub mod dropout;
pub mod flat_heads;
pub mod focus;
pub mod fusion;
pub mod generator;
pub mod loss;
pub mod pooling;
pub mod text_encoder;
pub mod trunk;
pub mod weights;
pub mod word_bag;
pub mod word_bag_rows;

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module as _};
use tch::{Kind, Tensor};

use attention::AttentionResidual;
use block5::Block5;
use cbam::Cbam;
use cover_classifier::CoverClassifier;
use dropout::DropoutDraws;
use fusion::ModalityFusion;
use text_encoder::{SubwordBags, TextEncoder};
use trunk::Vgg16Trunk;
use word_bag::{BagInput, WordBagPath};

/// The model's shape; defaults are MODEL.md's CPU-friendly choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Cover side in pixels after resizing.
    pub image_size: i64,
    /// Width multiplier of every trunk convolution (1 = VGG16).
    pub width: f64,
    pub word_dim: i64,
    pub lstm_hidden: i64,
    /// Fused channels per scale (`k`).
    pub fused_channels: i64,
    pub embedding_dim: i64,
    pub categories: i64,
    /// Dropout on the text features and the pooled fused features while
    /// training: titles are short and the text branch learns them by heart.
    #[serde(default)]
    pub dropout: f64,
    /// The LSTM reads each text both ways (see [`text_encoder`]). Off by
    /// default: on openlibrary_covers5 it moved macro-F1 by less than the
    /// spread between seeds before the author token, and by +0.003 / +0.013 /
    /// +0.005 on three splits after it (README), while a run takes about 1.5
    /// times as long (the window's demo sweep too).
    #[serde(default)]
    pub bidirectional_text: bool,
    /// Buckets of the character n-gram vectors added to each word's vector
    /// (see [`text_encoder`]); 0 turns subwords off. With subwords a run also
    /// reads the library's words below Word2Vec's minimum count (by their
    /// n-grams); a word that no library book has (in a typed query or a book
    /// of `eval --csv`) is still the unknown word. Off by default: on
    /// openlibrary_covers5, with the author token, 65,536 buckets gave
    /// macro-F1 0.810 / 0.810 / 0.789 against 0.815 / 0.823 / 0.791 without
    /// (README), and a run took half as long again.
    #[serde(default)]
    pub subword_buckets: i64,
    /// Buckets of the linear word path's hashed words and word pairs (see
    /// [`word_bag`]); 0 turns the path off, as in runs saved before it.
    #[serde(default)]
    pub word_bag_buckets: i64,
    /// Buckets of the hashed character n-grams of a book's words, read by
    /// the word classifier beside the words and pairs (see
    /// [`crate::text::word_bag`]); 0 in runs saved before them. On the
    /// quality benchmark's training books (5-fold, scikit-learn's
    /// `char_wb` 2-5 beside words and pairs), they were worth +0.015
    /// macro-F1 to the linear model on openlibrary_covers5.
    #[serde(default)]
    pub character_buckets: i64,
    /// The trunk's maps enter the heads standardised per channel, by the mean
    /// and spread over the run's training covers (kept in its checkpoint).
    /// A random trunk's channels differ far more by their level than from
    /// cover to cover (spread over covers 0.28 against 1.1 overall on the
    /// demo library), and the image-only run stayed at chance. Off in runs
    /// saved before it.
    #[serde(default)]
    pub standardize_covers: bool,
    /// VGG16's block 5 trains with the heads (see [`block5`]); set from the
    /// run's trunk settings, where the feature cache learns of it too.
    #[serde(default)]
    pub train_block5: bool,
    /// A cover classifier is fitted after training and kept beside the
    /// network (see [`cover_classifier`]), its weight chosen on the
    /// validation books. Off in runs saved before it.
    #[serde(default)]
    pub cover_classifier: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            image_size: 128,
            width: 0.5,
            word_dim: 100,
            lstm_hidden: 128,
            fused_channels: 128,
            embedding_dim: 256,
            categories: 2,
            dropout: 0.3,
            bidirectional_text: false,
            subword_buckets: 0,
            word_bag_buckets: crate::text::word_bag::DEFAULT_BUCKETS,
            character_buckets: crate::text::word_bag::DEFAULT_CHARACTER_BUCKETS,
            standardize_covers: true,
            train_block5: false,
            cover_classifier: true,
        }
    }
}

impl ModelConfig {
    /// The two blocks of the run's word bags (no character n-grams without
    /// the word path).
    pub fn bag_shape(&self) -> crate::text::word_bag::BagShape {
        crate::text::word_bag::BagShape {
            words: self.word_bag_buckets,
            characters: if self.word_bag_buckets > 0 {
                self.character_buckets
            } else {
                0
            },
        }
    }
}

/// One batch's text as the heads read it: word ids `[batch, T]`, real words
/// per row `[batch]`, and the word bags (read when the model has the word
/// path).
#[derive(Clone, Copy)]
pub struct TextInput<'a> {
    pub ids: &'a Tensor,
    pub lengths: &'a Tensor,
    pub bags: Option<&'a BagInput>,
}

/// The heads above the (frozen) trunk, everything that trains.
#[derive(Debug)]
pub struct FusionHeads {
    attention: AttentionResidual,
    pub text: TextEncoder,
    fusions: Vec<ModalityFusion>,
    cbams: Vec<Cbam>,
    /// Block 5, when it trains with the heads: the third cached map is then
    /// its input, not C3.
    block5: Option<Block5>,
    /// The linear word path, when the model has one.
    pub word_bag: Option<WordBagPath>,
    /// The cover classifier beside the network, when the model has one.
    pub cover_classifier: Option<CoverClassifier>,
    /// Per scale, the channels' mean and spread over the training covers,
    /// when the model standardises the trunk's maps.
    cover_statistics: Option<Vec<(Tensor, Tensor)>>,
    embed: nn::Linear,
    classify: nn::Linear,
    dropout: f64,
    /// Where the dropout masks come from: the heads' own generator, which
    /// training reseeds at each epoch (see [`Self::reseed_dropout`]).
    dropout_draws: DropoutDraws,
}

/// One batch's outputs, still as tensors for the loss.
pub struct ModelOutput {
    /// L2-normalised embeddings `e`, `[batch, embedding_dim]`.
    pub embeddings: Tensor,
    pub logits: Tensor,
    /// `S_c` per scale, each `[batch]`.
    pub image_weights: Vec<Tensor>,
    /// `S_u` per scale.
    pub text_weights: Vec<Tensor>,
    /// CBAM's `Ms` per scale, `[batch, 1, H, W]`.
    pub heatmaps: Vec<Tensor>,
    /// CBAM's `Mc` per scale.
    pub channel_weights: Vec<Tensor>,
}

impl FusionHeads {
    /// `words`: the run's known words in id order; the embedding table has
    /// two more rows (unknown, padding).
    pub fn new(
        path: &nn::Path,
        config: &ModelConfig,
        scale_channels: [i64; 3],
        words: &[String],
    ) -> Self {
        let text = text_encoder(&(path / "text"), config, words);
        let text_features = text.feature_width();
        let k = config.fused_channels;
        let fusions = scale_channels
            .iter()
            .enumerate()
            .map(|(s, &channels)| {
                ModalityFusion::new(
                    &(path / format!("fusion{}", s + 1)),
                    channels,
                    text_features,
                    k,
                )
            })
            .collect();
        let cbams = (0..3)
            .map(|s| Cbam::new(&(path / format!("cbam{}", s + 1)), k))
            .collect();
        Self {
            block5: config
                .train_block5
                .then(|| Block5::new(&(path / "block5"), scale_channels[2])),
            attention: AttentionResidual::new(&(path / "attention"), scale_channels[2]),
            cover_statistics: config
                .standardize_covers
                .then(|| cover_statistics_variables(&(path / "cover_statistics"), scale_channels)),
            word_bag: (config.word_bag_buckets > 0).then(|| {
                WordBagPath::new(
                    &(path / "word_bag"),
                    config.bag_shape(),
                    config.embedding_dim,
                    config.categories,
                )
            }),
            cover_classifier: config.cover_classifier.then(|| {
                CoverClassifier::new(
                    &(path / "cover_classifier"),
                    scale_channels,
                    config.categories,
                )
            }),
            text,
            fusions,
            cbams,
            embed: nn::linear(
                path / "embed",
                3 * k,
                config.embedding_dim,
                Default::default(),
            ),
            classify: nn::linear(
                path / "classify",
                config.embedding_dim,
                config.categories,
                Default::default(),
            ),
            dropout: config.dropout,
            dropout_draws: DropoutDraws::new(0),
        }
    }

    /// Starts the dropout masks' generator from `seed`: a run's masks then
    /// depend on its seed and epoch alone, not on what another run training
    /// beside it draws (see [`dropout`]).
    pub fn reseed_dropout(&self, seed: u64) {
        self.dropout_draws.reseed(seed);
    }

    /// `input` with dropout when `train` is set.
    fn dropped(&self, input: &Tensor, train: bool) -> Tensor {
        if train {
            self.dropout_draws.elements(input, self.dropout)
        } else {
            input.shallow_clone()
        }
    }

    /// Sets the channels' mean and spread per scale (from a new run's
    /// training covers); nothing when the model does not standardise them.
    pub fn set_cover_statistics(&mut self, statistics: &[(Tensor, Tensor); 3]) {
        if let Some(kept) = &self.cover_statistics {
            tch::no_grad(|| {
                for ((mean, spread), (new_mean, new_spread)) in kept.iter().zip(statistics) {
                    mean.shallow_clone().copy_(new_mean);
                    spread.shallow_clone().copy_(new_spread);
                }
            });
        }
    }

    /// Starts the trainable block 5 from the trunk's (a new run's); nothing
    /// when block 5 is frozen.
    pub fn start_block5_from(&self, parameters: &[(Tensor, Option<Tensor>)]) {
        if let Some(block) = &self.block5 {
            block.start_from(parameters);
        }
    }

    /// The trunk's maps as the heads read them: the cached C1, C2 and C3, or
    /// with a trainable block 5, C3 computed from its cached input.
    pub fn trunk_scales(&self, cached: &[Tensor; 3]) -> [Tensor; 3] {
        match &self.block5 {
            Some(block) => {
                let grid = cached[0].size()[2];
                [
                    cached[0].shallow_clone(),
                    cached[1].shallow_clone(),
                    block.forward(&cached[2], grid),
                ]
            }
            None => std::array::from_fn(|s| cached[s].shallow_clone()),
        }
    }

    /// `covers`: C1, C2, C3 from the trunk (or the feature cache; block 5's
    /// input in place of C3 when it trains with the heads), or none shown;
    /// `text`: the words; `image_present`, `text_present`: `[batch]` 0/1
    /// floats (modality dropout and missing covers or synopses set them to 0).
    pub fn forward(
        &self,
        covers: Covers<'_>,
        text: TextInput<'_>,
        image_present: &Tensor,
        text_present: &Tensor,
    ) -> ModelOutput {
        self.forward_t(covers, text, image_present, text_present, false)
    }

    /// [`Self::forward`], with dropout on when `train` is set.
    pub fn forward_t(
        &self,
        covers: Covers<'_>,
        text: TextInput<'_>,
        image_present: &Tensor,
        text_present: &Tensor,
        train: bool,
    ) -> ModelOutput {
        let texts = self.encode_text(text.ids, text.lengths, train);
        let bag_words = text.bags.and_then(|bags| self.encode_bags(bags));
        self.forward_encoded(
            covers,
            &texts,
            bag_words.as_ref(),
            image_present,
            text_present,
            train,
        )
    }

    /// U1, U2, U3 of the words (`[batch, T]` ids, `[batch]` lengths), with
    /// dropout when `train` is set: the LSTM's part of a forward pass, most
    /// of a training step's time on a CPU, which training runs once for the
    /// step's passes over the same books (see `train::run`).
    pub fn encode_text(&self, ids: &Tensor, lengths: &Tensor, train: bool) -> [Tensor; 3] {
        self.text
            .forward(ids, lengths)
            .map(|u| self.dropped(&u, train))
    }

    /// The word bag path's part of each row's placement, `[batch,
    /// embedding_dim]` (`None` without the path). Training reads it once a
    /// step for the step's passes over the same books, as it does the LSTM's
    /// words: each read of the path's table is a gradient the size of the
    /// table (33.5 MB at the CPU defaults) in the backward pass.
    pub fn encode_bags(&self, bags: &BagInput) -> Option<Tensor> {
        self.word_bag.as_ref().map(|path| path.forward(bags))
    }

    /// The rest of [`Self::forward_t`], from the rows' encoded words
    /// ([`Self::encode_text`]) and word bags ([`Self::encode_bags`]).
    pub fn forward_encoded(
        &self,
        covers: Covers<'_>,
        texts: &[Tensor; 3],
        bag_words: Option<&Tensor>,
        image_present: &Tensor,
        text_present: &Tensor,
        train: bool,
    ) -> ModelOutput {
        let (images, side) = match covers {
            Covers::Maps(scales) => (Some(self.cover_maps(scales, train)), scales[0].size()[2]),
            Covers::NoneShown { side } => (None, side),
        };
        let mut pooled = Vec::with_capacity(3);
        let mut output = ModelOutput {
            embeddings: Tensor::new(),
            logits: Tensor::new(),
            image_weights: Vec::new(),
            text_weights: Vec::new(),
            heatmaps: Vec::new(),
            channel_weights: Vec::new(),
        };
        // Without covers each scale's fused map is flat in space, and CBAM's
        // output, and its gradients, are computed from its one value per
        // channel (see `Cbam::forward_flat`).
        for s in 0..3 {
            let (fused, refined) = match &images {
                Some(images) => {
                    let fused =
                        self.fusions[s].forward(&images[s], &texts[s], image_present, text_present);
                    let refined = self.cbams[s].forward(&fused.features);
                    (fused, refined)
                }
                None => {
                    let fused = self.fusions[s].flat_without_covers(&texts[s], text_present);
                    let refined = self.cbams[s].forward_flat(&fused.features, side);
                    (fused, refined)
                }
            };
            pooled.push(refined.features.mean_dim([2i64, 3].as_slice(), false, None));
            output.image_weights.push(fused.image_weight);
            output.text_weights.push(fused.text_weight);
            output.heatmaps.push(refined.spatial);
            output.channel_weights.push(refined.channel);
        }
        let mut raw = self
            .embed
            .forward(&self.dropped(&Tensor::cat(&pooled, 1), train));
        if let Some(bag_words) = bag_words {
            raw += bag_words;
        }
        output.logits = self.classify.forward(&raw);
        let norm = raw
            .pow_tensor_scalar(2)
            .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
            .sqrt()
            .clamp_min(1e-12);
        output.embeddings = raw / norm;
        output
    }

    /// The cover maps each scale's fusion reads: standardised, whole
    /// channels dropped while training, and C3 attended.
    fn cover_maps(&self, scales: &[Tensor; 3], train: bool) -> [Tensor; 3] {
        let scales = self.trunk_scales(scales);
        // Whole channels of the cached maps dropped while training: a random
        // trunk's maps are a fingerprint of each cover, easy to learn by heart.
        let scales: [Tensor; 3] = std::array::from_fn(|s| {
            let map = match &self.cover_statistics {
                Some(statistics) => {
                    let (mean, spread) = &statistics[s];
                    let as_map = |t: &Tensor| t.view([1, -1, 1, 1]);
                    (&scales[s] - as_map(mean)) / as_map(spread)
                }
                None => scales[s].shallow_clone(),
            };
            if train {
                self.dropout_draws.channels(&map, self.dropout)
            } else {
                map
            }
        });
        let attended = self.attention.forward(&scales[2]);
        let [c1, c2, _] = scales;
        [c1, c2, attended.c3]
    }
}

/// The covers a pass of the heads reads.
#[derive(Clone, Copy)]
pub enum Covers<'a> {
    /// C1, C2, C3 from the trunk or the feature cache (block 5's input in
    /// place of C3 when it trains with the heads).
    Maps(&'a [Tensor; 3]),
    /// No row shows its cover (a typed description, a text-only run, the
    /// alignment term's text pass): the cover's side of the fusion is zeros
    /// with no share, as the maps would give with `image_present` 0, and
    /// each scale's fused map is flat in space, computed as one value per
    /// channel. `side`: the grid's side (the heatmaps' size).
    NoneShown { side: i64 },
}

/// The LSTM text encoder over `words` (the run's known words in id order;
/// the embedding table has two more rows, unknown and padding).
fn text_encoder(path: &nn::Path, config: &ModelConfig, words: &[String]) -> TextEncoder {
    let vocabulary = words.len() as i64 + 2;
    let subwords = (config.subword_buckets > 0).then(|| {
        SubwordBags::new(
            words,
            vocabulary,
            config.subword_buckets,
            crate::text::corpus::AUTHOR_MARK,
        )
    });
    TextEncoder::new(
        path,
        vocabulary,
        config.word_dim,
        config.lstm_hidden,
        config.bidirectional_text,
        subwords,
    )
}

/// Each scale's channel mean (0 until a run sets it) and spread (1), kept
/// with the heads but not trained.
fn cover_statistics_variables(path: &nn::Path, scale_channels: [i64; 3]) -> Vec<(Tensor, Tensor)> {
    scale_channels
        .iter()
        .enumerate()
        .map(|(s, &channels)| {
            (
                path.zeros_no_train(&format!("mean{}", s + 1), &[channels]),
                path.ones_no_train(&format!("spread{}", s + 1), &[channels]),
            )
        })
        .collect()
}

/// The whole model: a frozen trunk and the heads that train.
#[derive(Debug)]
pub struct MultimodalModel {
    pub trunk: Vgg16Trunk,
    pub heads: FusionHeads,
}

impl MultimodalModel {
    /// The trunk lives at the root of `trunk_path`'s store (torchvision names);
    /// the heads under `heads_path`.
    pub fn new(
        trunk_path: &nn::Path,
        heads_path: &nn::Path,
        config: &ModelConfig,
        words: &[String],
    ) -> Self {
        let trunk = Vgg16Trunk::new(trunk_path, config.width);
        let heads = FusionHeads::new(heads_path, config, trunk.scale_channels, words);
        Self { trunk, heads }
    }

    /// Runs the trunk (without gradients: it is frozen; up to block 4 when
    /// block 5 is the heads') and the heads.
    pub fn forward(
        &self,
        images: &Tensor,
        text: TextInput<'_>,
        image_present: &Tensor,
        text_present: &Tensor,
    ) -> ModelOutput {
        let scales = tch::no_grad(|| match &self.heads.block5 {
            Some(_) => self.trunk.forward_to_block5(images),
            None => self.trunk.forward(images),
        });
        self.heads
            .forward(Covers::Maps(&scales), text, image_present, text_present)
    }
}

#[cfg(test)]
mod tests;
