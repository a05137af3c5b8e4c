//! The workbench's state and jobs: training sweeps with live curves, past
//! runs with their tables, attention maps, projections and suggestions. Each
//! long piece of work is a [`Job`] on its own thread that reports through a
//! bounded channel and stops on its cancel flag; the curves of a running
//! sweep are shared through a mutex the job holds only to append a point.
//! Drawing lives in `ui_workbench`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::inference::{AttentionMaps, TrainedRun};
use crate::jobs::{Job, JobOutcome};
use crate::project::{Method, TsneSettings};
use crate::recommend::{self, Query, RecommendOptions, Suggestion};
use crate::store::{BookId, Library, RunListing, StoredProjection};
use crate::train::{self, Modalities, SweepRequest, SweepRun, TrainConfig, TrainEvent};

/// The window's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum View {
    Library,
    Train,
    Attention,
    Projection,
    Recommend,
    Settings,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Library,
        View::Train,
        View::Attention,
        View::Projection,
        View::Recommend,
        View::Settings,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Library => "Library",
            View::Train => "Train",
            View::Attention => "Attention",
            View::Projection => "Projection",
            View::Recommend => "Recommend",
            View::Settings => "Settings",
        }
    }
}

/// Where training runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else the CPU with one core left free.
    Auto,
    Cpu,
}

/// What the window remembers between sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The library folder to open next time (`--library` overrides it).
    pub library: Option<PathBuf>,
    pub device: DeviceChoice,
    /// libtorch's CPU threads; 0 = all cores but one.
    pub threads: usize,
    /// torchvision VGG16 weights for the trunk, when the librarian has them.
    pub weights: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            library: None,
            device: DeviceChoice::Auto,
            threads: 0,
            weights: None,
        }
    }
}

/// The Train view's form.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub betas: String,
    pub single_modal: bool,
    pub epochs: usize,
    pub categories_per_batch: usize,
    pub books_per_category: usize,
    pub learning_rate: f64,
    pub image_size: i64,
    pub width: f64,
}

impl Default for TrainForm {
    fn default() -> Self {
        let defaults = TrainConfig::default();
        Self {
            betas: "0.2, 0.3, 0.5".into(),
            single_modal: true,
            epochs: defaults.epochs,
            categories_per_batch: defaults.categories_per_batch,
            books_per_category: defaults.books_per_category,
            learning_rate: defaults.learning_rate,
            image_size: defaults.trunk.image_size,
            width: defaults.trunk.width,
        }
    }
}

impl TrainForm {
    /// The small sweep a speaker runs live on the demo library: three betas
    /// and both single-modal runs in a few minutes on a 2-core CPU.
    pub fn demo() -> Self {
        Self {
            betas: "0.2, 0.3, 0.5".into(),
            single_modal: true,
            epochs: 20,
            categories_per_batch: 5,
            books_per_category: 8,
            learning_rate: 3e-3,
            image_size: 128,
            width: 0.5,
        }
    }

    /// The sweep this form asks for, or what is wrong with it.
    pub fn request(&self, weights: Option<PathBuf>) -> Result<SweepRequest, String> {
        let mut betas = Vec::new();
        for part in self
            .betas
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let beta: f64 = part
                .parse()
                .map_err(|_| format!("beta `{part}` is not a number"))?;
            if !(0.0..=1.0).contains(&beta) {
                return Err(format!("beta {beta} is outside 0..1"));
            }
            betas.push(beta);
        }
        if betas.is_empty() {
            return Err("give at least one beta, e.g. 0.3".into());
        }
        if self.epochs == 0 || self.categories_per_batch == 0 || self.books_per_category == 0 {
            return Err("epochs, P and K must be at least 1".into());
        }
        let mut base = TrainConfig {
            epochs: self.epochs,
            categories_per_batch: self.categories_per_batch,
            books_per_category: self.books_per_category,
            learning_rate: self.learning_rate,
            ..TrainConfig::default()
        };
        base.trunk.image_size = self.image_size;
        base.trunk.width = self.width;
        if weights.is_some() {
            base.trunk.weights = weights;
            base.trunk.width = 1.0;
        }
        Ok(SweepRequest {
            betas,
            single_modal: self.single_modal,
            base,
        })
    }
}

