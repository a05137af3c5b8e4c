//! The frozen trunk's outputs, computed once per cover and trunk
//! configuration and cached in the library folder, so that an epoch never runs
//! VGG16 again. A cover is named by its content hash and a configuration by a
//! key over everything that changes the outputs (size, width, pooled grid, the
//! weights file's hash or the random seed): a changed cover or configuration
//! simply misses the cache.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use super::{EmbedError, TrunkSettings, cover_tensor};
use crate::jobs::{Cancel, OnProgress, Progress, is_cancelled};
use crate::model::trunk::Vgg16Trunk;
use crate::store::{Library, write_file_atomically};

/// Covers run through the trunk together.
const BATCH: usize = 16;

/// The cache folder of one trunk configuration.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
    channels: [i64; 3],
    sides: [i64; 3],
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
        let mut description = format!(
            "size={} width={} grid={} weights={weights_hash}",
            settings.image_size, settings.width, settings.grid
        );
        // Block 5's input in place of C3: another set of maps. The frozen
        // trunk's key is unchanged, so its cache stays valid.
        if settings.train_block5 {
            description.push_str(" maps=block5-input");
        }
        let key = format!("{:x}", Sha256::digest(description.as_bytes()));
        Ok(Self {
            dir: library_root.join("features").join(&key[..16]),
            channels,
            sides: settings.cached_sides(),
        })
    }

    /// The file of a cover's maps (named in errors about it).
    pub(crate) fn entry_path(&self, cover_hash: &str) -> PathBuf {
        self.dir
            .join(&cover_hash[..2])
            .join(format!("{cover_hash}.f16"))
    }

    fn expected_bytes(&self) -> usize {
        self.channels
            .iter()
            .zip(self.sides)
            .map(|(c, side)| (c * side * side) as usize * 2)
            .sum()
    }

    pub fn contains(&self, cover_hash: &str) -> bool {
        self.entry_path(cover_hash).is_file()
    }

    /// The cached maps of a cover, `[C_s, side_s, side_s]` each, as f32.
    pub fn load(&self, cover_hash: &str) -> Result<Option<[Tensor; 3]>, EmbedError> {
        let path = self.entry_path(cover_hash);
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
            .zip(self.sides)
            .map(|(&c, side)| {
                let len = (c * side * side) as usize * 2;
                let map = Tensor::from_data_size(
                    &bytes[offset..offset + len],
                    &[c, side, side],
                    Kind::Half,
                )
                .to_kind(Kind::Float);
                offset += len;
                map
            })
            .collect();
        Ok(Some(maps.try_into().expect("three maps")))
    }

    pub(crate) fn store(&self, cover_hash: &str, maps: &[Tensor]) -> Result<(), EmbedError> {
        let mut bytes = Vec::with_capacity(self.expected_bytes());
        for map in maps {
            let half = map.to_kind(Kind::Half).to_device(Device::Cpu).contiguous();
            let numel = half.numel();
            let mut buffer = vec![0u8; numel * 2];
            half.copy_data_u8(&mut buffer, numel);
            bytes.extend_from_slice(&buffer);
        }
        Ok(write_file_atomically(&self.entry_path(cover_hash), &bytes)?)
    }
}

/// How a cache build went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheReport {
    pub computed: usize,
    pub reused: usize,
    pub failed: usize,
}

/// The library's covers the cache lacks, in a stable order, and how many it
/// holds already.
fn missing_covers(
    library: &Library,
    cache: &FeatureCache,
) -> Result<(Vec<(String, PathBuf)>, usize), EmbedError> {
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
    let reused = covers.len() - missing.len();
    Ok((missing, reused))
}

