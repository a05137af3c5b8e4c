//! Word2Vec: skip-gram with negative sampling (Mikolov et al. 2013), trained on
//! all cores with lock-free (Hogwild) updates, the learning rate decaying
//! linearly over the whole run, as word2vec.c and gensim do.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

use super::hogwild::HogwildMatrix;
use super::vocab::Vocab;

const MAX_EXP: f32 = 6.0;
const EXP_TABLE_SIZE: usize = 1000;
/// Words per job: the unit of work handed to a thread and of progress reports.
const JOB_WORDS: usize = 10_000;

/// Training settings; the defaults are MODEL.md's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word2VecConfig {
    pub dim: usize,
    pub window: usize,
    pub negative: usize,
    pub min_count: u64,
    /// Subsampling threshold for frequent words (0 = off).
    pub sample: f64,
    pub alpha: f32,
    pub min_alpha: f32,
    pub epochs: usize,
    pub threads: usize,
    pub seed: u64,
}

impl Default for Word2VecConfig {
    fn default() -> Self {
        Self {
            dim: 100,
            window: 5,
            negative: 5,
            min_count: 2,
            sample: 1e-3,
            alpha: 0.025,
            min_alpha: 0.0001,
            epochs: 5,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            seed: 1,
        }
    }
}

/// Why training produced no vectors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrainError {
    #[error("training was cancelled")]
    Cancelled,
    #[error("the corpus has no word seen at least {min_count} times; nothing to train on")]
    EmptyVocabulary { min_count: u64 },
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
}

/// Trained vectors with their vocabulary: row `i` is word id `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct WordVectors {
    pub vocab: Vocab,
    pub dim: usize,
    pub vectors: Vec<f32>,
}

/// How a training run went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrainStats {
    /// Corpus words read over all epochs (before subsampling).
    pub words: u64,
    pub seconds: f64,
    pub words_per_second: f64,
}

impl WordVectors {
    pub fn vector(&self, id: u32) -> &[f32] {
        &self.vectors[id as usize * self.dim..(id as usize + 1) * self.dim]
    }

    /// The `k` words nearest to word `id` by cosine similarity, best first.
    pub fn nearest(&self, id: u32, k: usize) -> Vec<(u32, f32)> {
        self.nearest_to(self.vector(id), k, Some(id))
    }

    /// The `k` words nearest to `query` by cosine similarity, leaving out `exclude`.
    pub fn nearest_to(&self, query: &[f32], k: usize, exclude: Option<u32>) -> Vec<(u32, f32)> {
        let query_norm = norm(query);
        if query_norm == 0.0 {
            return Vec::new();
        }
        let mut scored: Vec<(u32, f32)> = (0..self.vocab.len() as u32)
            .filter(|&id| Some(id) != exclude)
            .map(|id| {
                let row = self.vector(id);
                let row_norm = norm(row);
                let similarity = if row_norm == 0.0 {
                    0.0
                } else {
                    dot(query, row) / (query_norm * row_norm)
                };
                (id, similarity)
            })
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
    }
}

fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// Dot product with eight independent sums, so the compiler can use SIMD.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let a_chunks = a.chunks_exact(8);
    let b_chunks = b.chunks_exact(8);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// `y += a * x`
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Everything the threads share while training.
struct Shared<'a> {
    config: &'a Word2VecConfig,
    syn0: HogwildMatrix,
    syn1neg: HogwildMatrix,
    exp_table: Vec<f32>,
    /// Word ids laid out in proportion to count^0.75, for drawing negatives.
    negative_table: Vec<u32>,
    /// Keep a word when a random u32 is below this (subsampling).
    keep_below: Vec<u32>,
}

