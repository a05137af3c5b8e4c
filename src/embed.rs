//! The frozen trunk's outputs, computed once per cover and trunk
//! configuration and cached in the library folder, so that an epoch never runs
//! VGG16 again. A cover is named by its content hash and a configuration by a
//! key over everything that changes the outputs (size, width, pooled grid, the
//! weights file's hash or the random seed): a changed cover or configuration
//! simply misses the cache.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use image::imageops::FilterType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor, nn};

use crate::model::trunk::{Vgg16Trunk, torchvision_parameter_names};
use crate::model::weights::{self, TrunkProvenance};
use crate::store::{Library, StoreError, write_file_atomically};

/// ImageNet statistics, as torchvision's VGG16 was trained with.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Covers run through the trunk together.
const BATCH: usize = 16;

/// Everything that decides the trunk's outputs for a cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrunkSettings {
    pub image_size: i64,
    pub width: f64,
    /// Each map is average-pooled to `grid x grid` before caching.
    pub grid: i64,
    /// torchvision VGG16 weights (safetensors or .ot); `None`: random.
    pub weights: Option<PathBuf>,
    /// Seed of the random trunk (ignored with weights).
    pub seed: u64,
}

impl Default for TrunkSettings {
    fn default() -> Self {
        Self {
            image_size: 128,
            width: 0.5,
            grid: 8,
            weights: None,
            seed: 1,
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
    let image = image::open(path).map_err(|e| EmbedError::Cover {
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
    let trunk = Vgg16Trunk::new(&store.root(), settings.width);
    let provenance = match &settings.weights {
        Some(file) => weights::load_by_name(&store, file, &torchvision_parameter_names())?,
        None => {
            trunk.init_random(settings.seed);
            TrunkProvenance::Random
        }
    };
    store.freeze();
    Ok((store, trunk, provenance))
}

/// The cache folder of one trunk configuration.
pub struct FeatureCache {
    dir: PathBuf,
    channels: [i64; 3],
    grid: i64,
}

impl FeatureCache {
    /// The cache for `settings` in `library_root/features/<key>/`.
    pub fn for_settings(
        library_root: &Path,
        settings: &TrunkSettings,
        channels: [i64; 3],
    ) -> Result<Self, EmbedError> {
        let weights_hash = match &settings.weights {
            Some(file) => {
                let bytes = std::fs::read(file).map_err(|source| EmbedError::Io {
                    path: file.clone(),
                    source,
                })?;
                format!("{:x}", Sha256::digest(&bytes))
            }
            None => format!("random-{}", settings.seed),
        };
        let description = format!(
            "size={} width={} grid={} weights={weights_hash}",
            settings.image_size, settings.width, settings.grid
        );
        let key = format!("{:x}", Sha256::digest(description.as_bytes()));
        Ok(Self {
            dir: library_root.join("features").join(&key[..16]),
            channels,
            grid: settings.grid,
        })
    }

    fn path(&self, cover_hash: &str) -> PathBuf {
        self.dir
            .join(&cover_hash[..2])
            .join(format!("{cover_hash}.f16"))
    }

    fn expected_bytes(&self) -> usize {
        self.channels
            .iter()
            .map(|c| (c * self.grid * self.grid) as usize * 2)
            .sum()
    }

    pub fn contains(&self, cover_hash: &str) -> bool {
        self.path(cover_hash).is_file()
    }

    /// The cached maps of a cover, `[C_s, grid, grid]` each, as f32.
    pub fn load(&self, cover_hash: &str) -> Result<Option<[Tensor; 3]>, EmbedError> {
        let path = self.path(cover_hash);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(EmbedError::Io { path, source }),
        };
        if bytes.len() != self.expected_bytes() {
            return Err(EmbedError::Damaged {
                path,
                bytes: bytes.len(),
                expected: self.expected_bytes(),
            });
        }
        let mut offset = 0;
        let maps: Vec<Tensor> = self
            .channels
            .iter()
            .map(|&c| {
                let len = (c * self.grid * self.grid) as usize * 2;
                let map = Tensor::from_data_size(
                    &bytes[offset..offset + len],
                    &[c, self.grid, self.grid],
                    Kind::Half,
                )
                .to_kind(Kind::Float);
                offset += len;
                map
            })
            .collect();
        Ok(Some(maps.try_into().expect("three maps")))
    }

    fn store(&self, cover_hash: &str, maps: &[Tensor]) -> Result<(), EmbedError> {
        let mut bytes = Vec::with_capacity(self.expected_bytes());
        for map in maps {
            let half = map.to_kind(Kind::Half).to_device(Device::Cpu).contiguous();
            let numel = half.numel();
            let mut buffer = vec![0u8; numel * 2];
            half.copy_data_u8(&mut buffer, numel);
            bytes.extend_from_slice(&buffer);
        }
        Ok(write_file_atomically(&self.path(cover_hash), &bytes)?)
    }
}

/// How a cache build went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CacheReport {
    pub computed: usize,
    pub reused: usize,
    pub failed: usize,
}

/// Runs the trunk over every cover of the library that the cache lacks.
/// Cancelling keeps what was computed; a cover that fails to decode is
/// counted and skipped (its book trains without a cover).
pub fn fill_cache(
    library: &Library,
    trunk: &Vgg16Trunk,
    cache: &FeatureCache,
    settings: &TrunkSettings,
    device: Device,
    on_progress: &dyn Fn(usize, usize),
    cancel: &AtomicBool,
) -> Result<CacheReport, EmbedError> {
    let covers = library.stored_covers()?;
    let mut missing: Vec<(String, PathBuf)> = covers
        .values()
        .filter(|cover| !cache.contains(&cover.cover_hash))
        .map(|cover| {
            (
                cover.cover_hash.clone(),
                library.cover_path(&cover.file_name),
            )
        })
        .collect();
    missing.sort();
    let mut report = CacheReport {
        computed: 0,
        reused: covers.len() - missing.len(),
        failed: 0,
    };
    on_progress(0, missing.len());
    for (batch_index, batch) in missing.chunks(BATCH).enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(EmbedError::Cancelled);
        }
        let decoded: Vec<(String, Result<Tensor, EmbedError>)> = batch
            .par_iter()
            .map(|(hash, path)| (hash.clone(), cover_tensor(path, settings.image_size)))
            .collect();
        let (good, bad): (Vec<_>, Vec<_>) = decoded.into_iter().partition(|(_, t)| t.is_ok());
        report.failed += bad.len();
        if !good.is_empty() {
            let (hashes, images): (Vec<String>, Vec<Tensor>) = good
                .into_iter()
                .map(|(hash, tensor)| (hash, tensor.expect("partitioned")))
                .unzip();
            let images = Tensor::stack(&images, 0).to_device(device);
            let scales = tch::no_grad(|| trunk.forward(&images));
            let pooled: Vec<Tensor> = scales
                .iter()
                .map(|map| map.adaptive_avg_pool2d([settings.grid, settings.grid]))
                .collect();
            for (row, hash) in hashes.iter().enumerate() {
                let maps: Vec<Tensor> = pooled.iter().map(|p| p.get(row as i64)).collect();
                cache.store(hash, &maps)?;
                report.computed += 1;
            }
        }
        on_progress(
            (batch_index * BATCH + batch.len()).min(missing.len()),
            missing.len(),
        );
    }
    Ok(report)
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