/// One run's curves: loss per step, validation accuracy per epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunCurve {
    pub run_id: i64,
    pub label: String,
    /// `[step, loss]`.
    pub losses: Vec<[f64; 2]>,
    /// `[epoch, validation accuracy]`.
    pub accuracy: Vec<[f64; 2]>,
}

/// The curves of the sweep in progress, shared with its job.
#[derive(Debug, Default)]
pub struct LiveSweep {
    pub curves: Vec<RunCurve>,
    /// Labels of the runs not started yet, in order.
    pending: Vec<String>,
}

impl LiveSweep {
    fn record(&mut self, run_id: i64, event: &TrainEvent) {
        if !self.curves.iter().any(|c| c.run_id == run_id) {
            let label = if self.pending.is_empty() {
                format!("run {run_id}")
            } else {
                format!("run {run_id}: {}", self.pending.remove(0))
            };
            self.curves.push(RunCurve {
                run_id,
                label,
                ..RunCurve::default()
            });
        }
        let curve = self
            .curves
            .iter_mut()
            .find(|c| c.run_id == run_id)
            .expect("just added");
        match event {
            TrainEvent::Step { step, loss, .. } => curve.losses.push([*step as f64, *loss]),
            TrainEvent::Epoch {
                epoch,
                val_accuracy,
                ..
            } => curve.accuracy.push([*epoch as f64, *val_accuracy]),
        }
    }
}

/// A run's label as curves and tables show it.
pub fn run_label(beta: f64, modalities: &str) -> String {
    match modalities {
        "fused" => format!("fused, β {beta}"),
        other => format!("{other} only"),
    }
}

/// Everything the workbench views hold.
pub struct Workbench {
    pub view: View,
    pub settings: Settings,
    pub form: TrainForm,
    pub train_job: Option<Job<Vec<SweepRun>>>,
    pub live: Arc<Mutex<LiveSweep>>,
    pub runs: Vec<RunListing>,
    /// The run chosen in the run table: its stored curves and tables.
    pub chosen_run: Option<i64>,
    pub chosen_curves: Vec<RunCurve>,
    pub smoothing: f64,
    pub log_scale: bool,
    pub attention_job: Option<Job<(BookId, AttentionMaps)>>,
    /// Up to two books' maps, side by side.
    pub attention: Vec<(BookId, AttentionMaps)>,
    pub attention_scale: usize,
    pub attention_opacity: f32,
    pub projection_method: Method,
    pub projection_job: Option<Job<StoredProjection>>,
    pub projection: Option<StoredProjection>,
    pub projection_selection: Vec<BookId>,
    /// Each projected book's place on screen in the last frame drawn.
    pub projection_screen: Vec<(BookId, egui::Pos2)>,
    pub box_select: bool,
    /// Where the box being dragged started.
    pub box_origin: Option<egui::Pos2>,
    pub query_kind: QueryKind,
    pub query_text: String,
    pub query_image: Option<PathBuf>,
    pub query_reader: String,
    pub suggestion_count: usize,
    pub diverse: bool,
    pub recommend_job: Option<Job<Vec<Suggestion>>>,
    pub suggestions: Vec<Suggestion>,
    pub message: Option<String>,
    /// Runs of the live sweep already in the run table.
    listed_live_runs: usize,
}

/// What the Recommend view asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    SelectedBook,
    Description,
    Image,
    Reader,
}

impl Default for Workbench {
    fn default() -> Self {
        Self {
            view: View::Library,
            settings: Settings::default(),
            form: TrainForm::default(),
            train_job: None,
            live: Arc::new(Mutex::new(LiveSweep::default())),
            runs: Vec::new(),
            chosen_run: None,
            chosen_curves: Vec::new(),
            smoothing: 0.0,
            log_scale: false,
            attention_job: None,
            attention: Vec::new(),
            attention_scale: 3,
            attention_opacity: 0.6,
            projection_method: Method::Pca,
            projection_job: None,
            projection: None,
            projection_selection: Vec::new(),
            projection_screen: Vec::new(),
            box_select: false,
            box_origin: None,
            query_kind: QueryKind::SelectedBook,
            query_text: String::new(),
            query_image: None,
            query_reader: String::new(),
            suggestion_count: 10,
            diverse: false,
            recommend_job: None,
            suggestions: Vec::new(),
            message: None,
            listed_live_runs: 0,
        }
    }
}

