//! "More like this" over 100,000 books x 256 dimensions: the index's one
//! matrix-vector product with a top-K heap against a naive per-book loop that
//! scores every book and sorts them all, side by side on the same queries.
//! Prints the 50th and 99th percentile per query and the ratio.
//!
//! `cargo bench --bench recommend_query` (BOOKS / DIM / QUERIES to change the size).

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use shelfwise::recommend::EmbeddingIndex;
use shelfwise::store::BookId;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(times: &mut [f64], share: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    let at = ((times.len() as f64 * share).ceil() as usize).clamp(1, times.len()) - 1;
    times[at]
}

/// The reference: one dot product per book in a plain loop, then a full sort.
fn naive(embeddings: &[f32], dim: usize, query: &[f32], k: usize, skip: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = embeddings
        .chunks_exact(dim)
        .enumerate()
        .filter(|(row, _)| *row != skip)
        .map(|(row, book)| (book.iter().zip(query).map(|(a, b)| a * b).sum(), row))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, row)| row).collect()
}

fn main() {
    let (books, dim, queries) = (
        setting("BOOKS", 100_000),
        setting("DIM", 256),
        setting("QUERIES", 300),
    );
    let mut rng = SmallRng::seed_from_u64(1);
    let mut embeddings = Vec::with_capacity(books * dim);
    for _ in 0..books {
        let row: Vec<f32> = (0..dim)
            .map(|_| rng.next_u32() as f32 / u32::MAX as f32 - 0.5)
            .collect();
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        embeddings.extend(row.iter().map(|v| v / norm));
    }
    let index = EmbeddingIndex::new(
        (0..books as i64).map(BookId).collect(),
        embeddings.clone(),
        dim,
        vec![0.5; books],
        vec![0.5; books],
    );
    let rows: Vec<usize> = (0..queries)
        .map(|_| rng.next_u32() as usize % books)
        .collect();
    // Warm up both paths (page in the matrix, start libtorch's threads).
    for &row in rows.iter().take(5) {
        let query = index.embedding(row).to_vec();
        let _ = index.nearest(&query, 10, &|r| r != row);
        let _ = naive(&embeddings, dim, &query, 10, row);
    }
    let (mut fast, mut slow, mut product) = (Vec::new(), Vec::new(), Vec::new());
    for &row in &rows {
        let query = index.embedding(row).to_vec();
        let started = Instant::now();
        std::hint::black_box(index.approximate_scores(&query));
        product.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        let found = index.nearest(&query, 10, &|r| r != row);
        fast.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        let expected = naive(&embeddings, dim, &query, 10, row);
        slow.push(started.elapsed().as_secs_f64() * 1e3);
        let found: Vec<usize> = found.iter().map(|r| r.0).collect();
        assert_eq!(found, expected, "both paths rank the same books");
    }
    let (fast_p50, fast_p99) = (percentile(&mut fast, 0.5), percentile(&mut fast, 0.99));
    let (slow_p50, slow_p99) = (percentile(&mut slow, 0.5), percentile(&mut slow, 0.99));
    println!(
        "{books} books x {dim} dimensions, {queries} queries, top 10, libtorch threads {}",
        tch::get_num_threads()
    );
    println!("index (matrix-vector product + heap): p50 {fast_p50:.2} ms, p99 {fast_p99:.2} ms");
    println!(
        "  of which the bf16 product:         p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut product, 0.5),
        percentile(&mut product, 0.99)
    );
    println!("naive per-book loop + sort:           p50 {slow_p50:.2} ms, p99 {slow_p99:.2} ms");
    println!(
        "ratio (naive / index): p50 {:.1}x, p99 {:.1}x",
        slow_p50 / fast_p50,
        slow_p99 / fast_p99
    );
}
