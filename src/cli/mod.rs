//! The command line: `shelfwise` opens the window, `shelfwise <command>` runs a
//! job without one. Results go to stdout (JSON with `--json`, decided in
//! [`output`]); progress and logs go to stderr ([`progress`]). One file per
//! command group: the library ([`library`]), word vectors ([`words`]),
//! training ([`train`]) and trained runs ([`run`]).

pub mod analysis;
pub mod curate;
pub mod library;
pub mod output;
pub mod progress;
pub mod run;
pub mod train;
pub mod weights;
pub mod words;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::jobs::Cancel;
use crate::store::{Library, RunId};
use output::Output;
pub use run::{ProjectArgs, RecommendArgs};
pub use train::TrainArgs;
pub use words::TrainWordsArgs;

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
    /// With no command: the view the window opens on (a speaker's first slide).
    #[arg(long, value_enum)]
    pub view: Option<crate::app::settings::OpenView>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a books CSV, a reading-history CSV or a Calibre library folder.
    Import {
        /// A CSV file, a folder holding books.csv, or a Calibre library folder.
        path: PathBuf,
        /// The CSV's text encoding (utf-8, utf-16le, windows-1252, latin1, ...);
        /// found from its byte-order mark or its bytes when not given.
        #[arg(long)]
        encoding: Option<String>,
    },
    /// Count the books, covers, synopses and categories of the library.
    Stats,
    /// Check the library folder: the database, every cover and thumbnail, stray
    /// files, interrupted runs and missing checkpoints; exits 1 while problems remain.
    Check {
        /// Mend what can be: remove stray files, rebuild thumbnails, forget covers that are gone.
        #[arg(long)]
        repair: bool,
    },
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
    /// The library's VGG16 backbone: show it, `get vgg16` (ImageNet, downloaded),
    /// `import FILE`, or `clear` (back to a random trunk).
    Weights {
        #[command(subcommand)]
        action: Option<weights::WeightsAction>,
    },
    /// List the library's runs (a run whose process died shows as interrupted), or delete one.
    Runs {
        #[command(subcommand)]
        action: Option<RunsAction>,
    },
    /// Evaluate a trained run: its suggestions on the library (more like this, readers),
    /// and with --csv its classification and retrieval on labelled books not imported.
    Eval {
        /// The run to evaluate (see `shelfwise train`).
        #[arg(long)]
        run: RunId,
        /// Labelled books: id,title,author,category,synopsis,cover.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Suggest books: like a book, matching a description, like an image, or for a reader.
    Recommend(RecommendArgs),
    /// Lay a run's books out in 2D (PCA or t-SNE) and score the layout.
    Project(ProjectArgs),
    /// Change a book's title, author, category, synopsis, language or cover (undoable).
    Edit(curate::EditArgs),
    /// Move books to the trash: they leave the grid, suggestions and training (undoable).
    Delete {
        /// Books by id in the import file, or by title.
        #[arg(required = true)]
        books: Vec<String>,
    },
    /// The trash: list it (default), `restore BOOK...`, or `empty` it for good.
    Trash {
        #[command(subcommand)]
        action: Option<curate::TrashAction>,
    },
    /// Take back the newest change (an edit, a delete, a restore, ...).
    Undo,
    /// Make again the change last taken back.
    Redo,
    /// Every change, newest first, with old and new values; of one book with BOOK.
    History { book: Option<String> },
    /// Write the library's books (or a shelf's) as a books CSV in the import
    /// format, with a covers folder.
    Export {
        /// An empty (or new) folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only the books on this shelf, in its order.
        #[arg(long)]
        shelf: Option<String>,
    },
    /// A run's categories for the books without one, most confident first;
    /// `--accept BOOK` makes one the librarian's.
    SuggestCategories(curate::SuggestCategoriesArgs),
    /// Books whose category the model disputes, each judged by a model fitted
    /// on the other folds (never on the book itself), most doubtful first.
    Doubtful {
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Seed of the folds.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Pairs of books that may be one: the same cover bytes, covers that look
    /// alike (perceptual hash), the same title and author.
    NearDuplicates {
        /// Most bits two covers' perceptual hashes may differ by.
        #[arg(long, default_value_t = crate::duplicates::DEFAULT_MAX_DISTANCE)]
        distance: u32,
    },
    /// Keep KEEP with the readings of both; OTHER goes to the trash (undoable).
    Merge { keep: String, other: String },
    /// Shelves: list them (default), `add SHELF BOOK...`, `remove SHELF BOOK...`, `show SHELF`.
    Shelf {
        #[command(subcommand)]
        action: Option<curate::ShelfAction>,
    },
    /// Write a sweep's report: one self-contained HTML page with its plots,
    /// tables and settings (default folder: the library's reports/).
    Report {
        /// The sweep (the `sweep` column of `shelfwise runs`).
        #[arg(long)]
        sweep: crate::store::SweepId,
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Write a run's placements of the library's books for TensorBoard
    /// Projector (TSV pair, sprite, config) or NumPy (.npy and a metadata CSV).
    Embeddings {
        #[arg(long)]
        run: RunId,
        #[arg(long, value_enum, default_value = "projector")]
        format: crate::embedding_export::EmbeddingFormat,
        /// A new or empty folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print each book's tokens, one line per book, as Word2Vec reads them.
    Preprocess {
        /// Books CSVs in the import format; without any, the library's own books.
        paths: Vec<PathBuf>,
    },
}
/// What `shelfwise runs` does besides listing.
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Remove a run: its rows, curves, tables, embeddings and checkpoint folder.
    Delete {
        /// The run to remove.
        run: RunId,
    },
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
static CANCEL: Cancel = Cancel::new(false);

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

/// What every command works with: the library folder, how to print, and the
/// cancel flag Ctrl-C sets.
pub struct Context {
    pub library_dir: PathBuf,
    pub out: Output,
    pub cancel: &'static Cancel,
}

impl Context {
    pub fn open(&self) -> anyhow::Result<Library> {
        Library::open(&self.library_dir)
            .with_context(|| format!("opening the library in {}", self.library_dir.display()))
    }
}

/// Runs a command-line job; `Ok(None)` means "no command: open the window".
pub fn run_command(cli: &Cli) -> anyhow::Result<Option<ExitCode>> {
    let Some(command) = &cli.command else {
        return Ok(None);
    };
    cancel_on_ctrl_c();
    let context = Context {
        library_dir: cli.library_dir()?,
        out: Output { json: cli.json },
        cancel: &CANCEL,
    };
    run_in(&context, command)
        .map(Some)
        .map_err(|error| name_the_full_disk(error, &context.library_dir))
}

/// SQLite says only "database or disk is full": say which folder.
fn name_the_full_disk(error: anyhow::Error, library_dir: &Path) -> anyhow::Error {
    if output::error_kind(&error) == "disk_full"
        && !crate::jobs::error_message(&error).contains("is full (")
    {
        let folder = library_dir.display();
        return error.context(format!(
            "the disk holding the library folder {folder} is full"
        ));
    }
    error
}

fn run_in(context: &Context, command: &Command) -> anyhow::Result<ExitCode> {
    let code = match command {
        Command::Import { path, encoding } => library::import(context, path, encoding.as_deref())?,
        Command::Stats => library::stats(context)?,
        Command::Info => library::info(context)?,
        Command::Check { repair } => library::check(context, *repair)?,
        Command::Preprocess { paths } => library::preprocess(context, paths)?,
        Command::Words { word, k } => words::words(context, word, *k)?,
        Command::TrainWords(args) => words::train_words(context, args)?,
        Command::Train(args) => train::train(context, args)?,
        Command::Cache(args) => train::cache(context, args)?,
        Command::Weights { action } => weights::weights(context, action.as_ref())?,
        Command::Runs { action: None } => train::list(context)?,
        Command::Runs {
            action: Some(RunsAction::Delete { run }),
        } => train::delete(context, *run)?,
        Command::Eval { run, csv } => run::eval(context, *run, csv.as_deref())?,
        Command::Recommend(args) => run::recommend(context, args)?,
        Command::Project(args) => run::project(context, args)?,
        Command::Edit(args) => curate::edit(context, args)?,
        Command::Delete { books } => curate::delete(context, books)?,
        Command::Trash { action } => curate::trash(context, action.as_ref())?,
        Command::Undo => curate::undo(context, false)?,
        Command::Redo => curate::undo(context, true)?,
        Command::History { book } => curate::history(context, book.as_deref())?,
        Command::Export { out, shelf } => curate::export(context, out, shelf.as_deref())?,
        Command::Shelf { action } => curate::shelf(context, action.as_ref())?,
        Command::SuggestCategories(args) => curate::suggest_categories(context, args)?,
        Command::NearDuplicates { distance } => curate::near_duplicates(context, *distance)?,
        Command::Doubtful { folds, seed } => curate::doubtful(context, *folds, *seed)?,
        Command::Merge { keep, other } => curate::merge(context, keep, other)?,
        Command::Report { sweep, out } => analysis::report(context, *sweep, out.as_deref())?,
        Command::Embeddings { run, format, out } => {
            analysis::embeddings(context, *run, *format, out)?
        }
    };
    Ok(code)
}
