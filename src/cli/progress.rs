//! The one progress printer of the command line: "label: done/total (rate/s)"
//! on stderr, at most twice a second and once at the end, whatever job it is.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::jobs::Progress;

const EVERY: Duration = Duration::from_millis(500);

/// Prints a job's progress to stderr; hand `&printer.callback()` to the job.
pub struct ProgressPrinter {
    label: String,
    started: Instant,
    last: Mutex<Option<Instant>>,
}

impl ProgressPrinter {
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            started: Instant::now(),
            last: Mutex::new(None),
        }
    }

    /// The line for `progress`, when it is time for one.
    fn line(&self, progress: Progress) -> Option<String> {
        let mut last = self.last.try_lock().ok()?;
        let due = last.is_none_or(|at| at.elapsed() >= EVERY);
        if !(due || progress.is_done()) || progress.total == 0 {
            return None;
        }
        *last = Some(Instant::now());
        let rate = progress.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        Some(format!(
            "{}: {}/{} ({rate:.0}/s)",
            self.label, progress.done, progress.total
        ))
    }

    pub fn report(&self, progress: Progress) {
        if let Some(line) = self.line(progress) {
            eprintln!("{line}");
        }
    }

    /// The printer as the callback every job takes.
    pub fn callback(&self) -> impl Fn(Progress) + Sync + '_ {
        move |progress| self.report(progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_throttled_but_the_last_always_shows() {
        let printer = ProgressPrinter::new("importing");
        let first = printer.line(Progress::new(1, 10)).unwrap();
        assert!(first.starts_with("importing: 1/10 ("), "{first}");
        assert!(printer.line(Progress::new(2, 10)).is_none());
        assert!(printer.line(Progress::new(10, 10)).is_some());
        assert!(printer.line(Progress::new(0, 0)).is_none());
    }
}
