//! The Train view's state: the sweep form, the running sweep's live curves
//! (shared with its job through a mutex the job holds only to append a point),
//! and the stored curves of the run chosen in the run table.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::curves::{CurveMode, LossTerm, RunCurve, ValidationFigure, stored_curve};
use super::runs::RunsState;
use crate::jobs::Job;
use crate::store::{Library, RunId, RunListing, StoreError};
use crate::train::{HeldOutBook, SweepRequest, SweepRun, TrainConfig, TrainEvent};

/// The Train view's form.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub betas: String,
    /// Seeds to repeat the sweep over (`1, 2, 3`); one seed draws one line
    /// per setting, several a mean with a band.
    pub seeds: String,
    pub single_modal: bool,
    pub epochs: usize,
    /// Epochs of the image-only run; 0: `epochs`.
    pub image_only_epochs: usize,
    pub categories_per_batch: usize,
    pub books_per_category: usize,
    pub learning_rate: f64,
    /// Words of each book's text the LSTM reads (the word path reads all).
    pub max_words: usize,
    pub image_size: i64,
    pub width: f64,
    /// VGG16's block 5 trains with the heads.
    pub train_block5: bool,
}

impl Default for TrainForm {
    fn default() -> Self {
        let defaults = TrainConfig::default();
        Self {
            betas: "0.2, 0.3, 0.5".into(),
            seeds: defaults.seed.to_string(),
            single_modal: true,
            epochs: defaults.epochs,
            image_only_epochs: 0,
            categories_per_batch: defaults.categories_per_batch,
            books_per_category: defaults.books_per_category,
            learning_rate: defaults.learning_rate,
            max_words: defaults.max_words,
            image_size: defaults.trunk.image_size,
            width: defaults.trunk.width,
            train_block5: defaults.trunk.train_block5,
        }
    }
}

impl TrainForm {
    /// The small sweep a speaker runs live on the demo library: three betas
    /// and both single-modal runs in about two minutes on one core of a
    /// 2-core CPU. Most of a step is the LSTM, so the LSTM reads a book's
    /// first 100 words (the word path still reads all of them); 12 epochs,
    /// by which the fused runs have settled (their best epochs fell between
    /// 6 and 12 at 20 epochs on the demo library), but 20 for the cheap
    /// image-only run, which learns slowest (0.14 macro-F1 after 12 epochs,
    /// 0.19 after 20).
    pub fn demo() -> Self {
        Self {
            betas: "0.2, 0.3, 0.5".into(),
            seeds: "1".into(),
            single_modal: true,
            epochs: 12,
            image_only_epochs: 20,
            categories_per_batch: 5,
            books_per_category: 8,
            learning_rate: 3e-3,
            max_words: 100,
            image_size: 128,
            width: 0.5,
            train_block5: false,
        }
    }

    fn betas(&self) -> Result<Vec<f64>, String> {
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
        Ok(betas)
    }

    fn seeds(&self) -> Result<Vec<u64>, String> {
        let mut seeds = Vec::new();
        for part in self
            .seeds
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let seed: u64 = part
                .parse()
                .map_err(|_| format!("seed `{part}` is not a whole number"))?;
            if seeds.contains(&seed) {
                return Err(format!("seed {seed} is given twice"));
            }
            seeds.push(seed);
        }
        Ok(seeds)
    }

    /// The sweep this form asks for, or what is wrong with it.
    pub fn request(&self, weights: Option<PathBuf>) -> Result<SweepRequest, String> {
        let betas = self.betas()?;
        let seeds = self.seeds()?;
        if self.epochs == 0
            || self.categories_per_batch == 0
            || self.books_per_category == 0
            || self.max_words == 0
        {
            return Err("epochs, P, K and words read must be at least 1".into());
        }
        let mut base = TrainConfig {
            epochs: self.epochs,
            categories_per_batch: self.categories_per_batch,
            books_per_category: self.books_per_category,
            learning_rate: self.learning_rate,
            max_words: self.max_words,
            image_only_epochs: (self.image_only_epochs > 0).then_some(self.image_only_epochs),
            ..TrainConfig::default()
        };
        base.trunk.image_size = self.image_size;
        base.trunk.width = self.width;
        base.trunk.train_block5 = self.train_block5;
        if weights.is_some() {
            base.trunk.weights = weights;
            base.trunk.width = 1.0;
        }
        if let Some(&first) = seeds.first() {
            // One seed is the base's own (also the trunk's, as `--seed` is).
            base.seed = first;
            if seeds.len() == 1 {
                base.trunk.seed = first;
            }
        }
        Ok(SweepRequest {
            betas,
            single_modal: self.single_modal,
            base,
            seeds: if seeds.len() > 1 { seeds } else { Vec::new() },
        })
    }
}

