//! VGG16's 13-conv trunk in torchvision's layout (`features.0`, `features.2`,
//! ..., `features.28`), so torchvision weights converted to safetensors load by
//! name, with a width multiplier that makes training from scratch feasible on a
//! CPU. It yields the multi-scale maps C1, C2, C3: the outputs of conv blocks 3,
//! 4 and 5 before their pooling (at 224 px: 56x56, 28x28, 14x14). When block 5
//! trains with the heads ([`super::block5`]), the trunk stops at block 4's
//! max-pooled output, block 5's input.

use tch::Tensor;
use tch::nn::{self, Module as _};

/// Output channels of each block's convolutions at width 1.
const BLOCKS: [&[i64]; 5] = [
    &[64, 64],
    &[128, 128],
    &[256, 256, 256],
    &[512, 512, 512],
    &[512, 512, 512],
];

/// Channels of a layer at width multiplier `width` (at least 8).
pub fn scaled_channels(channels: i64, width: f64) -> i64 {
    ((channels as f64 * width).round() as i64).max(8)
}

/// The trunk's convolutions, each with its torchvision index.
#[derive(Debug)]
pub struct Vgg16Trunk {
    blocks: Vec<Vec<nn::Conv2D>>,
    /// Channels of C1, C2, C3.
    pub scale_channels: [i64; 3],
}

impl Vgg16Trunk {
    /// Builds the trunk under `path` (use the var store's root so names are
    /// `features.N.weight` / `features.N.bias`, as torchvision writes them).
    pub fn new(path: &nn::Path, width: f64) -> Self {
        let features = path / "features";
        let conv_config = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        let mut index = 0i64;
        let mut in_channels = 3;
        let mut blocks = Vec::new();
        for block in BLOCKS {
            let mut convs = Vec::new();
            for &channels in block {
                let out_channels = scaled_channels(channels, width);
                convs.push(nn::conv2d(
                    &features / index,
                    in_channels,
                    out_channels,
                    3,
                    conv_config,
                ));
                in_channels = out_channels;
                index += 2; // each conv is followed by its ReLU
            }
            index += 1; // the block's max-pool
            blocks.push(convs);
        }
        Self {
            blocks,
            scale_channels: [
                scaled_channels(256, width),
                scaled_channels(512, width),
                scaled_channels(512, width),
            ],
        }
    }

    /// Fills every convolution from a generator of its own seeded with `seed`:
    /// weights uniform in ±sqrt(6 / fan_in) (Kaiming, for ReLU), biases 0. The
    /// same seed gives the same trunk whatever else draws from libtorch's one
    /// global generator meanwhile (another thread training, say).
    pub fn init_random(&self, seed: u64) {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        tch::no_grad(|| {
            for conv in self.blocks.iter().flatten() {
                let size = conv.ws.size();
                let fan_in: i64 = size[1..].iter().product();
                let bound = (6.0 / fan_in as f64).sqrt() as f32;
                let values: Vec<f32> = (0..size.iter().product::<i64>())
                    .map(|_| {
                        ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * bound
                    })
                    .collect();
                conv.ws
                    .shallow_clone()
                    .copy_(&Tensor::from_slice(&values).reshape(size.as_slice()));
                if let Some(bias) = &conv.bs {
                    let _ = bias.shallow_clone().zero_();
                }
            }
        });
    }

    /// `images`: `[batch, 3, S, S]`, ImageNet-normalised. Returns C1, C2, C3.
    pub fn forward(&self, images: &Tensor) -> [Tensor; 3] {
        let [c1, c2, c3]: [Tensor; 3] = self
            .blocks_output(images, 5)
            .try_into()
            .expect("three scales");
        [c1, c2, c3]
    }

    /// Blocks 1 to 4: C1, C2 and block 5's input (C2 max-pooled, at 128 px
    /// 8x8 with the channels of C3).
    pub fn forward_to_block5(&self, images: &Tensor) -> [Tensor; 3] {
        let [c1, c2]: [Tensor; 2] = self
            .blocks_output(images, 4)
            .try_into()
            .expect("two scales");
        let block5_input = c2.max_pool2d_default(2);
        [c1, c2, block5_input]
    }

