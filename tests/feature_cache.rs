//! The frozen trunk's outputs are computed once per cover and configuration,
//! reused afterwards, and recomputed only for a changed cover or configuration.

mod common;

use std::sync::atomic::AtomicBool;

use shelfwise::embed::{self, EmbedError, FeatureCache, TrunkSettings};
use shelfwise::store::Library;
use tch::{Device, Kind, Tensor};

const BOOKS: &[(&str, &str, &str, &str, &str)] = &[
    ("a", "Alpha", "Ann", "Drama", ""),
    ("b", "Beta", "Bo", "Drama", ""),
    ("c", "Gamma", "Cy", "Poetry", ""),
    ("d", "Delta", "Di", "Poetry", ""),
    ("e", "Epsilon", "Ed", "Horror", ""),
];

fn settings() -> TrunkSettings {
    TrunkSettings {
        image_size: 32,
        width: 0.125,
        grid: 2,
        weights: None,
        seed: 3,
        train_block5: false,
    }
}

fn fill(library: &Library, settings: &TrunkSettings) -> Result<embed::CacheReport, EmbedError> {
    let (_store, trunk, _) = embed::build_trunk(settings, Device::Cpu).unwrap();
    let cache = FeatureCache::for_settings(library.root(), settings, trunk.scale_channels).unwrap();
    embed::fill_cache(
        library,
        &trunk,
        &cache,
        settings,
        Device::Cpu,
        &|_| {},
        &AtomicBool::new(false),
    )
}

#[test]
fn the_cache_is_filled_once_and_follows_covers_and_settings() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(source.path(), BOOKS);
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    common::import(&mut library, &csv);

    let first = fill(&library, &settings()).unwrap();
    assert_eq!((first.computed, first.reused, first.failed), (5, 0, 0));
    let second = fill(&library, &settings()).unwrap();
    assert_eq!((second.computed, second.reused), (0, 5));

    // The cached maps are the trunk's outputs, pooled to the grid (to f16 precision).
    let settings = settings();
    let (_store, trunk, provenance) = embed::build_trunk(&settings, Device::Cpu).unwrap();
    assert_eq!(
        provenance,
        shelfwise::model::weights::TrunkProvenance::Random
    );
    let cache =
        FeatureCache::for_settings(library.root(), &settings, trunk.scale_channels).unwrap();
    let cover = library
        .stored_covers()
        .unwrap()
        .into_values()
        .next()
        .unwrap();
    let cached = cache.load(&cover.cover_hash).unwrap().unwrap();
    let image = embed::cover_tensor(&library.cover_path(&cover.file_name), 32)
        .unwrap()
        .unsqueeze(0);
    let fresh = tch::no_grad(|| trunk.forward(&image));
    let sizes: Vec<Vec<i64>> = cached.iter().map(Tensor::size).collect();
    assert_eq!(sizes, [vec![32, 2, 2], vec![64, 2, 2], vec![64, 2, 2]]);
    for (cached, fresh) in cached.iter().zip(&fresh) {
        let expected = fresh.adaptive_avg_pool2d([2, 2]).get(0);
        let error = (cached - &expected).abs().max().double_value(&[]);
        let scale = expected.abs().max().double_value(&[]).max(1e-6);
        assert!(error / scale < 1e-2, "relative error {}", error / scale);
    }

    // Another configuration has a cache of its own.
    let other = TrunkSettings {
        grid: 1,
        ..settings.clone()
    };
    assert_eq!(fill(&library, &other).unwrap().computed, 5);
    let reseeded = TrunkSettings {
        seed: 4,
        ..settings.clone()
    };
    assert_eq!(fill(&library, &reseeded).unwrap().computed, 5);

    // A changed cover is a new content hash: only it is computed.
    let changed = source.path().join("covers/a.jpg");
    std::fs::write(&changed, common::jpeg_cover(99)).unwrap();
    common::import(&mut library, &csv);
    let after = fill(&library, &settings).unwrap();
    assert_eq!((after.computed, after.reused), (1, 5));

    // A damaged entry is reported, not read as features.
    let entry = std::fs::read_dir(library_dir.path().join("features"))
        .unwrap()
        .flat_map(|d| common::walk(&d.unwrap().path()))
        .next()
        .unwrap();
    std::fs::write(&entry, b"short").unwrap();
    let hash = entry.file_stem().unwrap().to_str().unwrap().to_string();
    let caches = [settings.clone(), other, reseeded];
    let damaged = caches.iter().any(|s| {
        let (_st, t, _) = embed::build_trunk(s, Device::Cpu).unwrap();
        let c = FeatureCache::for_settings(library.root(), s, t.scale_channels).unwrap();
        matches!(c.load(&hash), Err(EmbedError::Damaged { .. }))
    });
    assert!(damaged);
}

