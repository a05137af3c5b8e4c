//! The heads' placement of one row whose words are shown and whose cover is
//! not (a typed description), in plain arithmetic on the weights read out
//! once. Such a row's fused maps are flat in space (see
//! [`super::fusion::ModalityFusion::flat_without_covers`] and
//! [`super::cbam::Cbam::forward_flat`]), so the heads come down to a few
//! matrix-vector products; as a hundred libtorch operations on one row they
//! were a third of a typed query's time, most of it each operation's own
//! overhead.
//!
//! With the words shown and no cover, the words' share is exactly 1 and the
//! gates' weights do not enter the placement, so only the embedding is made
//! here; the model's own pass stays the reference (see the test beside
//! `FusionHeads::forward_encoded`).

use tch::nn;

use super::{FusionHeads, TextInput};
use crate::text::word2vec::dot;

/// A linear layer's weights, `[outputs, inputs]` row by row.
#[derive(Debug)]
struct Dense {
    weights: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

impl Dense {
    fn of(linear: &nn::Linear) -> Self {
        let inputs = linear.ws.size()[1] as usize;
        let weights = values(&linear.ws);
        let bias = match &linear.bs {
            Some(bias) => values(bias),
            None => vec![0.0; weights.len() / inputs.max(1)],
        };
        Self {
            weights,
            bias,
            inputs,
        }
    }

    fn apply(&self, input: &[f32]) -> Vec<f32> {
        debug_assert_eq!(input.len(), self.inputs);
        self.weights
            .chunks_exact(self.inputs)
            .zip(&self.bias)
            .map(|(row, bias)| bias + dot(row, input))
            .collect()
    }
}

fn values(tensor: &tch::Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(
        tensor
            .detach()
            .to_kind(tch::Kind::Float)
            .to_device(tch::Device::Cpu)
            .flatten(0, -1),
    )
    .unwrap_or_default()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One scale's fusion and CBAM, as far as a text-only row reads them.
#[derive(Debug)]
struct FlatScale {
    text_nin: Dense,
    mlp_in: Dense,
    mlp_out: Dense,
    /// `Ms` of a flat map: the spatial convolution's bias through the
    /// sigmoid.
    spatial: f32,
}

impl FlatScale {
    /// `L''` of the row's one place: the cover's half zeros, the words' NIN
    /// vector after it, weighed by the channel and spatial attention.
    fn refined(&self, words: &[f32]) -> Vec<f32> {
        let text = self.text_nin.apply(words);
        let mut fused = vec![0.0; text.len()];
        fused.extend_from_slice(&text);
        let hidden: Vec<f32> = self
            .mlp_in
            .apply(&fused)
            .into_iter()
            .map(|v| v.max(0.0))
            .collect();
        // Mc = sigmoid(MLP(avg) + MLP(max)), both poolings being the value.
        let channel = self.mlp_out.apply(&hidden);
        fused
            .iter()
            .zip(channel)
            .map(|(value, logit)| value * sigmoid(2.0 * logit) * self.spatial)
            .collect()
    }
}

/// The heads' weights a text-only row's placement reads.
#[derive(Debug)]
pub struct FlatTextHeads {
    scales: Vec<FlatScale>,
    embed: Dense,
}

impl FlatTextHeads {
    /// Reads the weights out of `heads` (a trained run's: they do not change
    /// after).
    pub fn new(heads: &FusionHeads) -> Self {
        let scales = heads
            .fusions
            .iter()
            .zip(&heads.cbams)
            .map(|(fusion, cbam)| FlatScale {
                text_nin: Dense::of(&fusion.text_nin),
                mlp_in: Dense::of(&cbam.mlp_in),
                mlp_out: Dense::of(&cbam.mlp_out),
                spatial: sigmoid(
                    cbam.spatial
                        .bs
                        .as_ref()
                        .and_then(|bias| values(bias).first().copied())
                        .unwrap_or(0.0),
                ),
            })
            .collect();
        Self {
            scales,
            embed: Dense::of(&heads.embed),
        }
    }

    /// The L2-normalised embedding of the one row of `text`, whose words
    /// are shown (its cover is not), as `heads` (those these weights were
    /// read from) place it.
    pub fn embedding_of_words(&self, heads: &FusionHeads, text: TextInput<'_>) -> Vec<f32> {
        tch::no_grad(|| {
            let texts = heads
                .encode_text(text.ids, text.lengths, false)
                .map(|u| values(&u));
            let bag_words = text
                .bags
                .and_then(|bags| heads.encode_bags(bags))
                .map(|bag| values(&bag));
            self.embedding(&texts, bag_words.as_deref())
        })
    }

    /// The L2-normalised embedding of one row from its U1, U2, U3 (the text
    /// encoder's) and its word bag path's part, when the model has one.
    fn embedding(&self, texts: &[Vec<f32>; 3], bag_words: Option<&[f32]>) -> Vec<f32> {
        let pooled: Vec<f32> = self
            .scales
            .iter()
            .zip(texts)
            .flat_map(|(scale, words)| scale.refined(words))
            .collect();
        let mut raw = self.embed.apply(&pooled);
        if let Some(bag_words) = bag_words {
            for (value, extra) in raw.iter_mut().zip(bag_words) {
                *value += extra;
            }
        }
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        raw.iter().map(|v| v / norm).collect()
    }
}
