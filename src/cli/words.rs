//! Word vectors from the command line: `words` (a word's neighbours) and
//! `train-words` (Word2Vec on the library or on a corpus file).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use super::progress::ProgressPrinter;
use crate::text::{Vocab, Word2VecConfig, WordVectors, corpus, word2vec};

/// Settings of `shelfwise train-words`; defaults as in MODEL.md.
#[derive(Debug, clap::Args)]
pub struct TrainWordsArgs {
    #[arg(long, default_value_t = 100)]
    pub dim: usize,
    /// Passes over the corpus (default: enough for about 2 million word updates, at least 5).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 5)]
    pub window: usize,
    #[arg(long, default_value_t = 5)]
    pub negative: usize,
    #[arg(long, default_value_t = 2)]
    pub min_count: u64,
    /// Subsampling threshold of frequent words (0: off).
    #[arg(long, default_value_t = 1e-3)]
    pub sample: f64,
    /// Training threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train on this file instead (one sentence a line, tokens split by spaces,
    /// e.g. from `shelfwise preprocess`); the vectors are not stored in the library.
    #[arg(long, value_name = "PATH")]
    pub corpus_file: Option<PathBuf>,
    /// Also write the vectors in word2vec's text format.
    #[arg(long, value_name = "PATH")]
    pub export: Option<PathBuf>,
}

impl TrainWordsArgs {
    fn config(&self) -> Word2VecConfig {
        let defaults = Word2VecConfig::default();
        Word2VecConfig {
            dim: self.dim,
            window: self.window,
            negative: self.negative,
            min_count: self.min_count,
            sample: self.sample,
            epochs: self.epochs.unwrap_or(0),
            threads: self.threads.unwrap_or(defaults.threads),
            seed: self.seed,
            ..defaults
        }
    }
}
pub fn words(context: &Context, word: &str, k: usize) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let printer = ProgressPrinter::new("training word vectors");
    let (vectors, trained) = corpus::current_vectors(
        &mut library,
        &Word2VecConfig::default(),
        &printer.callback(),
        context.cancel,
    )?;
    if trained {
        eprintln!("trained word vectors on the library's current corpus");
    }
    let languages = corpus::library_languages(&library)?;
    let Some((stem, neighbours)) = vectors.neighbours(word, &languages, k) else {
        anyhow::bail!(
            "`{word}` is not in the library's vocabulary ({} words seen at least {} times)",
            vectors.vectors.vocab.len(),
            vectors.config.min_count
        );
    };
    let output = serde_json::json!({"word": word, "stem": stem, "neighbours": neighbours});
    context.out.print(&output, |_| {
        for near in &neighbours {
            println!("{:.3}  {}", near.similarity, near.word);
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct TrainWordsOutput {
    vocabulary: usize,
    dim: usize,
    epochs: usize,
    words: u64,
    seconds: f64,
    words_per_second: f64,
    threads: usize,
    stored: bool,
}

/// Word2Vec on a corpus file: one sentence a line, tokens split by spaces.
fn train_on_file(
    path: &Path,
    config: &Word2VecConfig,
    printer: &ProgressPrinter,
    context: &Context,
) -> anyhow::Result<(WordVectors, word2vec::TrainStats)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let vocab = Vocab::build(
        lines.iter().map(|l| l.iter().map(|w| (*w, *w))),
        config.min_count,
    );
    let sentences: Vec<Vec<u32>> = lines
        .iter()
        .map(|l| l.iter().map(|w| vocab.id(w)).collect())
        .collect();
    Ok(word2vec::train(
        &sentences,
        vocab,
        config,
        &printer.callback(),
        context.cancel,
    )?)
}

pub fn train_words(context: &Context, args: &TrainWordsArgs) -> anyhow::Result<ExitCode> {
    let config = args.config();
    let printer = ProgressPrinter::new("training word vectors");
    let (vectors, stats, stored) = match &args.corpus_file {
        Some(path) => {
            let (vectors, stats) = train_on_file(path, &config, &printer, context)?;
            (vectors, stats, false)
        }
        None => {
            let mut library = context.open()?;
            let (vectors, stats) = corpus::train_library_vectors(
                &mut library,
                &config,
                &printer.callback(),
                context.cancel,
            )?;
            (vectors.vectors, stats, true)
        }
    };
    if let Some(path) = &args.export {
        export_word2vec_text(&vectors, path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let output = TrainWordsOutput {
        vocabulary: vectors.vocab.len(),
        dim: vectors.dim,
        epochs: stats.epochs,
        words: stats.words,
        seconds: stats.seconds,
        words_per_second: stats.words_per_second,
        threads: config.threads,
        stored,
    };
    context.out.print(&output, |o| {
        println!(
            "{} words in the vocabulary, {} corpus words ({} epochs) in {:.1} s ({:.0} words/s on {} threads){}",
            o.vocabulary,
            o.words,
            o.epochs,
            o.seconds,
            o.words_per_second,
            o.threads,
            if o.stored {
                "; stored with the library"
            } else {
                ""
            }
        );
    })?;
    Ok(ExitCode::SUCCESS)
}

/// word2vec's text format: a header line "words dim", then "word v1 v2 ...".
fn export_word2vec_text(vectors: &WordVectors, path: &Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{} {}", vectors.vocab.len(), vectors.dim)?;
    for id in 0..vectors.vocab.len() as u32 {
        write!(out, "{}", vectors.vocab.word(id))?;
        for value in vectors.vector(id) {
            write!(out, " {value}")?;
        }
        writeln!(out)?;
    }
    out.flush()
}
