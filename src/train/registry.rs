//! The library's runs as their owners leave them: a run that says `running`
//! while no process holds it was interrupted, and a run is deleted only by a
//! process that can hold it.

use std::path::Path;

use super::TrainError;
use super::checkpoints::{RunDir, checkpoint_error};
use super::lease::RunLease;
use crate::store::{Library, RunId, RunListing, RunStatus};

/// Every run, newest first, with the runs whose process died marked
/// interrupted (in the library too, so every reader sees it).
pub fn list_runs(library: &mut Library) -> Result<Vec<RunListing>, TrainError> {
    let mut runs = library.runs()?;
    for run in runs.iter_mut().filter(|r| r.status == RunStatus::Running) {
        let run_dir = RunDir::new(library.root(), run.run_id);
        if RunLease::holder(&run_dir).is_some() {
            continue;
        }
        // A read-only library is not written; its runs are seen as they are.
        if library.is_read_only() || library.mark_interrupted(run.run_id)? {
            run.status = RunStatus::Interrupted;
        }
    }
    Ok(runs)
}

/// How many of the books a run trained on or held out a librarian changed
/// (edited, deleted, recategorised) since the run started; `None` for runs
/// saved before their split was kept.
pub fn books_changed_since(
    library: &Library,
    run: &RunListing,
) -> Result<Option<usize>, TrainError> {
    let Some(split) = RunDir::new(library.root(), run.run_id).load_split()? else {
        return Ok(None);
    };
    let changed = library.books_changed_since(&run.created_at)?;
    Ok(Some(
        split
            .train
            .iter()
            .chain(&split.validation)
            .filter(|book| changed.contains(book))
            .count(),
    ))
}

/// The process training `run_id`, when one is.
pub fn run_owner(library_root: &Path, run_id: RunId) -> Option<u32> {
    RunLease::holder(&RunDir::new(library_root, run_id)).flatten()
}

/// Removes a run: its rows (steps, epochs, embeddings, projections) and its
/// folder. Refused while another process (or job) trains it.
pub fn delete_run(library_root: &Path, run_id: RunId) -> Result<(), TrainError> {
    let mut library = Library::open(library_root)?;
    library.ensure_writable("deleting a run")?;
    if library.run_record(run_id)?.is_none() {
        return Err(TrainError::RunNotFound(run_id));
    }
    let run_dir = RunDir::new(library_root, run_id);
    let lease = RunLease::acquire(&run_dir, run_id)?;
    library.delete_run(run_id)?;
    drop(lease);
    match std::fs::remove_dir_all(run_dir.path()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(checkpoint_error(run_dir.path(), e)),
    }
}