impl Shared<'_> {
    /// One skip-gram pair: `context`'s input vector learns to predict `center`.
    #[inline(always)]
    fn train_pair(&self, center: u32, context: u32, alpha: f32, rng: &mut SmallRng, work: &mut [f32]) {
        let l1 = self.syn0.row(context as usize);
        work.fill(0.0);
        for d in 0..=self.config.negative {
            let (target, label) = if d == 0 {
                (center, 1.0)
            } else {
                let draw = rng.next_u32() as usize % self.negative_table.len();
                let target = self.negative_table[draw];
                if target == center {
                    continue;
                }
                (target, 0.0)
            };
            let l2 = self.syn1neg.row(target as usize);
            let f = dot(l1, l2);
            if f <= -MAX_EXP || f >= MAX_EXP {
                continue;
            }
            let index = ((f + MAX_EXP) * (EXP_TABLE_SIZE as f32 / MAX_EXP / 2.0)) as usize;
            let g = (label - self.exp_table[index.min(EXP_TABLE_SIZE - 1)]) * alpha;
            axpy(g, l2, work);
            axpy(g, l1, l2);
        }
        axpy(1.0, work, l1);
    }

    fn train_sentence(&self, sentence: &[u32], alpha: f32, rng: &mut SmallRng, kept: &mut Vec<u32>, work: &mut [f32]) {
        kept.clear();
        kept.extend(
            sentence
                .iter()
                .copied()
                .filter(|&word| self.keep_below[word as usize] == u32::MAX || rng.next_u32() < self.keep_below[word as usize]),
        );
        let window = self.config.window;
        for (position, &center) in kept.iter().enumerate() {
            let reduced = rng.next_u32() as usize % window;
            let span = window - reduced;
            let start = position.saturating_sub(span);
            let end = (position + span + 1).min(kept.len());
            for (other, &context) in kept.iter().enumerate().take(end).skip(start) {
                if other != position {
                    self.train_pair(center, context, alpha, rng, work);
                }
            }
        }
    }
}

/// Trains word vectors on `sentences` (word ids of `vocab`; unknown ids are
/// skipped). `on_progress(words_done, words_total)` is called after each job of
/// about 10,000 words; `cancel` is checked as often.
pub fn train(
    sentences: &[Vec<u32>],
    vocab: Vocab,
    config: &Word2VecConfig,
    on_progress: &(dyn Fn(u64, u64) + Sync),
    cancel: &AtomicBool,
) -> Result<(WordVectors, TrainStats), TrainError> {
    if vocab.is_empty() {
        return Err(TrainError::EmptyVocabulary {
            min_count: config.min_count,
        });
    }
    for (name, value) in [
        ("dim", config.dim),
        ("window", config.window),
        ("epochs", config.epochs),
        ("threads", config.threads),
    ] {
        if value == 0 {
            return Err(TrainError::InvalidConfig(format!("{name} must be at least 1")));
        }
    }
    let started = Instant::now();
    let known = vocab.len() as u32;
    let sentences: Vec<Vec<u32>> = sentences
        .iter()
        .map(|s| s.iter().copied().filter(|&id| id < known).collect::<Vec<_>>())
        .filter(|s: &Vec<u32>| !s.is_empty())
        .collect();
    let shared = Shared {
        config,
        syn0: HogwildMatrix::from_vec(initial_vectors(vocab.len(), config.dim, config.seed), config.dim),
        syn1neg: HogwildMatrix::from_vec(vec![0.0; vocab.len() * config.dim], config.dim),
        exp_table: (0..EXP_TABLE_SIZE)
            .map(|i| {
                let x = (i as f32 / EXP_TABLE_SIZE as f32 * 2.0 - 1.0) * MAX_EXP;
                let e = x.exp();
                e / (e + 1.0)
            })
            .collect(),
        negative_table: negative_table(vocab.counts()),
        keep_below: keep_thresholds(vocab.counts(), config.sample),
    };

    // Jobs of about JOB_WORDS words; every epoch walks all of them.
    let mut jobs: Vec<(usize, usize, u64)> = Vec::new();
    let mut start = 0;
    let mut words = 0u64;
    for (index, sentence) in sentences.iter().enumerate() {
        words += sentence.len() as u64;
        if words as usize >= JOB_WORDS {
            jobs.push((start, index + 1, words));
            start = index + 1;
            words = 0;
        }
    }
    if start < sentences.len() {
        jobs.push((start, sentences.len(), words));
    }
    let epoch_words: u64 = jobs.iter().map(|job| job.2).sum();
    let total_words = epoch_words * config.epochs as u64;
    let total_jobs = jobs.len() * config.epochs;
    let next_job = AtomicUsize::new(0);
    let words_done = AtomicU64::new(0);
    let cancelled = AtomicBool::new(false);

    std::thread::scope(|scope| {
        for thread in 0..config.threads {
            let (shared, jobs, sentences) = (&shared, &jobs, &sentences);
            let (next_job, words_done, cancelled) = (&next_job, &words_done, &cancelled);
            scope.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ thread as u64);
                let mut kept = Vec::new();
                let mut work = vec![0.0f32; config.dim];
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        cancelled.store(true, Ordering::Relaxed);
                        return;
                    }
                    let job = next_job.fetch_add(1, Ordering::Relaxed);
                    if job >= total_jobs {
                        return;
                    }
                    let (first, last, job_words) = jobs[job % jobs.len()];
                    let progress = words_done.load(Ordering::Relaxed) as f32 / total_words.max(1) as f32;
                    let alpha = (config.alpha - (config.alpha - config.min_alpha) * progress).max(config.min_alpha);
                    for sentence in &sentences[first..last] {
                        shared.train_sentence(sentence, alpha, &mut rng, &mut kept, &mut work);
                    }
                    let done = words_done.fetch_add(job_words, Ordering::Relaxed) + job_words;
                    on_progress(done, total_words);
                }
            });
        }
    });
    if cancelled.load(Ordering::Relaxed) {
        return Err(TrainError::Cancelled);
    }
    let seconds = started.elapsed().as_secs_f64();
    let vectors = WordVectors {
        dim: config.dim,
        vectors: shared.syn0.into_vec(),
        vocab,
    };
    let stats = TrainStats {
        words: total_words,
        seconds,
        words_per_second: total_words as f64 / seconds.max(1e-9),
    };
    Ok((vectors, stats))
}

