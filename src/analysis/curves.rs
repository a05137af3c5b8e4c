//! A sweep's curves as the Train view and the sweep report draw them: each
//! run's loss terms and validation figures, the runs of one setting over
//! several seeds drawn as a mean with a band, and held-out macro-F1 against
//! beta with its spread (the paper's Fig. 7, over seeds).

use std::collections::BTreeMap;

use crate::store::{Library, Modalities, RunId, RunListing, RunStatus, StoreError};

/// One run's curves: each term of its objective per step, its validation
/// figures per epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunCurve {
    pub run_id: RunId,
    /// What the run trained, without its seed (`fused, β 0.3`): the runs of
    /// one setting over several seeds share it and are drawn as one band.
    pub setting: String,
    pub seed: Option<i64>,
    /// `[step, β × CE + α × triplet (+ w × alignment)]`: what the run minimised.
    pub losses: Vec<[f64; 2]>,
    /// `[step, value]` of each term alone, unweighted: comparable between betas.
    pub cross_entropy: Vec<[f64; 2]>,
    pub triplet: Vec<[f64; 2]>,
    pub alignment: Vec<[f64; 2]>,
    /// `[epoch, validation accuracy]`.
    pub accuracy: Vec<[f64; 2]>,
    /// `[epoch, validation macro-F1]`.
    pub macro_f1: Vec<[f64; 2]>,
}

impl RunCurve {
    pub fn new(run_id: RunId, setting: String, seed: Option<i64>) -> Self {
        Self {
            run_id,
            setting,
            seed,
            ..Self::default()
        }
    }

    /// `run 7: fused, β 0.3 (seed 2)`.
    pub fn label(&self) -> String {
        match self.seed {
            Some(seed) => format!("run {}: {} (seed {seed})", self.run_id, self.setting),
            None => format!("run {}: {}", self.run_id, self.setting),
        }
    }

    /// The points of one loss term.
    pub fn term(&self, term: LossTerm) -> &[[f64; 2]] {
        match term {
            LossTerm::Objective => &self.losses,
            LossTerm::CrossEntropy => &self.cross_entropy,
            LossTerm::Triplet => &self.triplet,
            LossTerm::Alignment => &self.alignment,
        }
    }

    /// The points of one validation figure.
    pub fn figure(&self, figure: ValidationFigure) -> &[[f64; 2]] {
        match figure {
            ValidationFigure::Accuracy => &self.accuracy,
            ValidationFigure::MacroF1 => &self.macro_f1,
        }
    }
}

/// Which loss the loss plot draws. The objective weighs its terms by beta,
/// so runs of different betas are on different scales; each term alone is
/// on one scale for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LossTerm {
    #[default]
    Objective,
    CrossEntropy,
    Triplet,
    Alignment,
}

impl LossTerm {
    pub const ALL: [LossTerm; 4] = [
        LossTerm::Objective,
        LossTerm::CrossEntropy,
        LossTerm::Triplet,
        LossTerm::Alignment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LossTerm::Objective => "objective (β·CE + α·triplet + w·alignment)",
            LossTerm::CrossEntropy => "cross-entropy",
            LossTerm::Triplet => "triplet",
            LossTerm::Alignment => "alignment",
        }
    }
}

/// Which validation figure the second plot draws per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidationFigure {
    #[default]
    Accuracy,
    MacroF1,
}

impl ValidationFigure {
    pub fn name(self) -> &'static str {
        match self {
            ValidationFigure::Accuracy => "validation accuracy",
            ValidationFigure::MacroF1 => "validation macro-F1",
        }
    }
}

/// How the runs of one setting over several seeds are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CurveMode {
    /// Every run its own line.
    #[default]
    PerRun,
    /// The mean over seeds, with a band from the lowest to the highest.
    MeanMinMax,
    /// The mean over seeds, with a band of one standard deviation.
    MeanSd,
}

impl CurveMode {
    pub const ALL: [CurveMode; 3] = [CurveMode::PerRun, CurveMode::MeanMinMax, CurveMode::MeanSd];

    pub fn name(self) -> &'static str {
        match self {
            CurveMode::PerRun => "each run",
            CurveMode::MeanMinMax => "mean, min-max band",
            CurveMode::MeanSd => "mean ± 1 sd band",
        }
    }
}

