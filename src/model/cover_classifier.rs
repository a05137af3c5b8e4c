//! The cover classifier kept beside the network, as the word classifier is
//! beside it (see `word_bag`): multinomial logistic regression on a cover's
//! trunk maps pooled over space (each channel's mean and maximum at the three
//! scales), standardised by the training covers' mean and spread, fitted
//! after training (`train::cover_classifier`). The network's probabilities
//! (with the word classifier's) are multiplied by its softmax raised to
//! `mix` (0 leaves them alone), on the rows that show a cover.
//!
//! Why: a random trunk's maps carry a little about a book's category (on
//! openlibrary_covers5's training books a linear model on these pooled maps
//! scores 0.43 macro-F1 over 5 folds, 5 categories; the image-only network
//! 0.39 on held-out books), but the fusion gave covers a small share, and
//! the fused runs scored within a point of the text-only ones (0.806
//! against 0.800 on the quality benchmark). With it the fused runs scored
//! 0.816 against the text-only runs' 0.792 (README). These variables do not
//! train with the network.

use tch::nn;
use tch::{Kind, Tensor};

/// Pooled features per cover: each channel's mean and maximum.
pub fn feature_width(scale_channels: [i64; 3]) -> i64 {
    2 * scale_channels.iter().sum::<i64>()
}

/// `[batch, feature_width]`: each channel's mean and maximum over space, of
/// the three maps as the heads read them (raw, before any standardisation).
pub fn pooled_features(scales: &[Tensor; 3]) -> Tensor {
    let mut parts = Vec::with_capacity(6);
    for map in scales {
        let flat = map.to_kind(Kind::Float).flatten(2, -1);
        parts.push(flat.mean_dim([2i64].as_slice(), false, Kind::Float));
        parts.push(flat.amax([2i64].as_slice(), false));
    }
    Tensor::cat(&parts, 1)
}

#[derive(Debug)]
pub struct CoverClassifier {
    /// The training covers' mean and spread of each pooled feature.
    pub(crate) mean: Tensor,
    pub(crate) spread: Tensor,
    /// `[features, categories]` and `[categories]`.
    pub(crate) weights: Tensor,
    pub(crate) bias: Tensor,
    /// Power of the classifier's softmax the network's is multiplied by, `[1]`.
    pub(crate) mix: Tensor,
}

/// What a fit leaves: the features' statistics and the regression.
pub struct FittedCovers<'a> {
    pub mean: &'a Tensor,
    pub spread: &'a Tensor,
    pub weights: &'a Tensor,
    pub bias: &'a Tensor,
}

impl CoverClassifier {
    pub fn new(path: &nn::Path, scale_channels: [i64; 3], categories: i64) -> Self {
        let features = feature_width(scale_channels);
        Self {
            mean: path.zeros_no_train("mean", &[features]),
            spread: path.ones_no_train("spread", &[features]),
            weights: path.zeros_no_train("weights", &[features, categories]),
            bias: path.zeros_no_train("bias", &[categories]),
            mix: path.zeros_no_train("mix", &[1]),
        }
    }

    /// Keeps a fitted classifier and its weight beside the network.
    pub fn set(&mut self, fitted: &FittedCovers<'_>, mix: f64) {
        tch::no_grad(|| {
            self.mean.copy_(fitted.mean);
            self.spread.copy_(fitted.spread);
            self.weights.copy_(fitted.weights);
            self.bias.copy_(fitted.bias);
            let _ = self.mix.fill_(mix);
        });
    }

    /// The weight of the classifier's softmax (0: not used).
    pub fn mix_value(&self) -> f64 {
        self.mix.double_value(&[0])
    }

    /// The classifier's logits on pooled features, `[batch, categories]`.
    pub fn logits(&self, pooled: &Tensor) -> Tensor {
        ((pooled - &self.mean) / &self.spread).matmul(&self.weights) + &self.bias
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn pooled_features_are_each_channels_mean_then_maximum_per_scale() {
        let map =
            |values: &[f32], channels: i64| Tensor::from_slice(values).view([1, channels, 2, 2]);
        let scales = [
            map(&[1.0, 2.0, 3.0, 6.0], 1),
            map(&[0.0, 0.0, 0.0, 4.0, -1.0, -1.0, -1.0, -1.0], 2),
            map(&[5.0, 5.0, 5.0, 5.0], 1),
        ];
        let pooled = Vec::<f32>::try_from(pooled_features(&scales).view([-1])).unwrap();
        assert_eq!(
            pooled,
            vec![3.0, 6.0, 1.0, -1.0, 4.0, -1.0, 5.0, 5.0],
            "scale 1 mean, max; scale 2 means, maxima; scale 3 mean, max"
        );
        assert_eq!(feature_width([1, 2, 1]), 8);
    }

    #[test]
    fn the_logits_read_standardised_features() {
        let store = nn::VarStore::new(Device::Cpu);
        let mut classifier = CoverClassifier::new(&store.root(), [1, 0, 0], 2);
        let mean = Tensor::from_slice(&[1.0f32, 2.0]);
        let spread = Tensor::from_slice(&[2.0f32, 4.0]);
        let weights = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let bias = Tensor::from_slice(&[0.5f32, 0.0]);
        classifier.set(
            &FittedCovers {
                mean: &mean,
                spread: &spread,
                weights: &weights,
                bias: &bias,
            },
            2.0,
        );
        let logits = classifier.logits(&Tensor::from_slice(&[3.0f32, 10.0]).view([1, 2]));
        assert_eq!(
            Vec::<f32>::try_from(logits.view([-1])).unwrap(),
            vec![1.5, 2.0]
        );
        assert_eq!(classifier.mix_value(), 2.0);
    }
}
