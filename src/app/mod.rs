//! The window's state and what changes it, as re_viewer's `app/` is laid out:
//! one type, [`ShelfwiseApp`], holding each view's state ([`library`],
//! [`train`], [`explore`], [`runs`], [`settings`]); the commands views return
//! ([`commands`]); the one place jobs are spawned ([`tasks`]); draining job
//! events into state ([`logic`]); and exports ([`exports`]). Drawing lives in
//! `ui`; no SQL here beyond calls into `store`, and no tch at all.

pub mod backbone;
pub mod commands;
pub mod curation;
pub mod explore;
pub mod exports;
pub mod library;
pub mod logic;
pub mod projection_facts;
pub mod runs;
pub mod settings;
pub mod tasks;
pub mod train;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

pub use crate::analysis::curves::{self, RunCurve, smooth};
pub use backbone::BackboneState;
pub use commands::Command;
pub use explore::{AttentionState, ProjectionState, QueryKind, RecommendState};
pub use library::{EditDraft, LibraryState};
pub use runs::RunsState;
pub use settings::{DeviceChoice, SETTINGS_KEY, Settings, View};
pub use tasks::PickPurpose;
pub use train::{LiveSweep, TrainForm, TrainPanel, TrainState};

use crate::import::ImportReport;
use crate::jobs::Job;
use crate::store::{BookId, Library, RunId};

/// Imports: the running one, those queued behind it, and the last report.
#[derive(Default)]
pub struct ImportState {
    pub job: Option<Job<ImportReport>>,
    pub queued: VecDeque<PathBuf>,
    pub last_report: Option<ImportReport>,
    pub report_open: bool,
}

/// The shelfwise window.
pub struct ShelfwiseApp {
    pub(crate) library_dir: PathBuf,
    /// The open library; `None` when it could not be opened (the status says why).
    pub(crate) store: Option<Library>,
    pub view: View,
    pub library: LibraryState,
    pub imports: ImportState,
    pub runs: RunsState,
    pub train: TrainState,
    pub attention: AttentionState,
    pub projection: ProjectionState,
    pub recommend: RecommendState,
    pub settings: Settings,
    /// The library's VGG16 backbone and the job fetching one.
    pub backbone: BackboneState,
    /// The Settings view's typed library folder.
    pub library_entry: String,
    pub demo_csv: Option<PathBuf>,
    /// The status bar's line: what went wrong, or what was just done.
    pub status: Option<String>,
    /// The workbench views' line: how training and explaining went.
    pub message: Option<String>,
    pub(crate) exports: exports::Exports,
    /// The library check run when a library opens; its findings go to the status bar.
    pub(crate) check_job: Option<Job<crate::check::CheckReport>>,
    file_pick: Option<(PickPurpose, Receiver<Option<PathBuf>>)>,
}

impl ShelfwiseApp {
    /// Opens the library in `library_dir`; when `import_demo_if_empty` is set and
    /// the library has no books, imports the demo library in the background.
    pub fn new(
        ctx: &egui::Context,
        library_dir: PathBuf,
        demo_csv: Option<PathBuf>,
        import_demo_if_empty: bool,
    ) -> Self {
        egui_extras::install_image_loaders(ctx);
        let mut app = Self {
            library_entry: library_dir.display().to_string(),
            library_dir,
            store: None,
            view: View::Library,
            library: LibraryState::default(),
            imports: ImportState::default(),
            runs: RunsState::default(),
            train: TrainState::default(),
            attention: AttentionState::default(),
            projection: ProjectionState::default(),
            recommend: RecommendState::default(),
            settings: Settings::default(),
            backbone: BackboneState::default(),
            demo_csv,
            status: None,
            message: None,
            exports: exports::Exports::default(),
            check_job: None,
            file_pick: None,
        };
        match Library::open(&app.library_dir) {
            Ok(library) => app.store = Some(library),
            Err(error) => {
                app.status = Some(format!(
                    "Cannot open the library in {}: {error}",
                    app.library_dir.display()
                ));
            }
        }
        app.reload_books();
        app.reload_shelves();
        app.reload_runs();
        app.backbone.refresh(&app.library_dir);
        if app.store.is_some() {
            app.start_check(ctx);
        }
        app.say_if_read_only();
        if import_demo_if_empty
            && app.library.books.is_empty()
            && app
                .store
                .as_ref()
                .is_some_and(|store| !store.is_read_only())
            && let Some(demo) = app.demo_csv.clone()
        {
            app.start_import(ctx, demo);
        }
        app
    }

    /// Restores remembered settings (the library folder is the caller's to honour).
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    pub fn library_dir(&self) -> &Path {
        &self.library_dir
    }

    /// Re-reads the book list after an import and re-applies the filters.
    pub(crate) fn reload_books(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        match store.book_summaries() {
            Ok(books) => self.library.set_books(books),
            Err(error) => self.status = Some(format!("Cannot read the library: {error}")),
        }
    }

