//! Training throughput (books per second) with the frozen trunk's feature cache
//! against recomputing the trunk for every book of every step, on the bundled
//! demo library at the CPU defaults (models/cpu-default.json), in one run.
//!
//! Measured: the time the trunk takes per cover (filling a fresh cache: decode,
//! resize, VGG16 forward, pooling) and the time a training step takes per book
//! when it reads the cache. Without the cache, every book of every step pays
//! both, so its rate is 1 / (step time + trunk time) per book.
//!
//! `cargo bench --bench train_throughput`; `SHELFWISE_BENCH_WIDTH=0.25` for a narrower trunk.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use shelfwise::embed::{self, FeatureCache};
use shelfwise::import::{self, ImportOptions};
use shelfwise::store::Library;
use shelfwise::train::{self, TrainConfig, TrainEvent};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; this one only runs under `cargo bench`.
    }
    let never = AtomicBool::new(false);
    let work = tempfile::tempdir().unwrap();
    let mut library = Library::open(work.path()).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/books.csv");
    import::import_path(
        &mut library,
        &demo,
        ImportOptions::default(),
        &|_| {},
        &never,
    )
    .unwrap();

    let mut config = TrainConfig {
        epochs: 2,
        ..TrainConfig::default()
    };
    if let Some(width) = std::env::var("SHELFWISE_BENCH_WIDTH")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        config.trunk.width = width;
    }
    let device = train::training_device();

    // The trunk, once per cover.
    let (_store, trunk, _) = embed::build_trunk(&config.trunk, device).unwrap();
    let cache =
        FeatureCache::for_settings(library.root(), &config.trunk, trunk.scale_channels).unwrap();
    let started = Instant::now();
    let filled = embed::fill_cache(
        &library,
        &trunk,
        &cache,
        &config.trunk,
        device,
        &|_| {},
        &never,
    )
    .unwrap();
    let trunk_seconds_per_book = started.elapsed().as_secs_f64() / filled.computed as f64;

    // Training steps from the cache (epoch 2 only: epoch 1 includes warming up).
    let books_per_step = (config.categories_per_batch * config.books_per_category) as f64;
    let mut step_times: Vec<(usize, Instant)> = Vec::new();
    train::train_run(
        &mut library,
        &config,
        (device, train::RunStart::Fresh),
        None,
        &mut |event| {
            if let TrainEvent::Step { epoch, .. } = event {
                step_times.push((epoch, Instant::now()));
            }
        },
        &never,
    )
    .unwrap();
    let second: Vec<Instant> = step_times
        .iter()
        .filter(|(e, _)| *e == 2)
        .map(|(_, t)| *t)
        .collect();
    let seconds = second
        .last()
        .unwrap()
        .duration_since(second[0])
        .as_secs_f64();
    let step_seconds_per_book = seconds / ((second.len() - 1) as f64 * books_per_step);

    let cached = 1.0 / step_seconds_per_book;
    let recomputed = 1.0 / (step_seconds_per_book + trunk_seconds_per_book);
    println!(
        "training throughput on {} covers, trunk width {} at {} px, {device:?}: \
         with the feature cache {cached:.0} books/s, recomputing the trunk {recomputed:.1} books/s, ratio {:.0}",
        filled.computed,
        config.trunk.width,
        config.trunk.image_size,
        cached / recomputed
    );
}
