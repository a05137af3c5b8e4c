//! The one place the window starts work: each job runs on its own thread
//! (a [`Job`]), reports through a bounded channel, wakes the window, and stops
//! on its cancel flag. File dialogs run on their own thread too.

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use super::ShelfwiseApp;
use super::curves::RunCurve;
use super::runs::run_label;
use super::train::{LiveSweep, curve_end, finishing_message, lineage_curves};
use crate::backbone;
use crate::import::{self, ImportOptions};
use crate::inference::TrainedRun;
use crate::jobs::{Job, JobContext, Progress};
use crate::model::device::Compute;
use crate::project::{Method, TsneSettings};
use crate::recommend::{self, RecommendOptions};
use crate::store::{BookId, Library, RunId};
use crate::train::{self, SweepRun, TrainEvent};

/// What a file dialog is picking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickPurpose {
    ImportSource {
        folder: bool,
    },
    Weights,
    QueryImage,
    /// A new cover for the book being edited (or, when none is, the book shown).
    Cover,
}

impl PickPurpose {
    fn dialog(self) -> rfd::FileDialog {
        let dialog = rfd::FileDialog::new();
        match self {
            PickPurpose::ImportSource { .. } => dialog
                .set_title("Import into shelfwise")
                .add_filter("CSV (books or reading history)", &["csv"]),
            PickPurpose::Weights => dialog.set_title("torchvision VGG16 weights").add_filter(
                "PyTorch .pth, safetensors or tch .ot",
                &["pth", "pt", "bin", "safetensors", "ot"],
            ),
            PickPurpose::QueryImage => dialog
                .set_title("An image to find covers like")
                .add_filter("images", &["jpg", "jpeg", "png", "webp", "gif", "bmp"]),
            PickPurpose::Cover => dialog.set_title("The book's new cover").add_filter(
                "images",
                &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"],
            ),
        }
    }
}

/// Everything a job of the window needs from it: where the library is, where
/// to compute, and how to wake the window.
#[derive(Clone)]
struct JobSetup {
    library_dir: PathBuf,
    compute: Compute,
    ctx: egui::Context,
}

impl JobSetup {
    fn spawn<T: Send + 'static>(
        &self,
        name: impl Into<String>,
        work: impl FnOnce(&JobContext<T>, &JobSetup) -> anyhow::Result<T> + Send + 'static,
    ) -> Job<T> {
        let setup = self.clone();
        let repaint = self.ctx.clone();
        Job::spawn(
            name,
            move || repaint.request_repaint(),
            move |job| work(job, &setup),
        )
    }

    fn open(&self) -> anyhow::Result<Library> {
        Ok(Library::open(&self.library_dir)?)
    }

    fn load_run(&self, library: &Library, run_id: RunId) -> anyhow::Result<TrainedRun> {
        Ok(TrainedRun::load(library, run_id, self.compute.device())?)
    }
}

impl ShelfwiseApp {
    fn job_setup(&self, ctx: &egui::Context) -> JobSetup {
        JobSetup {
            library_dir: self.library_dir.clone(),
            compute: self.settings.compute(),
            ctx: ctx.clone(),
        }
    }

    /// The run the explore views use, or why there is none.
    fn explore_run_or_say(&mut self, what: &str) -> Option<RunId> {
        let run = self.runs.explore_run();
        if run.is_none() {
            self.message = Some(format!("Train a run first: {what} a trained model."));
        }
        run
    }

    /// Downloads torchvision's ImageNet VGG16 into the library (resuming a cut download).
    pub fn start_backbone_download(&mut self, ctx: &egui::Context) {
        if self.backbone.job.is_some() {
            return;
        }
        self.backbone.job = Some(self.job_setup(ctx).spawn("ImageNet VGG16", |job, setup| {
            let request = backbone::DownloadRequest {
                url: backbone::VGG16_URL,
                sha256: backbone::VGG16_SHA256,
            };
            let on_progress = |p: Progress| job.progress(p, "bytes");
            Ok(backbone::get_vgg16(
                &setup.library_dir,
                &request,
                &on_progress,
                job.cancel_flag(),
            )?)
        }));
    }

    /// Makes a weights file the librarian chose the library's backbone.
    pub fn start_backbone_import(&mut self, ctx: &egui::Context, file: PathBuf) {
        if self.backbone.job.is_some() {
            return;
        }
        self.backbone.job = Some(self.job_setup(ctx).spawn("VGG16 weights", move |_, setup| {
            Ok(backbone::import(&setup.library_dir, &file)?)
        }));
    }

