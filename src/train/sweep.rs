//! Sweeps and resumed runs as the library records them: each run's row, its
//! steps and epochs as they end, its outcome, and its checkpoints in its
//! [`RunDir`].

use std::path::Path;

use serde::Serialize;
use tch::Device;

use super::checkpoints::{Checkpoint, RunDir};
use super::config::{SweepRequest, TrainConfig};
use super::lease::RunLease;
use super::run::{ResumePoint, RunStart, train_run};
use super::summary::{RunSummary, ValidationTables};
use super::{TrainError, TrainEvent};
use crate::jobs::Cancel;
use crate::store::{
    Library, Modalities, RunEpoch, RunId, RunOutcome, RunStatus, RunStep, StoreError,
};

/// One run of a sweep, as `shelfwise train --json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRun {
    pub run: RunId,
    pub beta: f64,
    pub modalities: Modalities,
    pub best_epoch: usize,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    /// The paper's tables on the held-out books.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationTables>,
    /// The word classifier fitted beside the network, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word_classifier: Option<super::word_classifier::WordClassifierChoice>,
    /// The cover classifier fitted beside the network, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cover_classifier: Option<super::cover_classifier::CoverClassifierChoice>,
}

/// Runs a sweep on the library in `library_root`, recording every run, step
/// and epoch in the library (a second connection writes while the first
/// trains) and saving checkpoints under `runs/<run>/`. `on_event` hears each
/// run's events with its run id.
pub fn run_sweep(
    library_root: &Path,
    request: &SweepRequest,
    device: Device,
    on_event: &mut dyn FnMut(RunId, &TrainEvent),
    cancel: &Cancel,
) -> Result<Vec<SweepRun>, TrainError> {
    request.validate()?;
    let mut library = Library::open(library_root)?;
    library.ensure_writable("training")?;
    let mut recorder = Library::open(library_root)?;
    let sweep_id = recorder.create_sweep()?;
    let mut runs = Vec::new();
    for config in request.configs() {
        let config_json = config.to_stored(library_root);
        let run_id =
            recorder.create_run(Some(sweep_id), config.beta, config.modalities, &config_json)?;
        let context = RunContext {
            run_id,
            config: &config,
            device,
            cancel,
        };
        runs.push(fresh_run(&mut library, &mut recorder, &context, on_event)?);
    }
    Ok(runs)
}

/// A new run of a sweep, its row made: trained from scratch under its lease
/// and recorded.
pub(super) fn fresh_run(
    library: &mut Library,
    recorder: &mut Library,
    run: &RunContext,
    on_event: &mut dyn FnMut(RunId, &TrainEvent),
) -> Result<SweepRun, TrainError> {
    let _lease = RunLease::acquire(&RunDir::new(library.root(), run.run_id), run.run_id)?;
    recorded_run(library, recorder, run, RunStart::Fresh, on_event)
}