#[test]
fn a_random_trunk_is_the_same_for_a_seed_even_while_other_threads_build_models() {
    let reference = embed::build_trunk(&settings(), Device::Cpu).unwrap().0;
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    let (store, ..) = embed::build_trunk(&settings(), Device::Cpu).unwrap();
                    for (name, variable) in store.variables() {
                        assert!(
                            variable.equal(&reference.variables()[&name]),
                            "{name} differs"
                        );
                    }
                    let _ = Tensor::randn([64], (Kind::Float, Device::Cpu));
                }
            });
        }
    });
}

#[test]
fn cancelling_keeps_what_was_computed() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(source.path(), BOOKS);
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    common::import(&mut library, &csv);
    let settings = settings();
    let (_store, trunk, _) = embed::build_trunk(&settings, Device::Cpu).unwrap();
    let cache =
        FeatureCache::for_settings(library.root(), &settings, trunk.scale_channels).unwrap();
    let cancelled = AtomicBool::new(true);
    let result = embed::fill_cache(
        &library,
        &trunk,
        &cache,
        &settings,
        Device::Cpu,
        &|_| {},
        &cancelled,
    );
    assert!(matches!(result, Err(EmbedError::Cancelled)));
    assert_eq!(fill(&library, &settings).unwrap().computed, 5);
}

/// torchvision-named full-width VGG16 weights, every value `value`.
fn write_weights(path: &std::path::Path, value: f64) {
    let tensors: Vec<(String, Tensor)> = shelfwise::model::trunk::torchvision_parameter_shapes()
        .into_iter()
        .map(|(name, shape)| {
            (
                name,
                Tensor::full(&shape, value, (Kind::Float, Device::Cpu)),
            )
        })
        .collect();
    Tensor::write_safetensors(&tensors, path).unwrap();
}

#[test]
fn changing_the_backbone_misses_only_the_new_trunks_entries() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(source.path(), BOOKS);
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    common::import(&mut library, &csv);
    let weights = source.path().join("vgg16.safetensors");
    write_weights(&weights, 0.01);
    let random = TrunkSettings {
        width: 1.0,
        ..settings()
    };
    let pretrained = TrunkSettings {
        weights: Some(weights.clone()),
        ..random.clone()
    };
    assert_eq!(fill(&library, &random).unwrap().computed, 5);
    assert_eq!(fill(&library, &pretrained).unwrap().computed, 5);
    // Back and forth: each trunk's entries were kept.
    let again = fill(&library, &random).unwrap();
    assert_eq!((again.computed, again.reused), (0, 5));
    assert_eq!(fill(&library, &pretrained).unwrap().computed, 0);
    // Other weights under the same file name are another trunk.
    write_weights(&weights, 0.02);
    assert_eq!(fill(&library, &pretrained).unwrap().computed, 5);
    assert_eq!(fill(&library, &random).unwrap().computed, 0);
}

/// Training block 5 caches block 5's input (block 4 max-pooled, at 32 px 2x2
/// with block 5's channels) beside the frozen trunk's maps, without touching
/// them; each set is reused on its own.
#[test]
fn a_trainable_block5_caches_its_input_beside_the_frozen_maps() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(source.path(), BOOKS);
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    common::import(&mut library, &csv);
    let frozen = settings();
    let trainable = TrunkSettings {
        train_block5: true,
        ..settings()
    };
    assert_eq!(fill(&library, &frozen).unwrap().computed, 5);
    assert_eq!(fill(&library, &trainable).unwrap().computed, 5);
    let again = fill(&library, &frozen).unwrap();
    assert_eq!((again.computed, again.reused), (0, 5));
    assert_eq!(fill(&library, &trainable).unwrap().computed, 0);

    let (_store, trunk, _) = embed::build_trunk(&trainable, Device::Cpu).unwrap();
    let cache =
        FeatureCache::for_settings(library.root(), &trainable, trunk.scale_channels).unwrap();
    let hash = library.stored_covers().unwrap().into_keys().next().unwrap();
    let maps = cache.load(&hash).unwrap().unwrap();
    // At 32 px: block 4 ends at 4x4, block 5's input is 2x2 with 64 channels.
    assert_eq!(maps[2].size(), [64, 2, 2]);
    assert!(maps[2].abs().sum(tch::Kind::Float).double_value(&[]) > 0.0);
}

