//! Training from the command line: `train` (a sweep, `--resume` of a run or
//! `--fine-tune` of one) and `cache` (the trunk's feature cache alone).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use super::progress::ProgressPrinter;
use crate::backbone;
use crate::embed::{self, FeatureCache};
use crate::model::device::training_device;
use crate::model::weights::TrunkProvenance;
use crate::store::RunId;
use crate::train::{self, SweepRequest, SweepRun, TrainConfig, TrainEvent};

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
    /// Epochs per run (default 8; with --resume: the run's own).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Runs of a sweep training at once, each on its share of the cores
    /// (default: 2 on a CPU with two cores or more, 1 on a GPU; 1: one after
    /// the other, one core left free, as the window trains).
    #[arg(long, default_value_t = 0)]
    pub parallel_runs: usize,
    /// Epochs of the image-only runs (default: --epochs).
    #[arg(long)]
    pub image_epochs: Option<usize>,
    /// Seed of the split, the batches and the random trunk (default 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repeat the sweep once per seed, each seed its own split, batches and
    /// heads' start (the trunk keeps --seed's), e.g. `--seeds 1,2,3`: the
    /// window draws each setting's mean with its band.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["resume", "fine_tune"])]
    pub seeds: Vec<u64>,
    /// Cover side in pixels (default 128).
    #[arg(long)]
    pub image_size: Option<i64>,
    /// Width multiplier of the VGG16 trunk (default 0.5; 1 = VGG16, as pretrained weights need).
    #[arg(long)]
    pub width: Option<f64>,
    /// torchvision VGG16 weights (.pth, safetensors or .ot); without, the library's
    /// backbone (`shelfwise weights`), else a random trunk.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// Train on a random trunk even when the library has a backbone.
    #[arg(long, conflicts_with = "weights")]
    pub random_trunk: bool,
    /// Train VGG16's block 5 (conv5_1-conv5_3) with the heads, at a tenth of the
    /// learning rate, started from the trunk's own (default: frozen, as in the paper).
    #[arg(long)]
    pub train_block5: bool,
    /// AdamW's learning rate (default 3e-3, lowered along a cosine).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Weight of the alignment term between each book's text-only and cover-only
    /// placements, for cross-modal retrieval (default 0.5; 0: the paper's objective alone).
    #[arg(long)]
    pub alignment: Option<f64>,
    /// Start from these settings (JSON, e.g. models/cpu-default.json); flags given override them.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Go on with a stopped run from its last checkpoint (with --epochs: up to that many in all).
    #[arg(long, value_name = "RUN")]
    pub resume: Option<RunId>,
    /// Train a new run from a finished run's best checkpoint on the library as it
    /// is now: its held-out books stay held out, new books join its split, new
    /// categories get classifier rows (default: a third of its epochs at its
    /// learning rate; --epochs and --learning-rate set them).
    #[arg(long, value_name = "RUN", conflicts_with = "resume")]
    pub fine_tune: Option<RunId>,
}
/// The settings a `train` (or `cache`) command line describes: the config file
/// or the CPU defaults, then the flags given.
fn base_config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
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
    if let Some(epochs) = args.image_epochs {
        base.image_only_epochs = Some(epochs);
    }
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
    if let Some(alignment) = args.alignment {
        base.alignment = alignment;
    }
    if let Some(image_size) = args.image_size {
        base.trunk.image_size = image_size;
    }
    if let Some(width) = args.width {
        base.trunk.width = width;
    }
    if args.train_block5 {
        base.trunk.train_block5 = true;
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

/// A run that names no weights file trains on the library's backbone
/// (`shelfwise weights`), at full width, as pretrained weights need;
/// `--random-trunk` keeps the trunk random.
fn use_library_backbone(base: &mut TrainConfig, args: &TrainArgs, library_root: &Path) {
    if args.random_trunk {
        base.trunk.weights = None;
        return;
    }
    if base.trunk.weights.is_none()
        && let Some(backbone) = backbone::current(library_root)
    {
        base.trunk.weights = Some(backbone.weights);
        if args.width.is_none() {
            base.trunk.width = 1.0;
        }
    }
}

/// The betas to sweep: those given, else the one of the settings (a
/// `--config` file's beta used to be replaced by a default of 0.3).
fn sweep_betas(args: &TrainArgs, base: &TrainConfig) -> Vec<f64> {
    if args.beta.is_empty() {
        vec![base.beta]
    } else {
        args.beta.clone()
    }
}

#[derive(Serialize)]
struct CacheOutput {
    computed: usize,
    reused: usize,
    failed: usize,
    seconds: f64,
    trunk: TrunkProvenance,
}

/// How `--parallel-runs` shares this machine's cores.
fn parallelism(args: &TrainArgs, device: tch::Device) -> train::Parallelism {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    train::Parallelism::for_machine(args.parallel_runs, cores, device)
}

pub fn cache(context: &Context, args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let mut config = base_config(args)?;
    use_library_backbone(&mut config, args, &context.library_dir);
    config.validate()?;
    let device = training_device();
    // No window needs a core: the cache takes the cores a sweep's runs would
    // (all of them by default, a worker for each run's share; one left free
    // with `--parallel-runs 1`).
    let parallelism = parallelism(args, device);
    tch::set_num_threads(parallelism.threads_per_run as i32);
    let library = context.open()?;
    library.ensure_writable("filling the feature cache")?;
    let (trunks, provenance) = embed::build_trunks(&config.trunk, device, parallelism.runs)?;
    let channels = trunks[0].scale_channels;
    let cache = FeatureCache::for_settings(library.root(), &config.trunk, channels)?;
    let started = std::time::Instant::now();
    let printer = ProgressPrinter::new("feature cache");
    let report = embed::fill_cache_side_by_side(
        &library,
        trunks,
        &cache,
        &config.trunk,
        device,
        &printer.callback(),
        context.cancel,
    )?;
    let output = CacheOutput {
        computed: report.computed,
        reused: report.reused,
        failed: report.failed,
        seconds: started.elapsed().as_secs_f64(),
        trunk: provenance,
    };
    context.out.print(&output, |o| {
        println!(
            "feature cache: {} computed, {} reused, {} failed in {:.1} s",
            o.computed, o.reused, o.failed, o.seconds
        );
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn train(context: &Context, args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let device = training_device();
    let print_progress = |run: RunId, event: &TrainEvent| match event {
        TrainEvent::Epoch {
            epoch,
            epochs,
            train_loss,
            val_accuracy,
            val_macro_f1,
        } => eprintln!(
            "run {run} epoch {epoch}/{epochs}: loss {train_loss:.4}, val accuracy {val_accuracy:.3}, macro-F1 {val_macro_f1:.3}"
        ),
        TrainEvent::Finishing => eprintln!(
            "run {run}: epochs done; fitting the classifiers beside the network and measuring the held-out books"
        ),
        TrainEvent::Step { .. } => {}
    };
    let dir = &context.library_dir;
    let runs = if let Some(run) = args.resume {
        eprintln!("resuming run {run} on {device:?}");
        let resumed = train::resume_run(
            dir,
            run,
            args.epochs,
            device,
            &mut &print_progress,
            context.cancel,
        )?;
        vec![resumed]
    } else if let Some(parent) = args.fine_tune {
        eprintln!("fine-tuning run {parent} on {device:?}");
        let request = train::FineTuneRequest {
            epochs: args.epochs,
            learning_rate: args.learning_rate,
            train_block5: args.train_block5,
        };
        let tuned = train::fine_tune_run(
            dir,
            parent,
            request,
            device,
            &mut &print_progress,
            context.cancel,
        )?;
        vec![tuned]
    } else {
        let mut base = base_config(args)?;
        use_library_backbone(&mut base, args, dir);
        let request = SweepRequest {
            betas: sweep_betas(args, &base),
            single_modal: args.single_modal,
            base,
            seeds: args.seeds.clone(),
        };
        let parallelism = parallelism(args, device);
        eprintln!(
            "training on {device:?}, {} run(s), {} at a time on {} thread(s) each",
            request.configs().len(),
            parallelism.runs.min(request.configs().len()),
            parallelism.threads_per_run
        );
        train::run_sweep_in_parallel(
            dir,
            &request,
            (device, parallelism),
            &print_progress,
            context.cancel,
        )?
    };
    context
        .out
        .print(&serde_json::json!({ "runs": runs }), |_| print_runs(&runs))?;
    Ok(ExitCode::SUCCESS)
}

/// One run as `shelfwise runs --json` lists it.
#[derive(Serialize)]
struct RunLine {
    run: RunId,
    sweep: Option<crate::store::SweepId>,
    /// The seed of its split, batches and heads.
    seed: Option<i64>,
    kind: crate::store::Modalities,
    beta: f64,
    status: crate::store::RunStatus,
    epochs: i64,
    best_macro_f1: Option<f64>,
    started: String,
    /// The process training it, while one is.
    owner: Option<u32>,
    /// Why a failed run failed.
    reason: Option<String>,
    /// The trunk a finished run read its covers through.
    trunk: Option<TrunkProvenance>,
    /// Its block 5 trained with the heads.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    block5_trained: bool,
    /// The trunk as the run table names it.
    #[serde(skip)]
    trunk_label: Option<String>,
    /// The run it was fine-tuned from.
    parent: Option<RunId>,
    /// How many of its books the librarian changed since it trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    books_changed_since: Option<usize>,
}

/// The error a failed run stored in place of its summary.
fn failure_reason(summary: Option<&str>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(summary?).ok()?;
    value["error"].as_str().map(str::to_string)
}

pub fn list(context: &Context) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let lines: Vec<RunLine> = train::list_runs(&mut library)?
        .into_iter()
        .map(|r| {
            let summary = train::RunSummary::of_listing(&r).ok().flatten();
            let changed = (r.status == crate::store::RunStatus::Finished)
                .then(|| train::books_changed_since(&library, &r).ok().flatten())
                .flatten();
            RunLine {
                books_changed_since: changed,
                trunk_label: summary.as_ref().map(train::RunSummary::trunk_label),
                block5_trained: summary.as_ref().is_some_and(|s| s.block5_trained),
                trunk: summary.map(|s| s.trunk),
                owner: train::run_owner(&context.library_dir, r.run_id),
                reason: failure_reason(r.summary.as_deref()),
                run: r.run_id,
                parent: r.parent_run_id,
                sweep: r.sweep_id,
                seed: r.seed,
                kind: r.modalities,
                beta: r.beta,
                status: r.status,
                epochs: r.epochs_done,
                best_macro_f1: r.val_macro_f1,
                started: r.created_at,
            }
        })
        .collect();
    context
        .out
        .print(&serde_json::json!({ "runs": lines }), |_| {
            for r in &lines {
                let f1 = r
                    .best_macro_f1
                    .map_or("—".to_string(), |f| format!("{f:.3}"));
                let owner = r
                    .owner
                    .map_or(String::new(), |pid| format!(", process {pid}"));
                let reason = r
                    .reason
                    .as_ref()
                    .map_or(String::new(), |reason| format!(": {reason}"));
                let trunk = r
                    .trunk_label
                    .as_ref()
                    .map_or(String::new(), |t| format!(", trunk {t}"));
                let parent = r
                    .parent
                    .map_or(String::new(), |p| format!(", fine-tuned from run {p}"));
                let changed = match r.books_changed_since {
                    Some(n) if n > 0 => format!(", {n} of its books changed since"),
                    _ => String::new(),
                };
                let sweep = match (r.sweep, r.seed) {
                    (Some(sweep), Some(seed)) => format!(" (sweep {sweep}, seed {seed})"),
                    (None, Some(seed)) => format!(" (seed {seed})"),
                    (Some(sweep), None) => format!(" (sweep {sweep})"),
                    (None, None) => String::new(),
                };
                println!(
                    "run {}{sweep}: {}{parent}, {} after {} epoch(s), macro-F1 {f1}{trunk}{changed}, started {}{owner}{reason}",
                    r.run,
                    r.kind.run_label(r.beta),
                    r.status,
                    r.epochs,
                    r.started
                );
            }
        })?;
    Ok(ExitCode::SUCCESS)
}

pub fn delete(context: &Context, run: RunId) -> anyhow::Result<ExitCode> {
    train::delete_run(&context.library_dir, run)?;
    context
        .out
        .print(&serde_json::json!({ "deleted": run }), |_| {
            println!("deleted run {run}")
        })?;
    Ok(ExitCode::SUCCESS)
}

fn print_runs(runs: &[SweepRun]) {
    for run in runs {
        println!(
            "run {}: beta {}, {}: best epoch {}, val accuracy {:.3}, macro-F1 {:.3}",
            run.run, run.beta, run.modalities, run.best_epoch, run.val_accuracy, run.val_macro_f1
        );
        if let Some(words) = &run.word_classifier {
            println!(
                "  word classifier: C {}, balanced {} (cross-validated macro-F1 {:.3}), weight {} (validation macro-F1 {:.3} for the network alone)",
                words.c, words.balanced, words.cv_macro_f1, words.mix, words.network_macro_f1
            );
        }
        if let Some(covers) = &run.cover_classifier {
            println!(
                "  cover classifier: C {}, balanced {} (cross-validated macro-F1 {:.3} on {} covers), power {}",
                covers.c, covers.balanced, covers.cv_macro_f1, covers.covers, covers.mix
            );
        }
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

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
        let settings = TrainConfig {
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
