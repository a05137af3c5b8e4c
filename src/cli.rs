//! The command line: `shelfwise` opens the window, `shelfwise <command>` runs a
//! job without one. Results go to stdout (JSON with `--json`); progress and logs
//! go to stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use rayon::prelude::*;

use crate::import::{self, ImportOptions, Progress, csv_files};
use crate::store::Library;
use crate::text::{Vocab, Word2VecConfig, WordVectors, corpus, word2vec};

#[derive(Debug, Parser)]
#[command(
    name = "shelfwise",
    version,
    about = "Book recommendations from covers and synopses"
)]
pub struct Cli {
    /// Library folder (default: the platform's data folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub library: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// With no command: import the bundled demo library first when the library is empty.
    #[arg(long)]
    pub demo_if_empty: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a books CSV, a reading-history CSV or a Calibre library folder.
    Import {
        /// A CSV file, a folder holding books.csv, or a Calibre library folder.
        path: PathBuf,
    },
    /// Count the books, covers, synopses and categories of the library.
    Stats,
    /// Show the library folder and the compute device libtorch sees.
    Info,
    /// The words the library's word vectors put nearest to WORD.
    Words {
        word: String,
        /// How many neighbours to list.
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
    /// Train word vectors (Word2Vec skip-gram) on the library's titles, authors and synopses.
    TrainWords(TrainWordsArgs),
    /// Train the model: one run per beta (a sweep), plus image-only and text-only runs.
    Train(TrainArgs),
    /// Run the frozen trunk over every cover once and cache its maps (train does this too).
    Cache(TrainArgs),
    /// Evaluate a trained run: its suggestions on the library (more like this, readers),
    /// and with --csv its classification and retrieval on labelled books not imported.
    Eval {
        /// The run to evaluate (see `shelfwise train`).
        #[arg(long)]
        run: i64,
        /// Labelled books: id,title,author,category,synopsis,cover.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Suggest books: like a book, matching a description, like an image, or for a reader.
    Recommend(crate::cli_suggest::RecommendArgs),
    /// Lay a run's books out in 2D (PCA or t-SNE) and score the layout.
    Project(crate::cli_suggest::ProjectArgs),
    /// Print each book's tokens, one line per book, as Word2Vec reads them.
    Preprocess {
        /// Books CSVs in the import format; without any, the library's own books.
        paths: Vec<PathBuf>,
    },
}

/// Settings of `shelfwise train`; defaults are the CPU defaults of MODEL.md.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Weights of cross-entropy, one run each (alpha = 1 - beta for the triplet loss)
    /// (default: the --config file's, else 0.3).
    #[arg(long, value_delimiter = ',')]
    pub beta: Vec<f64>,
    /// Also train an image-only and a text-only run on the same split and seed.
    #[arg(long)]
    pub single_modal: bool,
    /// Epochs per run (default 15; with --resume: the run's own).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of the split, the batches and the random trunk (default 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Cover side in pixels (default 128).
    #[arg(long)]
    pub image_size: Option<i64>,
    /// Width multiplier of the VGG16 trunk (default 0.5; 1 = VGG16, as pretrained weights need).
    #[arg(long)]
    pub width: Option<f64>,
    /// torchvision VGG16 weights (safetensors or .ot); without, the trunk is random.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// AdamW's learning rate (default 3e-3, lowered along a cosine).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Start from these settings (JSON, e.g. models/cpu-default.json); flags given override them.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Go on with a stopped run from its last checkpoint (with --epochs: up to that many in all).
    #[arg(long, value_name = "RUN")]
    pub resume: Option<i64>,
}

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

impl Cli {
    pub fn library_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.library {
            Some(dir) => Ok(dir.clone()),
            None => crate::paths::default_library_dir(),
        }
    }
}

/// Set by the first Ctrl-C: long jobs stop at their next checkpoint and keep
/// what is whole. A second Ctrl-C exits at once.
static CANCEL: AtomicBool = AtomicBool::new(false);

fn cancel_on_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        if CANCEL.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("shelfwise: stopping at the next checkpoint (Ctrl-C again to quit now)");
    });
    if let Err(error) = installed {
        eprintln!("shelfwise: Ctrl-C will not stop jobs cleanly: {error}");
    }
}

