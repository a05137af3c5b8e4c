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
use crate::jobs::{Cancel, OnProgress, Progress};

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
    /// Passes over the corpus; 0 picks them from the corpus size ([`auto_epochs`]).
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
            epochs: 0,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            seed: 1,
        }
    }
}

/// Why training produced no vectors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrainError {
    #[error("training was cancelled; nothing was stored")]
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
    /// Passes made over the corpus.
    pub epochs: usize,
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

/// The two vector operations of training. `Plain` is portable; `Fused` uses
/// fused multiply-add and is only run inside functions compiled for AVX2 + FMA.
trait Kernel {
    fn dot(a: &[f32], b: &[f32]) -> f32;
    /// `y += a * x`
    fn axpy(a: f32, x: &[f32], y: &mut [f32]);
}

struct Plain;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Fused;

/// Dot product with `LANES` independent sums, so the compiler can keep them in
/// SIMD registers; `multiply_add(x, y, sum)` is `sum + x * y`, fused or not.
#[inline(always)]
fn lane_dot<const LANES: usize>(
    a: &[f32],
    b: &[f32],
    multiply_add: impl Fn(f32, f32, f32) -> f32,
) -> f32 {
    let mut sums = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            sums[lane] = multiply_add(x[lane], y[lane], sums[lane]);
        }
    }
    sums.iter().sum::<f32>() + tail
}

impl Kernel for Plain {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        lane_dot::<8>(a, b, |x, y, sum| sum + x * y)
    }

    #[inline(always)]
    fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        for (y, x) in y.iter_mut().zip(x) {
            *y += a * x;
        }
    }
}

impl Kernel for Fused {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        lane_dot::<16>(a, b, f32::mul_add)
    }

    #[inline(always)]
    fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        for (y, x) in y.iter_mut().zip(x) {
            *y = a.mul_add(*x, *y);
        }
    }
}

/// A dot product in eight lanes kept in vector registers (a plain sum of
/// products is added in order, one at a time).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    Plain::dot(a, b)
}

#[cfg(test)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    Plain::axpy(a, x, y)
}

/// A uniform draw from `0..n` without a division.
#[inline(always)]
fn below(random: u32, n: usize) -> usize {
    ((random as u64 * n as u64) >> 32) as usize
}

/// Everything the threads share while training.
struct Shared<'a> {
    config: &'a Word2VecConfig,
    syn0: HogwildMatrix,
    syn1neg: HogwildMatrix,
    exp_table: Vec<f32>,
    negatives: NegativeSampler,
    /// Keep a word when a random u32 is below this (subsampling).
    keep_below: Vec<u32>,
    /// The processor runs AVX2 and FMA: train with the fused kernel.
    fused: bool,
}

