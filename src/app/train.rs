//! The Train view's state: the sweep form, the running sweep's live curves
//! (shared with its job through a mutex the job holds only to append a point),
//! and the stored curves of the run chosen in the run table.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::runs::{RunsState, run_label};
use crate::jobs::Job;
use crate::store::{Library, RunId, RunListing, StoreError};
use crate::train::{SweepRequest, SweepRun, TrainConfig, TrainEvent};

/// The Train view's form.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub betas: String,
    pub single_modal: bool,
    pub epochs: usize,
    pub categories_per_batch: usize,
    pub books_per_category: usize,
    pub learning_rate: f64,
    pub image_size: i64,
    pub width: f64,
}

impl Default for TrainForm {
    fn default() -> Self {
        let defaults = TrainConfig::default();
        Self {
            betas: "0.2, 0.3, 0.5".into(),
            single_modal: true,
            epochs: defaults.epochs,
            categories_per_batch: defaults.categories_per_batch,
            books_per_category: defaults.books_per_category,
            learning_rate: defaults.learning_rate,
            image_size: defaults.trunk.image_size,
            width: defaults.trunk.width,
        }
    }
}

impl TrainForm {
    /// The small sweep a speaker runs live on the demo library: three betas
    /// and both single-modal runs in a few minutes on a 2-core CPU.
    pub fn demo() -> Self {
        Self {
            betas: "0.2, 0.3, 0.5".into(),
            single_modal: true,
            epochs: 20,
            categories_per_batch: 5,
            books_per_category: 8,
            learning_rate: 3e-3,
            image_size: 128,
            width: 0.5,
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

    /// The sweep this form asks for, or what is wrong with it.
    pub fn request(&self, weights: Option<PathBuf>) -> Result<SweepRequest, String> {
        let betas = self.betas()?;
        if self.epochs == 0 || self.categories_per_batch == 0 || self.books_per_category == 0 {
            return Err("epochs, P and K must be at least 1".into());
        }
        let mut base = TrainConfig {
            epochs: self.epochs,
            categories_per_batch: self.categories_per_batch,
            books_per_category: self.books_per_category,
            learning_rate: self.learning_rate,
            ..TrainConfig::default()
        };
        base.trunk.image_size = self.image_size;
        base.trunk.width = self.width;
        if weights.is_some() {
            base.trunk.weights = weights;
            base.trunk.width = 1.0;
        }
        Ok(SweepRequest {
            betas,
            single_modal: self.single_modal,
            base,
        })
    }
}

/// One run's curves: loss per step, validation accuracy per epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunCurve {
    pub run_id: RunId,
    pub label: String,
    /// `[step, loss]`.
    pub losses: Vec<[f64; 2]>,
    /// `[epoch, validation accuracy]`.
    pub accuracy: Vec<[f64; 2]>,
}

/// The curves of the sweep in progress, shared with its job.
#[derive(Debug, Default)]
pub struct LiveSweep {
    pub curves: Vec<RunCurve>,
    /// Labels of the runs not started yet, in order.
    pub pending: Vec<String>,
}

impl LiveSweep {
    pub fn record(&mut self, run_id: RunId, event: &TrainEvent) {
        if !self.curves.iter().any(|c| c.run_id == run_id) {
            let label = if self.pending.is_empty() {
                format!("run {run_id}")
            } else {
                format!("run {run_id}: {}", self.pending.remove(0))
            };
            self.curves.push(RunCurve {
                run_id,
                label,
                ..RunCurve::default()
            });
        }
        let curve = self
            .curves
            .iter_mut()
            .find(|c| c.run_id == run_id)
            .expect("just added");
        match event {
            TrainEvent::Step { step, loss, .. } => curve.losses.push([*step as f64, *loss]),
            TrainEvent::Epoch {
                epoch,
                val_accuracy,
                ..
            } => curve.accuracy.push([*epoch as f64, *val_accuracy]),
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
            listed_live_runs: 0,
        }
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
            let steps = library.run_steps(member.run_id)?;
            let epochs = library.run_epochs(member.run_id)?;
            curves.push(RunCurve {
                run_id: member.run_id,
                label: format!("run {}: {}", member.run_id, run_label(member)),
                losses: steps.iter().map(|s| [s.step as f64, s.loss]).collect(),
                accuracy: epochs
                    .iter()
                    .map(|e| [e.epoch as f64, e.val_accuracy])
                    .collect(),
            });
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

/// An exponential moving average of `points` (`weight` 0 = none, toward 1 =
/// smoother), as TensorBoard draws loss curves.
pub fn smooth(points: &[[f64; 2]], weight: f64) -> Vec<[f64; 2]> {
    let weight = weight.clamp(0.0, 0.999);
    let mut last = None;
    points
        .iter()
        .map(|&[x, y]| {
            let value = match last {
                None => y,
                Some(previous) => previous * weight + (1.0 - weight) * y,
            };
            last = Some(value);
            [x, value]
        })
        .collect()
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
    fn smoothing_follows_the_curve_and_zero_leaves_it() {
        let points = [[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]];
        assert_eq!(smooth(&points, 0.0), points.to_vec());
        let smoothed = smooth(&points, 0.5);
        assert_eq!(smoothed[1], [2.0, 0.5]);
        assert_eq!(smoothed[2], [3.0, 0.75]);
    }

    #[test]
    fn live_curves_take_the_labels_of_their_runs_in_order() {
        let mut live = LiveSweep {
            curves: Vec::new(),
            pending: vec!["fused, β 0.3".into(), "image only".into()],
        };
        let step = |n| TrainEvent::Step {
            epoch: 1,
            step: n,
            loss: 1.0 / n as f64,
            cross_entropy: 0.0,
            triplet: 0.0,
        };
        live.record(RunId(7), &step(1));
        live.record(RunId(7), &step(2));
        live.record(RunId(8), &step(1));
        assert_eq!(live.curves[0].label, "run 7: fused, β 0.3");
        assert_eq!(live.curves[0].losses.len(), 2);
        assert_eq!(live.curves[1].label, "run 8: image only");
    }
}
