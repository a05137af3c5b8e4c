//! The library's runs as every view sees them: the run table, the run chosen
//! in it, and the run the explore views (Attention, Projection, Recommend) use.

use crate::model::weights::TrunkProvenance;
use crate::store::{Library, Modalities, RunId, RunListing, RunStatus};
use crate::train::TrainError;

#[derive(Default)]
pub struct RunsState {
    /// Every run, newest first.
    pub runs: Vec<RunListing>,
    /// The run chosen in the run table or the model picker.
    pub chosen: Option<RunId>,
    /// Per finished run, how many of its books the librarian changed since it trained.
    pub changed_since: std::collections::HashMap<RunId, usize>,
}

impl RunsState {
    /// Re-reads the runs; runs whose process died show as interrupted.
    pub fn reload(&mut self, library: &mut Library) -> Result<(), TrainError> {
        self.runs = crate::train::list_runs(library)?;
        self.changed_since.clear();
        for run in self.runs.iter().filter(|r| r.status == RunStatus::Finished) {
            if let Some(changed) = crate::train::books_changed_since(library, run)? {
                self.changed_since.insert(run.run_id, changed);
            }
        }
        Ok(())
    }

    pub fn listing(&self, run_id: RunId) -> Option<&RunListing> {
        self.runs.iter().find(|r| r.run_id == run_id)
    }

    /// The runs that finished, newest first: the ones that can explain and suggest.
    pub fn finished(&self) -> Vec<&RunListing> {
        self.runs
            .iter()
            .filter(|r| r.status == RunStatus::Finished)
            .collect()
    }

    /// The trunk a finished run trained on, from its summary.
    pub fn trunk(&self, run_id: RunId) -> Option<TrunkProvenance> {
        Some(self.summary(run_id)?.trunk)
    }

    /// The run table's name of a finished run's trunk (with block 5 when it
    /// trained).
    pub fn trunk_label(&self, run_id: RunId) -> Option<String> {
        Some(self.summary(run_id)?.trunk_label())
    }

    fn summary(&self, run_id: RunId) -> Option<crate::train::RunSummary> {
        let listing = self.listing(run_id)?;
        crate::train::RunSummary::of_listing(listing).ok()?
    }

    /// The run the explore views use: the chosen one when finished, else the
    /// best fused run (the model of the paper), else the newest finished.
    pub fn explore_run(&self) -> Option<RunId> {
        let finished = self.finished();
        let best_fused = finished
            .iter()
            .filter(|r| r.modalities == Modalities::Fused)
            .max_by(|a, b| {
                a.val_macro_f1
                    .unwrap_or(0.0)
                    .total_cmp(&b.val_macro_f1.unwrap_or(0.0))
                    .then(a.run_id.cmp(&b.run_id))
            })
            .map(|r| r.run_id);
        self.chosen
            .filter(|id| finished.iter().any(|r| r.run_id == *id))
            .or(best_fused)
            .or_else(|| finished.first().map(|r| r.run_id))
    }
}

/// A run's label as curves and tables show it.
pub fn run_label(listing: &RunListing) -> String {
    let kind = listing.modalities.run_label(listing.beta);
    match listing.parent_run_id {
        Some(parent) => format!("{kind}, from run {parent}"),
        None => kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(run: i64, modalities: Modalities, status: RunStatus, f1: f64) -> RunListing {
        RunListing {
            run_id: RunId(run),
            sweep_id: None,
            beta: 0.3,
            modalities,
            status,
            best_epoch: Some(1),
            val_accuracy: Some(f1),
            val_macro_f1: Some(f1),
            summary: None,
            created_at: String::new(),
            epochs_done: 0,
            parent_run_id: None,
        }
    }

    #[test]
    fn the_explore_run_is_the_chosen_finished_one_else_the_best_fused() {
        let mut state = RunsState {
            runs: vec![
                listing(4, Modalities::Fused, RunStatus::Cancelled, 0.9),
                listing(3, Modalities::Text, RunStatus::Finished, 0.8),
                listing(2, Modalities::Fused, RunStatus::Finished, 0.6),
                listing(1, Modalities::Fused, RunStatus::Finished, 0.5),
            ],
            chosen: None,
            changed_since: Default::default(),
        };
        assert_eq!(state.explore_run(), Some(RunId(2)));
        state.chosen = Some(RunId(3));
        assert_eq!(state.explore_run(), Some(RunId(3)));
        state.chosen = Some(RunId(4));
        assert_eq!(
            state.explore_run(),
            Some(RunId(2)),
            "a cancelled run cannot explain"
        );
    }
}
