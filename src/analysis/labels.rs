//! A run's names as tables, curves and reports show them.

use crate::store::{RunListing, RunStatus};

/// A run's status in plain words: what it is doing or how it ended.
pub fn status_label(listing: &RunListing) -> &'static str {
    match listing.status {
        RunStatus::Running => "training",
        RunStatus::Finished => "finished",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "stopped",
        RunStatus::Interrupted => "interrupted",
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
