//! 2D layouts of a run's book embeddings, for an analyst to see the categories
//! as regions: PCA (libtorch's symmetric eigensolver) and Barnes-Hut t-SNE
//! (the bhtsne crate, seeded through a PCA start as scikit-learn does), each
//! scored by trustworthiness so that methods can be compared by number.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::jobs::{Cancel, OnProgress, Progress};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("a projection needs at least {needed} books with embeddings, found {found}")]
    TooFewPoints { needed: usize, found: usize },
    #[error("the projection was cancelled")]
    Cancelled,
    #[error("unknown projection method `{0}` (pca or tsne)")]
    UnknownMethod(String),
    #[error(transparent)]
    Embeddings(#[from] crate::recommend::RecommendError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How to lay the books out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Pca,
    Tsne,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Pca => "pca",
            Method::Tsne => "tsne",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = ProjectError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "pca" => Ok(Method::Pca),
            "tsne" | "t-sne" => Ok(Method::Tsne),
            _ => Err(ProjectError::UnknownMethod(text.to_string())),
        }
    }
}

/// t-SNE's settings; the defaults are scikit-learn's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TsneSettings {
    pub perplexity: f32,
    pub iterations: usize,
    /// Barnes-Hut's accuracy trade-off (0.5 in scikit-learn).
    pub theta: f32,
    pub seed: u64,
}

impl Default for TsneSettings {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            theta: 0.5,
            seed: 1,
        }
    }
}

/// Rows of a PCA block (a float64 block of 65,536 x 256 is 128 MB).
const PCA_BLOCK: usize = 65_536;

/// The two leading principal components of `points` (`[n, dim]` row-major),
/// `[n, 2]` row-major. Each axis's sign is fixed (its largest loading is
/// positive), so a layout never flips between runs.
pub fn pca(points: &[f32], dim: usize) -> Result<Vec<f32>, ProjectError> {
    let n = points.len() / dim.max(1);
    if n < 3 {
        return Err(ProjectError::TooFewPoints {
            needed: 3,
            found: n,
        });
    }
    // In blocks of rows, so that memory grows with the library by its
    // float32 copy alone (a float64 copy of 1,000,000 x 256 would be 2 GB).
    let x = Tensor::from_slice(points).reshape([n as i64, dim as i64]);
    let mean = x.mean_dim([0i64].as_slice(), true, Kind::Double);
    let blocks = || {
        (0..n).step_by(PCA_BLOCK).map(|start| {
            let rows = PCA_BLOCK.min(n - start) as i64;
            x.narrow(0, start as i64, rows).to_kind(Kind::Double) - &mean
        })
    };
    let mut covariance = Tensor::zeros([dim as i64, dim as i64], (Kind::Double, Device::Cpu));
    for centred in blocks() {
        covariance += centred.transpose(0, 1).matmul(&centred);
    }
    let covariance = covariance / (n as f64 - 1.0);
    let (_, vectors) = covariance.linalg_eigh("L");
    // eigh sorts ascending: the last two columns are the leading axes.
    let mut axes = vectors.narrow(1, dim as i64 - 2, 2).flip([1i64]);
    let loadings = axes.abs().argmax(0, false);
    let signs = axes
        .gather(0, &loadings.unsqueeze(0), false)
        .sign()
        .clamp_min(-1.0);
    let signs = signs.where_self(&signs.ne(0.0), &Tensor::ones_like(&signs));
    axes *= signs;
    let mut projected = Vec::with_capacity(n * 2);
    for centred in blocks() {
        let block = centred.matmul(&axes).to_kind(Kind::Float).contiguous();
        projected.extend(Vec::<f32>::try_from(block.flatten(0, -1)).unwrap_or_default());
    }
    Ok(projected)
}

/// Marks a cancelled t-SNE inside bhtsne's epoch callback.
struct TsneCancelled;

/// Above this many points t-SNE fits an even sample of this size (10,000
/// points take about 14 s on one core; the fit grows faster than the count)
/// and places every other point among its nearest sampled neighbours.
pub const TSNE_FIT_POINTS: usize = 10_000;

/// Sampled neighbours a point not in the fit is placed among.
const PLACEMENT_NEIGHBOURS: i64 = 10;