    /// The explore run's categories for the books without one, as the
    /// Library view's review queue.
    pub fn start_category_review(&mut self, ctx: &egui::Context) {
        if self.library.review_job.is_some() {
            return;
        }
        let Some(run_id) = self.explore_run_or_say("categories are suggested by") else {
            self.status = self.message.take();
            return;
        };
        self.library.trash = None;
        self.library.review_job =
            Some(self.job_setup(ctx).spawn("categories", move |job, setup| {
                let mut library = setup.open()?;
                let run = setup.load_run(&library, run_id)?;
                let progress = |p: Progress| job.progress(p, "covers");
                Ok(run.suggest_categories(&mut library, &progress, job.cancel_flag())?)
            }));
    }

    /// Cross-fits the fold models in the background, for the Library view's
    /// list of doubtful labels.
    pub fn start_doubtful(&mut self, ctx: &egui::Context) {
        if self.library.doubtful_job.is_some() {
            return;
        }
        self.library.doubtful_job =
            Some(self.job_setup(ctx).spawn("doubtful labels", |job, setup| {
                let mut library = setup.open()?;
                let progress = |p: Progress| job.progress(p, "fold models");
                Ok(crate::train::doubtful::doubtful_labels(
                    &mut library,
                    5,
                    1,
                    &progress,
                    job.cancel_flag(),
                )?)
            }));
    }

    /// Looks for near-duplicates in the background, for the Library view's list.
    pub fn start_near_duplicates(&mut self, ctx: &egui::Context) {
        if self.library.duplicates_job.is_some() {
            return;
        }
        self.library.trash = None;
        self.library.review = None;
        self.library.duplicates_job =
            Some(self.job_setup(ctx).spawn("near-duplicates", |job, setup| {
                let library = setup.open()?;
                let progress = |p: Progress| job.progress(p, "covers");
                Ok(crate::duplicates::near_duplicates(
                    &library,
                    crate::duplicates::DEFAULT_MAX_DISTANCE,
                    &progress,
                    job.cancel_flag(),
                )?)
            }));
    }

    /// What "Export books" writes: the chosen books, else the shelf shown
    /// (in its order), else every book.
    fn books_to_export(&self) -> Option<Vec<crate::store::BookId>> {
        if !self.library.chosen.is_empty() {
            return Some(self.library.chosen.iter().copied().collect());
        }
        self.library.shelf_order.clone()
    }

