//! CBAM (paper eqs 5-7): channel attention `Mc = sigmoid(MLP(avgpool L) +
//! MLP(maxpool L))` with a shared MLP (reduction 16), then spatial attention
//! `Ms = sigmoid(conv7x7([mean_c L'; max_c L']))`. `Ms` is the heatmap a
//! librarian inspects over the cover.
//!
//! The 7x7 convolution reads the pooled maps less their mean over the grid,
//! zero-padded (so padded as if with the mean): where a place stands out from
//! the rest of its cover. With the raw maps zero-padded, a map that is flat in
//! space still came out highest or lowest along the border (the padding was
//! all the kernel could tell apart), and "where the model looked" was drawn
//! in a corner of every cover. Replicating the edge instead made a flat map
//! flat, but left the convolution reading the maps' level: the channel
//! maximum times the kernel's sum drove the sigmoid into saturation for every
//! cell at once, the fused features were multiplied by about zero, and
//! training stalled at chance (the demo library's fused macro-F1 fell from
//! 0.59 to 0.10). Centred, a flat map gives `sigmoid(bias)` everywhere, and
//! the level of the features is left to the channel attention.

use tch::Tensor;
use tch::nn::{self, Module as _};

use super::pooling;

pub const REDUCTION: i64 = 16;

#[derive(Debug)]
pub struct Cbam {
    pub(crate) mlp_in: nn::Linear,
    pub(crate) mlp_out: nn::Linear,
    pub(crate) spatial: nn::Conv2D,
}

/// CBAM's outputs for one scale.
pub struct CbamOutput {
    /// `L'' = (L * Mc) * Ms`.
    pub features: Tensor,
    /// `Mc`, `[batch, channels]`.
    pub channel: Tensor,
    /// `Ms`, `[batch, 1, H, W]`.
    pub spatial: Tensor,
}

impl Cbam {
    pub fn new(path: &nn::Path, channels: i64) -> Self {
        let hidden = (channels / REDUCTION).max(1);
        Self {
            mlp_in: nn::linear(path / "mlp_in", channels, hidden, Default::default()),
            mlp_out: nn::linear(path / "mlp_out", hidden, channels, Default::default()),
            spatial: nn::conv2d(
                path / "spatial",
                2,
                1,
                7,
                nn::ConvConfig {
                    padding: 3,
                    ..Default::default()
                },
            ),
        }
    }

    fn mlp(&self, xs: &Tensor) -> Tensor {
        self.mlp_out.forward(&self.mlp_in.forward(xs).relu())
    }

    pub fn forward(&self, features: &Tensor) -> CbamOutput {
        let average = features.mean_dim([2i64, 3].as_slice(), false, None);
        let maximum = pooling::spatial_max(features);
        let channel = (self.mlp(&average) + self.mlp(&maximum)).sigmoid();
        let refined = features * channel.unsqueeze(-1).unsqueeze(-1);
        let pooled = Tensor::cat(
            &[
                refined.mean_dim([1i64].as_slice(), true, None),
                pooling::max_over(&refined, 1, true),
            ],
            1,
        );
        let centred = &pooled - pooled.mean_dim([2i64, 3].as_slice(), true, None);
        let spatial = self.spatial.forward(&centred).sigmoid();
        CbamOutput {
            features: &refined * &spatial,
            channel,
            spatial,
        }
    }

    /// [`Self::forward`] of a map flat in space, given as its one value per
    /// channel (`[batch, channels]`, as
    /// [`super::fusion::ModalityFusion::flat_without_covers`] makes it) on a
    /// `side` x `side` grid: the same output, without the map. Both poolings
    /// of a flat map are its values, and its centred poolings are zeros, so
    /// `Ms` is the convolution's bias through the sigmoid at every place.
    /// `features` comes out `[batch, channels, 1, 1]`, the map's mean over
    /// the grid; `spatial` is a broadcast view of its one value.
    pub fn forward_flat(&self, values: &Tensor, side: i64) -> CbamOutput {
        let rows = values.size()[0];
        let channel = (self.mlp(values) * 2.0).sigmoid();
        let refined = values * &channel;
        // The convolution of the zero centred poolings is its bias alone
        // (computed so: the 7x7 convolution of a 1x1 input cost a sixth of
        // a typed description's text branch).
        let options = (values.kind(), values.device());
        let bias = match &self.spatial.bs {
            Some(bias) => bias.reshape([1, 1, 1, 1]),
            None => Tensor::zeros([1, 1, 1, 1], options),
        };
        let spatial = bias.sigmoid().expand([rows, 1, 1, 1], false);
        CbamOutput {
            features: (refined.unsqueeze(-1).unsqueeze(-1) * &spatial),
            channel,
            spatial: spatial.expand([rows, 1, side, side], false),
        }
    }
}
