//! The cover classifier fitted after the epochs (see
//! `model::cover_classifier`): multinomial logistic regression on the
//! labelled books' pooled trunk maps, standardised by the training covers'
//! statistics, its L2 strength `C` and class weighting chosen by
//! cross-validation over the labelled books' covers as the word classifier's
//! are. Its weight beside the network is chosen with the word classifier's
//! (`train::mixes`). The run's validation figures come from the classifier
//! fitted on its training covers; the run keeps the one refitted on all its
//! labelled covers.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::TrainError;
use super::data::Dataset;
use super::folds::{cross_validate, cross_validation_sample, settings_grid};
use super::logistic::{Fitted, Inputs, Setting, fit_grid};
use super::predict::Predictor;
use crate::jobs::Cancel;
use crate::model::cover_classifier::FittedCovers;

/// scikit-learn's `C` tried. Far stronger regularisation than the words'
/// (0.3 to 30): 1,280 pooled maps of a random trunk, each a weak signal.
/// The benchmark's openlibrary_covers5 runs chose 0.003 and 0.01.
const STRENGTHS: [f64; 5] = [0.001, 0.003, 0.01, 0.03, 0.1];
/// Labelled covers the folds choose `C` on at most (an even stratified
/// sample beyond): the folds' fits cost time in proportion to their covers,
/// and with 2,000 the folds and the two fits took 37 s after a one-epoch
/// openlibrary_covers5 run (one core, the other busy).
const CV_COVERS: usize = 2_000;
/// Fewer training books with a cover than this: no cover classifier.
const MIN_COVERS: usize = 10;

/// What was chosen for a run's cover classifier, kept in its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverClassifierChoice {
    /// scikit-learn's `C`: the loss summed over books plus `|W|^2 / (2 C)`.
    pub c: f64,
    /// Books weighted inversely to their category's size.
    pub balanced: bool,
    /// Power of the classifier's softmax the network's (with the word
    /// classifier's) is multiplied by (0: unused).
    pub mix: f64,
    /// Mean macro-F1 of the classifier alone over the folds that chose `C`.
    pub cv_macro_f1: f64,
    /// Labelled books with a cover it was fitted on.
    pub covers: usize,
}

/// The labelled books with a cover as the classifier reads them: their
/// standardised pooled maps and categories, the training books first.
pub(crate) struct CoverProblem {
    features: Tensor,
    labels: Vec<usize>,
    train_len: usize,
    /// The training covers' mean and spread of each pooled feature.
    mean: Tensor,
    spread: Tensor,
    /// Each validation book's row in `features` (`None`: it has no cover).
    validation_rows: Vec<Option<usize>>,
    categories: i64,
    seed: u64,
}

/// The choice and the two fits of [`CoverProblem::choose`].
pub(crate) struct CoverFits {
    pub choice: CoverClassifierChoice,
    /// The training covers' mean and spread of each pooled feature.
    mean: Tensor,
    spread: Tensor,
    pub on_training: Fitted,
    pub on_labelled: Fitted,
    /// The fit on the training covers, on every validation book: its softmax
    /// (uniform where a book has no cover). `[validation, categories]`.
    pub validation: Tensor,
}

impl CoverFits {
    /// The classifier as the heads keep it, fitted on the training covers
    /// (for the validation figures) or on all labelled ones.
    pub fn for_heads<'a>(&'a self, fitted: &'a Fitted) -> FittedCovers<'a> {
        FittedCovers {
            mean: &self.mean,
            spread: &self.spread,
            weights: &fitted.weights,
            bias: &fitted.bias,
        }
    }
}

