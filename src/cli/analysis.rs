//! Taking a sweep's or a run's results out for others: `report` (one HTML
//! page of a sweep) and `embeddings` (a run's placements for TensorBoard
//! Projector or NumPy).

use std::path::Path;
use std::process::ExitCode;

use super::Context;
use super::progress::ProgressPrinter;
use crate::embedding_export::{EmbeddingFormat, export_embeddings};
use crate::inference::TrainedRun;
use crate::store::{RunId, SweepId};
use crate::train::headless_device;

/// `shelfwise report --sweep SWEEP [--out DIR]`.
pub fn report(context: &Context, sweep: SweepId, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let library = context.open()?;
    let folder = out.map_or_else(|| context.library_dir.join("reports"), Path::to_path_buf);
    let page = crate::report::write_sweep_report(&library, &context.library_dir, sweep, &folder)?;
    context
        .out
        .print(&serde_json::json!({ "sweep": sweep, "page": page }), |_| {
            println!("wrote the report of sweep {sweep} to {}", page.display())
        })?;
    Ok(ExitCode::SUCCESS)
}

/// `shelfwise embeddings --run RUN --format projector|npy --out DIR`.
pub fn embeddings(
    context: &Context,
    run_id: RunId,
    format: EmbeddingFormat,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let run = TrainedRun::load(&library, run_id, headless_device())?;
    let printer = ProgressPrinter::new("placing books");
    let written = export_embeddings(
        &mut library,
        &context.library_dir,
        &run,
        (run_id, format, out),
        &printer.callback(),
        context.cancel,
    )?;
    context.out.print(&written, |w| {
        println!(
            "run {}: {} books x {} dimensions written to {}",
            w.run,
            w.books,
            w.dimensions,
            out.display()
        );
        for file in &w.files {
            println!("  {}", file.display());
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
