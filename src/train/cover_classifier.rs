//! The cover classifier fitted beside the network (see
//! `model::cover_classifier`), while the epochs run and once for the runs
//! of a seed (see [`CoverProblemAhead`]): multinomial logistic regression on the
//! labelled books' pooled trunk maps, standardised by the training covers'
//! statistics, its L2 strength `C` and class weighting chosen by
//! cross-validation over the labelled books' covers as the word classifier's
//! are. Its weight beside the network is chosen with the word classifier's
//! (`train::mixes`). The run's validation figures come from the classifier
//! fitted on its training covers; the run keeps the one refitted on all its
//! labelled covers.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::TrainError;
use super::batches::Layout;
use super::data::{Dataset, Example};
use super::folds::{cross_validate, cross_validation_sample, settings_grid};
use super::logistic::{Fitted, Inputs, Setting, fit_grid};
use super::predict::{Predictor, pooled_maps};
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
    fn shallow_clone(&self) -> Self {
        Self {
            choice: self.choice.clone(),
            mean: self.mean.shallow_clone(),
            spread: self.spread.shallow_clone(),
            on_training: self.on_training.shallow_clone(),
            on_labelled: self.on_labelled.shallow_clone(),
            validation: self.validation.shallow_clone(),
        }
    }

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
        let Some(books) = LabelledCovers::of(dataset, (train, validation)) else {
            return Ok(None);
        };
        let raw = predictor.pooled_covers(dataset, &books.labelled, stop)?;
        Ok(Some(Self::from_pooled(raw, dataset, books, seed)))
    }

    /// The problem of a run without a trainable block 5 (its cover maps are
    /// the cache's as they are, whatever the network learns), read from
    /// what [`CoverProblemAhead`] took: on another thread while the network
    /// trains.
    fn from_cached(ahead: CoverProblemAhead, stop: &Cancel) -> Result<Self, TrainError> {
        let CoverProblemAhead {
            covers,
            books,
            layout,
            seed,
        } = ahead;
        let rows: Vec<usize> = (0..covers.examples.len()).collect();
        let raw = pooled_maps(&covers, &rows, layout, stop, |cached| {
            cached.each_ref().map(Tensor::shallow_clone)
        })?;
        let books = LabelledCovers {
            labelled: rows,
            ..books
        };
        Ok(Self::from_pooled(raw, &covers, books, seed))
    }

    /// The problem from the pooled maps of `books.labelled` (`raw`, a row
    /// each), standardised by the training covers' statistics.
    fn from_pooled(raw: Tensor, dataset: &Dataset, books: LabelledCovers, seed: u64) -> Self {
        let on_training = raw.narrow(0, 0, books.train_len as i64);
        let mean = on_training.mean_dim([0i64].as_slice(), false, Kind::Float);
        let spread = on_training.std_dim([0i64].as_slice(), false, false);
        // A feature constant over the training covers is left unscaled.
        let spread = spread.where_self(&spread.gt(1e-6), &spread.ones_like());
        Self {
            features: (raw - &mean) / &spread,
            labels: books
                .labelled
                .iter()
                .map(|&i| dataset.examples[i].label)
                .collect(),
            train_len: books.train_len,
            mean,
            spread,
            validation_rows: books.validation_rows,
            categories: dataset.categories.len() as i64,
            seed,
        }
    }

    /// What the fits depend on: every input of [`Self::choose`] (the
    /// standardised features, bit for bit, their categories, which rows
    /// train and which validation book each row is) and the folds' seed.
    fn key(&self) -> u64 {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (
            &self.labels,
            self.train_len,
            &self.validation_rows,
            self.categories,
            self.seed,
            format!("{:?}", self.features.device()),
            self.features.size(),
        )
            .hash(&mut hasher);
        // In slices of rows, so that no copy of the whole table is made.
        let rows = self.features.size()[0];
        for first in (0..rows).step_by(4_096) {
            let part = self
                .features
                .narrow(0, first, (rows - first).min(4_096))
                .to_device(Device::Cpu)
                .flatten(0, -1);
            for value in Vec::<f32>::try_from(part).unwrap_or_default() {
                hasher.write_u32(value.to_bits());
            }
        }
        hasher.finish()
    }

    /// `C` and the weighting by mean macro-F1 over stratified folds of the
    /// labelled covers (an even sample of at most [`CV_COVERS`]), then the fits on
    /// the training covers and on all of them.
    ///
    /// The fits depend on the problem alone, not on the network: the runs
    /// of one seed in a sweep (the same split and covers) share them, and
    /// a run waits for the fits another run (or its own thread, see
    /// [`CoverProblemAhead`]) is making rather than making them a second
    /// time (four runs of the openlibrary_covers5 sweep made them each,
    /// about 35 s of a core apiece).
    pub(crate) fn choose(&self, stop: &Cancel) -> Result<CoverFits, TrainError> {
        self.choose_kept(&KEPT_FITS, stop)
    }

    /// [`Self::choose`], sharing the fits through `kept`.
    fn choose_kept(&self, kept: &KeptFits, stop: &Cancel) -> Result<CoverFits, TrainError> {
        let _choosing = kept.choosing.lock().unwrap_or_else(|p| p.into_inner());
        let key = self.key();
        if let Some((_, fits)) = kept
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(kept_key, _)| *kept_key == key)
        {
            return Ok(fits.shallow_clone());
        }
        let fits = self.fit_all(stop)?;
        *kept.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, fits.shallow_clone()));
        Ok(fits)
    }

    fn fit_all(&self, stop: &Cancel) -> Result<CoverFits, TrainError> {
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

/// The last fits chosen, shared by the runs whose problems are the same.
struct KeptFits {
    /// Held while fits are chosen, so that a run waits for the fits another
    /// is making instead of making them a second time.
    choosing: Mutex<()>,
    /// The last fits, by their problem's [`CoverProblem::key`].
    last: Mutex<Option<(u64, CoverFits)>>,
}

impl KeptFits {
    const fn new() -> Self {
        Self {
            choosing: Mutex::new(()),
            last: Mutex::new(None),
        }
    }
}

/// The process's kept fits (the runs of a sweep share one process).
static KEPT_FITS: KeptFits = KeptFits::new();

/// The labelled books with a cover, the training ones first, and each
/// validation book's row among them.
struct LabelledCovers {
    labelled: Vec<usize>,
    train_len: usize,
    validation_rows: Vec<Option<usize>>,
}

impl LabelledCovers {
    /// `None` when fewer than [`MIN_COVERS`] training books have a cover.
    fn of(dataset: &Dataset, (train, validation): (&[usize], &[usize])) -> Option<Self> {
        let with_cover = |books: &[usize]| -> Vec<usize> {
            books
                .iter()
                .copied()
                .filter(|&i| dataset.examples[i].cover.is_some())
                .collect()
        };
        let (training, validating) = (with_cover(train), with_cover(validation));
        if training.len() < MIN_COVERS {
            return None;
        }
        let mut validation_rows = Vec::with_capacity(validation.len());
        let mut next = training.len();
        for &book in validation {
            let has_cover = dataset.examples[book].cover.is_some();
            validation_rows.push(has_cover.then_some(next));
            next += usize::from(has_cover);
        }
        Some(Self {
            train_len: training.len(),
            labelled: training.into_iter().chain(validating).collect(),
            validation_rows,
        })
    }
}

/// What the cover classifier's fits need, taken from a run's dataset so
/// that they can be made on another thread while the network trains
/// ([`Self::prepare`]): each labelled book's category and cached maps
/// (shared, not copied). Only for runs whose cover maps are the cache's as
/// they are (no trainable block 5): their fits do not depend on the network.
pub(crate) struct CoverProblemAhead {
    /// The labelled books with a cover, in the problem's row order, their
    /// maps and categories alone.
    covers: Dataset,
    books: LabelledCovers,
    layout: Layout,
    seed: u64,
}

impl CoverProblemAhead {
    /// `None` when fewer than [`MIN_COVERS`] training books have a cover.
    pub(crate) fn new(
        dataset: &Dataset,
        split: (&[usize], &[usize]),
        seed: u64,
        layout: Layout,
    ) -> Option<Self> {
        let books = LabelledCovers::of(dataset, split)?;
        let examples = books
            .labelled
            .iter()
            .map(|&i| {
                let example = &dataset.examples[i];
                Example {
                    book_id: example.book_id,
                    label: example.label,
                    word_ids: Vec::new(),
                    bag: Vec::new().into(),
                    cover: example.cover.clone(),
                }
            })
            .collect();
        Some(Self {
            covers: Dataset {
                examples,
                categories: dataset.categories.clone(),
                padding_id: dataset.padding_id,
                word_bag: None,
            },
            books,
            layout,
            seed,
        })
    }

    /// Chooses and fits (see [`CoverProblem::choose`]), kept for the other
    /// runs of its seed; a stopped preparation keeps nothing.
    /// Returns them for the run itself, which then need not read its
    /// covers again (`None` when stopped).
    pub(crate) fn prepare(self, stop: &Cancel) -> Option<CoverFits> {
        self.prepare_kept(&KEPT_FITS, stop)
    }

    fn prepare_kept(self, kept: &KeptFits, stop: &Cancel) -> Option<CoverFits> {
        let problem = CoverProblem::from_cached(self, stop).ok()?;
        problem.choose_kept(kept, stop).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::covers::CoverMaps;

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
    /// A problem with `problem()`'s features, shared, and its labels.
    fn same_as(problem: &CoverProblem) -> CoverProblem {
        CoverProblem {
            features: problem.features.shallow_clone(),
            labels: problem.labels.clone(),
            mean: problem.mean.shallow_clone(),
            spread: problem.spread.shallow_clone(),
            validation_rows: problem.validation_rows.clone(),
            ..*problem
        }
    }

    fn same_fits(a: &CoverFits, b: &CoverFits) -> bool {
        a.on_training.weights.data_ptr() == b.on_training.weights.data_ptr()
            && a.on_labelled.weights.data_ptr() == b.on_labelled.weights.data_ptr()
    }

    #[test]
    fn runs_with_the_same_covers_share_the_fits_and_others_fit_their_own() {
        let kept = KeptFits::new();
        let stop = Cancel::new(false);
        let first = problem();
        let fits = first.choose_kept(&kept, &stop).unwrap();
        let again = same_as(&first).choose_kept(&kept, &stop).unwrap();
        assert!(
            same_fits(&fits, &again),
            "the same covers were fitted twice"
        );
        assert_eq!(fits.choice, again.choice);
        let mut relabelled = same_as(&first);
        relabelled.labels[3] = (relabelled.labels[3] + 1) % 3;
        let other = relabelled.choose_kept(&kept, &stop).unwrap();
        assert!(!same_fits(&fits, &other), "another split took its fits");
        let mut reseeded = same_as(&first);
        reseeded.seed = 2;
        let other = reseeded.choose_kept(&kept, &stop).unwrap();
        assert!(!same_fits(&fits, &other), "another seed took its fits");
        let mut moved = same_as(&first);
        moved.features = &first.features + 0.5;
        let other = moved.choose_kept(&kept, &stop).unwrap();
        assert!(!same_fits(&fits, &other), "other covers took their fits");
    }

    /// 60 books of 3 categories with cached maps (`[4, 8, 8]` channels, 2 x 2)
    /// whose mean tells the category apart; every seventh has no cover. The
    /// first 45 train.
    fn dataset_with_covers() -> (Dataset, Vec<usize>, Vec<usize>, Layout) {
        let examples = (0..60usize)
            .map(|i| Example {
                book_id: None,
                label: i % 3,
                word_ids: vec![1],
                bag: Vec::new().into(),
                cover: (i % 7 != 0).then(|| {
                    CoverMaps::Loaded([4i64, 8, 8].map(|channels| {
                        Tensor::randn([channels, 2, 2], (Kind::Float, Device::Cpu)) + (i % 3) as f64
                    }))
                }),
            })
            .collect();
        let dataset = Dataset {
            examples,
            categories: vec!["a".into(), "b".into(), "c".into()],
            padding_id: 2,
            word_bag: None,
        };
        let layout = Layout {
            channels: [4, 8, 8],
            sides: [2, 2, 2],
            device: Device::Cpu,
        };
        (dataset, (0..45).collect(), (45..60).collect(), layout)
    }

    /// The fits made on another thread while the network trains are the
    /// ones the run then chooses from its own reading of the covers (the
    /// heads' trunk scales, the cache's maps as they are without block 5).
    #[test]
    fn fits_made_ahead_are_the_ones_the_run_chooses() {
        let (dataset, train, validation, layout) = dataset_with_covers();
        let kept = KeptFits::new();
        let stop = Cancel::new(false);
        let ahead = CoverProblemAhead::new(&dataset, (&train, &validation), 1, layout).unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| ahead.prepare_kept(&kept, &stop));
        });
        let kept_fits = kept
            .last
            .lock()
            .unwrap()
            .as_ref()
            .map(|(_, fits)| fits.shallow_clone())
            .expect("the fits were made ahead");
        let books = LabelledCovers::of(&dataset, (&train, &validation)).unwrap();
        let raw = pooled_maps(&dataset, &books.labelled, layout, &stop, |cached| {
            cached.each_ref().map(Tensor::shallow_clone)
        })
        .unwrap();
        let run = CoverProblem::from_pooled(raw, &dataset, books, 1);
        let chosen = run.choose_kept(&kept, &stop).unwrap();
        assert!(same_fits(&kept_fits, &chosen), "the run fitted again");
        assert_eq!(chosen.validation.size(), [15, 3]);
        assert!(chosen.choice.cv_macro_f1 > 0.9, "{:?}", chosen.choice);
    }

    #[test]
    fn a_stopped_preparation_keeps_nothing() {
        let (dataset, train, validation, layout) = dataset_with_covers();
        let kept = KeptFits::new();
        CoverProblemAhead::new(&dataset, (&train, &validation), 1, layout)
            .unwrap()
            .prepare_kept(&kept, &Cancel::new(true));
        assert!(kept.last.lock().unwrap().is_none());
    }
}