impl Shared<'_> {
    /// One skip-gram pair: `context`'s input vector learns to predict `center`.
    #[inline(always)]
    fn train_pair<K: Kernel>(
        &self,
        center: u32,
        context: u32,
        alpha: f32,
        rng: &mut SmallRng,
        work: &mut [f32],
    ) {
        let l1 = self.syn0.row(context as usize);
        work.fill(0.0);
        for d in 0..=self.config.negative {
            let (target, label) = if d == 0 {
                (center, 1.0)
            } else {
                let target = self.negatives.draw(rng.next_u64());
                if target == center {
                    continue;
                }
                (target, 0.0)
            };
            let l2 = self.syn1neg.row(target as usize);
            let f = K::dot(l1, l2);
            if f <= -MAX_EXP || f >= MAX_EXP {
                continue;
            }
            let index = ((f + MAX_EXP) * (EXP_TABLE_SIZE as f32 / MAX_EXP / 2.0)) as usize;
            let g = (label - self.exp_table[index.min(EXP_TABLE_SIZE - 1)]) * alpha;
            K::axpy(g, l2, work);
            K::axpy(g, l1, l2);
        }
        K::axpy(1.0, work, l1);
    }

    /// Trains one sentence with the fastest kernel this processor runs.
    fn train_sentence(
        &self,
        sentence: &[u32],
        alpha: f32,
        rng: &mut SmallRng,
        kept: &mut Vec<u32>,
        work: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.fused {
            #[allow(unsafe_code)]
            // SAFETY: `fused` is set only when the processor reports AVX2 and FMA.
            unsafe {
                self.train_sentence_fused(sentence, alpha, rng, kept, work);
            }
            return;
        }
        self.train_sentence_with::<Plain>(sentence, alpha, rng, kept, work);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn train_sentence_fused(
        &self,
        sentence: &[u32],
        alpha: f32,
        rng: &mut SmallRng,
        kept: &mut Vec<u32>,
        work: &mut [f32],
    ) {
        self.train_sentence_with::<Fused>(sentence, alpha, rng, kept, work);
    }

    #[inline(always)]
    fn train_sentence_with<K: Kernel>(
        &self,
        sentence: &[u32],
        alpha: f32,
        rng: &mut SmallRng,
        kept: &mut Vec<u32>,
        work: &mut [f32],
    ) {
        kept.clear();
        kept.extend(sentence.iter().copied().filter(|&word| {
            self.keep_below[word as usize] == u32::MAX
                || rng.next_u32() < self.keep_below[word as usize]
        }));
        let window = self.config.window;
        for (position, &center) in kept.iter().enumerate() {
            let reduced = below(rng.next_u32(), window);
            let span = window - reduced;
            let start = position.saturating_sub(span);
            let end = (position + span + 1).min(kept.len());
            for (other, &context) in kept.iter().enumerate().take(end).skip(start) {
                if other != position {
                    self.train_pair::<K>(center, context, alpha, rng, work);
                }
            }
        }
    }
}

fn check_config(vocab: &Vocab, config: &Word2VecConfig) -> Result<(), TrainError> {
    if vocab.is_empty() {
        return Err(TrainError::EmptyVocabulary {
            min_count: config.min_count,
        });
    }
    for (name, value) in [
        ("dim", config.dim),
        ("window", config.window),
        ("threads", config.threads),
    ] {
        if value == 0 {
            return Err(TrainError::InvalidConfig(format!(
                "{name} must be at least 1"
            )));
        }
    }
    Ok(())
}

impl<'a> Shared<'a> {
    fn new(config: &'a Word2VecConfig, vocab: &Vocab) -> Self {
        Self {
            config,
            syn0: HogwildMatrix::from_vec(
                initial_vectors(vocab.len(), config.dim, config.seed),
                config.dim,
            ),
            syn1neg: HogwildMatrix::from_vec(vec![0.0; vocab.len() * config.dim], config.dim),
            exp_table: (0..EXP_TABLE_SIZE)
                .map(|i| {
                    let x = (i as f32 / EXP_TABLE_SIZE as f32 * 2.0 - 1.0) * MAX_EXP;
                    let e = x.exp();
                    e / (e + 1.0)
                })
                .collect(),
            negatives: NegativeSampler::new(vocab.counts()),
            keep_below: keep_thresholds(vocab.counts(), config.sample),
            fused: fused_kernel_available(),
        }
    }
}

/// Jobs of about [`JOB_WORDS`] words, as (first sentence, end, words); every
/// epoch walks all of them.
fn split_jobs(sentences: &[Vec<u32>]) -> Vec<(usize, usize, u64)> {
    let mut jobs = Vec::new();
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
    jobs
}