    /// Writes the library's books (in the import format, with their covers)
    /// into a new folder under the library's `exports/`.
    pub fn start_export_books(&mut self, ctx: &egui::Context) {
        if self.exports.books_job.is_some() {
            return;
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // A new folder each time, even for two exports in one second.
        let exports = self.library_dir.join("exports");
        let out = (0..)
            .map(|n| match n {
                0 => exports.join(format!("books-{stamp}")),
                n => exports.join(format!("books-{stamp}-{n}")),
            })
            .find(|folder| !folder.exists())
            .expect("a free folder name");
        let only = self.books_to_export();
        self.exports.books_job = Some(self.job_setup(ctx).spawn("export", move |job, setup| {
            let library = setup.open()?;
            let on_progress = |p: Progress| job.progress(p, "books");
            Ok(crate::export::export_books(
                &library,
                only.as_deref(),
                &out,
                &on_progress,
                job.cancel_flag(),
            )?)
        }));
    }

    /// Starts importing `path` in the background, or queues it behind a running import.
    pub fn start_import(&mut self, ctx: &egui::Context, path: PathBuf) {
        if self.imports.job.is_some() {
            self.imports.queued.push_back(path);
            return;
        }
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.status = None;
        self.imports.job = Some(self.job_setup(ctx).spawn(name, move |job, setup| {
            let mut library = setup.open()?;
            let on_progress = |p: Progress| job.progress(p, "");
            let options = ImportOptions::default();
            Ok(import::import_path(
                &mut library,
                &path,
                options,
                &on_progress,
                job.cancel_flag(),
            )?)
        }));
    }

    pub(crate) fn cancel_import(&mut self) {
        if let Some(job) = &self.imports.job {
            job.cancel();
        }
        self.imports.queued.clear();
    }

    /// Starts the form's sweep in the background.
    pub fn start_sweep(&mut self, ctx: &egui::Context) {
        if self.train.job.is_some() {
            return;
        }
        let request = match self.train.form.request(self.backbone.weights()) {
            Ok(request) => request,
            Err(reason) => {
                self.message = Some(reason);
                return;
            }
        };
        let configs = request.configs();
        let several_seeds = !request.seeds.is_empty();
        let labels = configs
            .iter()
            .map(|c| {
                let seed = several_seeds.then_some(c.seed as i64);
                (c.modalities.run_label(c.beta), seed)
            })
            .collect();
        let base = &request.base;
        let labelled = self
            .library
            .categories
            .iter()
            .filter(|(c, _)| !c.is_empty());
        let (books, held_out) = labelled.fold((0, 0), |(books, held), &(_, size)| {
            (
                books + size,
                held + train::split::held_out_of(size, base.validation_share),
            )
        });
        let per_batch = (base.categories_per_batch * base.books_per_category).max(1);
        let train_books = books - held_out;
        let epochs: usize = configs.iter().map(|c| c.epochs).sum();
        let total_steps = epochs * train_books.div_ceil(per_batch).max(1);
        self.train.sweep_note = Some(super::train::sweep_note(&request, books, train_books));
        self.start_training(
            ctx,
            ("sweep".into(), labels),
            (total_steps, Vec::new()),
            move |setup, on_event, job| {
                let device = setup.compute.device();
                Ok(train::run_sweep(
                    &setup.library_dir,
                    &request,
                    device,
                    on_event,
                    job.cancel_flag(),
                )?)
            },
        );
    }

    /// Writes a sweep's report (plots, tables, settings) as one HTML page
    /// under the library's `reports/` folder, in the background.
    pub fn start_sweep_report(&mut self, ctx: &egui::Context, sweep: crate::store::SweepId) {
        if self.exports.report_job.is_some() {
            return;
        }
        let name = format!("report of sweep {sweep}");
        self.exports.report_job = Some(self.job_setup(ctx).spawn(name, move |job, setup| {
            job.progress(Progress::new(0, 1), "reading the sweep");
            let library = setup.open()?;
            let folder = setup.library_dir.join("reports");
            let page =
                crate::report::write_sweep_report(&library, &setup.library_dir, sweep, &folder)?;
            Ok(page)
        }));
    }

    /// Goes on with a stopped run from its last checkpoint.
    pub fn resume_run(&mut self, ctx: &egui::Context, run_id: RunId) {
        if self.train.job.is_some() {
            return;
        }
        let label = self
            .runs
            .listing(run_id)
            .map_or_else(String::new, run_label);
        self.start_training(
            ctx,
            (format!("run {run_id}"), vec![(label, None)]),
            (0, Vec::new()),
            move |setup, on_event, job| {
                let device = setup.compute.device();
                let dir = &setup.library_dir;
                Ok(vec![train::resume_run(
                    dir,
                    run_id,
                    None,
                    device,
                    on_event,
                    job.cancel_flag(),
                )?])
            },
        );
    }

    /// Fine-tunes finished run `parent` on the library as it is now; its live
    /// curve goes on from the parent's.
    pub fn fine_tune_run(&mut self, ctx: &egui::Context, parent: RunId) {
        if self.train.job.is_some() {
            return;
        }
        let Some(store) = &self.store else {
            return;
        };
        let lead = match lineage_curves(store, &self.runs, parent) {
            Ok(curves) => curves,
            Err(error) => {
                self.message = Some(format!("Cannot read run {parent}'s curves: {error}"));
                return;
            }
        };
        let label = self
            .runs
            .listing(parent)
            .map_or_else(String::new, |listing| {
                let kind = listing.modalities.run_label(listing.beta);
                format!("{kind}, from run {parent}")
            });
        self.start_training(
            ctx,
            (format!("fine-tune of run {parent}"), vec![(label, None)]),
            (0, lead),
            move |setup, on_event, job| {
                let device = setup.compute.device();
                Ok(vec![train::fine_tune_run(
                    &setup.library_dir,
                    parent,
                    train::FineTuneRequest::default(),
                    device,
                    on_event,
                    job.cancel_flag(),
                )?])
            },
        );
    }

    /// A training job whose events feed the live curves and the progress bar;
    /// `lead`: curves drawn before the job's own, which go on from the last.
    fn start_training(
        &mut self,
        ctx: &egui::Context,
        (name, labels): (String, Vec<(String, Option<i64>)>),
        (total_steps, lead): (usize, Vec<RunCurve>),
        train: impl FnOnce(
            &JobSetup,
            &mut dyn FnMut(RunId, &TrainEvent),
            &JobContext<Vec<SweepRun>>,
        ) -> anyhow::Result<Vec<SweepRun>>
        + Send
        + 'static,
    ) {
        self.train.live = Arc::new(Mutex::new(LiveSweep {
            offset: lead.last().map_or([0.0, 0.0], curve_end),
            curves: lead,
            pending: labels,
        }));
        self.runs.chosen = None;
        self.train.chosen_curves.clear();
        self.message = None;
        let live = Arc::clone(&self.train.live);
        self.train.job = Some(self.job_setup(ctx).spawn(name, move |job, setup| {
            // The window's queries and frames come first on the cores, and
            // keep one of their own.
            crate::jobs::lower_thread_priority();
            crate::jobs::leave_first_core_free();
            let mut steps = 0usize;
            let mut on_event = |run_id: RunId, event: &TrainEvent| {
                if let Ok(mut live) = live.lock() {
                    live.record(run_id, event);
                }
                let shown = |steps: usize| {
                    Progress::new(
                        if total_steps > 0 {
                            steps.min(total_steps)
                        } else {
                            steps
                        },
                        total_steps,
                    )
                };
                match event {
                    TrainEvent::Step { .. } => {
                        steps += 1;
                        job.progress(shown(steps), format!("run {run_id}"));
                    }
                    // Minutes on a large library with no step to show.
                    TrainEvent::Finishing => job.progress(shown(steps), finishing_message(run_id)),
                    TrainEvent::Epoch { .. } => {}
                }
            };
            train(setup, &mut on_event, job)
        }));
    }

    pub fn start_attention(&mut self, ctx: &egui::Context, book_id: BookId) {
        let Some(run_id) = self.explore_run_or_say("attention maps come from") else {
            return;
        };
        let name = format!("attention of book {book_id}");
        self.attention.job = Some(self.job_setup(ctx).spawn(name, move |job, setup| {
            job.progress(Progress::new(0, 1), "loading the run");
            let library = setup.open()?;
            let run = setup.load_run(&library, run_id)?;
            let maps = run
                .attention(&library, book_id)?
                .ok_or_else(|| anyhow::anyhow!("book {book_id} is not in the library"))?;
            Ok((book_id, maps))
        }));
    }

    pub fn start_projection(&mut self, ctx: &egui::Context, method: Method) {
        let Some(run_id) = self.explore_run_or_say("the projection lays out the embeddings of")
        else {
            return;
        };
        self.projection.selection.clear();
        let name = format!("{} of run {run_id}", method.name());
        self.projection.job = Some(self.job_setup(ctx).spawn(name, move |job, setup| {
            let mut library = setup.open()?;
            let run = setup.load_run(&library, run_id)?;
            let progress = |p: Progress| job.progress(p, "");
            let settings = TsneSettings::default();
            let cancel = job.cancel_flag();
            Ok(crate::project::project_run(
                &mut library,
                &run,
                method,
                &settings,
                &progress,
                cancel,
            )?)
        }));
    }

    pub fn start_recommend(&mut self, ctx: &egui::Context) {
        let Some(run_id) = self.explore_run_or_say("suggestions come from") else {
            return;
        };
        let query = match self.recommend.query(self.library.selected.as_ref()) {
            Ok(query) => query,
            Err(missing) => {
                self.message = Some(missing.into());
                return;
            }
        };
        let options = RecommendOptions {
            k: self.recommend.count.max(1),
            diverse: self.recommend.diverse,
            ..RecommendOptions::default()
        };
        self.message = None;
        let cache = self.recommend.index_cache.clone();
        self.recommend.job = Some(self.job_setup(ctx).spawn("suggestions", move |job, setup| {
            let progress = |p: Progress| job.progress(p, "embedding books");
            let prepared = cache.prepare(
                &setup.library_dir,
                run_id,
                &query,
                |library| Ok(TrainedRun::load(library, run_id, setup.compute.device())?),
                &progress,
                job.cancel_flag(),
            )?;
            Ok(recommend::recommend(
                prepared.library(),
                prepared.run(),
                prepared.index(),
                &query,
                &options,
            )?)
        }));
    }

    /// Checks the library in the background (`shelfwise check` without
    /// repairs), so that a library that opens with problems says so.
    pub fn start_check(&mut self, ctx: &egui::Context) {
        self.check_job = Some(self.job_setup(ctx).spawn("library check", |_, setup| {
            Ok(crate::check::check_library(&setup.library_dir, false)?)
        }));
    }

    /// Opens a native file dialog on its own thread, so the window keeps drawing.
    pub fn pick_file(&mut self, ctx: &egui::Context, purpose: PickPurpose) {
        let (sender, receiver) = sync_channel(1);
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("shelfwise-file-dialog".into())
            .spawn(move || {
                let dialog = purpose.dialog();
                let picked = match purpose {
                    PickPurpose::ImportSource { folder: true } => dialog.pick_folder(),
                    _ => dialog.pick_file(),
                };
                let _ = sender.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.file_pick = Some((purpose, receiver)),
            Err(error) => self.status = Some(format!("Cannot open the file dialog: {error}")),
        }
    }
}
