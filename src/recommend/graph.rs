//! An approximate nearest-neighbour graph (HNSW, Unum's `usearch`) over a
//! large library's embeddings: a query visits a small share of the books instead of
//! scoring every one, on one core, not libtorch's threads, which a training
//! run in the same window is using. Built once per index on threads of its
//! own; exact search answers until it is ready. `usearch` replaced
//! `hnsw_rs`, whose search allocated for every book it visited: side by side
//! on the bench's 100,000 synthetic placements (`cargo bench --bench
//! recommend_query`) the index's answer went from p99 5.79 to 0.98 ms, the
//! build from 30.6 to 10.5 s, recall@10 from 0.914 to 0.984 (README,
//! "Scale").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::graph_shelf::GraphShelf;

/// Below this many books every query scores every book (exact and fast
/// enough: about 1 ms at 20,000 books); from it on, a graph is built.
pub const GRAPH_MIN_BOOKS: usize = 20_000;

/// Links per book in the graph's layers (HNSW's M).
const LINKS: usize = 16;
/// Candidates kept while inserting a book (HNSW's ef_construction).
const BUILD_CANDIDATES: usize = 128;
/// Candidates kept while searching (HNSW's ef), at least; more for a large
/// number of books wanted (see [`NeighbourGraph::search`]).
const SEARCH_CANDIDATES: usize = 128;
/// Books inserted between two looks at the stop flag, per thread.
const INSERT_CHUNK: usize = 2_000;

/// Candidates the graph hands back per neighbour asked for: the index
/// re-scores them in f32 and keeps the best (the graph ranks by 8-bit
/// vectors).
pub const RESCORED_PER_NEIGHBOUR: usize = 3;

/// `values` times `scale`, rounded into 8 bits. The graph keeps its vectors
/// in 8 bits (a quarter of the bytes to read per book visited); scaling the
/// library's largest component to 127 first keeps the rounding small for
/// unit vectors of a few hundred components, whose components are small.
fn quantized(values: &[f32], scale: f32) -> Vec<i8> {
    values
        .iter()
        .map(|v| (v * scale).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// The graph of one index's rows (a row's key is its row number).
pub struct NeighbourGraph {
    graph: Index,
    /// What every vector (the library's and the queries') is multiplied by
    /// before rounding: its largest component reaches 127.
    scale: f32,
    /// Read from a kept file rather than built ([`super::graph_shelf`]).
    loaded: bool,
}

/// The scale that brings the largest component of `embeddings` to 127.
fn scale_of(embeddings: &[f32]) -> f32 {
    let largest = embeddings.iter().fold(0f32, |m, v| m.max(v.abs()));
    if largest > 0.0 { 127.0 / largest } else { 1.0 }
}

fn options(dim: usize) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        // Cosine of the rounded vectors: rounding changes their lengths
        // a little, which the inner product would count.
        metric: MetricKind::Cos,
        quantization: ScalarKind::I8,
        connectivity: LINKS,
        expansion_add: BUILD_CANDIDATES,
        expansion_search: SEARCH_CANDIDATES,
        multi: false,
    }
}

impl NeighbourGraph {
    /// What a kept graph was built with, beside its embeddings: a graph
    /// built with other settings is not loaded.
    pub fn settings_signature() -> String {
        format!("usearch cos i8 links {LINKS} build {BUILD_CANDIDATES} keys rows v1")
    }

    /// True when the graph was read from a kept file.
    pub fn was_loaded(&self) -> bool {
        self.loaded
    }

    /// Writes the graph to `path` (usearch's own format).
    pub fn save(&self, path: &std::path::Path) -> Result<(), String> {
        let path = path.to_str().ok_or("the path is not UTF-8")?;
        self.graph.save(path).map_err(|e| e.to_string())
    }

    /// The graph kept in `path` for `embeddings`, when it reads back whole
    /// with one point per row.
    pub fn load(path: &std::path::Path, embeddings: &[f32], dim: usize) -> Option<Self> {
        let rows = embeddings.len() / dim.max(1);
        let graph = Index::new(&options(dim)).ok()?;
        graph.load(path.to_str()?).ok()?;
        (graph.size() == rows && graph.dimensions() == dim).then(|| Self {
            graph,
            scale: scale_of(embeddings),
            loaded: true,
        })
    }

    /// Builds the graph of `embeddings` (row-major, `dim` wide) on rayon's
    /// threads; `None` when `stop` is raised first (the index was dropped)
    /// or when the library refuses (no memory for the graph).
    pub fn build(embeddings: &[f32], dim: usize, stop: &AtomicBool) -> Option<Self> {
        use rayon::prelude::*;
        let rows = embeddings.len() / dim.max(1);
        let scale = scale_of(embeddings);
        let graph = Index::new(&options(dim)).ok()?;
        let threads = rayon::current_num_threads().max(1);
        graph.reserve_capacity_and_threads(rows, threads).ok()?;
        for first in (0..rows).step_by(INSERT_CHUNK * threads) {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            (first..rows.min(first + INSERT_CHUNK * threads))
                .into_par_iter()
                .try_for_each(|row| {
                    let vector = quantized(&embeddings[row * dim..][..dim], scale);
                    graph.add(row as u64, &vector)
                })
                .ok()?;
        }
        Some(Self {
            graph,
            scale,
            loaded: false,
        })
    }

