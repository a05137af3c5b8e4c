//! The cross-validation both classifiers fitted beside the network choose
//! their L2 strength `C` and class weighting by (`word_classifier`,
//! `cover_classifier`): stratified folds of the labelled books, every
//! setting of the grid fitted on each fold's other books.

use tch::Tensor;

use super::TrainError;
use super::logistic::{Fitted, Setting};
use super::split::stratified_folds;
use super::word_classifier::macro_f1;

/// Folds of the cross-validation that chooses `C` and the class weighting.
const FOLDS: usize = 5;

/// Every strength of `strengths` with books weighted alike, then every one
/// with categories balanced: the grid the folds choose from.
pub(super) fn settings_grid(strengths: &[f64]) -> Vec<Setting> {
    [false, true]
        .into_iter()
        .flat_map(|balanced| strengths.iter().map(move |&c| (c, balanced)))
        .collect()
}

/// The setting with the best mean macro-F1 over [`FOLDS`] stratified folds
/// of `labelled` (rows of `labels`, of `categories` categories; the first
/// setting on ties), with that mean: `fit` fits every setting on a fold's
/// other rows, `probabilities` scores one fit on the fold's rows.
pub(super) fn cross_validate(
    labels: &[usize],
    labelled: &[usize],
    (settings, seed, categories): (&[Setting], u64, usize),
    mut fit: impl FnMut(&[usize]) -> Result<Vec<Fitted>, TrainError>,
    probabilities: impl Fn(&Fitted, &[usize]) -> Tensor,
) -> Result<(Setting, f64), TrainError> {
    let labels_of = |rows: &[usize]| -> Vec<usize> { rows.iter().map(|&r| labels[r]).collect() };
    let folds = if labelled.len() >= 2 * FOLDS {
        FOLDS
    } else {
        2
    };
    let fold_of = stratified_folds(&labels_of(labelled), folds, seed);
    let part = |fold: usize, inside: bool| -> Vec<usize> {
        (0..labelled.len())
            .filter(|&i| (fold_of[i] == fold) == inside)
            .map(|i| labelled[i])
            .collect()
    };
    let mut totals = vec![0.0; settings.len()];
    for fold in 0..folds {
        let (fitting, scored) = (part(fold, false), part(fold, true));
        let actual = labels_of(&scored);
        for (total, fitted) in totals.iter_mut().zip(fit(&fitting)?) {
            *total += macro_f1(&probabilities(&fitted, &scored), &actual, categories);
        }
    }
    let mut best = (settings[0], f64::NEG_INFINITY);
    for (&setting, total) in settings.iter().zip(totals) {
        if total / folds as f64 > best.1 {
            best = (setting, total / folds as f64);
        }
    }
    Ok(best)
}

/// The rows of `labels` the folds choose `C` on: all of them up to `most`,
/// else an even stratified sample of about that many.
pub(super) fn cross_validation_sample(labels: &[usize], seed: u64, most: usize) -> Vec<usize> {
    let parts = labels.len().div_ceil(most);
    if parts <= 1 {
        return (0..labels.len()).collect();
    }
    let part_of = stratified_folds(labels, parts, seed ^ 0x5A3D);
    (0..labels.len()).filter(|&row| part_of[row] == 0).collect()
}