/// The jobs of every epoch, taken in turn by `config.threads` threads that
/// update the shared matrices without locks; false when cancelled.
fn run_jobs(
    shared: &Shared,
    sentences: &[Vec<u32>],
    jobs: &[(usize, usize, u64)],
    epochs: usize,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> bool {
    let config = shared.config;
    let total_words = jobs.iter().map(|job| job.2).sum::<u64>() * epochs as u64;
    let total_jobs = jobs.len() * epochs;
    let next_job = AtomicUsize::new(0);
    let words_done = AtomicU64::new(0);
    let cancelled = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for thread in 0..config.threads {
            let (next_job, words_done, cancelled) = (&next_job, &words_done, &cancelled);
            scope.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(
                    config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ thread as u64,
                );
                let mut kept = Vec::new();
                let mut work = vec![0.0f32; config.dim];
                loop {
                    if crate::jobs::is_cancelled(cancel) {
                        cancelled.store(true, Ordering::Relaxed);
                        return;
                    }
                    let job = next_job.fetch_add(1, Ordering::Relaxed);
                    if job >= total_jobs {
                        return;
                    }
                    let (first, last, job_words) = jobs[job % jobs.len()];
                    let progress =
                        words_done.load(Ordering::Relaxed) as f32 / total_words.max(1) as f32;
                    let alpha = (config.alpha - (config.alpha - config.min_alpha) * progress)
                        .max(config.min_alpha);
                    for sentence in &sentences[first..last] {
                        shared.train_sentence(sentence, alpha, &mut rng, &mut kept, &mut work);
                    }
                    let done = words_done.fetch_add(job_words, Ordering::Relaxed) + job_words;
                    on_progress(Progress::new(done, total_words));
                }
            });
        }
    });
    !cancelled.load(Ordering::Relaxed)
}

/// Trains word vectors on `sentences` (word ids of `vocab`; unknown ids are
/// skipped). `on_progress` hears words done of words in all after each job of
/// about 10,000 words; `cancel` is checked as often.
pub fn train(
    sentences: &[Vec<u32>],
    vocab: Vocab,
    config: &Word2VecConfig,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<(WordVectors, TrainStats), TrainError> {
    check_config(&vocab, config)?;
    let started = Instant::now();
    let known = vocab.len() as u32;
    let sentences: Vec<Vec<u32>> = sentences
        .iter()
        .map(|s| {
            s.iter()
                .copied()
                .filter(|&id| id < known)
                .collect::<Vec<_>>()
        })
        .filter(|s: &Vec<u32>| !s.is_empty())
        .collect();
    let shared = Shared::new(config, &vocab);
    let jobs = split_jobs(&sentences);
    let epoch_words: u64 = jobs.iter().map(|job| job.2).sum();
    let epochs = match config.epochs {
        0 => auto_epochs(epoch_words as usize),
        set => set,
    };
    if !run_jobs(&shared, &sentences, &jobs, epochs, on_progress, cancel) {
        return Err(TrainError::Cancelled);
    }
    let total_words = epoch_words * epochs as u64;
    let seconds = started.elapsed().as_secs_f64();
    let vectors = WordVectors {
        dim: config.dim,
        vectors: shared.syn0.into_vec(),
        vocab,
    };
    let stats = TrainStats {
        epochs,
        words: total_words,
        seconds,
        words_per_second: total_words as f64 / seconds.max(1e-9),
    };
    Ok((vectors, stats))
}

fn fused_kernel_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Word updates that [`auto_epochs`] aims for: fewer leave the vectors of a
/// small library barely moved from their random start (all neighbours at 0.99).
pub const AUTO_EPOCH_WORDS: usize = 2_000_000;

/// Epochs for a corpus of `tokens` words when none are set: enough passes for
/// about two million word updates, at least 5 (word2vec's default), at most 200.
pub fn auto_epochs(tokens: usize) -> usize {
    AUTO_EPOCH_WORDS.div_ceil(tokens.max(1)).clamp(5, 200)
}

/// Small random input vectors, uniform in (-0.5/dim, 0.5/dim), as word2vec.c.
fn initial_vectors(words: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..words * dim)
        .map(|_| ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5) / dim as f32)
        .collect()
}

/// Draws word ids with probability proportional to count^0.75 in O(1), from
/// two vocabulary-sized columns (Vose's alias method), small enough to stay in
/// cache, unlike word2vec.c's 100-million-slot table.
struct NegativeSampler {
    /// Per column: keep the column's own word when the low 32 random bits are
    /// below `threshold`, else take `alias`.
    columns: Vec<(u32, u32)>,
}

