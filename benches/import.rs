//! Import throughput on `../shared/data/openlibrary_covers5` (~6,000 covers):
//! the real import with covers decoded and thumbnailed on all cores (rayon)
//! against the same work in a plain loop, measured side by side in one run.
//! Prints covers per second for each and their ratio.
//!
//! `cargo bench --bench import`; `SHELFWISE_BENCH_BOOKS=N` limits the set to N books.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use shelfwise::import::{self, ImportOptions};
use shelfwise::store::Library;

/// Total time and iterations measured per variant, for the ratio at the end.
static MEASURED: Mutex<Vec<(&'static str, Duration, u64)>> = Mutex::new(Vec::new());

/// Copies the first `limit` rows of the set and their covers into `dir`, so the
/// benchmark never depends on the set's size or on its folder being writable.
fn prepare(source: &Path, dir: &Path, limit: usize) -> (PathBuf, usize) {
    let mut reader = csv::Reader::from_path(source.join("books.csv")).unwrap();
    let mut writer = csv::Writer::from_path(dir.join("books.csv")).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    std::fs::create_dir_all(dir.join("covers")).unwrap();
    let mut covers = 0;
    for record in reader.records().take(limit) {
        let record = record.unwrap();
        let cover = &record[5];
        if !cover.is_empty() {
            std::fs::copy(source.join(cover), dir.join(cover)).unwrap();
            covers += 1;
        }
        writer.write_record(&record).unwrap();
    }
    writer.flush().unwrap();
    (dir.join("books.csv"), covers)
}

fn run_import(csv: &Path, parallel: bool) -> Duration {
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    let options = ImportOptions {
        parallel,
        ..ImportOptions::default()
    };
    let started = Instant::now();
    let report =
        import::import_path(&mut library, csv, options, &|_| {}, &AtomicBool::new(false)).unwrap();
    let elapsed = started.elapsed();
    assert!(report.imported > 0);
    elapsed
}

fn main() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/openlibrary_covers5");
    if !source.join("books.csv").is_file() {
        eprintln!("skipped: ../shared/data/openlibrary_covers5 is not here");
        return;
    }
    let limit = std::env::var("SHELFWISE_BENCH_BOOKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let work = tempfile::tempdir().unwrap();
    let (csv, covers) = prepare(&source, work.path(), limit);

    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));
    let mut group = criterion.benchmark_group("import_openlibrary_covers5");
    group.throughput(Throughput::Elements(covers as u64));
    // One whole import per sample: an import of the full set takes seconds.
    group.sampling_mode(SamplingMode::Flat);
    for (name, parallel) in [("rayon", true), ("plain_loop", false)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let total: Duration = (0..iterations).map(|_| run_import(&csv, parallel)).sum();
                let mut measured = MEASURED.lock().unwrap();
                match measured.iter_mut().find(|(n, ..)| *n == name) {
                    Some(entry) => {
                        entry.1 += total;
                        entry.2 += iterations;
                    }
                    None => measured.push((name, total, iterations)),
                }
                total
            });
        });
    }
    group.finish();
    criterion.final_summary();

    let measured = MEASURED.lock().unwrap();
    let rate = |name: &str| {
        measured
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, total, iterations)| covers as f64 * *iterations as f64 / total.as_secs_f64())
    };
    if let (Some(parallel), Some(sequential)) = (rate("rayon"), rate("plain_loop")) {
        println!(
            "import of {covers} covers on {} threads: rayon {parallel:.0} covers/s, plain loop {sequential:.0} covers/s, ratio {:.2}",
            rayon::current_num_threads(),
            parallel / sequential
        );
    }
}