/// Goes on with a stopped (cancelled, failed or finished) run from its last
/// checkpoint, up to `epochs` in all (default: the run's own setting).
pub fn resume_run(
    library_root: &Path,
    run_id: RunId,
    epochs: Option<usize>,
    device: Device,
    on_event: &mut dyn FnMut(RunId, &TrainEvent),
    cancel: &Cancel,
) -> Result<SweepRun, TrainError> {
    let mut library = Library::open(library_root)?;
    library.ensure_writable("resuming a run")?;
    let mut recorder = Library::open(library_root)?;
    let unusable = |reason: String| TrainError::RunNotUsable {
        run: run_id,
        reason,
    };
    let record = recorder
        .run_record(run_id)?
        .ok_or(TrainError::RunNotFound(run_id))?;
    let mut config = TrainConfig::from_stored(&record.config, library_root)
        .map_err(|e| unusable(format!("settings: {e}")))?;
    if let Some(epochs) = epochs {
        config.epochs = epochs;
    }
    config.validate()?;
    let _lease = RunLease::acquire(&RunDir::new(library_root, run_id), run_id)?;
    let progress = recorder.run_progress(run_id)?;
    // A run stopped before its first epoch ended starts over.
    let point = match progress.best {
        None => {
            recorder.clear_run_history(run_id)?;
            None
        }
        Some(best) => {
            if progress.last_epoch as usize >= config.epochs {
                return Err(unusable(format!(
                    "it has already trained {} of {} epochs; pass --epochs to train longer",
                    progress.last_epoch, config.epochs
                )));
            }
            Some(ResumePoint {
                next_epoch: progress.last_epoch as usize + 1,
                next_step: progress.last_step as usize + 1,
                best_epoch: best.0 as usize,
                best_accuracy: best.1,
                best_macro_f1: best.2,
            })
        }
    };
    let config_json = config.to_stored(library_root);
    recorder.restart_run(run_id, &config_json)?;
    let context = RunContext {
        run_id,
        config: &config,
        device,
        cancel,
    };
    // A fine-tune stopped before its first epoch starts from its parent again.
    let start = match (&point, record.parent_run_id) {
        (Some(point), _) => RunStart::Resume(point),
        (None, Some(parent)) => RunStart::FineTune(parent),
        (None, None) => RunStart::Fresh,
    };
    recorded_run(&mut library, &mut recorder, &context, start, on_event)
}

/// How a fine-tune trains unless told otherwise: its parent's settings for a
/// third of its parent's epochs (at least one), along a schedule of its own.
/// The heads start where the parent's best epoch left them, so fewer epochs
/// do; at half the parent's learning rate a new category's row did not learn
/// its books in the test's six epochs (`tests/fine_tune.rs`), at the full rate
/// it did.
pub fn fine_tune_config(parent: &TrainConfig) -> TrainConfig {
    TrainConfig {
        epochs: parent.epochs.div_ceil(3).max(1),
        ..parent.clone()
    }
}

/// What a fine-tune may change of its parent's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FineTuneRequest {
    /// Epochs of the fine-tune (default: see [`fine_tune_config`]).
    pub epochs: Option<usize>,
    pub learning_rate: Option<f64>,
    /// Trains block 5 too, where the parent kept it frozen (it starts from
    /// the trunk's); a parent that trained it always passes it on.
    pub train_block5: bool,
}

/// Fine-tunes finished run `parent` on the library as it is now, as a new run
/// recorded with its parent (see [`RunStart::FineTune`]).
pub fn fine_tune_run(
    library_root: &Path,
    parent: RunId,
    request: FineTuneRequest,
    device: Device,
    on_event: &mut dyn FnMut(RunId, &TrainEvent),
    cancel: &Cancel,
) -> Result<SweepRun, TrainError> {
    let mut library = Library::open(library_root)?;
    library.ensure_writable("fine-tuning a run")?;
    let mut recorder = Library::open(library_root)?;
    let unusable = |reason: String| TrainError::RunNotUsable {
        run: parent,
        reason,
    };
    let record = recorder
        .run_record(parent)?
        .ok_or(TrainError::RunNotFound(parent))?;
    if record.status != RunStatus::Finished {
        return Err(unusable(format!(
            "it is {}; only a finished run can be fine-tuned",
            record.status
        )));
    }
    let parent_config = TrainConfig::from_stored(&record.config, library_root)
        .map_err(|e| unusable(format!("settings: {e}")))?;
    let mut config = fine_tune_config(&parent_config);
    if let Some(epochs) = request.epochs {
        config.epochs = epochs;
    }
    if let Some(rate) = request.learning_rate {
        config.learning_rate = rate;
    }
    config.trunk.train_block5 |= request.train_block5;
    config.validate()?;
    let config_json = config.to_stored(library_root);
    let run_id =
        recorder.create_fine_tune_run(parent, config.beta, config.modalities, &config_json)?;
    let _lease = RunLease::acquire(&RunDir::new(library_root, run_id), run_id)?;
    let context = RunContext {
        run_id,
        config: &config,
        device,
        cancel,
    };
    recorded_run(
        &mut library,
        &mut recorder,
        &context,
        RunStart::FineTune(parent),
        on_event,
    )
}

