//! A book's cached trunk maps as a run holds them: in memory (one book
//! placed on its own, tests), or named by the cover's hash and read from the
//! feature cache when a batch needs them. Held in memory, every cover's maps
//! took 160 KB (as f32): 1 GB for openlibrary_covers5's 6,000 books and 16
//! GB at 100,000, so a run's memory grew with its covers; read per batch, it
//! holds one batch's.

use std::fmt;
use std::sync::{Arc, Mutex};

use tch::Tensor;

use crate::embed::{EmbedError, FeatureCache};

/// The feature cache a dataset's covers are read from, with the first read
/// that failed: a batch goes on without that cover, and the run reports the
/// failure at its next check ([`take_cover_failure`]) and stops.
pub(crate) struct CachedCovers {
    cache: FeatureCache,
    failure: Mutex<Option<EmbedError>>,
}

impl CachedCovers {
    pub fn new(cache: FeatureCache) -> Arc<Self> {
        Arc::new(Self {
            cache,
            failure: Mutex::new(None),
        })
    }

    /// The cover `hash` when the cache holds it (`None` otherwise: the book
    /// trains without a cover, as before the cache held it).
    pub fn entry(self: &Arc<Self>, hash: &str) -> Option<CoverMaps> {
        self.cache.contains(hash).then(|| CoverMaps::Cached {
            covers: Arc::clone(self),
            hash: hash.into(),
        })
    }

    fn read(&self, hash: &str) -> Option<[Tensor; 3]> {
        let read = self.cache.load(hash).and_then(|maps| {
            maps.ok_or_else(|| EmbedError::Io {
                path: self.cache.entry_path(hash),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the cache entry was removed while the run read it",
                ),
            })
        });
        match read {
            Ok(maps) => Some(maps),
            Err(error) => {
                let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                failure.get_or_insert(error);
                None
            }
        }
    }

    fn take_failure(&self) -> Option<EmbedError> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// One book's trunk maps, `[C_s, side_s, side_s]` per scale.
pub(crate) enum CoverMaps {
    Loaded([Tensor; 3]),
    Cached {
        covers: Arc<CachedCovers>,
        hash: Box<str>,
    },
}

impl Clone for CoverMaps {
    /// Loaded maps share their tensors; a cached entry its cache.
    fn clone(&self) -> Self {
        match self {
            Self::Loaded(maps) => Self::Loaded(maps.each_ref().map(Tensor::shallow_clone)),
            Self::Cached { covers, hash } => Self::Cached {
                covers: Arc::clone(covers),
                hash: hash.clone(),
            },
        }
    }
}

impl fmt::Debug for CoverMaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loaded(maps) => f
                .debug_tuple("Loaded")
                .field(&maps.each_ref().map(Tensor::size))
                .finish(),
            Self::Cached { hash, .. } => f.debug_tuple("Cached").field(hash).finish(),
        }
    }
}

impl CoverMaps {
    /// The maps (shared tensors when loaded); `None` when the cached entry
    /// could not be read, its error kept for [`take_cover_failure`].
    pub fn maps(&self) -> Option<[Tensor; 3]> {
        match self {
            Self::Loaded(maps) => Some(maps.each_ref().map(Tensor::shallow_clone)),
            Self::Cached { covers, hash } => covers.read(hash),
        }
    }

    fn cached_covers(&self) -> Option<&CachedCovers> {
        match self {
            Self::Loaded(_) => None,
            Self::Cached { covers, .. } => Some(covers),
        }
    }
}

/// The first failed read of a cached cover among `covers` since the last
/// call, if any: what a run checks after each pass over its books.
pub(crate) fn take_cover_failure<'a>(
    mut covers: impl Iterator<Item = &'a Option<CoverMaps>>,
) -> Option<EmbedError> {
    covers
        .find_map(|cover| cover.as_ref().and_then(CoverMaps::cached_covers))
        .and_then(CachedCovers::take_failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::TrunkSettings;

    fn cache_in(dir: &std::path::Path) -> FeatureCache {
        let settings = TrunkSettings {
            image_size: 32,
            width: 0.25,
            grid: 2,
            weights: None,
            seed: 1,
            train_block5: false,
        };
        FeatureCache::for_settings(dir, &settings, [2, 3, 4]).unwrap()
    }

    /// A cached cover reads back the maps stored for it; one the cache
    /// lacks is no cover; one removed after the dataset named it reads as
    /// missing, and the failure, naming its file, is reported once.
    #[test]
    fn cached_covers_read_back_and_a_removed_entry_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let sides = [2i64, 2, 2];
        let maps: Vec<Tensor> = [2i64, 3, 4]
            .iter()
            .zip(sides)
            .map(|(&c, side)| {
                Tensor::arange(c * side * side, (tch::Kind::Float, tch::Device::Cpu))
                    .view([c, side, side])
            })
            .collect();
        cache.store("abcdef", &maps).unwrap();
        let covers = CachedCovers::new(cache);
        assert!(covers.entry("ffffff").is_none());
        let cover = covers.entry("abcdef");
        let read = cover.as_ref().unwrap().maps().unwrap();
        for (read, stored) in read.iter().zip(&maps) {
            assert!(read.equal(stored));
        }
        let examples = [None, cover];
        assert!(take_cover_failure(examples.iter()).is_none());

        std::fs::remove_dir_all(dir.path().join("features")).unwrap();
        assert!(examples[1].as_ref().unwrap().maps().is_none());
        assert!(examples[1].as_ref().unwrap().maps().is_none());
        let failure = take_cover_failure(examples.iter()).unwrap().to_string();
        assert!(failure.contains("abcdef.f16"), "{failure}");
        assert!(take_cover_failure(examples.iter()).is_none());
    }
}