/// What a sweep started from the window will show: its runs, seeds, split
/// and trunk, said above its curves (a speaker's audience reads it).
pub(crate) fn sweep_note(request: &SweepRequest, books: usize, train_books: usize) -> String {
    let base = &request.base;
    let seeds = if request.seeds.is_empty() {
        format!("seed {}", base.seed)
    } else {
        let list: Vec<String> = request.seeds.iter().map(u64::to_string).collect();
        format!(
            "seeds {} (each its own split; curves can be drawn as mean and band)",
            list.join(", ")
        )
    };
    let betas: Vec<String> = request.betas.iter().map(f64::to_string).collect();
    let trunk = match &base.trunk.weights {
        Some(path) => format!("VGG16 from {}", path.display()),
        None => format!(
            "a random VGG16 trunk (width {}, {} px covers, same for every seed)",
            base.trunk.width, base.trunk.image_size
        ),
    };
    format!(
        "Showing {} run(s): fused at β {}{}; {seeds}; {train_books} of {books} labelled books train, \
         the other {} are held out; {} epochs each{}, the LSTM reading {} words of each text; {trunk}.",
        request.configs().len(),
        betas.join(", "),
        if request.single_modal {
            ", plus image-only and text-only"
        } else {
            ""
        },
        books.saturating_sub(train_books),
        base.epochs,
        match base.image_only_epochs {
            Some(epochs) if request.single_modal && epochs != base.epochs => {
                format!(" (image-only {epochs})")
            }
            _ => String::new(),
        },
        base.max_words,
    )
}

/// The curves of the sweep in progress, shared with its job.
#[derive(Debug, Default)]
pub struct LiveSweep {
    pub curves: Vec<RunCurve>,
    /// Settings and seeds of the runs not started yet, in order.
    pub pending: Vec<(String, Option<i64>)>,
    /// Where the new runs' curves start, `[step, epoch]`: the end of the
    /// parent's curves that a fine-tune draws on from (zero otherwise).
    pub offset: [f64; 2],
}

impl LiveSweep {
    pub fn record(&mut self, run_id: RunId, event: &TrainEvent) {
        if !self.curves.iter().any(|c| c.run_id == run_id) {
            let (setting, seed) = if self.pending.is_empty() {
                (format!("run {run_id}"), None)
            } else {
                self.pending.remove(0)
            };
            self.curves.push(RunCurve::new(run_id, setting, seed));
        }
        let curve = self
            .curves
            .iter_mut()
            .find(|c| c.run_id == run_id)
            .expect("just added");
        let [steps_before, epochs_before] = self.offset;
        match event {
            TrainEvent::Step {
                step,
                loss,
                cross_entropy,
                triplet,
                alignment,
                ..
            } => {
                let x = steps_before + *step as f64;
                curve.losses.push([x, *loss]);
                curve.cross_entropy.push([x, *cross_entropy]);
                curve.triplet.push([x, *triplet]);
                if let Some(alignment) = alignment {
                    curve.alignment.push([x, *alignment]);
                }
            }
            TrainEvent::Epoch {
                epoch,
                val_accuracy,
                val_macro_f1,
                ..
            } => {
                let x = epochs_before + *epoch as f64;
                curve.accuracy.push([x, *val_accuracy]);
                curve.macro_f1.push([x, *val_macro_f1]);
            }
            TrainEvent::Finishing => {}
        }
    }
}

pub struct TrainState {
    pub form: TrainForm,
    pub job: Option<Job<Vec<SweepRun>>>,
    pub live: Arc<Mutex<LiveSweep>>,
    /// The stored curves of the chosen run's sweep.
    pub chosen_curves: Vec<RunCurve>,
    pub smoothing: f64,
    pub log_scale: bool,
    /// Which loss the loss plot draws.
    pub loss_term: LossTerm,
    /// Which validation figure the second plot draws.
    pub validation_figure: ValidationFigure,
    /// Runs drawn one by one, or each setting's mean over seeds with a band.
    pub curve_mode: CurveMode,
    /// What the central panel shows: the curves, or the chosen run's evaluation.
    pub panel: TrainPanel,
    pub table_order: super::runs::RunTableOrder,
    pub evaluation: EvaluationState,
    /// What the sweep started last is showing (runs, seeds, split, trunk).
    pub sweep_note: Option<String>,
    /// Runs of the live sweep already in the run table.
    pub listed_live_runs: usize,
}

