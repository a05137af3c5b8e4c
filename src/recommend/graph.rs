//! An approximate nearest-neighbour graph (HNSW, the `hnsw_rs` crate) over a
//! large library's embeddings: a query visits a few thousand books instead of
//! scoring every one (p50 1.7 ms on a trained run's 100,000 placements,
//! 8.8 ms on 1,000,000 synthetic ones, against 6.8 and 60 ms exact; `cargo
//! bench --bench recommend_query`), and needs one core, not libtorch's
//! threads, which a training run in the same window is using. Built once per
//! index on a thread of its own; exact search answers until it is ready.

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

/// Candidates the graph hands back per neighbour asked for: the index
/// re-scores them in f32 and keeps the best (the graph ranks by 8-bit
/// products).
pub const RESCORED_PER_NEIGHBOUR: usize = 3;

/// `1 - cosine` of two L2-normalised vectors kept as 8-bit integers times
/// one scale for the whole library: a query's time is mostly reading the
/// few thousand books it visits from memory (each its own allocation in the
/// crate), and a quarter of the bytes makes cold queries faster. The
/// crate's own `DistDot` asserts `dot <= 1`, which rounding breaks.
#[derive(Clone, Copy)]
struct QuantizedCosine {
    /// `1 / scale^2`: turns a product of integers back into a cosine.
    unscale: f32,
}

impl Distance<i8> for QuantizedCosine {
    fn eval(&self, a: &[i8], b: &[i8]) -> f32 {
        1.0 - (lane_dot(a, b) as f32 * self.unscale).clamp(-1.0, 1.0)
    }
}

/// An integer dot product in sixteen running sums, which the compiler turns
/// into SIMD (products of two 8-bit values, 256 of them, fit an i32 sum).
fn lane_dot(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let (a_chunks, b_chunks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..16 {
            lanes[lane] += i32::from(x[lane]) * i32::from(y[lane]);
        }
    }
    lanes.iter().sum::<i32>() + tail
}

/// `values` times `scale`, rounded into 8 bits.
fn quantized(values: &[f32], scale: f32) -> Vec<i8> {
    values
        .iter()
        .map(|v| (v * scale).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// The graph of one index's rows (a row's data id is its row number).
pub struct NeighbourGraph {
    graph: Hnsw<'static, i8, QuantizedCosine>,
    /// What every vector (the library's and the queries') is multiplied by
    /// before rounding: its largest component reaches 127.
    scale: f32,
}

impl NeighbourGraph {
    /// Builds the graph of `embeddings` (row-major, `dim` wide) on rayon's
    /// threads; `None` when `stop` is raised first (the index was dropped).
    pub fn build(embeddings: &[f32], dim: usize, stop: &AtomicBool) -> Option<Self> {
        let rows = embeddings.len() / dim.max(1);
        let layers = 16.min(((rows.max(2)) as f32).ln().ceil() as usize).max(1);
        let largest = embeddings.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if largest > 0.0 { 127.0 / largest } else { 1.0 };
        let distance = QuantizedCosine {
            unscale: 1.0 / (scale * scale),
        };
        let mut graph = Hnsw::new(LINKS, rows, layers, BUILD_CANDIDATES, distance);
        let quantized_rows: Vec<Vec<i8>> = embeddings
            .chunks_exact(dim)
            .map(|row| quantized(row, scale))
            .collect();
        let points: Vec<(&[i8], usize)> = quantized_rows
            .iter()
            .map(Vec::as_slice)
            .zip(0..rows)
            .collect();
        for chunk in points.chunks(INSERT_CHUNK) {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            graph.parallel_insert_slice(&chunk.to_vec());
        }
        graph.set_searching_mode(true);
        Some(Self { graph, scale })
    }

    /// The rows of the `wanted` books nearest `query` that `keep` accepts,
    /// as the graph finds them; fewer when the filter or the graph found
    /// fewer.
    pub fn search(&self, query: &[f32], wanted: usize, keep: &dyn Fn(usize) -> bool) -> Vec<usize> {
        let candidates = SEARCH_CANDIDATES.max(2 * wanted);
        let filter = |row: &usize| keep(*row);
        let query = quantized(query, self.scale);
        self.graph
            .search_filter(&query, wanted, candidates, Some(&filter))
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
        let a: Vec<i8> = (0..259).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..259).map(|i| ((i * 11) % 255 - 127) as i8).collect();
        let plain: i32 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| i32::from(x) * i32::from(y))
            .sum();
        assert_eq!(lane_dot(&a, &b), plain);
        assert_eq!(
            lane_dot(&a[..3], &b[..3]),
            a[..3]
                .iter()
                .zip(&b)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum::<i32>()
        );
    }

    /// The 8-bit distance is the cosine's to within a few thousandths for
    /// unit vectors of 256 components.
    #[test]
    fn the_quantised_distance_is_close_to_the_cosine_distance() {
        let unit = |phase: f32| {
            let row: Vec<f32> = (0..256).map(|i| (i as f32 * phase).sin()).collect();
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.into_iter().map(|v| v / norm).collect::<Vec<f32>>()
        };
        let (a, b) = (unit(0.37), unit(0.41));
        let largest = a.iter().chain(&b).fold(0f32, |m, v| m.max(v.abs()));
        let scale = 127.0 / largest;
        let distance = QuantizedCosine {
            unscale: 1.0 / (scale * scale),
        };
        let cosine: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let approximate = distance.eval(&quantized(&a, scale), &quantized(&b, scale));
        assert!(
            (approximate - (1.0 - cosine)).abs() < 5e-3,
            "{approximate} against {}",
            1.0 - cosine
        );
    }
}