/// Runs a command-line job; `Ok(None)` means "no command: open the window".
pub fn run_command(cli: &Cli) -> anyhow::Result<Option<ExitCode>> {
    let Some(command) = &cli.command else {
        return Ok(None);
    };
    cancel_on_ctrl_c();
    let cancel = &CANCEL;
    let library_dir = cli.library_dir()?;
    let open = || {
        Library::open(&library_dir)
            .with_context(|| format!("opening the library in {}", library_dir.display()))
    };
    match command {
        Command::Import { path } => {
            let mut library = open()?;
            let started = std::time::Instant::now();
            let mut last_print = std::time::Instant::now();
            let mut on_progress = |progress: Progress| {
                if last_print.elapsed().as_millis() >= 500 || progress.done == progress.total {
                    last_print = std::time::Instant::now();
                    let rate = progress.done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    eprintln!(
                        "importing {}/{} ({rate:.0}/s)",
                        progress.done, progress.total
                    );
                }
            };
            let report = import::import_path(
                &mut library,
                path,
                ImportOptions::default(),
                &mut on_progress,
                cancel,
            )
            .with_context(|| format!("importing {}", path.display()))?;
            if cli.json {
                print_json(&serde_json::json!({
                    "imported": report.imported,
                    "updated": report.updated,
                    "skipped": report.skipped,
                    "kind": report.kind,
                    "import_id": report.import_id,
                }))?;
            } else {
                print!("{}", report.to_text());
            }
            if report.cancelled {
                return Ok(Some(ExitCode::from(130)));
            }
        }
        Command::Stats => {
            let stats = open()?.stats()?;
            if cli.json {
                print_json(&stats)?;
            } else {
                println!(
                    "{} books, {} with a cover, {} with a synopsis; {} readers, {} readings",
                    stats.books,
                    stats.with_cover,
                    stats.with_synopsis,
                    stats.readers,
                    stats.readings
                );
                for (category, count) in &stats.categories {
                    let name = if category.is_empty() {
                        "(none)"
                    } else {
                        category
                    };
                    println!("  {name}: {count}");
                }
            }
        }
        Command::Info => {
            let device = format!("{:?}", tch::Device::cuda_if_available());
            let info = serde_json::json!({
                "library": library_dir,
                "device": device,
                "cuda_devices": tch::Cuda::device_count(),
                "libtorch": env!("SHELFWISE_LIBTORCH_LIB"),
            });
            if cli.json {
                print_json(&info)?;
            } else {
                println!("library: {}", library_dir.display());
                println!("device:  {device}");
                println!("libtorch: {}", env!("SHELFWISE_LIBTORCH_LIB"));
            }
        }
        Command::Words { word, k } => {
            let mut library = open()?;
            let progress = progress_printer("training word vectors");
            let (vectors, trained) = corpus::current_vectors(
                &mut library,
                &Word2VecConfig::default(),
                &progress,
                cancel,
            )?;
            if trained {
                eprintln!("trained word vectors on the library's current corpus");
            }
            let languages = corpus::library_languages(&library)?;
            let Some((stem, neighbours)) = vectors.neighbours(word, &languages, *k) else {
                anyhow::bail!(
                    "`{word}` is not in the library's vocabulary ({} words seen at least {} times)",
                    vectors.vectors.vocab.len(),
                    vectors.config.min_count
                );
            };
            if cli.json {
                print_json(
                    &serde_json::json!({"word": word, "stem": stem, "neighbours": neighbours}),
                )?;
            } else {
                for near in neighbours {
                    println!("{:.3}  {}", near.similarity, near.word);
                }
            }
        }
        Command::TrainWords(args) => train_words(cli, args, &library_dir, cancel)?,
        Command::Train(args) => train_model(cli, args, &library_dir, cancel)?,
        Command::Cache(args) => cache_command(cli, args, &library_dir, cancel)?,
        Command::Eval { run, csv } => {
            crate::cli_suggest::eval_command(cli, &mut open()?, *run, csv.as_deref(), cancel)?
        }
        Command::Recommend(args) => {
            crate::cli_suggest::recommend_command(cli, &mut open()?, args, cancel)?
        }
        Command::Project(args) => {
            crate::cli_suggest::project_command(cli, &mut open()?, args, cancel)?
        }
        Command::Preprocess { paths } => preprocess_command(paths, open)?,
    }
    Ok(Some(ExitCode::SUCCESS))
}

/// The settings a `train` (or `cache`) command line describes: the config file
/// or the CPU defaults, then the flags given.
fn base_config(args: &TrainArgs) -> anyhow::Result<crate::train::TrainConfig> {
    use crate::train::TrainConfig;
    let mut base = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<TrainConfig>(&text).with_context(|| {
                format!("{}: not a shelfwise training configuration", path.display())
            })?
        }
        None => TrainConfig::default(),
    };
    if let Some(epochs) = args.epochs {
        base.epochs = epochs;
    }
    if let Some(seed) = args.seed {
        base.seed = seed;
        base.trunk.seed = seed;
    }
    if let Some(learning_rate) = args.learning_rate {
        base.learning_rate = learning_rate;
    }
    if let Some(image_size) = args.image_size {
        base.trunk.image_size = image_size;
    }
    if let Some(width) = args.width {
        base.trunk.width = width;
    }
    if args.weights.is_some() {
        base.trunk.weights = args.weights.clone();
        // Pretrained VGG16 weights fit the full-width trunk only.
        if args.width.is_none() {
            base.trunk.width = 1.0;
        }
    }
    Ok(base)
}