impl CoverProblem {
    /// Reads the pooled maps of the labelled books with a cover; `None` when
    /// fewer than [`MIN_COVERS`] training books have one.
    pub(crate) fn new(
        predictor: &Predictor<'_>,
        dataset: &Dataset,
        (train, validation): (&[usize], &[usize]),
        seed: u64,
        stop: &Cancel,
    ) -> Result<Option<Self>, TrainError> {
        let with_cover = |books: &[usize]| -> Vec<usize> {
            books
                .iter()
                .copied()
                .filter(|&i| dataset.examples[i].cover.is_some())
                .collect()
        };
        let (training, validating) = (with_cover(train), with_cover(validation));
        if training.len() < MIN_COVERS {
            return Ok(None);
        }
        let mut validation_rows = Vec::with_capacity(validation.len());
        let mut next = training.len();
        for &book in validation {
            let has_cover = dataset.examples[book].cover.is_some();
            validation_rows.push(has_cover.then_some(next));
            next += usize::from(has_cover);
        }
        let labelled: Vec<usize> = training.iter().chain(&validating).copied().collect();
        let raw = predictor.pooled_covers(dataset, &labelled, stop)?;
        let on_training = raw.narrow(0, 0, training.len() as i64);
        let mean = on_training.mean_dim([0i64].as_slice(), false, Kind::Float);
        let spread = on_training.std_dim([0i64].as_slice(), false, false);
        // A feature constant over the training covers is left unscaled.
        let spread = spread.where_self(&spread.gt(1e-6), &spread.ones_like());
        Ok(Some(Self {
            features: (raw - &mean) / &spread,
            labels: labelled
                .iter()
                .map(|&i| dataset.examples[i].label)
                .collect(),
            train_len: training.len(),
            mean,
            spread,
            validation_rows,
            categories: dataset.categories.len() as i64,
            seed,
        }))
    }

    /// `C` and the weighting by mean macro-F1 over stratified folds of the
    /// labelled covers (an even sample of at most [`CV_COVERS`]), then the fits on
    /// the training covers and on all of them.
    pub(crate) fn choose(&self, stop: &Cancel) -> Result<CoverFits, TrainError> {
        let settings = settings_grid(&STRENGTHS);
        let sample = cross_validation_sample(&self.labels, self.seed, CV_COVERS);
        let ((c, balanced), cv_macro_f1) = cross_validate(
            &self.labels,
            &sample,
            (&settings, self.seed, self.categories as usize),
            |rows| self.fit_grid(rows, &settings, stop),
            |fitted, rows| self.probabilities(fitted, rows),
        )?;
        let all: Vec<usize> = (0..self.labels.len()).collect();
        let on_training = self.fit(&all[..self.train_len], (c, balanced), stop)?;
        let on_labelled = self.fit(&all, (c, balanced), stop)?;
        let validation = self.validation_probabilities(&on_training);
        Ok(CoverFits {
            choice: CoverClassifierChoice {
                c,
                balanced,
                mix: 0.0,
                cv_macro_f1,
                covers: self.labels.len(),
            },
            mean: self.mean.shallow_clone(),
            spread: self.spread.shallow_clone(),
            on_training,
            on_labelled,
            validation,
        })
    }

    fn fit_grid(
        &self,
        rows: &[usize],
        settings: &[Setting],
        stop: &Cancel,
    ) -> Result<Vec<Fitted>, TrainError> {
        let device = self.features.device();
        let labels: Vec<i64> = rows.iter().map(|&r| self.labels[r] as i64).collect();
        fit_grid(
            Inputs::Dense(&self.features_of(rows)),
            &Tensor::from_slice(&labels).to_device(device),
            (self.features.size()[1], self.categories),
            settings,
            stop,
        )
    }

    fn fit(&self, rows: &[usize], setting: Setting, stop: &Cancel) -> Result<Fitted, TrainError> {
        Ok(self.fit_grid(rows, &[setting], stop)?.remove(0))
    }

    /// The softmax of `fitted` on `rows`, `[rows, categories]`.
    fn probabilities(&self, fitted: &Fitted, rows: &[usize]) -> Tensor {
        tch::no_grad(|| {
            (self.features_of(rows).matmul(&fitted.weights) + &fitted.bias).softmax(1, Kind::Float)
        })
    }

