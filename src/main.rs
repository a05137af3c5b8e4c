//! `shelfwise` opens the window; `shelfwise <command>` runs a job without one.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use shelfwise::cli::{Cli, run_command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("shelfwise: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if let Some(code) = run_command(cli)? {
        return Ok(code);
    }
    let library_dir = cli.library_dir()?;
    let demo_csv = shelfwise::paths::demo_books_csv();
    let import_demo = cli.demo_if_empty;
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("shelfwise")
            .with_inner_size([1280.0, 820.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "shelfwise",
        options,
        Box::new(move |cc| {
            Ok(Box::new(shelfwise::app::ShelfwiseApp::new(
                &cc.egui_ctx,
                library_dir,
                demo_csv,
                import_demo,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("opening the window")?;
    Ok(ExitCode::SUCCESS)
}