/// The betas to sweep: those given, else the one of the settings (a
/// `--config` file's beta used to be replaced by a default of 0.3).
fn sweep_betas(args: &TrainArgs, base: &crate::train::TrainConfig) -> Vec<f64> {
    if args.beta.is_empty() {
        vec![base.beta]
    } else {
        args.beta.clone()
    }
}

fn cache_command(
    cli: &Cli,
    args: &TrainArgs,
    library_dir: &std::path::Path,
    cancel: &AtomicBool,
) -> anyhow::Result<()> {
    let config = base_config(args)?;
    let device = crate::train::training_device();
    let library = Library::open(library_dir)?;
    let (_store, trunk, provenance) = crate::embed::build_trunk(&config.trunk, device)?;
    let cache = crate::embed::FeatureCache::for_settings(
        library.root(),
        &config.trunk,
        trunk.scale_channels,
    )?;
    let started = std::time::Instant::now();
    let report = crate::embed::fill_cache(
        &library,
        &trunk,
        &cache,
        &config.trunk,
        device,
        &|done, total| {
            if done == total || done % 200 == 0 {
                eprint!("\rfeature cache {done}/{total}");
                if done == total {
                    eprintln!();
                }
            }
        },
        cancel,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        return print_json(&serde_json::json!({
            "computed": report.computed,
            "reused": report.reused,
            "failed": report.failed,
            "seconds": seconds,
            "trunk": provenance,
        }));
    }
    println!(
        "feature cache: {} computed, {} reused, {} failed in {seconds:.1} s",
        report.computed, report.reused, report.failed
    );
    Ok(())
}

fn train_model(
    cli: &Cli,
    args: &TrainArgs,
    library_dir: &std::path::Path,
    cancel: &AtomicBool,
) -> anyhow::Result<()> {
    use crate::train::{self, SweepRequest, TrainEvent};
    let device = train::training_device();
    let epochs_label = match (args.epochs, args.resume) {
        (Some(epochs), _) => epochs.to_string(),
        (None, None) => base_config(args)?.epochs.to_string(),
        (None, Some(_)) => "?".to_string(),
    };
    let mut print_epoch = |run: i64, event: &TrainEvent| {
        if let TrainEvent::Epoch {
            epoch,
            train_loss,
            val_accuracy,
            val_macro_f1,
        } = event
        {
            eprintln!(
                "run {run} epoch {epoch}/{epochs_label}: loss {train_loss:.4}, val accuracy {val_accuracy:.3}, macro-F1 {val_macro_f1:.3}"
            );
        }
    };
    if let Some(run) = args.resume {
        eprintln!("resuming run {run} on {device:?}");
        let resumed = train::resume_run(
            library_dir,
            run,
            args.epochs,
            device,
            &mut print_epoch,
            cancel,
        )?;
        return print_runs(cli, &[resumed]);
    }
    let base = base_config(args)?;
    let request = SweepRequest {
        betas: sweep_betas(args, &base),
        single_modal: args.single_modal,
        base,
    };
    eprintln!("training on {device:?}, {} run(s)", request.configs().len());
    let runs = train::run_sweep(library_dir, &request, device, &mut print_epoch, cancel)?;
    print_runs(cli, &runs)
}

fn print_runs(cli: &Cli, runs: &[crate::train::SweepRun]) -> anyhow::Result<()> {
    if cli.json {
        print_json(&serde_json::json!({ "runs": runs }))?;
    } else {
        for run in runs {
            println!(
                "run {}: beta {}, {:?}: best epoch {}, val accuracy {:.3}, macro-F1 {:.3}",
                run.run,
                run.beta,
                run.modalities,
                run.best_epoch,
                run.val_accuracy,
                run.val_macro_f1
            );
            let Some(tables) = &run.validation else {
                continue;
            };
            println!(
                "  {:<22} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "category", "sens", "spec", "ppv", "iou", "dice"
            );
            for (name, m) in &tables.per_category {
                println!(
                    "  {name:<22} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                    m.sensitivity, m.specificity, m.ppv, m.iou, m.dice
                );
            }
            if let Some(r) = &tables.retrieval {
                println!(
                    "  retrieval: text→cover R@1 {:.3} R@5 {:.3} R@10 {:.3}; cover→text R@1 {:.3} R@5 {:.3} R@10 {:.3}; mR {:.3}",
                    r.text.r1,
                    r.text.r5,
                    r.text.r10,
                    r.image.r1,
                    r.image.r5,
                    r.image.r10,
                    r.mean_recall
                );
            }
        }
    }
    Ok(())
}

