//! The command line of a trained run: `eval`, `recommend` and `project`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use super::progress::ProgressPrinter;
use crate::inference::{EvalReport, TrainedRun};
use crate::model::device::headless_device;
use crate::project::{self, Method, TsneSettings};
use crate::recommend::{self, Query, RecommendOptions, SuggestionQuality};
use crate::store::{Library, RunId, StoredProjection};

/// Settings of `shelfwise recommend`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["like", "text", "image", "reader"])))]
pub struct RecommendArgs {
    /// The trained run whose embeddings rank the library.
    #[arg(long)]
    pub run: RunId,
    /// More like this book: its id in the import file, or its exact title.
    #[arg(long, value_name = "BOOK")]
    pub like: Option<String>,
    /// Books matching a description (embedded from its words alone).
    #[arg(long, value_name = "DESCRIPTION")]
    pub text: Option<String>,
    /// Books whose covers look like this image (embedded from the image alone).
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Suggestions for a reader from their reading history, leaving out what they read.
    #[arg(long, value_name = "READER")]
    pub reader: Option<String>,
    /// How many suggestions.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Only books of this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Prefer variety over near-duplicates (maximal marginal relevance).
    #[arg(long)]
    pub diverse: bool,
}

/// Settings of `shelfwise project`.
#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    /// The trained run whose embeddings are laid out.
    #[arg(long)]
    pub run: RunId,
    /// pca or tsne.
    #[arg(long, default_value = "pca")]
    pub method: Method,
    /// Also write the points as CSV (book, title, category, x, y).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 30.0)]
    pub perplexity: f32,
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl clap::ValueEnum for Method {
    fn value_variants<'a>() -> &'a [Self] {
        &[Method::Pca, Method::Tsne]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

fn load_run(library: &Library, run: RunId) -> anyhow::Result<TrainedRun> {
    Ok(TrainedRun::load(library, run, headless_device())?)
}

#[derive(Serialize)]
struct EvalOutput {
    #[serde(flatten)]
    csv: Option<EvalReport>,
    run: RunId,
    /// The run's suggestions on its own library.
    suggestions: SuggestionQuality,
}

fn print_eval(output: &EvalOutput) {
    if let Some(report) = &output.csv {
        let retrieval = report.retrieval.as_ref().map_or_else(
            || "no retrieval (fewer than two books with a cover and a text)".to_string(),
            |r| {
                format!(
                    "retrieval mR {:.3} among {} books (chance {:.4})",
                    r.mean_recall,
                    report.retrieval_gallery,
                    16.0 / (3.0 * report.retrieval_gallery as f64)
                )
            },
        );
        println!(
            "run {}: {} books, accuracy {:.3}, macro-F1 {:.3}, {retrieval}, precision@10 {:.3}, NDCG@10 {:.3}",
            report.run,
            report.books,
            report.accuracy,
            report.macro_f1,
            report.recommendation.precision,
            report.recommendation.ndcg
        );
        if let Some(a) = &report.attention {
            println!(
                "covers: {} held out, mean cover share {:.3}, {} did not count; map peaks on the edge for {:.0}% (the edge is {:.0}% of the cells)",
                a.covers,
                a.mean_cover_share,
                a.not_counted,
                100.0 * a.border_peaks,
                100.0 * a.border_cells
            );
        }
        println!(
            "{:<24} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "category", "sens", "spec", "ppv", "iou", "dice"
        );
        for (name, row) in &report.per_category {
            let m = &row.metrics;
            println!(
                "{name:<24} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                m.sensitivity, m.specificity, m.ppv, m.iou, m.dice
            );
        }
        for issue in &report.skipped {
            eprintln!(
                "{}:{}: {}",
                issue.source,
                issue.line.unwrap_or(0),
                issue.reason
            );
        }
    }
    let suggestions = &output.suggestions;
    println!(
        "library: more like this precision@10 {:.3}, NDCG@10 {:.3}; readers hit rate@10 {:.3} over {} readers",
        suggestions.more_like_this.precision,
        suggestions.more_like_this.ndcg,
        suggestions.readers.hit_rate,
        suggestions.readers.readers
    );
}

pub fn eval(context: &Context, run_id: RunId, csv: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let report = match csv {
        Some(csv) => Some(crate::inference::evaluate_csv(
            &mut library,
            run_id,
            csv,
            headless_device(),
        )?),
        None => None,
    };
    let run = load_run(&library, run_id)?;
    let printer = ProgressPrinter::new("embedding covers");
    let index = recommend::library_index(&mut library, &run, &printer.callback(), context.cancel)?;
    let suggestions = recommend::suggestion_quality(&library, &index, 10)?;
    let output = EvalOutput {
        csv: report,
        run: run_id,
        suggestions,
    };
    context.out.print(&output, print_eval)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct RecommendOutput<'a> {
    run: RunId,
    suggestions: &'a [recommend::Suggestion],
}

impl RecommendArgs {
    fn query(&self) -> anyhow::Result<Query> {
        Ok(if let Some(book) = &self.like {
            Query::Like(book.clone())
        } else if let Some(text) = &self.text {
            Query::Text(text.clone())
        } else if let Some(image) = &self.image {
            Query::Image(image.clone())
        } else if let Some(reader) = &self.reader {
            Query::Reader(reader.clone())
        } else {
            anyhow::bail!("say what to recommend for: --like, --text, --image or --reader");
        })
    }
}

fn print_suggestions(suggestions: &[recommend::Suggestion]) {
    for (rank, s) in suggestions.iter().enumerate() {
        let focus = s.focus.map_or_else(String::new, |[x, y]| {
            format!(", looked at ({x:.2}, {y:.2})")
        });
        let shares = if s.shared_words.is_empty() {
            String::new()
        } else {
            format!(", shares: {}", s.shared_words.join(" "))
        };
        println!(
            "{:>2}. {:.3}  {} — {} [{}]  cover {:.0}% / text {:.0}%{shares}{focus}",
            rank + 1,
            s.score,
            s.title,
            s.author,
            s.category,
            100.0 * s.image_share,
            100.0 * (1.0 - s.image_share),
        );
    }
}

pub fn recommend(context: &Context, args: &RecommendArgs) -> anyhow::Result<ExitCode> {
    let query = args.query()?;
    let mut library = context.open()?;
    let run = load_run(&library, args.run)?;
    let modalities = recommend::query_modalities(&run, &query);
    let printer = ProgressPrinter::new("embedding covers");
    let index = recommend::modality_index(
        &mut library,
        &run,
        modalities,
        &printer.callback(),
        context.cancel,
    )?;
    let options = RecommendOptions {
        k: args.k,
        category: args.category.clone(),
        diverse: args.diverse,
        ..RecommendOptions::default()
    };
    let suggestions = recommend::recommend(&library, &run, &index, &query, &options)?;
    let output = RecommendOutput {
        run: args.run,
        suggestions: &suggestions,
    };
    context
        .out
        .print(&output, |o| print_suggestions(o.suggestions))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct ProjectOutput {
    run: RunId,
    method: String,
    books: usize,
    trustworthiness: f64,
    neighbours: usize,
    seconds: f64,
    out: Option<PathBuf>,
}

pub fn project(context: &Context, args: &ProjectArgs) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let run = load_run(&library, args.run)?;
    let settings = TsneSettings {
        perplexity: args.perplexity,
        iterations: args.iterations,
        seed: args.seed,
        ..TsneSettings::default()
    };
    let printer = ProgressPrinter::new(args.method.name());
    let projection = project::project_run(
        &mut library,
        &run,
        args.method,
        &settings,
        &printer.callback(),
        context.cancel,
    )?;
    if let Some(out) = &args.out {
        write_points(&library, &projection, out)?;
    }
    let output = ProjectOutput {
        run: args.run,
        method: projection.method.clone(),
        books: projection.book_ids.len(),
        trustworthiness: projection.trustworthiness,
        neighbours: projection.neighbours,
        seconds: projection.seconds,
        out: args.out.clone(),
    };
    context.out.print(&output, |o| {
        println!(
            "run {}: {} of {} books in {:.1} s, trustworthiness@{} {:.3}{}",
            o.run,
            o.method,
            o.books,
            o.seconds,
            o.neighbours,
            o.trustworthiness,
            o.out
                .as_ref()
                .map_or_else(String::new, |p| format!(", points in {}", p.display()))
        );
    })?;
    Ok(ExitCode::SUCCESS)
}

fn write_points(
    library: &Library,
    projection: &StoredProjection,
    out: &Path,
) -> anyhow::Result<()> {
    let summaries: std::collections::HashMap<_, _> = library
        .book_summaries()?
        .into_iter()
        .map(|b| (b.book_id, b))
        .collect();
    let mut writer =
        csv::Writer::from_path(out).with_context(|| format!("writing {}", out.display()))?;
    writer.write_record(["book_id", "external_id", "title", "category", "x", "y"])?;
    for (book_id, point) in projection.book_ids.iter().zip(projection.points.chunks(2)) {
        let (external_id, title, category) = summaries.get(book_id).map_or_else(
            || (String::new(), String::new(), String::new()),
            |b| (b.external_id.clone(), b.title.clone(), b.category.clone()),
        );
        writer.write_record([
            book_id.0.to_string(),
            external_id,
            title,
            category,
            point[0].to_string(),
            point[1].to_string(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}
