//! An approximate nearest-neighbour graph (HNSW, the `hnsw_rs` crate) over a
//! large library's embeddings: a query visits a few thousand books instead of
//! scoring every one, so "more like this" stays within a few milliseconds at
//! 100,000 books and beyond, and needs one core, not libtorch's threads,
//! which a training run in the same window is using. Built once per index on
//! a thread of its own; exact search answers until it is ready.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hnsw_rs::prelude::{Distance, Hnsw};

/// Below this many books every query scores every book (exact and fast
/// enough: about 1 ms at 20,000 books); from it on, a graph is built.
pub const GRAPH_MIN_BOOKS: usize = 20_000;

/// Links per book in the graph's layers (HNSW's M).
const LINKS: usize = 16;
/// Candidates kept while inserting a book (HNSW's ef_construction).
const BUILD_CANDIDATES: usize = 100;
/// Candidates kept while searching (HNSW's ef), at least; more for a larger k.
const SEARCH_CANDIDATES: usize = 128;
/// Books inserted between two looks at the stop flag.
const INSERT_CHUNK: usize = 10_000;

/// `1 - cosine` of two L2-normalised vectors. The crate's own `DistDot`
/// asserts `dot <= 1`, which rounding breaks for a book against itself.
#[derive(Default, Clone, Copy)]
struct CosineDistance;

impl Distance<f32> for CosineDistance {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        1.0 - lane_dot(a, b).clamp(-1.0, 1.0)
    }
}

/// A dot product in eight running sums, which the compiler turns into SIMD
/// (one running sum must add in order and cannot be vectorised): most of a
/// graph query's time is these, a few thousand per query.
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The graph of one index's rows (a row's data id is its row number).
pub struct NeighbourGraph {
    graph: Hnsw<'static, f32, CosineDistance>,
}

impl NeighbourGraph {
    /// Builds the graph of `embeddings` (row-major, `dim` wide) on rayon's
    /// threads; `None` when `stop` is raised first (the index was dropped).
    pub fn build(embeddings: &[f32], dim: usize, stop: &AtomicBool) -> Option<Self> {
        let rows = embeddings.len() / dim.max(1);
        let layers = 16.min(((rows.max(2)) as f32).ln().ceil() as usize).max(1);
        let mut graph = Hnsw::new(LINKS, rows, layers, BUILD_CANDIDATES, CosineDistance);
        let points: Vec<(&[f32], usize)> = embeddings.chunks_exact(dim).zip(0..rows).collect();
        for chunk in points.chunks(INSERT_CHUNK) {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            graph.parallel_insert_slice(&chunk.to_vec());
        }
        graph.set_searching_mode(true);
        Some(Self { graph })
    }

    /// The rows of the `k` books nearest `query` that `keep` accepts, as the
    /// graph finds them; fewer than `k` when the filter or the graph found fewer.
    pub fn search(&self, query: &[f32], k: usize, keep: &dyn Fn(usize) -> bool) -> Vec<usize> {
        let candidates = SEARCH_CANDIDATES.max(2 * k);
        let filter = |row: &usize| keep(*row);
        self.graph
            .search_filter(query, k, candidates, Some(&filter))
            .into_iter()
            .map(|neighbour| neighbour.d_id)
            .collect()
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
    /// Starts building the graph of `embeddings`.
    pub fn start(embeddings: Arc<[f32]>, dim: usize) -> Self {
        let cell = Arc::new(std::sync::OnceLock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let builder = {
            let (cell, stop) = (Arc::clone(&cell), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("neighbour-graph".into())
                .spawn(move || {
                    if let Some(graph) = NeighbourGraph::build(&embeddings, dim, &stop) {
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

    #[test]
    fn the_lane_dot_product_is_the_dot_product() {
        let a: Vec<f32> = (0..259).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..259).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((lane_dot(&a, &b) - plain).abs() < 1e-4);
        assert_eq!(
            lane_dot(&a[..3], &b[..3]),
            a[..3].iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()
        );
    }
}