/// One batch of covers decoded, run through the trunk and stored; returns
/// how many were computed and how many failed to decode.
fn cache_batch(
    batch: &[(String, PathBuf)],
    trunk: &Vgg16Trunk,
    cache: &FeatureCache,
    (settings, device): (&TrunkSettings, Device),
) -> Result<(usize, usize), EmbedError> {
    let decoded: Vec<(String, Result<Tensor, EmbedError>)> = batch
        .par_iter()
        .map(|(hash, path)| (hash.clone(), cover_tensor(path, settings.image_size)))
        .collect();
    let (good, bad): (Vec<_>, Vec<_>) = decoded.into_iter().partition(|(_, t)| t.is_ok());
    if good.is_empty() {
        return Ok((0, bad.len()));
    }
    let (hashes, images): (Vec<String>, Vec<Tensor>) = good
        .into_iter()
        .map(|(hash, tensor)| (hash, tensor.expect("partitioned")))
        .unzip();
    let images = Tensor::stack(&images, 0).to_device(device);
    let pooled = settings.cached_maps(trunk, &images);
    for (row, hash) in hashes.iter().enumerate() {
        let maps: Vec<Tensor> = pooled.iter().map(|p| p.get(row as i64)).collect();
        cache.store(hash, &maps)?;
    }
    Ok((hashes.len(), bad.len()))
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
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<CacheReport, EmbedError> {
    let jobs = (on_progress, cancel);
    fill_with_workers(library, cache, (settings, device), jobs, |worker| {
        worker(trunk)
    })
}

/// [`fill_cache`] with a worker for each of `trunks` (copies of one trunk),
/// each taking the next batch of covers, for a machine no window needs a
/// core of. With libtorch's threads set to one a worker, two workers side
/// by side on a 2-core machine filled openlibrary_covers5's cache in 109.7-
/// 117.9 s, against 109.9-145.8 s for one batch at a time on both threads
/// (four of each, alternated): a batch's decoding and storing run on one
/// core, and a parallel step waits for its slower thread when another
/// process takes a core. The first error stops handing out batches.
pub fn fill_cache_side_by_side(
    library: &Library,
    trunks: Vec<Vgg16Trunk>,
    cache: &FeatureCache,
    settings: &TrunkSettings,
    device: Device,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<CacheReport, EmbedError> {
    if trunks.is_empty() {
        return Ok(CacheReport::default());
    }
    let jobs = (on_progress, cancel);
    fill_with_workers(library, cache, (settings, device), jobs, |worker| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = trunks
                .into_iter()
                .map(|trunk| scope.spawn(move || worker(&trunk)))
                .collect();
            handles
                .into_iter()
                .try_for_each(|handle| handle.join().expect("a cache worker panicked"))
        })
    })
}

/// A cache worker: takes the next batch of missing covers until none is
/// left, the cache is cancelled or another worker failed.
type CacheWorker<'a> = &'a (dyn Fn(&Vgg16Trunk) -> Result<(), EmbedError> + Sync);

/// The covers the cache lacks, in batches handed out to the workers that
/// `run_workers` runs (on this thread, or on threads of their own).
fn fill_with_workers(
    library: &Library,
    cache: &FeatureCache,
    (settings, device): (&TrunkSettings, Device),
    (on_progress, cancel): (OnProgress, &Cancel),
    run_workers: impl FnOnce(CacheWorker<'_>) -> Result<(), EmbedError>,
) -> Result<CacheReport, EmbedError> {
    let (missing, reused) = missing_covers(library, cache)?;
    let batches: Vec<&[(String, PathBuf)]> = missing.chunks(BATCH).collect();
    on_progress(Progress::new(0, missing.len()));
    let next = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    // Computed, failed, and covers done.
    let counts = Mutex::new((0usize, 0usize, 0usize));
    let worker = |trunk: &Vgg16Trunk| -> Result<(), EmbedError> {
        while !stopped.load(Ordering::Relaxed) {
            if is_cancelled(cancel) {
                return Err(EmbedError::Cancelled);
            }
            let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(());
            };
            let done = cache_batch(batch, trunk, cache, (settings, device));
            let (computed, failed) =
                done.inspect_err(|_| stopped.store(true, Ordering::Relaxed))?;
            let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
            *counts = (
                counts.0 + computed,
                counts.1 + failed,
                counts.2 + batch.len(),
            );
            on_progress(Progress::new(counts.2, missing.len()));
        }
        Ok(())
    };
    run_workers(&worker)?;
    let (computed, failed, _) = counts.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(CacheReport {
        computed,
        reused,
        failed,
    })
}