impl Workbench {
    /// The device jobs use; the threads setting, when given, overrides the
    /// "all cores but one" that `training_device` picks.
    fn device(&self) -> tch::Device {
        let device = match self.settings.device {
            DeviceChoice::Auto => train::training_device(),
            DeviceChoice::Cpu => tch::Device::Cpu,
        };
        if self.settings.threads > 0 {
            tch::set_num_threads(self.settings.threads as i32);
        }
        device
    }

    /// Re-reads the run table (and the chosen run's curves); with nothing
    /// chosen and nothing training, the newest run's sweep is shown.
    pub fn reload_runs(&mut self, library: &Library) {
        match library.runs() {
            Ok(runs) => self.runs = runs,
            Err(error) => self.message = Some(format!("Cannot read the runs: {error}")),
        }
        let live_empty = self
            .live
            .lock()
            .map(|l| l.curves.is_empty())
            .unwrap_or(true);
        if self.chosen_run.is_none() && self.train_job.is_none() && live_empty {
            self.chosen_run = self.explore_run();
        }
        if let Some(run) = self.chosen_run {
            self.choose_run(library, run);
        }
    }

    /// Loads a past run's curves from the library.
    pub fn choose_run(&mut self, library: &Library, run_id: i64) {
        self.chosen_run = Some(run_id);
        let Some(listing) = self.runs.iter().find(|r| r.run_id == run_id) else {
            return;
        };
        // The whole sweep of the run, so that its curves lie side by side.
        let members: Vec<&RunListing> = match listing.sweep_id {
            Some(sweep) => self
                .runs
                .iter()
                .filter(|r| r.sweep_id == Some(sweep))
                .collect(),
            None => vec![listing],
        };
        let mut curves = Vec::new();
        for member in members.iter().rev() {
            let steps = library.run_steps(member.run_id).unwrap_or_default();
            let epochs = library.run_epochs(member.run_id).unwrap_or_default();
            curves.push(RunCurve {
                run_id: member.run_id,
                label: format!(
                    "run {}: {}",
                    member.run_id,
                    run_label(member.beta, &member.modalities)
                ),
                losses: steps.iter().map(|s| [s.step as f64, s.loss]).collect(),
                accuracy: epochs
                    .iter()
                    .map(|e| [e.epoch as f64, e.val_accuracy])
                    .collect(),
            });
        }
        self.chosen_curves = curves;
    }

    /// Starts the form's sweep in the background.
    pub fn start_sweep(&mut self, ctx: &egui::Context, library_dir: &Path, books: usize) {
        if self.train_job.is_some() {
            return;
        }
        let request = match self.form.request(self.settings.weights.clone()) {
            Ok(request) => request,
            Err(reason) => {
                self.message = Some(reason);
                return;
            }
        };
        let configs = request.configs();
        let labels: Vec<String> = configs
            .iter()
            .map(|c| {
                let modalities = match c.modalities {
                    Modalities::Fused => "fused",
                    Modalities::Image => "image",
                    Modalities::Text => "text",
                };
                run_label(c.beta, modalities)
            })
            .collect();
        let per_batch =
            (request.base.categories_per_batch * request.base.books_per_category).max(1);
        let train_books = ((books as f64) * (1.0 - request.base.validation_share)).ceil() as usize;
        let total_steps =
            configs.len() * request.base.epochs * train_books.div_ceil(per_batch).max(1);
        self.live = Arc::new(Mutex::new(LiveSweep {
            curves: Vec::new(),
            pending: labels,
        }));
        self.chosen_run = None;
        self.chosen_curves.clear();
        self.message = None;
        let live = Arc::clone(&self.live);
        let device = self.device();
        let library_dir = library_dir.to_path_buf();
        let repaint = ctx.clone();
        self.train_job = Some(Job::spawn(
            "sweep".to_string(),
            move || repaint.request_repaint(),
            move |job| {
                let mut steps = 0usize;
                let mut on_event = |run_id: i64, event: &TrainEvent| {
                    if let Ok(mut live) = live.lock() {
                        live.record(run_id, event);
                    }
                    if matches!(event, TrainEvent::Step { .. }) {
                        steps += 1;
                        job.progress(steps.min(total_steps), total_steps, format!("run {run_id}"));
                    }
                };
                Ok(train::run_sweep(
                    &library_dir,
                    &request,
                    device,
                    &mut on_event,
                    job.cancel_flag(),
                )?)
            },
        ));
    }