    /// The standardised features of `rows`, `[rows, features]`.
    fn features_of(&self, rows: &[usize]) -> Tensor {
        let index = Tensor::from_slice(&rows.iter().map(|&r| r as i64).collect::<Vec<_>>())
            .to_device(self.features.device());
        self.features.index_select(0, &index)
    }

    /// The softmax of `fitted` on every validation book, uniform where it
    /// has no cover (a factor that changes no book's ranking of categories).
    fn validation_probabilities(&self, fitted: &Fitted) -> Tensor {
        let device = self.features.device();
        let mut probabilities = Tensor::full(
            [self.validation_rows.len() as i64, self.categories],
            1.0 / self.categories as f64,
            (Kind::Float, device),
        );
        let (books, rows): (Vec<i64>, Vec<usize>) = self
            .validation_rows
            .iter()
            .enumerate()
            .filter_map(|(book, row)| row.map(|row| (book as i64, row)))
            .unzip();
        if !rows.is_empty() {
            let books = Tensor::from_slice(&books).to_device(device);
            probabilities = probabilities.index_copy(0, &books, &self.probabilities(fitted, &rows));
        }
        probabilities
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// 60 books of 3 categories whose first three pooled features tell the
    /// category apart (the other five are noise); the first 40 train, the last
    /// 20 validate, and every fifth validation book has no cover.
    fn problem() -> CoverProblem {
        let books = 60usize;
        let labels: Vec<usize> = (0..books).map(|i| i % 3).collect();
        let noise = Tensor::randn([books as i64, 5], (Kind::Float, Device::Cpu));
        let categories = Tensor::from_slice(&labels.iter().map(|&l| l as i64).collect::<Vec<_>>());
        let signal = categories.one_hot(3).to_kind(Kind::Float) * 3.0;
        let features = Tensor::cat(&[signal, noise], 1);
        let validation_rows: Vec<Option<usize>> =
            (40..books).map(|i| (i % 5 != 0).then_some(i)).collect();
        CoverProblem {
            mean: Tensor::zeros([8], (Kind::Float, Device::Cpu)),
            spread: Tensor::ones([8], (Kind::Float, Device::Cpu)),
            features,
            labels,
            train_len: 40,
            validation_rows,
            categories: 3,
            seed: 1,
        }
    }

    #[test]
    fn the_classifier_learns_what_the_covers_tell_apart_and_scores_only_books_with_one() {
        tch::manual_seed(3);
        let problem = problem();
        let fits = problem.choose(&Cancel::new(false)).unwrap();
        assert!(fits.choice.cv_macro_f1 > 0.9, "{:?}", fits.choice);
        assert_eq!(fits.choice.covers, 60);
        assert_eq!(fits.validation.size(), [20, 3]);
        let sums = Vec::<f32>::try_from(fits.validation.sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Float,
        ))
        .unwrap();
        for sum in &sums {
            assert!((sum - 1.0).abs() < 1e-4, "{sums:?}");
        }
        let values = Vec::<f32>::try_from(fits.validation.flatten(0, -1)).unwrap();
        for (book, row) in values.chunks(3).enumerate() {
            let (top, _) =
                row.iter().enumerate().fold(
                    (0, f32::MIN),
                    |best, (i, &p)| if p > best.1 { (i, p) } else { best },
                );
            if (40 + book) % 5 == 0 {
                assert_eq!(row, [1.0 / 3.0; 3], "book {book} has no cover");
            } else {
                assert_eq!(top, (40 + book) % 3, "book {book}: {row:?}");
            }
        }
    }

    #[test]
    fn a_stopped_fit_is_cancelled() {
        let problem = problem();
        assert!(matches!(
            problem.choose(&Cancel::new(true)),
            Err(TrainError::Cancelled)
        ));
    }
}