    /// The rows of the `wanted` books nearest `query` that `keep` accepts,
    /// as the graph finds them; fewer when the filter or the graph found
    /// fewer.
    pub fn search(&self, query: &[f32], wanted: usize, keep: &dyn Fn(usize) -> bool) -> Vec<usize> {
        let query = quantized(query, self.scale);
        // usearch walks with max(ef, count) candidates: asking for twice the
        // books wanted once that is over ef walks with as many as a search
        // of 2 x wanted (a diverse query's 120 candidates walk with 240).
        let count = if 2 * wanted > SEARCH_CANDIDATES {
            2 * wanted
        } else {
            wanted
        };
        self.graph
            .filtered_search(&query, count, |key| keep(key as usize))
            .map(|found| {
                found
                    .keys
                    .into_iter()
                    .take(wanted)
                    .map(|key| key as usize)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The graph of an index, built on a thread of its own: `get` is `None`
/// until it is ready; dropping the last handle stops a build in progress.
pub struct PendingGraph {
    cell: Arc<std::sync::OnceLock<NeighbourGraph>>,
    stop: Arc<AtomicBool>,
    builder: Option<std::thread::JoinHandle<()>>,
}

impl PendingGraph {
    /// Starts building the graph of `embeddings`, or loading it from
    /// `shelf` where it was kept (and keeping it there once built).
    pub fn start(embeddings: Arc<[f32]>, dim: usize, shelf: Option<GraphShelf>) -> Self {
        let cell = Arc::new(std::sync::OnceLock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let builder = {
            let (cell, stop) = (Arc::clone(&cell), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("neighbour-graph".into())
                .spawn(move || {
                    // Named once: naming reads every placement.
                    let file = shelf.as_ref().map(|s| (s, s.file_for(&embeddings, dim)));
                    let kept = file
                        .as_ref()
                        .and_then(|(shelf, file)| shelf.load_from(file, &embeddings, dim));
                    let graph = kept.or_else(|| {
                        let built = NeighbourGraph::build(&embeddings, dim, &stop)?;
                        if let Some((shelf, file)) = &file {
                            // Not kept (a full disk): built again next session.
                            let _ = shelf.keep_at(file, &built);
                        }
                        Some(built)
                    });
                    if let Some(graph) = graph {
                        let _ = cell.set(graph);
                    }
                })
                .ok()
        };
        Self {
            cell,
            stop,
            builder,
        }
    }

    pub fn get(&self) -> Option<&NeighbourGraph> {
        self.cell.get()
    }

    /// Blocks until the graph is built (benchmarks and tests; queries never wait).
    pub fn wait(&mut self) -> Option<&NeighbourGraph> {
        if let Some(builder) = self.builder.take() {
            let _ = builder.join();
        }
        self.cell.get()
    }
}

impl Drop for PendingGraph {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounding a unit vector of 256 components into 8 bits after scaling
    /// its largest component to 127 keeps its cosine with another within a
    /// few thousandths.
    #[test]
    fn the_quantised_cosine_is_close_to_the_cosine() {
        let unit = |phase: f32| {
            let row: Vec<f32> = (0..256).map(|i| (i as f32 * phase).sin()).collect();
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.into_iter().map(|v| v / norm).collect::<Vec<f32>>()
        };
        let (a, b) = (unit(0.37), unit(0.41));
        let largest = a.iter().chain(&b).fold(0f32, |m, v| m.max(v.abs()));
        let (qa, qb) = (
            quantized(&a, 127.0 / largest),
            quantized(&b, 127.0 / largest),
        );
        let cosine = |x: &[f32], y: &[f32]| {
            let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            let norm = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
            dot / (norm(x) * norm(y))
        };
        let as_f32 = |v: &[i8]| v.iter().map(|&p| f32::from(p)).collect::<Vec<f32>>();
        let approximate = cosine(&as_f32(&qa), &as_f32(&qb));
        let exact = cosine(&a, &b);
        assert!(
            (approximate - exact).abs() < 5e-3,
            "{approximate} against {exact}"
        );
    }

    /// Asked for more books than its candidates (a diverse query's 120),
    /// the graph hands back that many, distinct, nearly all of the exact
    /// nearest.
    #[test]
    fn a_search_for_many_books_finds_them() {
        let (rows, dim) = (2_000, 16);
        let embeddings: Vec<f32> = (0..rows)
            .flat_map(|row| {
                let values: Vec<f32> = (0..dim)
                    .map(|i| ((row * 31 + i * 17) as f32 * 0.37).sin())
                    .collect();
                let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
                values.into_iter().map(move |v| v / norm)
            })
            .collect();
        let graph = NeighbourGraph::build(&embeddings, dim, &AtomicBool::new(false)).unwrap();
        let query = &embeddings[..dim];
        let found = graph.search(query, 150, &|row| row != 0);
        assert_eq!(found.len(), 150);
        let distinct: std::collections::BTreeSet<usize> = found.iter().copied().collect();
        assert_eq!(distinct.len(), 150);
        let mut exact: Vec<(f32, usize)> = (1..rows)
            .map(|row| {
                let score: f32 = embeddings[row * dim..][..dim]
                    .iter()
                    .zip(query)
                    .map(|(a, b)| a * b)
                    .sum();
                (score, row)
            })
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let hits = exact[..150]
            .iter()
            .filter(|(_, row)| distinct.contains(row))
            .count();
        assert!(hits >= 135, "{hits} of the exact 150");
    }

    /// A build stopped before it starts gives no graph.
    #[test]
    fn a_stopped_build_gives_no_graph() {
        let embeddings = vec![0.5f32; 64 * 4];
        assert!(NeighbourGraph::build(&embeddings, 4, &AtomicBool::new(true)).is_none());
        assert!(NeighbourGraph::build(&embeddings, 4, &AtomicBool::new(false)).is_some());
    }
}
