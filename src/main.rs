//! `shelfwise` opens the window; `shelfwise <command>` runs a job without one.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use shelfwise::cli::output::Output;
use shelfwise::cli::{Cli, run_command};

fn main() -> ExitCode {
    shelfwise::allocator::keep_freed_memory();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            Output { json: cli.json }.print_error(&error);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if let Some(code) = run_command(cli)? {
        return Ok(code);
    }
    // The window's rayon work is background work: it leaves the first core
    // and the window's threads their priority.
    shelfwise::jobs::make_rayon_background();
    let library_given = cli.library.is_some();
    let library_dir = cli.library_dir()?;
    let demo_csv = shelfwise::paths::demo_books_csv();
    let import_demo = cli.demo_if_empty;
    let view = cli.view;
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
            let settings: shelfwise::app::Settings = cc
                .storage
                .and_then(|storage| eframe::get_value(storage, shelfwise::app::SETTINGS_KEY))
                .unwrap_or_default();
            // The folder remembered from last time, unless --library names one.
            let library_dir = match &settings.library {
                Some(remembered) if !library_given && remembered.is_dir() => remembered.clone(),
                _ => library_dir,
            };
            let mut app =
                shelfwise::app::ShelfwiseApp::new(&cc.egui_ctx, library_dir, demo_csv, import_demo)
                    .with_settings(settings);
            if let Some(view) = view {
                app.open_view(view);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("opening the window")?;
    Ok(ExitCode::SUCCESS)
}