impl Default for TrainState {
    fn default() -> Self {
        Self {
            form: TrainForm::default(),
            job: None,
            live: Arc::new(Mutex::new(LiveSweep::default())),
            chosen_curves: Vec::new(),
            smoothing: 0.0,
            log_scale: false,
            loss_term: LossTerm::default(),
            validation_figure: ValidationFigure::default(),
            curve_mode: CurveMode::default(),
            panel: TrainPanel::default(),
            table_order: Default::default(),
            evaluation: EvaluationState::default(),
            sweep_note: None,
            listed_live_runs: 0,
        }
    }
}

/// The Train view's central panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainPanel {
    #[default]
    Curves,
    Evaluation,
}

/// The evaluation panel of the chosen run: its held-out books as it
/// predicted them, and the confusion cell opened.
#[derive(Debug, Default)]
pub struct EvaluationState {
    /// The run whose books are loaded.
    pub run: Option<RunId>,
    /// `None`: the run kept none (it trained before they were kept).
    pub held_out: Option<Vec<HeldOutBook>>,
    /// Why they could not be read.
    pub error: Option<String>,
    /// The confusion cell opened: (true category, predicted category) rows.
    pub cell: Option<(usize, usize)>,
}

impl EvaluationState {
    /// Reads the held-out books of `run_id` (again: a resumed run rewrites
    /// them); the open cell stays open while the run is the same.
    pub fn load(&mut self, library_root: &std::path::Path, run_id: RunId) {
        let cell = self.cell.filter(|_| self.run == Some(run_id));
        *self = Self {
            run: Some(run_id),
            cell,
            ..Self::default()
        };
        match crate::train::RunDir::new(library_root, run_id).load_held_out() {
            Ok(books) => self.held_out = books,
            Err(error) => self.error = Some(error.to_string()),
        }
    }

    /// The books of one confusion cell, the most confident first.
    pub fn cell_books(&self, (actual, predicted): (usize, usize)) -> Vec<&HeldOutBook> {
        let mut books: Vec<&HeldOutBook> = self
            .held_out
            .iter()
            .flatten()
            .filter(|b| b.actual == actual && b.predicted == predicted)
            .collect();
        books.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        books
    }
}

impl TrainState {
    pub fn live_curves(&self) -> Vec<RunCurve> {
        // A job that panicked mid-append leaves whole points: draw them.
        let live = self
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        live.curves.clone()
    }

    /// Loads the stored curves of `run_id`'s whole sweep, so that its curves
    /// lie side by side.
    pub fn load_curves(
        &mut self,
        library: &Library,
        runs: &RunsState,
        run_id: RunId,
    ) -> Result<(), StoreError> {
        let Some(listing) = runs.listing(run_id) else {
            return Ok(());
        };
        if listing.parent_run_id.is_some() {
            self.chosen_curves = lineage_curves(library, runs, run_id)?;
            return Ok(());
        }
        let members: Vec<&RunListing> = match listing.sweep_id {
            Some(sweep) => runs
                .runs
                .iter()
                .filter(|r| r.sweep_id == Some(sweep))
                .collect(),
            None => vec![listing],
        };
        let mut curves = Vec::new();
        for member in members.iter().rev() {
            curves.push(stored_curve(library, member, [0.0, 0.0])?);
        }
        self.chosen_curves = curves;
        Ok(())
    }

    /// The curves to draw: the live sweep while it runs (or just ran), else
    /// the chosen past run's sweep.
    pub fn curves(&self, chosen: Option<RunId>) -> Vec<RunCurve> {
        if chosen.is_none() || self.job.is_some() {
            let live = self.live_curves();
            if !live.is_empty() {
                return live;
            }
        }
        self.chosen_curves.clone()
    }
}

/// The curves of `run_id` and the runs it was fine-tuned from, oldest first,
/// each going on where its parent's ended. A parent deleted since ends the line.
pub fn lineage_curves(
    library: &Library,
    runs: &RunsState,
    run_id: RunId,
) -> Result<Vec<RunCurve>, StoreError> {
    let mut line = Vec::new();
    let mut next = runs.listing(run_id);
    while let Some(listing) = next {
        if line
            .iter()
            .any(|l: &&RunListing| l.run_id == listing.run_id)
        {
            break;
        }
        line.push(listing);
        next = listing
            .parent_run_id
            .and_then(|parent| runs.listing(parent));
    }
    let mut curves: Vec<RunCurve> = Vec::new();
    for listing in line.iter().rev() {
        let offset = curves.last().map_or([0.0, 0.0], curve_end);
        curves.push(stored_curve(library, listing, offset)?);
    }
    Ok(curves)
}