/// Small random input vectors, uniform in (-0.5/dim, 0.5/dim), as word2vec.c.
fn initial_vectors(words: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..words * dim)
        .map(|_| ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5) / dim as f32)
        .collect()
}

/// A table in which each word id fills a share of slots proportional to
/// count^0.75, so a uniform slot is a draw from the smoothed unigram distribution.
fn negative_table(counts: &[u64]) -> Vec<u32> {
    let size = (counts.len() * 100).clamp(1 << 20, 1 << 25);
    let powered: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(0.75)).collect();
    let total: f64 = powered.iter().sum();
    let mut table = Vec::with_capacity(size);
    let mut cumulative = 0.0;
    let mut word = 0usize;
    for slot in 0..size {
        while word + 1 < counts.len() && (slot as f64 + 0.5) / size as f64 > (cumulative + powered[word]) / total {
            cumulative += powered[word];
            word += 1;
        }
        table.push(word as u32);
    }
    table
}

/// Subsampling as gensim computes it: a word of count `c` is kept with
/// probability `(sqrt(c / t) + 1) * t / c`, `t = sample * total`.
fn keep_thresholds(counts: &[u64], sample: f64) -> Vec<u32> {
    let total: u64 = counts.iter().sum();
    let threshold = sample * total as f64;
    counts
        .iter()
        .map(|&count| {
            if sample <= 0.0 {
                return u32::MAX;
            }
            let count = count as f64;
            let keep = ((count / threshold).sqrt() + 1.0) * threshold / count;
            if keep >= 1.0 {
                u32::MAX
            } else {
                (keep * u32::MAX as f64) as u32
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_plain_loops() {
        let a: Vec<f32> = (0..13).map(|v| v as f32 * 0.5).collect();
        let b: Vec<f32> = (0..13).map(|v| 1.0 - v as f32).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
        let mut y = b.clone();
        axpy(2.0, &a, &mut y);
        assert!(y.iter().zip(&a).zip(&b).all(|((y, a), b)| (y - (b + 2.0 * a)).abs() < 1e-6));
    }

    #[test]
    fn negatives_follow_the_smoothed_unigram_distribution() {
        let table = negative_table(&[1000, 100, 10]);
        let share = |id| table.iter().filter(|&&w| w == id).count() as f64 / table.len() as f64;
        let powered: Vec<f64> = [1000f64, 100.0, 10.0].iter().map(|c| c.powf(0.75)).collect();
        let total: f64 = powered.iter().sum();
        for id in 0..3 {
            assert!((share(id) - powered[id as usize] / total).abs() < 1e-3, "word {id}");
        }
    }

    #[test]
    fn frequent_words_are_subsampled_rare_ones_kept() {
        let keep = keep_thresholds(&[100_000, 10], 1e-3);
        assert!(keep[0] < u32::MAX / 5, "a word of half the corpus is mostly dropped");
        assert_eq!(keep[1], u32::MAX);
        assert!(keep_thresholds(&[100_000, 10], 0.0).iter().all(|&k| k == u32::MAX));
    }

    #[test]
    fn cancel_stops_training() {
        let vocab = Vocab::from_parts(vec!["a".into(), "b".into()], vec!["a".into(), "b".into()], vec![5, 5]);
        let sentences = vec![vec![0, 1, 0, 1]; 10];
        let cancel = AtomicBool::new(true);
        let result = train(&sentences, vocab, &Word2VecConfig::default(), &|_, _| {}, &cancel);
        assert_eq!(result.unwrap_err(), TrainError::Cancelled);
    }
}
