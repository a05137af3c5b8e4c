//! After a run's epochs: the classifiers fitted beside the network (the
//! word classifier, `word_classifier`; the cover classifier,
//! `cover_classifier`), their weights chosen together on the validation
//! books (`mixes`), and put into the heads.

use super::config::TrainConfig;
use super::cover_classifier::{CoverFits, CoverProblem};
use super::mixes::choose_mixes;
use super::predict::Predictor;
use super::run_data::RunData;
use super::{TrainError, word_classifier};
use crate::jobs::Cancel;
use crate::model::FusionHeads;
use crate::store::Modalities;

/// The classifiers fitted beside the network after the epochs.
#[derive(Default)]
pub(super) struct Classifiers {
    pub words: Option<word_classifier::Chosen>,
    pub covers: Option<CoverFits>,
}

/// Which of a classifier's two fits the heads keep.
#[derive(Clone, Copy)]
pub(super) enum Fit {
    /// On the training books: what the validation figures report.
    OnTraining,
    /// On all labelled books: what the run keeps.
    OnLabelled,
}

/// Fits the classifiers kept beside the network of `predictor`: the word
/// classifier (see [`word_classifier::choose`]; none without `problem`) and
/// the cover classifier (see [`CoverProblem`]; none for a text-only run, a
/// model without one, or too few covers), and chooses their weights
/// together on the validation books. Nothing without validation books.
/// `cover_fits`: the cover classifier's fits when they were made while the
/// epochs ran (see `CoverProblemAhead`), so that its covers are not read
/// again.
pub(super) fn fit_classifiers(
    predictor: &Predictor<'_>,
    (config, data): (&TrainConfig, &RunData),
    (problem, cover_fits): (Option<&word_classifier::Problem>, Option<CoverFits>),
    cancel: &Cancel,
) -> Result<Classifiers, TrainError> {
    let mut chosen = Classifiers::default();
    if data.validation.is_empty()
        || (problem.is_none() && predictor.heads.cover_classifier.is_none())
    {
        return Ok(chosen);
    }
    let covers = match &predictor.heads.cover_classifier {
        Some(_) if cover_fits.is_some() => cover_fits,
        Some(_) if config.modalities != Modalities::Text => CoverProblem::new(
            predictor,
            &data.dataset,
            (&data.train, &data.validation),
            config.seed,
            cancel,
        )?
        .map(|covers| covers.choose(cancel))
        .transpose()?,
        _ => None,
    };
    let network = predictor.network_probabilities(
        &data.dataset,
        &data.validation,
        config.modalities,
        config.mask_ensemble,
    );
    let cover_validation = covers.as_ref().map(|fits| &fits.validation);
    let cover_mix = match (problem, cover_validation) {
        (Some(problem), _) => {
            let words = word_classifier::choose(problem, &network, cover_validation, cancel)?;
            let cover_mix = words.cover_mix;
            chosen.words = Some(words);
            cover_mix
        }
        (None, Some(validation)) => {
            let actual: Vec<usize> = data
                .validation
                .iter()
                .map(|&i| data.dataset.examples[i].label)
                .collect();
            let categories = data.dataset.categories.len();
            choose_mixes(&network, (None, Some(validation)), &actual, categories).covers
        }
        (None, None) => 0.0,
    };
    chosen.covers = covers.map(|mut fits| {
        fits.choice.mix = cover_mix;
        fits
    });
    Ok(chosen)
}

/// Puts the classifiers of `chosen` into `heads` (the fits on the training
/// books or on all labelled ones), with their weights beside the network.
pub(super) fn set_classifiers(heads: &mut FusionHeads, chosen: &Classifiers, fit: Fit) {
    if let (Some(words), Some(path)) = (&chosen.words, heads.word_bag.as_mut()) {
        let fitted = match fit {
            Fit::OnTraining => &words.on_training,
            Fit::OnLabelled => &words.on_labelled,
        };
        path.set_classifier(&fitted.weights, &fitted.bias, words.choice.mix);
    }
    if let (Some(fits), Some(classifier)) = (&chosen.covers, heads.cover_classifier.as_mut()) {
        let fitted = match fit {
            Fit::OnTraining => &fits.on_training,
            Fit::OnLabelled => &fits.on_labelled,
        };
        classifier.set(&fits.for_heads(fitted), fits.choice.mix);
    }
}