    /// Goes on with a stopped run from its last checkpoint.
    pub fn resume(&mut self, ctx: &egui::Context, library_dir: &Path, run_id: i64) {
        if self.train_job.is_some() {
            return;
        }
        let listing = self.runs.iter().find(|r| r.run_id == run_id);
        let label = listing.map_or_else(String::new, |r| run_label(r.beta, &r.modalities));
        self.live = Arc::new(Mutex::new(LiveSweep {
            curves: Vec::new(),
            pending: vec![label],
        }));
        let live = Arc::clone(&self.live);
        let device = self.device();
        let library_dir = library_dir.to_path_buf();
        let repaint = ctx.clone();
        self.chosen_run = None;
        self.train_job = Some(Job::spawn(
            format!("run {run_id}"),
            move || repaint.request_repaint(),
            move |job| {
                let mut steps = 0usize;
                let mut on_event = |id: i64, event: &TrainEvent| {
                    if let Ok(mut live) = live.lock() {
                        live.record(id, event);
                    }
                    if matches!(event, TrainEvent::Step { .. }) {
                        steps += 1;
                        job.progress(steps, 0, "");
                    }
                };
                let run = train::resume_run(
                    &library_dir,
                    run_id,
                    None,
                    device,
                    &mut on_event,
                    job.cancel_flag(),
                )?;
                Ok(vec![run])
            },
        ));
    }

    /// The runs that finished, newest first: the ones that can explain and suggest.
    pub fn finished_runs(&self) -> Vec<&RunListing> {
        self.runs
            .iter()
            .filter(|r| r.status == "finished")
            .collect()
    }

    /// The run the explore views use: the chosen one when finished, else the
    /// best fused run (the model of the paper), else the newest finished.
    pub fn explore_run(&self) -> Option<i64> {
        let finished = self.finished_runs();
        let best_fused = finished
            .iter()
            .filter(|r| r.modalities == "fused")
            .max_by(|a, b| {
                a.val_macro_f1
                    .unwrap_or(0.0)
                    .total_cmp(&b.val_macro_f1.unwrap_or(0.0))
                    .then(a.run_id.cmp(&b.run_id))
            })
            .map(|r| r.run_id);
        self.chosen_run
            .filter(|id| finished.iter().any(|r| r.run_id == *id))
            .or(best_fused)
            .or_else(|| finished.first().map(|r| r.run_id))
    }

    pub fn start_attention(&mut self, ctx: &egui::Context, library_dir: &Path, book_id: BookId) {
        let Some(run_id) = self.explore_run() else {
            self.message =
                Some("Train a run first: attention maps come from a trained model.".into());
            return;
        };
        let device = self.device();
        let library_dir = library_dir.to_path_buf();
        let repaint = ctx.clone();
        self.attention_job = Some(Job::spawn(
            format!("attention of book {}", book_id.0),
            move || repaint.request_repaint(),
            move |job| {
                job.progress(0, 1, "loading the run");
                let library = Library::open(&library_dir)?;
                let run = TrainedRun::load(&library, run_id, device)?;
                let maps = run
                    .attention(&library, book_id)?
                    .ok_or_else(|| anyhow::anyhow!("book {} is not in the library", book_id.0))?;
                Ok((book_id, maps))
            },
        ));
    }

    pub fn start_projection(&mut self, ctx: &egui::Context, library_dir: &Path, method: Method) {
        let Some(run_id) = self.explore_run() else {
            self.message =
                Some("Train a run first: the projection lays out a run's embeddings.".into());
            return;
        };
        let device = self.device();
        let library_dir = library_dir.to_path_buf();
        let repaint = ctx.clone();
        self.projection_selection.clear();
        self.projection_job = Some(Job::spawn(
            format!("{} of run {run_id}", method.name()),
            move || repaint.request_repaint(),
            move |job| {
                let mut library = Library::open(&library_dir)?;
                let run = TrainedRun::load(&library, run_id, device)?;
                let mut progress = |done: usize, total: usize| job.progress(done, total, "");
                Ok(crate::project::project_run(
                    &mut library,
                    &run,
                    method,
                    &TsneSettings::default(),
                    &mut progress,
                    job.cancel_flag(),
                )?)
            },
        ));
    }