    /// The first `blocks` blocks' outputs from block 3 on, each before its
    /// max-pool, laid out as usual (`[batch, C, H, W]`, contiguous).
    ///
    /// Inside, the maps are channels-last (each pixel's channels side by
    /// side): libtorch's CPU convolutions and max-pools run faster on that
    /// layout (the openlibrary_covers5 cover cache, 16 covers at 128 px on
    /// 2 cores: 390 ms a batch laid out as usual, 260 ms channels-last).
    fn blocks_output(&self, images: &Tensor, blocks: usize) -> Vec<Tensor> {
        let mut xs = channels_last(images);
        let mut scales = Vec::with_capacity(3);
        for (block_index, convs) in self.blocks.iter().take(blocks).enumerate() {
            if block_index > 0 {
                xs = xs.max_pool2d_default(2);
            }
            for conv in convs {
                xs = conv.forward(&xs).relu();
            }
            if block_index >= 2 {
                scales.push(xs.contiguous());
            }
        }
        scales
    }

    /// Block 5's three convolutions (weights, biases), what a trainable copy
    /// of the block starts from.
    pub fn block5_parameters(&self) -> Vec<(Tensor, Option<Tensor>)> {
        self.blocks[4]
            .iter()
            .map(|conv| {
                (
                    conv.ws.shallow_clone(),
                    conv.bs.as_ref().map(Tensor::shallow_clone),
                )
            })
            .collect()
    }
}

/// `images` (`[batch, C, H, W]`) with channels-last strides: tch has no
/// memory-format argument, but libtorch reads the layout from the strides, and
/// the operations that follow keep it.
fn channels_last(images: &Tensor) -> Tensor {
    images
        .permute([0, 2, 3, 1])
        .contiguous()
        .permute([0, 3, 1, 2])
}

/// torchvision's index of block 5's first convolution (`features.24`); its
/// next two are 26 and 28.
pub const BLOCK5_FIRST_INDEX: i64 = 24;

/// torchvision's names of the 13 conv layers' parameters.
pub fn torchvision_parameter_names() -> Vec<String> {
    torchvision_parameter_shapes()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// torchvision's names of the 13 conv layers' parameters with their shapes
/// in full-width VGG16, as a pretrained checkpoint holds them.
pub fn torchvision_parameter_shapes() -> Vec<(String, Vec<i64>)> {
    let mut shapes = Vec::new();
    let mut index = 0;
    let mut in_channels = 3;
    for block in BLOCKS {
        for &channels in block.iter() {
            shapes.push((
                format!("features.{index}.weight"),
                vec![channels, in_channels, 3, 3],
            ));
            shapes.push((format!("features.{index}.bias"), vec![channels]));
            in_channels = channels;
            index += 2;
        }
        index += 1;
    }
    shapes
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The channels-last trunk gives the maps of the usual layout, laid out
    /// as usual (a cache written by either reads the same).
    #[test]
    fn channels_last_maps_match_the_usual_layout() {
        let store = nn::VarStore::new(Device::Cpu);
        let trunk = Vgg16Trunk::new(&store.root(), 0.25);
        trunk.init_random(7);
        let images = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let usual = tch::no_grad(|| {
            let mut xs = images.shallow_clone();
            let mut scales = Vec::new();
            for (block_index, convs) in trunk.blocks.iter().enumerate() {
                if block_index > 0 {
                    xs = xs.max_pool2d_default(2).contiguous();
                }
                for conv in convs {
                    xs = conv.forward(&xs).relu().contiguous();
                }
                if block_index >= 2 {
                    scales.push(xs.shallow_clone());
                }
            }
            scales
        });
        let maps = tch::no_grad(|| trunk.forward(&images));
        for (map, expected) in maps.iter().zip(&usual) {
            assert_eq!(map.size(), expected.size());
            assert!(map.is_contiguous(), "a map is laid out as usual");
            let gap = (map - expected).abs().max().double_value(&[]);
            let scale = expected.abs().max().double_value(&[]).max(1e-6);
            assert!(gap <= 1e-4 * scale, "gap {gap} against {scale}");
        }
    }
}