/// A progress callback that prints "label: done/total (rate)" to stderr twice a second.
fn progress_printer(label: &'static str) -> impl Fn(u64, u64) + Sync {
    let started = std::time::Instant::now();
    let last_print = std::sync::Mutex::new(std::time::Instant::now());
    move |done, total| {
        let Ok(mut last) = last_print.try_lock() else {
            return;
        };
        if last.elapsed().as_millis() >= 500 || done == total {
            *last = std::time::Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
            eprintln!("{label}: {done}/{total} words ({rate:.0}/s)");
        }
    }
}

fn train_words(
    cli: &Cli,
    args: &TrainWordsArgs,
    library_dir: &std::path::Path,
    cancel: &AtomicBool,
) -> anyhow::Result<()> {
    let config = args.config();
    let progress = progress_printer("training word vectors");
    let (vectors, stats, stored) = match &args.corpus_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
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
            let (vectors, stats) = word2vec::train(&sentences, vocab, &config, &progress, cancel)?;
            (vectors, stats, false)
        }
        None => {
            let mut library = Library::open(library_dir)
                .with_context(|| format!("opening the library in {}", library_dir.display()))?;
            let (vectors, stats) =
                corpus::train_library_vectors(&mut library, &config, &progress, cancel)?;
            (vectors.vectors, stats, true)
        }
    };
    if let Some(path) = &args.export {
        export_word2vec_text(&vectors, path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let summary = serde_json::json!({
        "vocabulary": vectors.vocab.len(),
        "dim": vectors.dim,
        "epochs": stats.epochs,
        "words": stats.words,
        "seconds": stats.seconds,
        "words_per_second": stats.words_per_second,
        "threads": config.threads,
        "stored": stored,
    });
    if cli.json {
        print_json(&summary)?;
    } else {
        println!(
            "{} words in the vocabulary, {} corpus words ({} epochs) in {:.1} s ({:.0} words/s on {} threads){}",
            vectors.vocab.len(),
            stats.words,
            stats.epochs,
            stats.seconds,
            stats.words_per_second,
            config.threads,
            if stored {
                "; stored with the library"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// word2vec's text format: a header line "words dim", then "word v1 v2 ...".
fn export_word2vec_text(vectors: &WordVectors, path: &std::path::Path) -> std::io::Result<()> {
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

fn preprocess_command(
    paths: &[PathBuf],
    open: impl Fn() -> anyhow::Result<Library>,
) -> anyhow::Result<()> {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut write_books = |books: &[crate::store::BookText]| -> anyhow::Result<()> {
        let lines: Vec<String> = books
            .par_iter()
            .map(|book| {
                let language = corpus::book_language(book);
                corpus::book_stems(book, &language).join(" ")
            })
            .collect();
        for line in lines {
            writeln!(stdout, "{line}")?;
        }
        Ok(())
    };
    if paths.is_empty() {
        write_books(&open()?.book_texts()?)?;
    }
    for path in paths {
        let (pending, issues) =
            csv_files::read_books(path).with_context(|| format!("reading {}", path.display()))?;
        for issue in issues {
            eprintln!(
                "{}:{}: {}",
                issue.source,
                issue.line.unwrap_or(0),
                issue.reason
            );
        }
        let books: Vec<crate::store::BookText> = pending
            .into_iter()
            .map(|p| crate::store::BookText {
                book_id: crate::store::BookId(0),
                language: p.book.language,
                detected_language: None,
                title: p.book.title,
                author: p.book.author,
                synopsis: p.book.synopsis,
            })
            .collect();
        write_books(&books)?;
    }
    stdout.flush()?;
    Ok(())
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn train_args(flags: &[&str]) -> TrainArgs {
        let cli = Cli::try_parse_from([&["shelfwise", "train"], flags].concat()).unwrap();
        match cli.command {
            Some(Command::Train(args)) => args,
            other => panic!("not a train command: {other:?}"),
        }
    }

    #[test]
    fn a_config_files_beta_is_kept_unless_one_is_given() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("settings.json");
        let settings = crate::train::TrainConfig {
            beta: 0.5,
            ..Default::default()
        };
        std::fs::write(&path, serde_json::to_string(&settings).unwrap()).unwrap();
        let path = path.to_str().unwrap();

        let args = train_args(&["--config", path]);
        assert_eq!(sweep_betas(&args, &base_config(&args).unwrap()), [0.5]);
        let args = train_args(&["--config", path, "--beta", "0.2,0.3"]);
        assert_eq!(sweep_betas(&args, &base_config(&args).unwrap()), [0.2, 0.3]);
        let args = train_args(&[]);
        assert_eq!(sweep_betas(&args, &base_config(&args).unwrap()), [0.3]);
    }
}