/// A setting's curve over seeds: at each x, the mean and the band's edges.
#[derive(Debug, Clone, PartialEq)]
pub struct BandCurve {
    pub setting: String,
    pub runs: usize,
    /// `[x, mean]`.
    pub mean: Vec<[f64; 2]>,
    /// `[x, low, high]`.
    pub band: Vec<[f64; 3]>,
}

/// The curves of each setting (in the order settings first appear), their
/// points gathered by x: a run that stopped early counts where it has points.
pub fn bands(
    curves: &[RunCurve],
    points: impl Fn(&RunCurve) -> Vec<[f64; 2]>,
    mode: CurveMode,
) -> Vec<BandCurve> {
    let mut settings: Vec<(String, Vec<Vec<[f64; 2]>>)> = Vec::new();
    for curve in curves {
        let line = points(curve);
        match settings.iter_mut().find(|(s, _)| *s == curve.setting) {
            Some((_, lines)) => lines.push(line),
            None => settings.push((curve.setting.clone(), vec![line])),
        }
    }
    settings
        .into_iter()
        .map(|(setting, lines)| {
            // x as integers: steps and epochs are whole numbers.
            let mut at: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
            for line in &lines {
                for &[x, y] in line {
                    if y.is_finite() {
                        at.entry(x.round() as i64).or_default().push(y);
                    }
                }
            }
            let mut mean = Vec::with_capacity(at.len());
            let mut band = Vec::with_capacity(at.len());
            for (x, values) in at {
                let spread = Spread::of(&values);
                let (low, high) = match mode {
                    CurveMode::MeanSd => (spread.mean - spread.sd, spread.mean + spread.sd),
                    _ => (spread.min, spread.max),
                };
                mean.push([x as f64, spread.mean]);
                band.push([x as f64, low, high]);
            }
            BandCurve {
                setting,
                runs: lines.len(),
                mean,
                band,
            }
        })
        .collect()
}

/// Mean, sample standard deviation and range of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one value.
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count.max(1) as f64;
        let sd = if count > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        Self {
            mean,
            sd,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            count,
        }
    }

    /// `0.812 ± 0.010 (3 runs)`, or the value alone for one run.
    pub fn text(&self) -> String {
        if self.count > 1 {
            format!("{:.3} ± {:.3} ({} runs)", self.mean, self.sd, self.count)
        } else {
            format!("{:.3}", self.mean)
        }
    }
}

/// Held-out macro-F1 against beta over a sweep's finished runs: the fused
/// runs per beta, and the single-modal runs as references.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BetaFigure {
    /// `(beta, spread over seeds)` of the fused runs, by beta.
    pub fused: Vec<(f64, Spread)>,
    pub text_only: Option<Spread>,
    pub image_only: Option<Spread>,
}

