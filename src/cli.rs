//! The command line: `shelfwise` opens the window, `shelfwise <command>` runs a
//! job without one. Results go to stdout (JSON with `--json`); progress and logs
//! go to stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::import::{self, ImportOptions, Progress};
use crate::store::Library;

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
}

impl Cli {
    pub fn library_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.library {
            Some(dir) => Ok(dir.clone()),
            None => crate::paths::default_library_dir(),
        }
    }
}

/// Runs a command-line job; `Ok(None)` means "no command: open the window".
pub fn run_command(cli: &Cli) -> anyhow::Result<Option<ExitCode>> {
    let Some(command) = &cli.command else {
        return Ok(None);
    };
    let library_dir = cli.library_dir()?;
    let open = || {
        Library::open(&library_dir)
            .with_context(|| format!("opening the library in {}", library_dir.display()))
    };
    match command {
        Command::Import { path } => {
            let mut library = open()?;
            let cancel = AtomicBool::new(false);
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
                &cancel,
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
    }
    Ok(Some(ExitCode::SUCCESS))
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}
