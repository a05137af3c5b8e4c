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

/// A column of the run table, to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunColumn {
    #[default]
    Run,
    Seed,
    Kind,
    Trunk,
    Status,
    MacroF1,
}

impl RunColumn {
    pub const ALL: [RunColumn; 6] = [
        RunColumn::Run,
        RunColumn::Seed,
        RunColumn::Kind,
        RunColumn::Trunk,
        RunColumn::Status,
        RunColumn::MacroF1,
    ];

    pub fn header(self) -> &'static str {
        match self {
            RunColumn::Run => "run",
            RunColumn::Seed => "seed",
            RunColumn::Kind => "kind",
            RunColumn::Trunk => "trunk",
            RunColumn::Status => "status",
            RunColumn::MacroF1 => "F1",
        }
    }
}

/// How the run table is ordered: by a column, and in groups of one setting
/// (the runs of a sweep over seeds) with their mean and spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunTableOrder {
    pub column: RunColumn,
    pub descending: bool,
    pub grouped: bool,
}

impl Default for RunTableOrder {
    fn default() -> Self {
        Self {
            column: RunColumn::Run,
            descending: true,
            grouped: false,
        }
    }
}

impl RunTableOrder {
    /// A click on a column's header: sort by it, or turn its order round.
    pub fn click(&mut self, column: RunColumn) {
        if self.column == column {
            self.descending = !self.descending;
        } else {
            self.column = column;
            self.descending = matches!(column, RunColumn::MacroF1 | RunColumn::Run);
        }
    }
}

/// A group of the run table: the runs of one setting, and the spread of
/// their macro-F1 over the finished ones.
pub struct RunGroup<'a> {
    pub setting: String,
    pub runs: Vec<&'a RunListing>,
    pub macro_f1: Option<super::curves::Spread>,
}

impl RunsState {
    /// The runs as the table shows them: sorted by `order`'s column, in one
    /// group, or grouped by setting (groups sorted by their first run).
    pub fn table(&self, order: &RunTableOrder) -> Vec<RunGroup<'_>> {
        let mut sorted: Vec<&RunListing> = self.runs.iter().collect();
        // Each key once (the trunk's is read from the run's summary).
        sorted.sort_by_cached_key(|l| (self.sort_key(l, order.column), l.run_id));
        if order.descending {
            sorted.reverse();
        }
        if !order.grouped {
            return vec![RunGroup {
                setting: String::new(),
                runs: sorted,
                macro_f1: None,
            }];
        }
        let mut groups: Vec<RunGroup<'_>> = Vec::new();
        for listing in sorted {
            let setting = run_label(listing);
            match groups.iter_mut().find(|g| g.setting == setting) {
                Some(group) => group.runs.push(listing),
                None => groups.push(RunGroup {
                    setting,
                    runs: vec![listing],
                    macro_f1: None,
                }),
            }
        }
        for group in &mut groups {
            let f1: Vec<f64> = group
                .runs
                .iter()
                .filter(|r| r.status == RunStatus::Finished)
                .filter_map(|r| r.val_macro_f1)
                .collect();
            group.macro_f1 = (!f1.is_empty()).then(|| super::curves::Spread::of(&f1));
        }
        groups
    }

    fn sort_key(&self, listing: &RunListing, column: RunColumn) -> SortKey {
        match column {
            RunColumn::Run => SortKey::Number(listing.run_id.0 as f64),
            RunColumn::Seed => SortKey::Number(listing.seed.map_or(f64::NAN, |s| s as f64)),
            RunColumn::Kind => SortKey::Text(run_label(listing)),
            RunColumn::Trunk => SortKey::Text(self.trunk_label(listing.run_id).unwrap_or_default()),
            RunColumn::Status => SortKey::Text(status_label(listing).into()),
            RunColumn::MacroF1 => SortKey::Number(listing.val_macro_f1.unwrap_or(f64::NAN)),
        }
    }
}

/// A value to sort by; numbers missing (NaN) come first.
#[derive(PartialEq)]
enum SortKey {
    Number(f64),
    Text(String),
}

impl Eq for SortKey {}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Number(_), SortKey::Text(_)) => std::cmp::Ordering::Less,
            (SortKey::Text(_), SortKey::Number(_)) => std::cmp::Ordering::Greater,
        }
    }
}

pub use crate::analysis::labels::{run_label, status_label};

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
            seed: None,
        }
    }

    #[test]
    fn the_table_sorts_by_any_column_and_groups_a_settings_seeds() {
        let mut runs = vec![
            listing(4, Modalities::Fused, RunStatus::Finished, 0.7),
            listing(3, Modalities::Text, RunStatus::Finished, 0.9),
            listing(2, Modalities::Fused, RunStatus::Finished, 0.5),
            listing(1, Modalities::Fused, RunStatus::Cancelled, 0.1),
        ];
        runs[2].beta = 0.5;
        let state = RunsState {
            runs,
            ..RunsState::default()
        };
        let ids = |groups: &[RunGroup<'_>]| -> Vec<Vec<i64>> {
            groups
                .iter()
                .map(|g| g.runs.iter().map(|r| r.run_id.0).collect())
                .collect()
        };
        let mut order = RunTableOrder::default();
        assert_eq!(ids(&state.table(&order)), [vec![4, 3, 2, 1]]);
        order.click(RunColumn::MacroF1);
        assert_eq!(ids(&state.table(&order)), [vec![3, 4, 2, 1]]);
        order.click(RunColumn::MacroF1);
        assert_eq!(ids(&state.table(&order)), [vec![1, 2, 4, 3]]);
        order.click(RunColumn::Status);
        assert!(!order.descending);
        assert_eq!(
            ids(&state.table(&order))[0][0],
            2,
            "finished before stopped"
        );
        order = RunTableOrder {
            grouped: true,
            ..RunTableOrder::default()
        };
        let groups = state.table(&order);
        assert_eq!(ids(&groups), [vec![4, 1], vec![3], vec![2]]);
        assert_eq!(groups[0].setting, "fused, β 0.3");
        let spread = groups[0].macro_f1.unwrap();
        assert_eq!(
            (spread.count, spread.mean),
            (1, 0.7),
            "a stopped run has no F1"
        );
    }

    #[test]
    fn statuses_are_plain_words() {
        let running = listing(1, Modalities::Fused, RunStatus::Running, 0.0);
        assert_eq!(status_label(&running), "training");
        let stopped = listing(1, Modalities::Fused, RunStatus::Cancelled, 0.0);
        assert_eq!(status_label(&stopped), "stopped");
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