    /// Re-reads the run table (and the chosen run's curves); with nothing
    /// chosen and nothing training, the best run's sweep is shown.
    pub(crate) fn reload_runs(&mut self) {
        let Some(store) = &mut self.store else {
            return;
        };
        if let Err(error) = self.runs.reload(store) {
            self.message = Some(format!("Cannot read the runs: {error}"));
        }
        let live_empty = self.train.live_curves().is_empty();
        if self.runs.chosen.is_none() && self.train.job.is_none() && live_empty {
            self.runs.chosen = self.runs.explore_run();
        }
        if let Some(run_id) = self.runs.chosen {
            if let Err(error) = self.train.load_curves(store, &self.runs, run_id) {
                self.message = Some(format!("Cannot read run {run_id}'s curves: {error}"));
            }
            self.train.evaluation.load(&self.library_dir, run_id);
        }
    }

    pub(crate) fn select(&mut self, book_id: BookId) {
        let Some(store) = &self.store else {
            return;
        };
        if self
            .library
            .draft
            .as_ref()
            .is_some_and(|d| d.book_id != book_id)
        {
            self.library.draft = None;
        }
        match store.book_detail(book_id) {
            Ok(detail) => self.library.selected = detail,
            Err(error) => self.status = Some(format!("Cannot read book {book_id}: {error}")),
        }
    }

    /// Shows a book in the Library view's detail panel.
    pub fn open_book(&mut self, book_id: BookId) {
        self.select(book_id);
        self.view = View::Library;
    }

    /// Opens the window on `view` (`shelfwise --view`).
    pub fn open_view(&mut self, view: settings::OpenView) {
        use settings::OpenView;
        let view = match view {
            OpenView::Library => View::Library,
            OpenView::Train => View::Train,
            OpenView::Evaluation => {
                self.train.panel = TrainPanel::Evaluation;
                View::Train
            }
            OpenView::Attention => View::Attention,
            OpenView::Projection => View::Projection,
            OpenView::Recommend => View::Recommend,
            OpenView::Settings => View::Settings,
        };
        self.switch_view(view);
    }

    pub fn switch_view(&mut self, view: View) {
        self.view = view;
        self.reload_runs();
        if view == View::Projection && self.projection.projection.is_none() {
            self.load_stored_projection();
        }
    }

    /// Removes a run and its folder (refused while a job trains it).
    pub fn delete_run(&mut self, run_id: RunId) {
        match crate::train::delete_run(&self.library_dir, run_id) {
            Ok(()) => {
                self.message = Some(format!("Deleted run {run_id}."));
                if self.runs.chosen == Some(run_id) {
                    self.runs.chosen = None;
                    self.train.chosen_curves.clear();
                }
            }
            Err(error) => self.message = Some(format!("Cannot delete run {run_id}: {error}")),
        }
        self.reload_runs();
    }

    pub fn choose_run(&mut self, run_id: RunId) {
        self.runs.chosen = Some(run_id);
        self.reload_runs();
        self.projection.projection = None;
        self.load_stored_projection();
    }

    /// Shows a stored projection of the explore run, if one was computed before.
    pub(crate) fn load_stored_projection(&mut self) {
        let (Some(store), Some(run_id)) = (&self.store, self.runs.explore_run()) else {
            return;
        };
        match store.projection(run_id, self.projection.method.name()) {
            Ok(Some(stored)) => self.projection.projection = Some(stored),
            Ok(None) => {}
            Err(error) => self.message = Some(format!("Cannot read the projection: {error}")),
        }
        self.load_projection_facts();
    }

    /// Reads what the projection colours by, for the explore run (again
    /// when it changed or trained since).
    pub(crate) fn load_projection_facts(&mut self) {
        let (Some(store), Some(run_id)) = (&self.store, self.runs.explore_run()) else {
            return;
        };
        match projection_facts::ProjectionFacts::read(store, &self.library_dir, run_id) {
            Ok(facts) => self.projection.facts = facts,
            Err(error) => {
                self.message = Some(format!(
                    "Cannot read run {run_id}'s books for colouring: {error}"
                ))
            }
        }
    }

    /// A library on a read-only disk says what still works.
    fn say_if_read_only(&mut self) {
        if self.store.as_ref().is_some_and(Library::is_read_only) {
            self.status = Some(format!(
                "{} is read-only: browsing, recommendations and stored projections work; importing and training need a writable copy.",
                self.library_dir.display()
            ));
        }
    }

    /// Re-opens the window on another library folder.
    pub fn open_library(&mut self, folder: PathBuf) {
        match Library::open(&folder) {
            Ok(library) => {
                self.store = Some(library);
                self.library_dir = folder.clone();
                self.settings.library = Some(folder);
                self.library.selected = None;
                self.library.shelf = None;
                self.projection.projection = None;
                self.recommend.suggestions.clear();
                self.attention.shown.clear();
                self.runs.chosen = None;
                self.reload_books();
                self.reload_shelves();
                self.reload_runs();
                self.backbone.refresh(&self.library_dir);
                self.status = Some(format!("Opened {}", self.library_dir.display()));
                self.check_job = None;
                self.say_if_read_only();
            }
            Err(error) => {
                self.status = Some(format!(
                    "Cannot open the library in {}: {error}",
                    folder.display()
                ))
            }
        }
    }
}

/// A `file://` URI egui's loaders understand.
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}
