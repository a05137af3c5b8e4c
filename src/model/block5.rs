//! VGG16's block 5 (conv5_1 to conv5_3) as part of the heads, so that it
//! trains with them: the one way for a frozen, random or ImageNet trunk's
//! cover features to be learnt from the library's covers (MODEL.md names
//! fine-tuning block 5 as an option). It reads block 4's max-pooled output,
//! which the feature cache keeps in place of C3, starts from the trunk's own
//! block 5, and is saved in the run's checkpoint under torchvision's names
//! (`block5.features.24.weight`, ...), so that inference uses the trained block.

use tch::Tensor;
use tch::nn::{self, Module as _};

use super::trunk::BLOCK5_FIRST_INDEX;

/// The optimiser group of block 5's variables: it trains at its own rate.
pub const BLOCK5_GROUP: usize = 2;

/// The three convolutions of block 5, trainable.
#[derive(Debug)]
pub struct Block5 {
    convs: Vec<nn::Conv2D>,
}

impl Block5 {
    /// `channels`: the width of block 4's output, which is also block 5's.
    pub fn new(path: &nn::Path, channels: i64) -> Self {
        let path = path.set_group(BLOCK5_GROUP);
        let features = &path / "features";
        let conv_config = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        let convs = (0..3)
            .map(|i| {
                nn::conv2d(
                    &features / (BLOCK5_FIRST_INDEX + 2 * i),
                    channels,
                    channels,
                    3,
                    conv_config,
                )
            })
            .collect();
        Self { convs }
    }

    /// Copies the trunk's block 5 (see [`super::trunk::Vgg16Trunk::block5_parameters`])
    /// into this one, so that training starts from the trunk a frozen run reads.
    pub fn start_from(&self, parameters: &[(Tensor, Option<Tensor>)]) {
        tch::no_grad(|| {
            for (conv, (weights, bias)) in self.convs.iter().zip(parameters) {
                conv.ws.shallow_clone().copy_(weights);
                if let (Some(own), Some(bias)) = (&conv.bs, bias) {
                    own.shallow_clone().copy_(bias);
                }
            }
        });
    }

    /// `block5_input`: `[batch, C, H, W]`; returns C3 average-pooled to
    /// `grid x grid`, as the cache keeps the frozen trunk's C3.
    pub fn forward(&self, block5_input: &Tensor, grid: i64) -> Tensor {
        let mut xs = block5_input.shallow_clone();
        for conv in &self.convs {
            xs = conv.forward(&xs).relu();
        }
        if xs.size()[2..] == [grid, grid] {
            xs
        } else {
            xs.adaptive_avg_pool2d([grid, grid])
        }
    }
}