/// Barnes-Hut t-SNE of `points` to 2D (see [`fit_tsne`]); a library larger
/// than [`TSNE_FIT_POINTS`] is fitted on an even sample of that size, and
/// each other book is placed at the distance-weighted mean of its 10 nearest
/// sampled books' places (100,000 synthetic placements: 80 s on this
/// project's 2-core machine, see the README's scale section).
pub fn tsne(
    points: &[f32],
    dim: usize,
    settings: &TsneSettings,
    progress: OnProgress,
    cancel: &Cancel,
) -> Result<Vec<f32>, ProjectError> {
    let n = points.len() / dim.max(1);
    if n <= TSNE_FIT_POINTS {
        return fit_tsne(points, dim, settings, progress, cancel);
    }
    let sample: Vec<usize> = (0..TSNE_FIT_POINTS)
        .map(|i| i * n / TSNE_FIT_POINTS)
        .collect();
    let sampled: Vec<f32> = sample
        .iter()
        .flat_map(|&row| points[row * dim..(row + 1) * dim].iter().copied())
        .collect();
    let sample_layout = fit_tsne(&sampled, dim, settings, progress, cancel)?;
    let mut layout = place_among_neighbours(points, dim, &sampled, &sample_layout, cancel)?;
    for (position, &row) in sample.iter().enumerate() {
        layout[row * 2..row * 2 + 2]
            .copy_from_slice(&sample_layout[position * 2..position * 2 + 2]);
    }
    Ok(layout)
}

/// Each row's squared length, `[rows]`.
fn squared_norms(x: &Tensor) -> Tensor {
    x.pow_tensor_scalar(2)
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
}

/// Each of `points` at the inverse-distance-weighted mean of the places
/// (`layout`, `[s, 2]`) of its nearest `sampled` points, by blocks of rows
/// (memory grows with the library, not its square).
fn place_among_neighbours(
    points: &[f32],
    dim: usize,
    sampled: &[f32],
    layout: &[f32],
    cancel: &Cancel,
) -> Result<Vec<f32>, ProjectError> {
    let n = points.len() / dim;
    let s = sampled.len() / dim;
    let sampled = Tensor::from_slice(sampled).reshape([s as i64, dim as i64]);
    let sampled_norms = squared_norms(&sampled);
    let places = Tensor::from_slice(layout).reshape([s as i64, 2]);
    let mut placed = Vec::with_capacity(n * 2);
    for block in points.chunks(4_096 * dim) {
        if crate::jobs::is_cancelled(cancel) {
            return Err(ProjectError::Cancelled);
        }
        let rows = (block.len() / dim) as i64;
        let block = Tensor::from_slice(block).reshape([rows, dim as i64]);
        let norms = squared_norms(&block).unsqueeze(1);
        let squared = (norms + sampled_norms.unsqueeze(0)
            - block.matmul(&sampled.transpose(0, 1)) * 2.0)
            .clamp_min(0.0);
        let (nearest, columns) = squared.topk(PLACEMENT_NEIGHBOURS.min(s as i64), 1, false, true);
        let weights = (nearest.sqrt() + 1e-6).reciprocal();
        let weights = &weights / weights.sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
        let neighbour_places =
            places
                .index_select(0, &columns.flatten(0, -1))
                .reshape([rows, columns.size()[1], 2]);
        let block_places = (neighbour_places * weights.unsqueeze(2)).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Float,
        );
        placed.extend(Vec::<f32>::try_from(block_places.flatten(0, -1)).unwrap_or_default());
    }
    Ok(placed)
}

