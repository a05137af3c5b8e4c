//! Each frame, before drawing: job events and results drained into state,
//! file dialogs' answers, dropped files, and thumbnails long out of view freed.

use std::path::{Path, PathBuf};

use super::explore::QueryKind;
use super::settings::View;
use super::{PickPurpose, ShelfwiseApp};
use crate::jobs::JobOutcome;
use crate::store::Modalities;

pub(crate) fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "jpg" | "jpeg" | "png" | "webp" | "gif" | "bmp"
        )
    })
}

impl ShelfwiseApp {
    /// Drains events: job progress and results, dialog answers, dropped files.
    pub fn run_logic(&mut self, ctx: &egui::Context) {
        self.poll_import(ctx);
        self.poll_file_pick(ctx);
        if self.poll_training() {
            self.reload_runs();
        }
        self.poll_explore_jobs();
        self.poll_check();
        self.poll_backbone();
        self.poll_export();
        self.poll_review();
        self.poll_duplicates();
        self.poll_doubtful();
        self.save_png_if_ready(ctx);
        let dropped: Vec<PathBuf> = ctx.input(|input| {
            input
                .raw
                .dropped_files
                .iter()
                .map(|file| file.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            // In the Recommend view an image is a query, not an import.
            if self.view == View::Recommend && is_image(&path) {
                self.recommend.kind = QueryKind::Image;
                self.recommend.image = Some(path);
            } else if self.view == View::Library
                && self.library.selected.is_some()
                && is_image(&path)
            {
                // An image dropped while a book is shown is its new cover.
                self.cover_picked(path);
            } else {
                self.start_import(ctx, path);
            }
        }
        for uri in self.library.thumbnails_to_free() {
            ctx.forget_image(&uri);
        }
    }

    /// A library that opened with problems says so in the status bar.
    fn poll_check(&mut self) {
        let Some(outcome) = self.check_job.as_mut().and_then(|job| job.poll()) else {
            return;
        };
        self.check_job = None;
        match outcome {
            JobOutcome::Finished(report) if !report.findings.is_empty() => {
                let mut kinds: Vec<&str> = report.findings.iter().map(|f| f.kind).collect();
                kinds.dedup();
                self.status = Some(format!(
                    "This library has {} problem(s) ({}): run `shelfwise check --repair` on it.",
                    report.findings.len(),
                    kinds.join(", ").replace('_', " ")
                ));
                self.reload_runs();
            }
            JobOutcome::Finished(_) => {}
            JobOutcome::Failed(error) => {
                self.status = Some(format!(
                    "The library check failed: {}",
                    crate::jobs::error_message(&error)
                ))
            }
        }
    }

    /// The model's suggested categories become the review queue.
    fn poll_review(&mut self) {
        let Some(outcome) = self.library.review_job.as_mut().and_then(|job| job.poll()) else {
            return;
        };
        self.library.review_job = None;
        match outcome {
            JobOutcome::Finished(suggestions) => self.library.review = Some(suggestions),
            JobOutcome::Failed(error) => {
                self.status = Some(format!(
                    "Suggested categories: {}",
                    crate::jobs::error_message(&error)
                ))
            }
        }
    }

    fn poll_doubtful(&mut self) {
        let Some(outcome) = self
            .library
            .doubtful_job
            .as_mut()
            .and_then(|job| job.poll())
        else {
            return;
        };
        self.library.doubtful_job = None;
        match outcome {
            JobOutcome::Finished(doubtful) => {
                self.library.trash = None;
                self.library.review = None;
                self.library.duplicates = None;
                self.library.doubtful = Some(doubtful);
            }
            JobOutcome::Failed(error) => {
                self.status = Some(format!(
                    "Doubtful labels: {}",
                    crate::jobs::error_message(&error)
                ))
            }
        }
    }

    fn poll_duplicates(&mut self) {
        let Some(outcome) = self
            .library
            .duplicates_job
            .as_mut()
            .and_then(|job| job.poll())
        else {
            return;
        };
        self.library.duplicates_job = None;
        match outcome {
            JobOutcome::Finished(pairs) => self.library.duplicates = Some(pairs),
            JobOutcome::Failed(error) => {
                self.status = Some(format!(
                    "Near-duplicates: {}",
                    crate::jobs::error_message(&error)
                ))
            }
        }
    }

    /// A finished export says where it went.
    fn poll_export(&mut self) {
        if let Some(outcome) = self.exports.report_job.as_mut().and_then(|job| job.poll()) {
            self.exports.report_job = None;
            self.status = Some(match outcome {
                JobOutcome::Finished(page) => {
                    format!("Wrote the sweep report to {}", page.display())
                }
                JobOutcome::Failed(error) => {
                    format!(
                        "The sweep report failed: {}",
                        crate::jobs::error_message(&error)
                    )
                }
            });
        }
        let Some(outcome) = self.exports.books_job.as_mut().and_then(|job| job.poll()) else {
            return;
        };
        self.exports.books_job = None;
        self.status = Some(match outcome {
            JobOutcome::Finished(report) => format!(
                "Exported {} book(s) and {} cover file(s) to {}",
                report.books,
                report.covers,
                report.csv.display()
            ),
            JobOutcome::Failed(error) => {
                format!("Export failed: {}", crate::jobs::error_message(&error))
            }
        });
    }

    /// A finished download or import says what the trunk is now.
    fn poll_backbone(&mut self) {
        let Some(outcome) = self.backbone.job.as_mut().and_then(|job| job.poll()) else {
            return;
        };
        self.backbone.job = None;
        self.status = Some(match outcome {
            JobOutcome::Finished(installed) => format!(
                "Backbone: {}. Runs trained from now on use it.",
                installed.describe()
            ),
            JobOutcome::Failed(error) => format!(
                "Backbone not installed: {}",
                crate::jobs::error_message(&error)
            ),
        });
        self.backbone.refresh(&self.library_dir);
    }

    fn poll_import(&mut self, ctx: &egui::Context) {
        let Some(outcome) = self.imports.job.as_mut().and_then(|job| job.poll()) else {
            return;
        };
        self.imports.job = None;
        match outcome {
            JobOutcome::Finished(report) => {
                self.imports.last_report = Some(report);
                self.imports.report_open = true;
            }
            JobOutcome::Failed(error) => {
                self.status = Some(format!(
                    "Import failed: {}",
                    crate::jobs::error_message(&error)
                ))
            }
        }
        self.reload_books();
        if let Some(next) = self.imports.queued.pop_front() {
            self.start_import(ctx, next);
        }
    }

    fn poll_file_pick(&mut self, ctx: &egui::Context) {
        let Some((purpose, receiver)) = &self.file_pick else {
            return;
        };
        let Ok(picked) = receiver.try_recv() else {
            return;
        };
        let purpose = *purpose;
        self.file_pick = None;
        match (purpose, picked) {
            (PickPurpose::ImportSource { .. }, Some(path)) => self.start_import(ctx, path),
            (PickPurpose::ImportSource { .. }, None) => {
                self.status = Some(
                    "Nothing was chosen. If no file dialog appeared (it needs xdg-desktop-portal or zenity), \
                     type the path under Import, or drop the file on the window."
                        .into(),
                );
            }
            (PickPurpose::Weights, Some(path)) => self.start_backbone_import(ctx, path),
            (PickPurpose::QueryImage, Some(path)) => self.recommend.image = Some(path),
            (PickPurpose::Cover, Some(path)) => self.cover_picked(path),
            (_, None) => {}
        }
    }

    /// Drains the training job; true when the run table should be re-read.
    fn poll_training(&mut self) -> bool {
        // A run that starts shows in the run table at once.
        let live_runs = self.train.live_curves().len();
        let mut runs_changed = live_runs != self.train.listed_live_runs;
        self.train.listed_live_runs = live_runs;
        let Some(outcome) = self.train.job.as_mut().and_then(|job| job.poll()) else {
            return runs_changed;
        };
        self.train.job = None;
        runs_changed = true;
        match outcome {
            JobOutcome::Finished(runs) => {
                self.message = Some(format!("Training finished: {} run(s).", runs.len()));
                // The sweep's best fused run is the one to look at first.
                self.runs.chosen = runs
                    .iter()
                    .filter(|r| r.modalities == Modalities::Fused)
                    .max_by(|a, b| a.val_macro_f1.total_cmp(&b.val_macro_f1))
                    .or(runs.first())
                    .map(|r| r.run);
            }
            JobOutcome::Failed(error) => {
                self.message = Some(format!(
                    "Training stopped: {}",
                    crate::jobs::error_message(&error)
                ))
            }
        }
        runs_changed
    }

    fn poll_explore_jobs(&mut self) {
        if let Some(outcome) = self.attention.job.as_mut().and_then(|job| job.poll()) {
            self.attention.job = None;
            match outcome {
                JobOutcome::Finished(maps) => self.attention.show(maps),
                JobOutcome::Failed(error) => {
                    self.message =
                        Some(format!("Attention: {}", crate::jobs::error_message(&error)))
                }
            }
        }
        if let Some(outcome) = self.projection.job.as_mut().and_then(|job| job.poll()) {
            self.projection.job = None;
            match outcome {
                JobOutcome::Finished(projection) => {
                    self.projection.projection = Some(projection);
                    self.load_projection_facts();
                }
                JobOutcome::Failed(error) => {
                    self.message = Some(format!(
                        "Projection: {}",
                        crate::jobs::error_message(&error)
                    ))
                }
            }
        }
        if let Some(outcome) = self.recommend.job.as_mut().and_then(|job| job.poll()) {
            self.recommend.job = None;
            match outcome {
                JobOutcome::Finished(suggestions) => self.recommend.suggestions = suggestions,
                JobOutcome::Failed(error) => {
                    self.message = Some(format!(
                        "Suggestions: {}",
                        crate::jobs::error_message(&error)
                    ))
                }
            }
        }
    }
}