impl NegativeSampler {
    fn new(counts: &[u64]) -> Self {
        let n = counts.len();
        let powered: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(0.75)).collect();
        let total: f64 = powered.iter().sum();
        let mut scaled: Vec<f64> = powered.iter().map(|p| p * n as f64 / total).collect();
        let mut columns: Vec<(u32, u32)> = (0..n as u32).map(|id| (u32::MAX, id)).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            columns[s] = ((scaled[s] * u32::MAX as f64) as u32, l as u32);
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Self { columns }
    }

    #[inline(always)]
    fn draw(&self, random: u64) -> u32 {
        let column = below((random >> 32) as u32, self.columns.len());
        let (threshold, alias) = self.columns[column];
        if (random as u32) < threshold {
            column as u32
        } else {
            alias
        }
    }
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
    fn the_fused_kernel_agrees_with_the_plain_one() {
        let a: Vec<f32> = (0..100).map(|v| (v as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..100).map(|v| (v as f32 * 0.11).cos()).collect();
        assert!((Plain::dot(&a, &b) - Fused::dot(&a, &b)).abs() < 1e-4);
        let (mut y1, mut y2) = (b.clone(), b.clone());
        Plain::axpy(0.3, &a, &mut y1);
        Fused::axpy(0.3, &a, &mut y2);
        assert!(y1.iter().zip(&y2).all(|(p, q)| (p - q).abs() < 1e-5));
    }

    #[test]
    fn below_is_uniform_over_its_range() {
        assert_eq!(below(0, 10), 0);
        assert_eq!(below(u32::MAX, 10), 9);
        assert_eq!(below(u32::MAX / 2, 10), 4);
    }

    #[test]
    fn dot_and_axpy_match_plain_loops() {
        let a: Vec<f32> = (0..13).map(|v| v as f32 * 0.5).collect();
        let b: Vec<f32> = (0..13).map(|v| 1.0 - v as f32).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
        let mut y = b.clone();
        axpy(2.0, &a, &mut y);
        assert!(
            y.iter()
                .zip(&a)
                .zip(&b)
                .all(|((y, a), b)| (y - (b + 2.0 * a)).abs() < 1e-6)
        );
    }

    #[test]
    fn negatives_follow_the_smoothed_unigram_distribution() {
        let counts = [1000u64, 100, 10, 1, 1];
        let sampler = NegativeSampler::new(&counts);
        let mut rng = SmallRng::seed_from_u64(3);
        let draws = 2_000_000;
        let mut seen = [0usize; 5];
        for _ in 0..draws {
            seen[sampler.draw(rng.next_u64()) as usize] += 1;
        }
        let powered: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(0.75)).collect();
        let total: f64 = powered.iter().sum();
        for id in 0..5 {
            let share = seen[id] as f64 / draws as f64;
            assert!(
                (share - powered[id] / total).abs() < 2e-3,
                "word {id}: {share}"
            );
        }
    }

    #[test]
    fn frequent_words_are_subsampled_rare_ones_kept() {
        let keep = keep_thresholds(&[100_000, 10], 1e-3);
        assert!(
            keep[0] < u32::MAX / 5,
            "a word of half the corpus is mostly dropped"
        );
        assert_eq!(keep[1], u32::MAX);
        assert!(
            keep_thresholds(&[100_000, 10], 0.0)
                .iter()
                .all(|&k| k == u32::MAX)
        );
    }

    #[test]
    fn small_corpora_get_more_epochs() {
        assert_eq!(auto_epochs(27_000), 75);
        assert_eq!(auto_epochs(2_400_000), 5);
        assert_eq!(auto_epochs(10), 200);
    }

    #[test]
    fn cancel_stops_training() {
        let vocab = Vocab::from_parts(
            vec!["a".into(), "b".into()],
            vec!["a".into(), "b".into()],
            vec![5, 5],
        );
        let sentences = vec![vec![0, 1, 0, 1]; 10];
        let cancel = AtomicBool::new(true);
        let result = train(
            &sentences,
            vocab,
            &Word2VecConfig::default(),
            &|_| {},
            &cancel,
        );
        assert_eq!(result.unwrap_err(), TrainError::Cancelled);
    }
}