    /// Shows a stored projection of the explore run, if one was computed before.
    pub fn load_stored_projection(&mut self, library: &Library) {
        let Some(run_id) = self.explore_run() else {
            return;
        };
        if let Ok(Some(stored)) = library.projection(run_id, self.projection_method.name()) {
            self.projection = Some(stored);
        }
    }

    pub fn start_recommend(
        &mut self,
        ctx: &egui::Context,
        library_dir: &Path,
        selected: Option<&crate::store::BookDetail>,
    ) {
        let Some(run_id) = self.explore_run() else {
            self.message = Some("Train a run first: suggestions come from a trained model.".into());
            return;
        };
        let query = match self.query_kind {
            QueryKind::SelectedBook => match selected {
                Some(book) => Query::Like(book.external_id.clone()),
                None => {
                    self.message = Some("Pick a book in the Library view first.".into());
                    return;
                }
            },
            QueryKind::Description if !self.query_text.trim().is_empty() => {
                Query::Text(self.query_text.trim().to_string())
            }
            QueryKind::Image if self.query_image.is_some() => {
                Query::Image(self.query_image.clone().expect("checked"))
            }
            QueryKind::Reader if !self.query_reader.trim().is_empty() => {
                Query::Reader(self.query_reader.trim().to_string())
            }
            _ => {
                self.message = Some("Say what to look for first.".into());
                return;
            }
        };
        let options = RecommendOptions {
            k: self.suggestion_count.max(1),
            diverse: self.diverse,
            ..RecommendOptions::default()
        };
        let device = self.device();
        let library_dir = library_dir.to_path_buf();
        let repaint = ctx.clone();
        self.message = None;
        self.recommend_job = Some(Job::spawn(
            "suggestions".to_string(),
            move || repaint.request_repaint(),
            move |job| {
                let mut library = Library::open(&library_dir)?;
                let run = TrainedRun::load(&library, run_id, device)?;
                let modalities = recommend::query_modalities(&run, &query);
                let progress = |done: usize, total: usize| {
                    let _ = (done, total);
                };
                let index = recommend::modality_index(
                    &mut library,
                    &run,
                    modalities,
                    &progress,
                    job.cancel_flag(),
                )?;
                Ok(recommend::recommend(
                    &library, &run, &index, &query, &options,
                )?)
            },
        ));
    }

    /// Drains the workbench's jobs; true when the run table should be re-read.
    pub fn poll(&mut self) -> bool {
        // A run that starts shows in the run table at once.
        let live_runs = self.live.lock().map(|l| l.curves.len()).unwrap_or(0);
        let mut runs_changed = live_runs != self.listed_live_runs;
        self.listed_live_runs = live_runs;
        if let Some(job) = &mut self.train_job
            && let Some(outcome) = job.poll()
        {
            self.train_job = None;
            runs_changed = true;
            match outcome {
                JobOutcome::Finished(runs) => {
                    self.message = Some(format!("Training finished: {} run(s).", runs.len()));
                    // The sweep's best fused run is the one to look at first.
                    self.chosen_run = runs
                        .iter()
                        .filter(|r| r.modalities == Modalities::Fused)
                        .max_by(|a, b| a.val_macro_f1.total_cmp(&b.val_macro_f1))
                        .or(runs.first())
                        .map(|r| r.run);
                }
                JobOutcome::Failed(reason) => {
                    self.message = Some(format!("Training stopped: {reason}"))
                }
            }
        }
        if let Some(job) = &mut self.attention_job
            && let Some(outcome) = job.poll()
        {
            self.attention_job = None;
            match outcome {
                JobOutcome::Finished(maps) => {
                    self.attention.retain(|(id, _)| *id != maps.0);
                    self.attention.push(maps);
                    if self.attention.len() > 2 {
                        self.attention.remove(0);
                    }
                }
                JobOutcome::Failed(reason) => self.message = Some(format!("Attention: {reason}")),
            }
        }
        if let Some(job) = &mut self.projection_job
            && let Some(outcome) = job.poll()
        {
            self.projection_job = None;
            match outcome {
                JobOutcome::Finished(projection) => self.projection = Some(projection),
                JobOutcome::Failed(reason) => self.message = Some(format!("Projection: {reason}")),
            }
        }
        if let Some(job) = &mut self.recommend_job
            && let Some(outcome) = job.poll()
        {
            self.recommend_job = None;
            match outcome {
                JobOutcome::Finished(suggestions) => self.suggestions = suggestions,
                JobOutcome::Failed(reason) => self.message = Some(format!("Suggestions: {reason}")),
            }
        }
        runs_changed
    }