impl BetaFigure {
    pub fn of(runs: &[&RunListing]) -> Self {
        let mut fused: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
        let mut text = Vec::new();
        let mut image = Vec::new();
        for run in runs.iter().filter(|r| r.status == RunStatus::Finished) {
            let Some(f1) = run.val_macro_f1 else {
                continue;
            };
            match run.modalities {
                // Betas keyed in thousandths, so 0.3 from two sources is one beta.
                Modalities::Fused => {
                    let entry = fused
                        .entry((run.beta * 1000.0).round() as i64)
                        .or_insert((run.beta, Vec::new()));
                    entry.1.push(f1);
                }
                Modalities::Text => text.push(f1),
                Modalities::Image => image.push(f1),
            }
        }
        let spread = |values: Vec<f64>| (!values.is_empty()).then(|| Spread::of(&values));
        Self {
            fused: fused
                .into_values()
                .map(|(beta, values)| (beta, Spread::of(&values)))
                .collect(),
            text_only: spread(text),
            image_only: spread(image),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fused.is_empty() && self.text_only.is_none() && self.image_only.is_none()
    }
}

/// A run's stored curves, starting at `offset` (`[step, epoch]`).
pub fn stored_curve(
    library: &Library,
    listing: &RunListing,
    [steps_before, epochs_before]: [f64; 2],
) -> Result<RunCurve, StoreError> {
    let steps = library.run_steps(listing.run_id)?;
    let epochs = library.run_epochs(listing.run_id)?;
    let at_step = |value: &dyn Fn(&crate::store::RunStep) -> Option<f64>| -> Vec<[f64; 2]> {
        steps
            .iter()
            .filter_map(|s| Some([steps_before + s.step as f64, value(s)?]))
            .collect()
    };
    let at_epoch = |value: &dyn Fn(&crate::store::RunEpoch) -> f64| -> Vec<[f64; 2]> {
        epochs
            .iter()
            .map(|e| [epochs_before + e.epoch as f64, value(e)])
            .collect()
    };
    Ok(RunCurve {
        losses: at_step(&|s| Some(s.loss)),
        cross_entropy: at_step(&|s| Some(s.cross_entropy)),
        triplet: at_step(&|s| Some(s.triplet)),
        alignment: at_step(&|s| s.alignment),
        accuracy: at_epoch(&|e| e.val_accuracy),
        macro_f1: at_epoch(&|e| e.val_macro_f1),
        ..RunCurve::new(
            listing.run_id,
            super::labels::run_label(listing),
            listing.seed,
        )
    })
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

    fn curve(run: i64, setting: &str, seed: i64, losses: &[f64]) -> RunCurve {
        RunCurve {
            losses: losses
                .iter()
                .enumerate()
                .map(|(i, &y)| [(i + 1) as f64, y])
                .collect(),
            ..RunCurve::new(RunId(run), setting.into(), Some(seed))
        }
    }

    #[test]
    fn the_runs_of_a_setting_become_one_mean_with_its_band() {
        let curves = [
            curve(1, "fused, β 0.3", 1, &[1.0, 0.5]),
            curve(2, "text only", 1, &[2.0]),
            curve(3, "fused, β 0.3", 2, &[3.0, 0.7, 0.2]),
        ];
        let by_range = bands(&curves, |c| c.losses.clone(), CurveMode::MeanMinMax);
        assert_eq!(by_range.len(), 2);
        let fused = &by_range[0];
        assert_eq!((fused.setting.as_str(), fused.runs), ("fused, β 0.3", 2));
        assert_eq!(fused.mean, [[1.0, 2.0], [2.0, 0.6], [3.0, 0.2]]);
        assert_eq!(fused.band[0], [1.0, 1.0, 3.0]);
        // Where one run has stopped, the band is the other run alone.
        assert_eq!(fused.band[2], [3.0, 0.2, 0.2]);
        let by_sd = bands(&curves, |c| c.losses.clone(), CurveMode::MeanSd);
        let sd = 2.0f64.sqrt();
        assert!((by_sd[0].band[0][1] - (2.0 - sd)).abs() < 1e-12);
        assert!((by_sd[0].band[0][2] - (2.0 + sd)).abs() < 1e-12);
        assert_eq!(by_sd[1].band, [[1.0, 2.0, 2.0]]);
    }

    #[test]
    fn the_beta_figure_gathers_fused_runs_by_beta_and_single_modal_runs_apart() {
        let run = |id, beta, modalities, status, f1| RunListing {
            run_id: RunId(id),
            sweep_id: None,
            beta,
            modalities,
            status,
            best_epoch: Some(1),
            val_accuracy: Some(f1),
            val_macro_f1: Some(f1),
            summary: None,
            created_at: String::new(),
            epochs_done: 1,
            parent_run_id: None,
            seed: None,
        };
        let listings = [
            run(1, 0.3, Modalities::Fused, RunStatus::Finished, 0.7),
            run(2, 0.3, Modalities::Fused, RunStatus::Finished, 0.9),
            run(3, 0.5, Modalities::Fused, RunStatus::Finished, 0.6),
            run(4, 0.3, Modalities::Text, RunStatus::Finished, 0.75),
            run(5, 0.2, Modalities::Fused, RunStatus::Cancelled, 0.1),
        ];
        let figure = BetaFigure::of(&listings.iter().collect::<Vec<_>>());
        assert_eq!(figure.fused.len(), 2, "a cancelled run is not a point");
        let (beta, spread) = figure.fused[0];
        assert_eq!(beta, 0.3);
        assert!((spread.mean - 0.8).abs() < 1e-12);
        assert!((spread.sd - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!(spread.text(), "0.800 ± 0.141 (2 runs)");
        assert_eq!(figure.text_only.unwrap().text(), "0.750");
        assert!(figure.image_only.is_none());
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
    fn a_run_is_labelled_with_its_seed_when_it_has_one() {
        let with = RunCurve::new(RunId(7), "fused, β 0.3".into(), Some(2));
        assert_eq!(with.label(), "run 7: fused, β 0.3 (seed 2)");
        let without = RunCurve::new(RunId(7), "text only".into(), None);
        assert_eq!(without.label(), "run 7: text only");
    }
}
