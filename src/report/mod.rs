//! A sweep's report to share: one self-contained HTML page (plots as inline
//! SVG, tables, every run's settings, the trunk's provenance, the library's
//! size) that opens in any browser without the app or the library.

mod html;
pub mod plots;

use std::path::{Path, PathBuf};

use crate::analysis::curves::{RunCurve, stored_curve};
use crate::store::{Library, LibraryStats, RunListing, StoreError, SweepId};
use crate::train::{RunSummary, TrainConfig};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("there is no sweep {0} in this library (`shelfwise runs` lists each run's sweep)")]
    NoSuchSweep(SweepId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run {run}'s stored {what} cannot be read: {reason}")]
    Unreadable {
        run: crate::store::RunId,
        what: &'static str,
        reason: String,
    },
    #[error("drawing a plot: {0}")]
    Plot(String),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One run of the sweep with what the report shows of it.
pub struct ReportRun {
    pub listing: RunListing,
    pub curve: RunCurve,
    pub config: TrainConfig,
    pub summary: Option<RunSummary>,
}

/// Everything a sweep's report shows, read from the library.
pub struct SweepData {
    pub sweep: SweepId,
    pub library_root: PathBuf,
    pub stats: LibraryStats,
    /// Oldest first, as they trained.
    pub runs: Vec<ReportRun>,
}

impl SweepData {
    pub fn read(
        library: &Library,
        library_root: &Path,
        sweep: SweepId,
    ) -> Result<Self, ReportError> {
        let mut listings: Vec<RunListing> = library
            .runs()?
            .into_iter()
            .filter(|r| r.sweep_id == Some(sweep))
            .collect();
        if listings.is_empty() {
            return Err(ReportError::NoSuchSweep(sweep));
        }
        listings.reverse();
        let mut runs = Vec::with_capacity(listings.len());
        for listing in listings {
            let run = listing.run_id;
            let unreadable = |what, reason: String| ReportError::Unreadable { run, what, reason };
            let record = library
                .run_record(run)?
                .ok_or_else(|| unreadable("row", "it is gone".into()))?;
            let config = TrainConfig::from_stored(&record.config, library.root())
                .map_err(|e| unreadable("settings", e.to_string()))?;
            let summary = RunSummary::of_listing(&listing)
                .map_err(|e| unreadable("summary", e.to_string()))?;
            runs.push(ReportRun {
                curve: stored_curve(library, &listing, [0.0, 0.0])?,
                listing,
                config,
                summary,
            });
        }
        Ok(Self {
            sweep,
            library_root: library_root.to_path_buf(),
            stats: library.stats()?,
            runs,
        })
    }
}

/// Writes sweep `sweep`'s report as `sweep-<id>.html` in `folder` (made
/// when missing); returns the page's path.
pub fn write_sweep_report(
    library: &Library,
    library_root: &Path,
    sweep: SweepId,
    folder: &Path,
) -> Result<PathBuf, ReportError> {
    let data = SweepData::read(library, library_root, sweep)?;
    let page = html::page(&data)?;
    let write_error = |path: &Path, source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(folder).map_err(|e| write_error(folder, e))?;
    let path = folder.join(format!("sweep-{sweep}.html"));
    crate::store::write_file_atomically(&path, page.as_bytes())?;
    Ok(path)
}
