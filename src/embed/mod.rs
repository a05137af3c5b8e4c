//! The frozen trunk's side of the model: covers as the trunk reads them, the
//! trunk itself ([`build_trunk`]), its outputs cached once per cover and
//! configuration ([`cache`]), and a run's stored book embeddings that know
//! when they are stale ([`stored`]).

pub mod cache;
pub mod stored;

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn};

pub use cache::{CacheReport, FeatureCache, fill_cache, fill_cache_side_by_side};
pub use stored::{PlaceBooks, Placement, current_embeddings};

use crate::model::generator::with_generator;
use crate::model::trunk::{Vgg16Trunk, torchvision_parameter_names};
use crate::model::weights::{self, TrunkProvenance};
use crate::store::StoreError;

/// ImageNet statistics, as torchvision's VGG16 was trained with.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];

const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Everything that decides the trunk's outputs for a cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrunkSettings {
    pub image_size: i64,
    pub width: f64,
    /// Each map is average-pooled to `grid x grid` before caching.
    pub grid: i64,
    /// torchvision VGG16 weights (.pth, safetensors or .ot); `None`: random.
    pub weights: Option<PathBuf>,
    /// Seed of the random trunk (ignored with weights).
    pub seed: u64,
    /// Block 5 trains with the heads ([`crate::model::block5`]): the trunk
    /// stops at block 4, and the cache keeps block 5's input (block 4's
    /// max-pooled output, at `image_size / 16` a side) in place of C3.
    #[serde(default)]
    pub train_block5: bool,
}

impl TrunkSettings {
    /// Each cached map's side: `grid`, and for block 5's input its own size.
    pub fn cached_sides(&self) -> [i64; 3] {
        if self.train_block5 {
            [self.grid, self.grid, (self.image_size / 16).max(1)]
        } else {
            [self.grid; 3]
        }
    }

    /// The maps of a batch of covers as the cache keeps them: C1, C2 pooled
    /// to the grid, and C3 (or block 5's input) likewise (or as it is).
    pub fn cached_maps(&self, trunk: &Vgg16Trunk, images: &Tensor) -> [Tensor; 3] {
        let maps = tch::no_grad(|| {
            if self.train_block5 {
                trunk.forward_to_block5(images)
            } else {
                trunk.forward(images)
            }
        });
        let sides = self.cached_sides();
        let mut scale = 0;
        maps.map(|map| {
            let side = sides[scale];
            scale += 1;
            if map.size()[2..] == [side, side] {
                map
            } else {
                map.adaptive_avg_pool2d([side, side])
            }
        })
    }
}

impl Default for TrunkSettings {
    fn default() -> Self {
        Self {
            image_size: 128,
            width: 0.5,
            grid: 8,
            weights: None,
            seed: 1,
            train_block5: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Weights(#[from] weights::WeightsError),
    #[error("{path}: {reason}")]
    Cover { path: PathBuf, reason: String },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("feature cache entry {path} is damaged ({bytes} bytes, {expected} expected)")]
    Damaged {
        path: PathBuf,
        bytes: usize,
        expected: usize,
    },
    #[error("computing the feature cache was cancelled; what was computed is kept")]
    Cancelled,
}

/// A cover as the trunk reads it: `[3, S, S]`, resized (not cropped) and
/// ImageNet-normalised.
pub fn cover_tensor(path: &Path, size: i64) -> Result<Tensor, EmbedError> {
    let image = crate::import::cover::open_oriented(path).map_err(|e| EmbedError::Cover {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let side = size as u32;
    let rgb = image
        .resize_exact(side, side, FilterType::Triangle)
        .to_rgb8();
    let mut planes = vec![0f32; 3 * (side * side) as usize];
    for (index, pixel) in rgb.pixels().enumerate() {
        for channel in 0..3 {
            planes[channel * (side * side) as usize + index] =
                (pixel[channel] as f32 / 255.0 - MEAN[channel]) / STD[channel];
        }
    }
    Ok(Tensor::from_slice(&planes).reshape([3, size, size]))
}

/// The trunk these settings describe, with where its weights came from.
pub fn build_trunk(
    settings: &TrunkSettings,
    device: Device,
) -> Result<(nn::VarStore, Vgg16Trunk, TrunkProvenance), EmbedError> {
    let mut store = nn::VarStore::new(device);
    // Its convolutions draw starting weights from libtorch's generator
    // before they are filled: built with the generator to itself, so that a
    // run seeding its heads on another thread meanwhile (the next run of a
    // sweep preparing its data) gets its own draws (see `model::generator`).
    let trunk = with_generator(None, || Vgg16Trunk::new(&store.root(), settings.width));
    let provenance = match &settings.weights {
        Some(file) => match weights::load_by_name(&store, file, &torchvision_parameter_names())? {
            TrunkProvenance::Pretrained {
                file, parameters, ..
            } => TrunkProvenance::Pretrained {
                source: crate::backbone::describe_weights_file(&file),
                file,
                parameters,
            },
            random => random,
        },
        None => {
            trunk.init_random(settings.seed);
            TrunkProvenance::Random
        }
    };
    store.freeze();
    Ok((store, trunk, provenance))
}

/// `count` copies of the trunk these settings describe (at least one), one
/// for each worker of [`fill_cache_side_by_side`], with where its weights
/// came from.
pub fn build_trunks(
    settings: &TrunkSettings,
    device: Device,
    count: usize,
) -> Result<(Vec<Vgg16Trunk>, TrunkProvenance), EmbedError> {
    let (_store, trunk, provenance) = build_trunk(settings, device)?;
    let mut trunks = vec![trunk];
    for _ in 1..count {
        trunks.push(build_trunk(settings, device)?.1);
    }
    Ok((trunks, provenance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_are_resized_and_normalised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grey.png");
        image::RgbImage::from_pixel(30, 50, image::Rgb([124, 116, 104]))
            .save(&path)
            .unwrap();
        let tensor = cover_tensor(&path, 16);
        let tensor = tensor.unwrap();
        assert_eq!(tensor.size(), [3, 16, 16]);
        // ImageNet's mean colour normalises to about zero.
        assert!(tensor.abs().max().double_value(&[]) < 0.01);
        let err = cover_tensor(&dir.path().join("missing.png"), 16).unwrap_err();
        assert!(err.to_string().contains("missing.png"));
    }
}