/// Barnes-Hut t-SNE of `points` to 2D, started from PCA scaled to a standard
/// deviation of 1e-4 (scikit-learn's `init="pca"`), so a seed-free start
/// gives the same layout every time (on one thread, see below).
/// `progress(epoch, epochs)`; stops within one epoch of `cancel`.
fn fit_tsne(
    points: &[f32],
    dim: usize,
    settings: &TsneSettings,
    progress: OnProgress,
    cancel: &Cancel,
) -> Result<Vec<f32>, ProjectError> {
    let n = points.len() / dim.max(1);
    let needed = (3.0 * settings.perplexity).ceil() as usize + 2;
    if n < needed {
        return Err(ProjectError::TooFewPoints { needed, found: n });
    }
    let mut start = pca(points, dim)?;
    let first_axis: Vec<f32> = start.iter().step_by(2).copied().collect();
    let mean = first_axis.iter().sum::<f32>() / n as f32;
    let spread = (first_axis.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n as f32)
        .sqrt()
        .max(f32::EPSILON);
    // A seeded, tiny jitter breaks ties between books with equal embeddings.
    let mut state = settings.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for value in &mut start {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let jitter = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        *value = *value / spread * 1e-4 + jitter * 1e-6;
    }
    let rows: Vec<&[f32]> = points.chunks(dim).collect();
    let epochs = settings.iterations;
    // One thread: bhtsne's parallel sums (rayon) add in whatever order the
    // threads finish, and t-SNE amplifies those last-bit differences into
    // another layout; a seed must always give the same map.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    // The fit runs on the pool's thread; this one relays its progress.
    let (epoch_sender, epoch_receiver) = std::sync::mpsc::sync_channel::<usize>(256);
    let result = std::thread::scope(|scope| {
        let rows = &rows;
        let fitting = scope.spawn(move || {
            pool.install(move || {
                catch_unwind(AssertUnwindSafe(move || {
                    let mut fit: bhtsne::tSNE<f32, &[f32], 2> = bhtsne::tSNE::new(rows);
                    fit.perplexity(settings.perplexity)
                        .epochs(epochs)
                        .initial_embedding(start)
                        .epoch_callback(move |epoch, _| {
                            if crate::jobs::is_cancelled(cancel) {
                                resume_unwind(Box::new(TsneCancelled));
                            }
                            let _ = epoch_sender.send(epoch + 1);
                        })
                        .barnes_hut(settings.theta, |a, b| euclidean(a, b));
                    fit.embedding()
                }))
            })
        });
        for epoch in epoch_receiver.iter() {
            progress(Progress::new(epoch, epochs));
        }
        fitting.join().unwrap_or_else(|panic| resume_unwind(panic))
    });
    match result {
        Ok(embedding) => Ok(embedding),
        Err(payload) if payload.is::<TsneCancelled>() => Err(ProjectError::Cancelled),
        Err(payload) => resume_unwind(payload),
    }
}

fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Trustworthiness at `k` (Venna and Kaski; scikit-learn's definition): 1 when
/// every book's `k` nearest neighbours on the map were among its nearest in
/// the embedding space, lower the further down the original ranking the map's
/// neighbours sit. Measured over at most `max_queries` books (a seeded, even
/// sample), ranked against all of them.
pub fn trustworthiness(
    original: &[f32],
    dim: usize,
    projected: &[f32],
    k: usize,
    max_queries: usize,
) -> f64 {
    let n = original.len() / dim.max(1);
    if n <= 3 * k + 1 || k == 0 {
        return f64::NAN;
    }
    let high = Tensor::from_slice(original).reshape([n as i64, dim as i64]);
    let low = Tensor::from_slice(projected).reshape([n as i64, 2]);
    let stride = n.div_ceil(max_queries.max(1));
    let queries: Vec<i64> = (0..n).step_by(stride).map(|i| i as i64).collect();
    let (high_norms, low_norms) = (squared_norms(&high), squared_norms(&low));
    let mut penalty = 0f64;
    // A block of queries holds `[block, k, n]` comparisons: about 16 million
    // cells, whatever the library's size.
    let block = (16_000_000 / (n * k)).clamp(1, 256);
    for chunk in queries.chunks(block) {
        let rows = Tensor::from_slice(chunk);
        let distances = |x: &Tensor, norms: &Tensor| {
            let q = x.index_select(0, &rows);
            norms.index_select(0, &rows).unsqueeze(1) + norms.unsqueeze(0)
                - q.matmul(&x.transpose(0, 1)) * 2.0
        };
        let self_columns = rows.unsqueeze(1);
        let far = Tensor::full(
            [chunk.len() as i64, 1],
            f64::INFINITY,
            (Kind::Float, Device::Cpu),
        );
        let near = Tensor::full(
            [chunk.len() as i64, 1],
            f64::NEG_INFINITY,
            (Kind::Float, Device::Cpu),
        );
        // Each map neighbour's rank in the original space (the book itself
        // 0, its nearest 1, ...): how many books are nearer there than it.
        // Counted against the k neighbours alone, no sort of every row.
        let high_distances = distances(&high, &high_norms).scatter(1, &self_columns, &near);
        let low_distances = distances(&low, &low_norms).scatter(1, &self_columns, &far);
        let (_, neighbours) = low_distances.topk(k as i64, 1, false, true);
        let neighbour_distances = high_distances.gather(1, &neighbours, false);
        // Counted on the comparisons' booleans, not widened to sum them.
        let ranks = high_distances
            .unsqueeze(1)
            .lt_tensor(&neighbour_distances.unsqueeze(2))
            .count_nonzero(2);
        let excess = (ranks - k as i64).clamp_min(0);
        penalty += excess.sum(Kind::Double).double_value(&[]);
    }
    let (n, k, q) = (n as f64, k as f64, queries.len() as f64);
    1.0 - 2.0 / (q * k * (2.0 * n - 3.0 * k - 1.0)) * penalty
}

/// Neighbourhood size the stored trustworthiness is measured at.
pub const TRUST_NEIGHBOURS: usize = 10;

/// Lays out every book `run` has embedded in `library` by `method`, scores the
/// layout and stores it with the run. `progress(done, total)` counts t-SNE
/// epochs (PCA reports once).
pub fn project_run(
    library: &mut crate::store::Library,
    run: &crate::inference::TrainedRun,
    method: Method,
    settings: &TsneSettings,
    progress: OnProgress,
    cancel: &Cancel,
) -> Result<crate::store::StoredProjection, ProjectError> {
    let started = std::time::Instant::now();
    let index = crate::recommend::library_index(library, run, &|_: Progress| {}, cancel)?;
    let points = match method {
        Method::Pca => {
            let points = pca(&index.embeddings, index.dim)?;
            progress(Progress::new(1, 1));
            points
        }
        Method::Tsne => tsne(&index.embeddings, index.dim, settings, progress, cancel)?,
    };
    let trust = trustworthiness(
        &index.embeddings,
        index.dim,
        &points,
        TRUST_NEIGHBOURS,
        5_000,
    );
    let projection = crate::store::StoredProjection {
        method: method.name().to_string(),
        settings: match method {
            Method::Pca => "{}".to_string(),
            Method::Tsne => serde_json::to_string(settings).unwrap_or_default(),
        },
        book_ids: index.book_ids.clone(),
        points,
        trustworthiness: trust,
        neighbours: TRUST_NEIGHBOURS,
        seconds: started.elapsed().as_secs_f64(),
    };
    // A read-only library shows the projection without storing it.
    if !library.is_read_only() {
        library.save_projection(run.run_id, &projection)?;
    }
    Ok(projection)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Three well-separated blobs in 10 dimensions.
    fn blobs(per_blob: usize) -> Vec<f32> {
        let mut state = 12345u64;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut points = Vec::new();
        for blob in 0..3 {
            for _ in 0..per_blob {
                for d in 0..10 {
                    let centre = if d == blob * 3 { 10.0 } else { 0.0 };
                    points.push(centre + noise());
                }
            }
        }
        points
    }

    #[test]
    fn pca_finds_the_spread_and_is_stable() {
        // Points along a line in 3D: PC1 carries all of it.
        let points: Vec<f32> = (0..50)
            .flat_map(|i| [i as f32, 2.0 * i as f32, 5.0])
            .collect();
        let projected = pca(&points, 3).unwrap();
        let second: f32 = projected.iter().skip(1).step_by(2).map(|v| v.abs()).sum();
        assert!(second < 1e-3, "second axis should be empty: {second}");
        assert_eq!(projected, pca(&points, 3).unwrap());
    }

    #[test]
    fn tsne_is_deterministic_and_keeps_neighbourhoods() {
        let points = blobs(40);
        let settings = TsneSettings {
            perplexity: 10.0,
            iterations: 300,
            ..TsneSettings::default()
        };
        let never = AtomicBool::new(false);
        let epochs_seen = std::sync::atomic::AtomicU64::new(0);
        let seen = |p: Progress| epochs_seen.store(p.done, Ordering::Relaxed);
        let first = tsne(&points, 10, &settings, &seen, &never).unwrap();
        assert_eq!(epochs_seen.load(Ordering::Relaxed), 300);
        let second = tsne(&points, 10, &settings, &|_| {}, &never).unwrap();
        assert_eq!(first, second, "same seed, same layout");
        let trust = trustworthiness(&points, 10, &first, 5, 1000);
        assert!(trust > 0.9, "trustworthiness {trust}");
        // A layout that ignores the data scores lower.
        let scrambled: Vec<f32> = first.chunks(2).rev().flatten().copied().collect();
        assert!(trustworthiness(&points, 10, &scrambled, 5, 1000) < trust - 0.1);
    }

    #[test]
    fn tsne_stops_when_cancelled() {
        let points = blobs(40);
        let cancel = AtomicBool::new(false);
        let result = tsne(
            &points,
            10,
            &TsneSettings {
                perplexity: 10.0,
                ..TsneSettings::default()
            },
            &|progress: Progress| {
                if progress.done == 5 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        );
        assert!(matches!(result, Err(ProjectError::Cancelled)));
    }
}