/// The run being recorded and how it trains.
pub(super) struct RunContext<'a> {
    pub run_id: RunId,
    pub config: &'a TrainConfig,
    pub device: Device,
    pub cancel: &'a Cancel,
}

/// Each epoch's steps and metrics into the library as the epoch ends; the
/// first error writing them is kept and reported once the run stops.
struct EpochRecorder<'a> {
    library: &'a mut Library,
    run_id: RunId,
    steps: Vec<RunStep>,
    error: Option<StoreError>,
}

impl EpochRecorder<'_> {
    fn hear(&mut self, event: &TrainEvent) {
        match *event {
            TrainEvent::Step {
                epoch,
                step,
                loss,
                cross_entropy,
                triplet,
                alignment,
            } => self.steps.push(RunStep {
                step: step as i64,
                epoch: epoch as i64,
                loss,
                cross_entropy,
                triplet,
                alignment,
            }),
            TrainEvent::Epoch {
                epoch,
                train_loss,
                val_accuracy,
                val_macro_f1,
                ..
            } => {
                let row = RunEpoch {
                    epoch: epoch as i64,
                    train_loss,
                    val_accuracy,
                    val_macro_f1,
                };
                if let Err(error) = self.library.record_epoch(self.run_id, &self.steps, &row) {
                    self.error.get_or_insert(error);
                }
                self.steps.clear();
            }
            TrainEvent::Finishing => {}
        }
    }
}

/// How a run's result is stored.
fn outcome(result: &Result<RunSummary, TrainError>) -> RunOutcome {
    match result {
        Ok(summary) => RunOutcome {
            status: RunStatus::Finished,
            trunk: serde_json::to_string(&summary.trunk).ok(),
            best_epoch: Some(summary.best_epoch as i64),
            val_accuracy: Some(summary.val_accuracy),
            val_macro_f1: Some(summary.val_macro_f1),
            summary: serde_json::to_string(summary).expect("summary serialises"),
        },
        Err(error) => RunOutcome {
            status: if matches!(error, TrainError::Cancelled) {
                RunStatus::Cancelled
            } else {
                RunStatus::Failed
            },
            trunk: None,
            best_epoch: None,
            val_accuracy: None,
            val_macro_f1: None,
            summary: serde_json::json!({ "error": error.to_string() }).to_string(),
        },
    }
}

/// Trains one run (from scratch, a resume point or a parent), recording each epoch's steps
/// and metrics as it ends and the run's outcome when it stops.
pub(super) fn recorded_run(
    library: &mut Library,
    recorder: &mut Library,
    run: &RunContext,
    start: RunStart,
    on_event: &mut dyn FnMut(RunId, &TrainEvent),
) -> Result<SweepRun, TrainError> {
    let run_dir = RunDir::new(library.root(), run.run_id);
    let mut epochs = EpochRecorder {
        library: recorder,
        run_id: run.run_id,
        steps: Vec::new(),
        error: None,
    };
    let result = train_run(
        library,
        run.config,
        (run.device, start),
        Some(&run_dir),
        &mut |event| {
            epochs.hear(&event);
            on_event(run.run_id, &event);
        },
        run.cancel,
    );
    let record_error = epochs.error.take();
    epochs.library.finish_run(run.run_id, &outcome(&result))?;
    if result.is_err() && !run_dir.checkpoint(Checkpoint::Last).is_file() {
        // A run that stopped before its first epoch has nothing in its folder
        // to resume from; its row keeps the reason, and a resume starts anew.
        let _ = std::fs::remove_dir_all(run_dir.path());
    }
    if let Some(error) = record_error {
        return Err(error.into());
    }
    let summary = result?;
    Ok(SweepRun {
        run: run.run_id,
        beta: run.config.beta,
        modalities: run.config.modalities,
        best_epoch: summary.best_epoch,
        val_accuracy: summary.val_accuracy,
        val_macro_f1: summary.val_macro_f1,
        validation: summary.validation,
        word_classifier: summary.word_classifier,
        cover_classifier: summary.cover_classifier,
    })
}
