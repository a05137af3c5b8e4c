//! shelfwise's t-SNE on a file of points, for `benches/tsne_vs_sklearn.py`:
//! reads comma-separated rows, fits with the same settings scikit-learn gets
//! (perplexity, iterations, Barnes-Hut theta 0.5, PCA start), writes `x,y` per
//! row and prints the fit's seconds as JSON. Run by the script:
//! `cargo bench --bench tsne_points -- INPUT OUTPUT [PERPLEXITY] [ITERATIONS]`.
//!
//! For the scale benchmark, `-- --synthetic N DIM` lays out N synthetic
//! placements (30 clusters, unit length) by PCA and by t-SNE (a library
//! above `TSNE_FIT_POINTS` is fitted on a sample and the rest placed) and
//! prints each one's seconds, its trustworthiness and the peak memory.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use shelfwise::project::{TRUST_NEIGHBOURS, TsneSettings, pca, trustworthiness, tsne};

/// `books` unit vectors round 30 centres (a trained run's placements gather
/// by category), seeded.
fn clustered(books: usize, dim: usize) -> Vec<f32> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<f32> = (0..30 * dim).map(|_| uniform()).collect();
    let mut points = Vec::with_capacity(books * dim);
    for book in 0..books {
        let row: Vec<f32> = centres[(book % 30) * dim..][..dim]
            .iter()
            .map(|c| c + 0.6 * uniform())
            .collect();
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        points.extend(row.iter().map(|v| v / norm));
    }
    points
}

fn peak_memory_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn synthetic(books: usize, dim: usize) {
    let points = clustered(books, dim);
    for method in ["pca", "tsne"] {
        let started = Instant::now();
        let layout = if method == "pca" {
            pca(&points, dim).expect("PCA")
        } else {
            tsne(
                &points,
                dim,
                &TsneSettings::default(),
                &|_| {},
                &AtomicBool::new(false),
            )
            .expect("t-SNE")
        };
        let seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let trust = trustworthiness(&points, dim, &layout, TRUST_NEIGHBOURS, 5_000);
        println!(
            "{method:<5} of {books} points x {dim}: {seconds:.1} s; trustworthiness (k {TRUST_NEIGHBOURS}, 5,000 books) {trust:.3} in {:.1} s; peak memory so far {:.0} MB",
            started.elapsed().as_secs_f64(),
            peak_memory_mb()
        );
    }
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = all.iter().position(|a| a == "--synthetic") {
        let number = |offset: usize, default: usize| {
            all.get(at + offset)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        synthetic(number(1, 1_000_000), number(2, 256));
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [input, output, rest @ ..] = args.as_slice() else {
        eprintln!("usage: tsne_points INPUT.csv OUTPUT.csv [PERPLEXITY] [ITERATIONS]");
        std::process::exit(2);
    };
    let perplexity: f32 = rest
        .first()
        .map_or(30.0, |p| p.parse().expect("perplexity"));
    let iterations: usize = rest.get(1).map_or(1000, |i| i.parse().expect("iterations"));
    let text = std::fs::read_to_string(input).expect("reading the points");
    let mut dim = 0;
    let mut points = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse().expect("a number"))
            .collect();
        dim = row.len();
        points.extend(row);
    }
    let settings = TsneSettings {
        perplexity,
        iterations,
        ..TsneSettings::default()
    };
    let started = Instant::now();
    let layout = tsne(&points, dim, &settings, &|_| {}, &AtomicBool::new(false)).expect("t-SNE");
    let seconds = started.elapsed().as_secs_f64();
    let lines: Vec<String> = layout
        .chunks(2)
        .map(|p| format!("{},{}", p[0], p[1]))
        .collect();
    std::fs::write(output, lines.join("\n") + "\n").expect("writing the layout");
    println!(
        "{}",
        serde_json::json!({"seconds": seconds, "points": points.len() / dim.max(1)})
    );
}
