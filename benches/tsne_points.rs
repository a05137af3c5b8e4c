//! shelfwise's t-SNE on a file of points, for `benches/tsne_vs_sklearn.py`:
//! reads comma-separated rows, fits with the same settings scikit-learn gets
//! (perplexity, iterations, Barnes-Hut theta 0.5, PCA start), writes `x,y` per
//! row and prints the fit's seconds as JSON. Run by the script:
//! `cargo bench --bench tsne_points -- INPUT OUTPUT [PERPLEXITY] [ITERATIONS]`.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use shelfwise::project::{TsneSettings, tsne};

fn main() {
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