/// What the job says once a run's epochs are over: on a large library the
/// classifiers beside the network and the held-out books take minutes, with
/// no step to count.
pub fn finishing_message(run_id: RunId) -> String {
    format!(
        "run {run_id}: fitting the classifiers beside the network, measuring the held-out books"
    )
}

/// Where a curve ends, `[step, epoch]`: where a fine-tune's curve goes on.
pub fn curve_end(curve: &RunCurve) -> [f64; 2] {
    [
        curve.losses.last().map_or(0.0, |p| p[0]),
        curve.accuracy.last().map_or(0.0, |p| p[0]),
    ]
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
    fn live_curves_take_the_labels_of_their_runs_in_order() {
        let mut live = LiveSweep {
            curves: Vec::new(),
            pending: vec![
                ("fused, β 0.3".into(), Some(2)),
                ("image only".into(), None),
            ],
            offset: [0.0, 0.0],
        };
        let step = |n| TrainEvent::Step {
            epoch: 1,
            step: n,
            loss: 1.0 / n as f64,
            cross_entropy: 0.0,
            triplet: 0.0,
            alignment: Some(0.25),
        };
        live.record(RunId(7), &step(1));
        live.record(RunId(7), &step(2));
        live.record(RunId(8), &step(1));
        assert_eq!(live.curves[0].label(), "run 7: fused, β 0.3 (seed 2)");
        assert_eq!(live.curves[0].losses.len(), 2);
        assert_eq!(live.curves[0].alignment, [[1.0, 0.25], [2.0, 0.25]]);
        assert_eq!(live.curves[1].label(), "run 8: image only");
    }

    #[test]
    fn a_fine_tuned_runs_curves_go_on_from_its_parents() {
        let folder = tempfile::tempdir().unwrap();
        let mut library = Library::open(folder.path()).unwrap();
        let parent = library
            .create_run(None, 0.3, crate::store::Modalities::Fused, "{}")
            .unwrap();
        let child = library
            .create_fine_tune_run(parent, 0.3, crate::store::Modalities::Fused, "{}")
            .unwrap();
        let record =
            |library: &mut Library, run, epoch: i64, steps: std::ops::RangeInclusive<i64>| {
                let steps: Vec<crate::store::RunStep> = steps
                    .map(|step| crate::store::RunStep {
                        step,
                        epoch,
                        loss: 1.0,
                        cross_entropy: 1.0,
                        triplet: 0.0,
                        alignment: None,
                    })
                    .collect();
                let row = crate::store::RunEpoch {
                    epoch,
                    train_loss: 1.0,
                    val_accuracy: 0.5,
                    val_macro_f1: 0.5,
                };
                library.record_epoch(run, &steps, &row).unwrap();
            };
        record(&mut library, parent, 1, 1..=3);
        record(&mut library, parent, 2, 4..=6);
        record(&mut library, child, 1, 1..=3);
        let mut runs = RunsState::default();
        runs.reload(&mut library).unwrap();
        let mut state = TrainState::default();
        state.load_curves(&library, &runs, child).unwrap();
        let curves = &state.chosen_curves;
        assert_eq!(curves.len(), 2);
        assert_eq!(curves[0].run_id, parent);
        assert_eq!(curves[1].label(), "run 2: fused, β 0.3, from run 1");
        assert!(curves[1].alignment.is_empty(), "no alignment term was kept");
        let steps: Vec<f64> = curves[1].losses.iter().map(|p| p[0]).collect();
        assert_eq!(steps, [7.0, 8.0, 9.0]);
        assert_eq!(curves[1].accuracy[0][0], 3.0);
        assert_eq!(curve_end(&curves[1]), [9.0, 3.0]);

        // Live, a fine-tune's points start where the parent's curve ended.
        let mut live = LiveSweep {
            offset: curve_end(&curves[0]),
            curves: curves[..1].to_vec(),
            pending: vec![("fused".into(), None)],
        };
        live.record(
            RunId(9),
            &TrainEvent::Step {
                epoch: 1,
                step: 1,
                loss: 0.5,
                cross_entropy: 0.5,
                triplet: 0.0,
                alignment: None,
            },
        );
        assert_eq!(live.curves[1].losses, [[7.0, 0.5]]);
    }
}
