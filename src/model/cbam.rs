//! CBAM (paper eqs 5-7): channel attention `Mc = sigmoid(MLP(avgpool L) +
//! MLP(maxpool L))` with a shared MLP (reduction 16), then spatial attention
//! `Ms = sigmoid(conv7x7([mean_c L'; max_c L']))`. `Ms` is the heatmap a
//! librarian inspects over the cover.
//!
//! The 7x7 convolution reads its input padded by replicating the edge, not
//! with zeros: with zero padding a map that is flat in space still came out
//! highest or lowest along the border (the padding is all the kernel could
//! tell apart), and "where the model looked" was drawn in a corner of every
//! cover. The weights are the same shape either way.

use tch::Tensor;
use tch::nn::{self, Module as _};

pub const REDUCTION: i64 = 16;
/// Half the spatial kernel: the map keeps its size.
const SPATIAL_PAD: i64 = 3;

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
                    padding: 0,
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
        let maximum = features.amax([2i64, 3].as_slice(), false);
        let channel = (self.mlp(&average) + self.mlp(&maximum)).sigmoid();
        let refined = features * channel.unsqueeze(-1).unsqueeze(-1);
        let pooled = Tensor::cat(
            &[
                refined.mean_dim([1i64].as_slice(), true, None),
                refined.amax([1i64].as_slice(), true),
            ],
            1,
        );
        let padded = pooled.replication_pad2d([SPATIAL_PAD; 4].as_slice());
        let spatial = self.spatial.forward(&padded).sigmoid();
        CbamOutput {
            features: &refined * &spatial,
            channel,
            spatial,
        }
    }
}
