//! Training the model on the library, as orchestration over small parts:
//! the data a run reads ([`data`]), its split and batches ([`split`],
//! [`batches`]), predictions ([`predict`]), the learning-rate schedule
//! ([`schedule`]), what a run starts from ([`start`]), validation tables ([`validation`]), weight averaging
//! ([`averaging`]), checkpoints in one [`RunDir`] ([`checkpoints`]), a
//! fine-tuned run's start from its parent ([`warm_start`]), one run
//! from start to summary ([`run`]) and sweeps recorded in the library
//! ([`sweep`]).

pub mod averaging;
mod bag_rows;
pub(crate) mod batches;
pub mod checkpoints;
pub mod config;
pub mod cover_classifier;
pub(crate) mod covers;
pub(crate) mod data;
pub mod doubtful;
mod fitted_classifiers;
mod folds;
pub mod lease;
mod logistic;
pub(crate) mod mixes;
pub mod parallel;
pub(crate) mod predict;
pub mod registry;
pub mod run;
mod run_data;
pub(crate) mod schedule;
pub mod split;
pub mod start;
pub mod summary;
pub mod sweep;
pub(crate) mod validation;
pub(crate) mod warm_start;
pub mod word_classifier;

use serde::Serialize;

pub use crate::model::device::{headless_device, training_device};
pub use crate::store::Modalities;
pub use checkpoints::{Checkpoint, RunDir, RunSplit};
pub use config::{InvalidSetting, SweepRequest, TrainConfig};
pub use parallel::{Parallelism, run_sweep_in_parallel};
pub use registry::{books_changed_since, delete_run, list_runs, run_owner};
pub use run::{ResumePoint, RunStart, train_run};
pub use split::{pk_batches, stratified_split};
pub use summary::{HeldOutBook, RunSummary, ValidationTables};
pub use sweep::{
    FineTuneRequest, SweepRun, fine_tune_config, fine_tune_run, resume_run, run_sweep,
};

use crate::embed::EmbedError;
use crate::store::RunId;
use crate::text::corpus::CorpusError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Embed(EmbedError),
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    #[error("the library needs at least two categories with two books each to train; it has {0}")]
    TooFewBooks(String),
    #[error("there is no run {0} in this library")]
    RunNotFound(RunId),
    #[error("run {run} is being trained by {}; wait for it or stop it first", owner.map_or("another process".to_string(), |pid| format!("process {pid}")))]
    RunBusy { run: RunId, owner: Option<u32> },
    #[error("run {run} cannot be evaluated: {reason}")]
    RunNotUsable { run: RunId, reason: String },
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error("checkpoint {0}")]
    Checkpoint(String),
    #[error("cannot set up the optimiser: {0}")]
    Optimizer(String),
    #[error("training was cancelled")]
    Cancelled,
}

/// A cancelled feature cache is a cancelled run, whichever job it was part of.
impl From<EmbedError> for TrainError {
    fn from(error: EmbedError) -> Self {
        match error {
            EmbedError::Cancelled => TrainError::Cancelled,
            other => TrainError::Embed(other),
        }
    }
}

/// What a run reports while it trains.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Step {
        epoch: usize,
        step: usize,
        loss: f64,
        cross_entropy: f64,
        triplet: f64,
        /// The alignment term (unweighted), in fused runs that have one.
        alignment: Option<f64>,
    },
    Epoch {
        epoch: usize,
        /// The run's epochs in all (a sweep's image-only runs may have others).
        epochs: usize,
        train_loss: f64,
        val_accuracy: f64,
        val_macro_f1: f64,
    },
    /// The epochs are over: the run fits the classifiers beside the network and measures
    /// its held-out books (minutes at 100,000 books, with no step to show).
    Finishing,
}