/// The cached maps under the library's `features/`, counted.
fn cached_maps(library: &std::path::Path) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { count(&path) } else { 1 }
                })
                .sum()
        })
    }
    count(&library.join("features"))
}

/// A text-only run reads no cover: training it and placing the library's
/// books with it leave the cache empty. Caught a 100,000-book library's
/// text-only run spending most of an hour on the trunk first.
#[test]
fn a_text_only_run_neither_fills_nor_reads_the_cover_cache() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 20, 8, |i| format!("Book {i}"));
    let config = source.path().join("text.json");
    std::fs::write(
        &config,
        r#"{"beta": 0.5, "alpha": null, "epochs": 2, "categories_per_batch": 2,
            "books_per_category": 4, "learning_rate": 0.003, "seed": 1,
            "validation_share": 0.2, "modality_dropout": 0.1, "modalities": "text",
            "max_words": 20,
            "model": {"image_size": 32, "width": 0.125, "word_dim": 100, "lstm_hidden": 16,
                      "fused_channels": 16, "embedding_dim": 16, "categories": 2},
            "trunk": {"image_size": 32, "width": 0.125, "grid": 2, "weights": null, "seed": 1}}"#,
    )
    .unwrap();
    let library = tempfile::tempdir().unwrap();
    common::shelfwise_json(library.path(), &["import", csv.to_str().unwrap()]);
    let report = common::shelfwise_json(
        library.path(),
        &["train", "--config", config.to_str().unwrap()],
    );
    assert_eq!(report["runs"][0]["modalities"], "text");
    assert_eq!(cached_maps(library.path()), 0, "training filled the cache");
    let run = report["runs"][0]["run"].as_i64().unwrap().to_string();
    let answer = common::shelfwise_json(
        library.path(),
        &["recommend", "--run", &run, "--like", "b0"],
    );
    assert_eq!(answer["suggestions"].as_array().unwrap().len(), 10);
    assert_eq!(
        cached_maps(library.path()),
        0,
        "placing the books filled the cache"
    );
}

/// Workers side by side (the command line's cache on a 2-core machine)
/// store what one worker stores, cover for cover, and report the same;
/// cancelled, they stop.
#[test]
fn workers_side_by_side_fill_the_cache_one_worker_fills() {
    let source = tempfile::tempdir().unwrap();
    let rows: Vec<[String; 5]> = (0..37)
        .map(|i| {
            let category = ["Drama", "Poetry", "Horror"][i % 3];
            [
                format!("b{i}"),
                format!("Book {i}"),
                format!("Author {i}"),
                category.into(),
                String::new(),
            ]
        })
        .collect();
    let rows: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|[a, b, c, d, e]| (a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str()))
        .collect();
    let csv = common::write_books(source.path(), &rows);
    let settings = settings();
    let [alone, side_by_side] = [1, 3].map(|workers| {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        common::import(&mut library, &csv);
        let (trunks, _) = embed::build_trunks(&settings, Device::Cpu, workers).unwrap();
        let cache = FeatureCache::for_settings(library.root(), &settings, trunks[0].scale_channels)
            .unwrap();
        let seen = std::sync::Mutex::new(Vec::new());
        let report = embed::fill_cache_side_by_side(
            &library,
            trunks,
            &cache,
            &settings,
            Device::Cpu,
            &|progress| seen.lock().unwrap().push(progress.done),
            &AtomicBool::new(false),
        )
        .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.iter().max(), Some(&37), "progress reaches every cover");
        let mut entries: Vec<(String, Vec<u8>)> = common::walk(&dir.path().join("features"))
            .into_iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        entries.sort();
        (report, entries, dir)
    });
    assert_eq!(
        (alone.0.computed, alone.0.reused, alone.0.failed),
        (37, 0, 0)
    );
    assert_eq!(side_by_side.0, alone.0);
    assert_eq!(side_by_side.1.len(), 37);
    assert!(side_by_side.1 == alone.1, "the same entries, byte for byte");

    let library = Library::open(alone.2.path()).unwrap();
    let (trunks, _) = embed::build_trunks(&settings, Device::Cpu, 2).unwrap();
    let cache =
        FeatureCache::for_settings(library.root(), &settings, trunks[0].scale_channels).unwrap();
    std::fs::remove_dir_all(alone.2.path().join("features")).unwrap();
    let cancelled = embed::fill_cache_side_by_side(
        &library,
        trunks,
        &cache,
        &settings,
        Device::Cpu,
        &|_| {},
        &AtomicBool::new(true),
    );
    assert!(matches!(cancelled, Err(EmbedError::Cancelled)));
}