    /// The curves to draw: the live sweep while it runs (or just ran), else
    /// the chosen past run's sweep.
    pub fn curves(&self) -> Vec<RunCurve> {
        if self.chosen_run.is_none() || self.train_job.is_some() {
            let live = self
                .live
                .lock()
                .map(|l| l.curves.clone())
                .unwrap_or_default();
            if !live.is_empty() {
                return live;
            }
        }
        self.chosen_curves.clone()
    }
}

/// An exponential moving average of `points` (`weight` 0 = none, toward 1 =
/// smoother), as TensorBoard draws loss curves.
pub fn smooth(points: &[[f64; 2]], weight: f64) -> Vec<[f64; 2]> {
    let weight = weight.clamp(0.0, 0.999);
    let mut last = None;
    points
        .iter()
        .map(|&[x, y]| {
            let value = match last {
                None => y,
                Some(previous) => previous * weight + (1.0 - weight) * y,
            };
            last = Some(value);
            [x, value]
        })
        .collect()
}

/// The per-category and retrieval tables of a finished run, from its summary.
pub fn run_tables(listing: &RunListing) -> Option<serde_json::Value> {
    let summary: serde_json::Value = serde_json::from_str(listing.summary.as_deref()?).ok()?;
    let validation = summary.get("validation")?.clone();
    (!validation.is_null()).then_some(validation)
}

/// Writes `rows` (a header first) as CSV into the library's `exports/`
/// folder; returns the file's path.
pub fn export_csv(library_dir: &Path, name: &str, rows: &[Vec<String>]) -> anyhow::Result<PathBuf> {
    let folder = library_dir.join("exports");
    std::fs::create_dir_all(&folder)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = folder.join(format!("{name}-{stamp}.csv"));
    let mut writer = csv::Writer::from_path(&path)?;
    for row in rows {
        writer.write_record(row)?;
    }
    writer.flush()?;
    Ok(path)
}

/// Categories by name, each with a stable colour index.
pub fn category_colours(categories: &[(String, usize)]) -> BTreeMap<String, usize> {
    categories
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.clone(), i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_refuses_what_is_not_a_sweep() {
        let mut form = TrainForm {
            betas: "0.3, x".into(),
            ..TrainForm::default()
        };
        assert!(form.request(None).unwrap_err().contains("`x`"));
        form.betas = "1.5".into();
        assert!(form.request(None).unwrap_err().contains("1.5"));
        form.betas = "0.2,0.5".into();
        let request = form.request(None).unwrap();
        assert_eq!(request.betas, vec![0.2, 0.5]);
        assert_eq!(request.configs().len(), 4);
    }

    #[test]
    fn smoothing_follows_the_curve_and_zero_leaves_it() {
        let points = [[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]];
        assert_eq!(smooth(&points, 0.0), points.to_vec());
        let smoothed = smooth(&points, 0.5);
        assert_eq!(smoothed[1], [2.0, 0.5]);
        assert_eq!(smoothed[2], [3.0, 0.75]);
    }

    #[test]
    fn live_curves_take_the_labels_of_their_runs_in_order() {
        let mut live = LiveSweep {
            curves: Vec::new(),
            pending: vec!["fused, β 0.3".into(), "image only".into()],
        };
        let step = |n| TrainEvent::Step {
            epoch: 1,
            step: n,
            loss: 1.0 / n as f64,
            cross_entropy: 0.0,
            triplet: 0.0,
        };
        live.record(7, &step(1));
        live.record(7, &step(2));
        live.record(8, &step(1));
        assert_eq!(live.curves[0].label, "run 7: fused, β 0.3");
        assert_eq!(live.curves[0].losses.len(), 2);
        assert_eq!(live.curves[1].label, "run 8: image only");
    }
}
