//! The word classifier kept beside the network (see `model::word_bag`):
//! after the epochs, multinomial logistic regression on the training books'
//! word bags, fitted as the linear baseline is (L2 strength `C` and class
//! weighting by cross-validation over the run's labelled books), mixed with
//! the network by a weight chosen on the run's validation books. The run's
//! validation figures come from the classifier fitted on its training books
//! alone; the run keeps the one refitted on all its labelled books.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::TrainError;
use super::data::Dataset;
use super::folds::{cross_validate, cross_validation_sample, settings_grid};
use super::logistic::{Fitted, Inputs, Setting, SparseRows, fit_grid};
use super::mixes::choose_mixes;
use crate::eval::ConfusionMatrix;
use crate::jobs::Cancel;
use crate::model::word_bag::{BagEntry, BagInput, bag_sum};

/// scikit-learn's `C` (inverse L2 strength) tried, the baseline's own grid.
pub(super) const STRENGTHS: [f64; 5] = [0.3, 1.0, 3.0, 10.0, 30.0];

/// What was chosen for a run, kept in its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordClassifierChoice {
    /// scikit-learn's `C`: the loss summed over books plus `|W|^2 / (2 C)`.
    pub c: f64,
    /// Books weighted inversely to their category's size.
    pub balanced: bool,
    /// Weight of the classifier's softmax beside the network's (0: unused).
    pub mix: f64,
    /// Validation macro-F1 of the network alone and with the fitted
    /// classifiers (this one and the cover classifier, when there is one).
    pub network_macro_f1: f64,
    pub val_macro_f1: f64,
    /// Mean macro-F1 of the classifier alone over the folds that chose `C`
    /// (0 in runs saved before the folds).
    #[serde(default)]
    pub cv_macro_f1: f64,
}

/// The bags of `indices` (their whole text) in one flat input, their
/// buckets renumbered by `rows` (buckets it lacks are left out).
pub(super) fn bags_of(
    dataset: &Dataset,
    indices: &[usize],
    rows: &BucketRows,
    device: Device,
) -> BagInput {
    BagInput::from_rows(example_bags(dataset, indices, rows), device)
}

/// The bags of `indices` as sparse rows over the `rows.len()` buckets a
/// fit reads, renumbered by `rows` (buckets it lacks are left out).
pub(super) fn sparse_bags_of(
    dataset: &Dataset,
    indices: &[usize],
    rows: &BucketRows,
    device: Device,
) -> SparseRows {
    SparseRows::new(
        example_bags(dataset, indices, rows),
        rows.len() as i64,
        device,
    )
}

/// The bags of `indices`, renumbered by `rows` as they are read.
fn example_bags<'a>(
    dataset: &'a Dataset,
    indices: &'a [usize],
    rows: &'a BucketRows,
) -> impl Iterator<Item = impl Iterator<Item = (u32, f32)> + 'a> + Clone + 'a {
    indices
        .iter()
        .map(move |&i| rows.renumbered(&dataset.examples[i].bag))
}

/// The buckets some bags use, sorted, and each one's row among them: a fit
/// reads those rows of the table alone.
pub(super) struct BucketRows {
    /// The buckets used, sorted (row `r` is bucket `used[r]`).
    pub used: Vec<i64>,
    /// Each bucket's row, [`BucketRows::ABSENT`] where it is not used.
    row_of: Vec<u32>,
}

impl BucketRows {
    const ABSENT: u32 = u32::MAX;

    /// The buckets of `bags`, marked in a table as large as the largest
    /// bucket: collecting every entry to sort it took a copy of all the
    /// bags (800 MB at 100,000 books).
    fn of<R, E>(bags: impl IntoIterator<Item = R>) -> Self
    where
        R: IntoIterator<Item = E>,
        E: BagEntry,
    {
        let mut row_of: Vec<u32> = Vec::new();
        for bag in bags {
            for entry in bag {
                let bucket = entry.bucket() as usize;
                if bucket >= row_of.len() {
                    row_of.resize(bucket + 1, Self::ABSENT);
                }
                row_of[bucket] = 0;
            }
        }
        let mut used = Vec::new();
        for (bucket, row) in row_of.iter_mut().enumerate() {
            if *row != Self::ABSENT {
                *row = used.len() as u32;
                used.push(bucket as i64);
            }
        }
        Self { used, row_of }
    }

    pub(super) fn len(&self) -> usize {
        self.used.len()
    }

    /// `bag`'s entries as rows of these buckets (those it lacks are left
    /// out), read as they are asked for.
    fn renumbered<'a, E: BagEntry + 'a>(
        &'a self,
        bag: &'a [E],
    ) -> impl Iterator<Item = (u32, f32)> + Clone + 'a {
        bag.iter().filter_map(move |&entry| {
            let row = *self.row_of.get(entry.bucket() as usize)?;
            (row != Self::ABSENT).then(|| (row, entry.weight()))
        })
    }
}

pub(super) fn macro_f1(probabilities: &Tensor, actual: &[usize], categories: usize) -> f64 {
    let predicted: Vec<usize> =
        Vec::<i64>::try_from(probabilities.argmax(1, false).to_device(Device::Cpu))
            .unwrap_or_default()
            .into_iter()
            .map(|label| label as usize)
            .collect();
    ConfusionMatrix::from_labels(actual, &predicted, categories)
        .map(|matrix| matrix.macro_f1())
        .unwrap_or(0.0)
}

/// The buckets the books of `train` use, sorted, and each one's row among
/// them. Only those can get weights (the L2 term keeps the others at 0): the
/// fits run on those rows alone, a few thousand of the table's buckets, and
/// are spread back over the table at the end.
pub(super) fn used_buckets(dataset: &Dataset, train: &[usize]) -> BucketRows {
    BucketRows::of(train.iter().map(|&i| &dataset.examples[i].bag[..]))
}

/// Labelled books the folds are drawn from at most (see
/// [`Problem::cross_validation_sample`]); the benchmark's sets (6,000
/// books at most) use all of theirs.
const CV_BOOKS: usize = 6_000;

/// What [`choose`] returns: the choice, the classifier fitted on the run's
/// training books (whose validation figures the run reports) and the one
/// refitted on all its labelled books with the same settings (which the run
/// keeps).
pub(crate) struct Chosen {
    pub choice: WordClassifierChoice,
    /// The cover classifier's weight, chosen with the words' (0 without one).
    pub cover_mix: f64,
    pub on_training: Fitted,
    pub on_labelled: Fitted,
}

/// Chooses as the linear baseline does, then mixes: `C` and the weighting by
/// mean macro-F1 over stratified folds of all labelled books (`train` and
/// `validation`), the mix by macro-F1 on `validation` with the classifier
/// fitted on `train` beside the network's `network` probabilities and the
/// cover classifier's `covers` when there is one (see
/// [`choose_mixes`]); then refits on all labelled books. A strength chosen on the validation books alone (a few hundred)
/// swung by more than the gap to the baseline from one split to the next,
/// and the baseline's classifier sees a quarter more books.
///
/// The folds and the two fits come from [`Problem::prepare`] when it ran
/// already (on another thread while the network trained, or for an earlier
/// run of the same seed); otherwise they are fitted here.
pub(crate) fn choose(
    problem: &Problem,
    network: &Tensor,
    covers: Option<&Tensor>,
    stop: &Cancel,
) -> Result<Chosen, TrainError> {
    let KeptFits {
        setting: (c, balanced),
        cv_macro_f1,
        on_training,
        on_labelled,
    } = problem.prepare(stop)?;
    let (device, categories) = (problem.device, problem.shape.1 as usize);
    let validation: Vec<usize> = (problem.train_len..problem.labels.len()).collect();
    let actual = problem.labels_of(&validation);
    let network = network.to_device(device);
    let words = problem.probabilities(&on_training, &validation);
    let covers = covers.map(|covers| covers.to_device(device));
    let mixes = choose_mixes(
        &network,
        (Some(&words), covers.as_ref()),
        &actual,
        categories,
    );
    let spread = |compact: Fitted| Fitted {
        weights: Tensor::zeros([problem.buckets, problem.shape.1], (Kind::Float, device))
            .index_copy(
                0,
                &Tensor::from_slice(&problem.used.used).to_device(device),
                &compact.weights,
            ),
        bias: compact.bias,
    };
    Ok(Chosen {
        choice: WordClassifierChoice {
            c,
            balanced,
            mix: mixes.words,
            network_macro_f1: mixes.network_macro_f1,
            val_macro_f1: mixes.macro_f1,
            cv_macro_f1,
        },
        cover_mix: mixes.covers,
        on_training: spread(on_training),
        on_labelled: spread(on_labelled),
    })
}

/// The folds' choice and the two fits of the last [`choose`]: they depend on
/// the books and their words only, not on the network, so the runs of one
/// seed in a sweep (same split, same texts) share them instead of fitting
/// them again (35 s a run on the demo library's 296 books).
struct KeptFits {
    setting: Setting,
    cv_macro_f1: f64,
    on_training: Fitted,
    on_labelled: Fitted,
}

impl KeptFits {
    fn shallow_clone(&self) -> Self {
        Self {
            setting: self.setting,
            cv_macro_f1: self.cv_macro_f1,
            on_training: self.on_training.shallow_clone(),
            on_labelled: self.on_labelled.shallow_clone(),
        }
    }
}

static LAST_FITS: std::sync::Mutex<Option<(u64, KeptFits)>> = std::sync::Mutex::new(None);

/// What the fits depend on: each labelled book's category and words, which
/// are training and which held out, the table's size, the folds' seed and
/// the device.
fn fits_key(
    dataset: &Dataset,
    (train, validation): (&[usize], &[usize]),
    (buckets, seed): (i64, u64),
    device: Device,
) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        buckets,
        seed,
        format!("{device:?}"),
        train.len(),
        validation.len(),
    )
        .hash(&mut hasher);
    for &index in train.iter().chain(validation) {
        let example = &dataset.examples[index];
        (index, example.label, example.bag.len()).hash(&mut hasher);
        for &(bucket, weight) in example.bag.iter() {
            (bucket, weight.to_bits()).hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn take_kept(key: u64) -> Option<KeptFits> {
    let kept = LAST_FITS.lock().unwrap_or_else(|p| p.into_inner());
    match kept.as_ref() {
        Some((kept_key, fits)) if *kept_key == key => Some(fits.shallow_clone()),
        _ => None,
    }
}

fn keep_fits(key: u64, fits: &KeptFits) {
    let mut kept = LAST_FITS.lock().unwrap_or_else(|p| p.into_inner());
    *kept = Some((key, fits.shallow_clone()));
}

/// A run's labelled books as the word classifier reads them: their
/// categories and their bags over the buckets they use, row by row (the
/// training books first, then the validation books). It owns them, so that
/// the folds can be fitted on another thread while the network trains
/// ([`Problem::prepare`]: 28 s of the demo library's first run).
pub(crate) struct Problem {
    labels: Vec<usize>,
    /// Each labelled book's bag, shared with the dataset (the table's
    /// buckets).
    bags: Vec<Arc<[(u32, f32)]>>,
    train_len: usize,
    /// The table's buckets the books use (row `r` of a fit's table is
    /// bucket `used.used[r]`).
    used: BucketRows,
    buckets: i64,
    /// Used buckets, categories.
    shape: (i64, i64),
    seed: u64,
    device: Device,
    key: u64,
}

impl Problem {
    /// `buckets`: the word path's table size; `seed`: the folds'.
    pub(crate) fn new(
        dataset: &Dataset,
        (train, validation): (&[usize], &[usize]),
        (buckets, seed): (i64, u64),
        device: Device,
    ) -> Self {
        let labelled: Vec<usize> = train.iter().chain(validation).copied().collect();
        let used = used_buckets(dataset, &labelled);
        let bags = labelled
            .iter()
            .map(|&i| Arc::clone(&dataset.examples[i].bag))
            .collect();
        Self {
            labels: labelled
                .iter()
                .map(|&i| dataset.examples[i].label)
                .collect(),
            bags,
            train_len: train.len(),
            shape: (used.len() as i64, dataset.categories.len() as i64),
            used,
            buckets,
            seed,
            device,
            key: fits_key(dataset, (train, validation), (buckets, seed), device),
        }
    }

    /// Chooses `C` and the weighting on the folds and fits on the training
    /// and on all labelled books, kept for [`choose`]; the kept ones when
    /// they are there already. Stops early (`Cancelled`) once `stop` is set.
    fn prepare(&self, stop: &Cancel) -> Result<KeptFits, TrainError> {
        let _preparing = PREPARING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(kept) = take_kept(self.key) {
            return Ok(kept);
        }
        let all: Vec<usize> = (0..self.labels.len()).collect();
        let (setting, cv_macro_f1) =
            self.cross_validated_strength(&self.cross_validation_sample(), stop)?;
        let kept = KeptFits {
            setting,
            cv_macro_f1,
            on_training: self.fit(&all[..self.train_len], setting, stop)?,
            on_labelled: self.fit(&all, setting, stop)?,
        };
        keep_fits(self.key, &kept);
        Ok(kept)
    }

    /// [`Self::prepare`] ahead of [`choose`], e.g. on a thread of its own
    /// while the network trains; a stopped preparation leaves nothing kept.
    pub(crate) fn prepare_ahead(&self, stop: &Cancel) {
        let _ = self.prepare(stop);
    }

    /// The labelled books the folds choose `C` on: all of them up to
    /// [`CV_BOOKS`], else an even stratified sample of about that many (a
    /// fold's fit costs time in proportion to its books' words: at 100,000
    /// books one step of the ten settings measured 6.4 s, and the folds take
    /// 1,500).
    fn cross_validation_sample(&self) -> Vec<usize> {
        cross_validation_sample(&self.labels, self.seed, CV_BOOKS)
    }

    fn labels_of(&self, rows: &[usize]) -> Vec<usize> {
        rows.iter().map(|&row| self.labels[row]).collect()
    }

    fn bags_of(&self, rows: &[usize]) -> BagInput {
        BagInput::from_rows(
            rows.iter()
                .map(|&row| self.used.renumbered(&self.bags[row])),
            self.device,
        )
    }

    /// Fits on `rows` over the buckets they use alone (the L2 term keeps
    /// the others at 0, and Adam leaves a weight without gradient where it
    /// is), spread back over the problem's buckets: the optimiser's work and
    /// memory follow the fitted books' words, not the whole library's.
    fn fit_grid(
        &self,
        rows: &[usize],
        settings: &[Setting],
        stop: &Cancel,
    ) -> Result<Vec<Fitted>, TrainError> {
        let labels: Vec<i64> = self.labels_of(rows).iter().map(|&l| l as i64).collect();
        let labels = Tensor::from_slice(&labels).to_device(self.device);
        // The bags are renumbered among the buckets these books use as the
        // sparse rows are laid out (a renumbered copy first was as large as
        // the sparse rows themselves).
        let local = BucketRows::of(rows.iter().map(|&row| &self.bags[row][..]));
        let bags = SparseRows::new(
            rows.iter().map(|&row| local.renumbered(&self.bags[row])),
            local.len() as i64,
            self.device,
        );
        let shape = (local.len() as i64, self.shape.1);
        // Each local bucket's row among the problem's.
        let spread_rows: Vec<i64> = local
            .used
            .iter()
            .map(|&bucket| i64::from(self.used.row_of[bucket as usize]))
            .collect();
        let spread_rows = Tensor::from_slice(&spread_rows).to_device(self.device);
        Ok(
            fit_grid(Inputs::Bags(&bags), &labels, shape, settings, stop)?
                .into_iter()
                .map(|fitted| Fitted {
                    weights: Tensor::zeros(
                        [self.shape.0, self.shape.1],
                        (Kind::Float, self.device),
                    )
                    .index_copy(0, &spread_rows, &fitted.weights),
                    bias: fitted.bias,
                })
                .collect(),
        )
    }

    fn fit(&self, rows: &[usize], setting: Setting, stop: &Cancel) -> Result<Fitted, TrainError> {
        let mut fitted = self.fit_grid(rows, &[setting], stop)?;
        Ok(fitted.remove(0))
    }

    fn probabilities(&self, fitted: &Fitted, rows: &[usize]) -> Tensor {
        let bags = self.bags_of(rows);
        tch::no_grad(|| (bag_sum(&fitted.weights, &bags) + &fitted.bias).softmax(1, Kind::Float))
    }

    /// The grid point with the best mean macro-F1 over five stratified
    /// folds of `labelled` (the first one on ties), with that mean.
    fn cross_validated_strength(
        &self,
        labelled: &[usize],
        stop: &Cancel,
    ) -> Result<(Setting, f64), TrainError> {
        let settings = settings_grid(&STRENGTHS);
        cross_validate(
            &self.labels,
            labelled,
            (&settings, self.seed, self.shape.1 as usize),
            |fitting| self.fit_grid(fitting, &settings, stop),
            |fitted, scored| self.probabilities(fitted, scored),
        )
    }
}

/// Held while fits are prepared, so that a run's [`choose`] waits for the
/// fits its own thread started instead of fitting them a second time.
static PREPARING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::data::Example;

    fn example(label: usize, bag: Vec<(u32, f32)>) -> Example {
        Example {
            book_id: None,
            label,
            word_ids: vec![1],
            bag: bag.into(),
            cover: None,
        }
    }

    /// 40 books, alternately of category 0 (bucket `1 + shift`) and 1
    /// (bucket `2 + shift`), all with bucket 3.
    fn alternating(shift: u32) -> Vec<Example> {
        (0..40)
            .map(|i| example(i % 2, vec![(1 + (i % 2) as u32 + shift, 0.8), (3, 0.6)]))
            .collect()
    }

    fn two_categories(examples: Vec<Example>) -> Dataset {
        Dataset {
            examples,
            categories: vec!["a".into(), "b".into()],
            padding_id: 3,
            word_bag: None,
        }
    }

    /// The first 30 books train, the other 10 validate.
    fn thirty_ten() -> (Vec<usize>, Vec<usize>) {
        ((0..30).collect(), (30..40).collect())
    }

    /// [`choose`] on 40 books of two categories, the first 30 for training
    /// and the rest for validation, beside a network that knows nothing
    /// (uniform probabilities), with 8 buckets.
    fn choose_on_forty(examples: Vec<Example>) -> Chosen {
        let dataset = two_categories(examples);
        let (train, validation) = thirty_ten();
        let network = Tensor::full([10, 2], 0.5, (Kind::Float, Device::Cpu));
        let problem = Problem::new(&dataset, (&train, &validation), (8, 1), Device::Cpu);
        choose(&problem, &network, None, &Cancel::new(false)).unwrap()
    }

    /// Rows follow the buckets' order, and a bag read through rows it
    /// lacks keeps only the entries that have one.
    #[test]
    fn bucket_rows_number_the_used_buckets_in_order() {
        let bags: [&[(u32, f32)]; 2] = [&[(9, 1.0), (2, 0.5)], &[(5, 0.25), (9, 2.0)]];
        let rows = BucketRows::of(bags);
        assert_eq!(rows.used, [2, 5, 9]);
        assert_eq!(rows.len(), 3);
        let read: Vec<(u32, f32)> = rows
            .renumbered(&[(9u32, 1.0f32), (7, 3.0), (2, 0.5), (40, 1.0)])
            .collect();
        assert_eq!(read, [(2, 1.0), (0, 0.5)]);
    }

    /// The problem holds the dataset's own bags, not copies: at 100,000
    /// books a renumbered copy of every bag took 800 MB beside them.
    #[test]
    fn the_problem_shares_the_books_bags_instead_of_copying_them() {
        let dataset = two_categories(alternating(0));
        let (train, validation) = thirty_ten();
        let problem = Problem::new(&dataset, (&train, &validation), (8, 1), Device::Cpu);
        for (row, &book) in train.iter().chain(&validation).enumerate() {
            assert!(Arc::ptr_eq(&problem.bags[row], &dataset.examples[book].bag));
        }
        assert_eq!(problem.used.used, [1, 2, 3]);
    }

    /// The runs of one seed share the folds' fits: a second choice on the
    /// same books gives the same classifier; other words or another seed
    /// are other fits.
    #[test]
    fn fits_are_shared_by_choices_on_the_same_books_only() {
        let first = choose_on_forty(alternating(0));
        let again = choose_on_forty(alternating(0));
        assert!(first.on_labelled.weights.equal(&again.on_labelled.weights));
        assert_eq!(first.choice, again.choice);
        let (train, validation) = thirty_ten();
        let key =
            |data: &Dataset, seed| fits_key(data, (&train, &validation), (8, seed), Device::Cpu);
        let (same, other) = (
            two_categories(alternating(0)),
            two_categories(alternating(4)),
        );
        assert_eq!(key(&same, 1), key(&two_categories(alternating(0)), 1));
        assert_ne!(key(&same, 1), key(&other, 1), "other words");
        assert_ne!(key(&same, 1), key(&same, 2), "another seed's folds");
    }

    /// The folds fitted ahead on another thread (as while a run's epochs
    /// run) are the ones `choose` uses, equal to fitting them in place; a
    /// preparation stopped before its end keeps nothing.
    #[test]
    fn fits_prepared_on_another_thread_are_the_ones_chosen_and_a_stopped_one_keeps_nothing() {
        let (train, validation) = thirty_ten();
        let network = Tensor::full([10, 2], 0.5, (Kind::Float, Device::Cpu));
        let in_place = choose_on_forty(alternating(2));
        let data = two_categories(alternating(2));
        let problem = Problem::new(&data, (&train, &validation), (8, 1), Device::Cpu);
        let go_on = Cancel::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| problem.prepare_ahead(&go_on));
        });
        let ahead = choose(&problem, &network, None, &go_on).unwrap();
        assert_eq!(ahead.choice, in_place.choice);
        assert!(
            ahead
                .on_labelled
                .weights
                .equal(&in_place.on_labelled.weights)
        );

        let other = two_categories(alternating(5));
        let stopped = Problem::new(&other, (&train, &validation), (8, 1), Device::Cpu);
        let stop = Cancel::new(true);
        assert!(matches!(stopped.prepare(&stop), Err(TrainError::Cancelled)));
        assert!(take_kept(stopped.key).is_none());
    }

    /// Up to `CV_BOOKS` labelled books the folds use them all; beyond, an
    /// even stratified sample of about that many, each category in its
    /// share.
    #[test]
    fn the_folds_draw_a_stratified_sample_of_a_large_library() {
        let problem = |books: usize| Problem {
            labels: (0..books).map(|i| usize::from(i % 4 == 0)).collect(),
            bags: vec![Arc::default(); books],
            train_len: books,
            used: BucketRows::of(Vec::<Vec<(u32, f32)>>::new()),
            buckets: 8,
            shape: (0, 2),
            seed: 1,
            device: Device::Cpu,
            key: 0,
        };
        assert_eq!(problem(CV_BOOKS).cross_validation_sample().len(), CV_BOOKS);
        let large = problem(25_000);
        let sample = large.cross_validation_sample();
        assert!(
            (4_900..=CV_BOOKS).contains(&sample.len()),
            "{}",
            sample.len()
        );
        let category_one = sample.iter().filter(|&&row| large.labels[row] == 1).count();
        assert_eq!(
            category_one * 4,
            sample.len(),
            "a quarter, as in the library"
        );
        assert!(sample.windows(2).all(|pair| pair[0] < pair[1]));
    }

    /// Category 0's books have bucket 1, category 1's bucket 2 (and all share
    /// bucket 3): the classifier separates them where a network that knows
    /// nothing (uniform probabilities) cannot, and the choice says so.
    #[test]
    fn the_classifier_learns_words_that_tell_categories_apart_and_is_chosen_for_it() {
        let examples: Vec<Example> = (0..40)
            .map(|i| {
                let label = i % 2;
                example(label, vec![(1 + label as u32, 0.8), (3, 0.6)])
            })
            .collect();
        let chosen = choose_on_forty(examples);
        let choice = &chosen.choice;
        assert!(choice.network_macro_f1 < 0.5, "{choice:?}");
        assert_eq!(choice.val_macro_f1, 1.0, "{choice:?}");
        assert_eq!(choice.cv_macro_f1, 1.0, "{choice:?}");
        assert!(choice.mix > 0.0);
        for fitted in [&chosen.on_training, &chosen.on_labelled] {
            let weights = Vec::<f32>::try_from(fitted.weights.flatten(0, -1)).unwrap();
            // Bucket 1 speaks for category 0, bucket 2 for category 1.
            assert!(
                weights[2] > weights[3] && weights[5] > weights[4],
                "{weights:?}"
            );
        }
    }

    /// A bucket only the validation books have gets weight in the refit on
    /// all labelled books and none in the fit on the training books.
    #[test]
    fn the_kept_classifier_is_refitted_on_every_labelled_book() {
        let examples: Vec<Example> = (0..40)
            .map(|i| {
                let label = i % 2;
                let only_in_validation = if i >= 30 && label == 1 { 4 } else { 3 };
                example(
                    label,
                    vec![(1 + label as u32, 0.8), (only_in_validation, 0.6)],
                )
            })
            .collect();
        let chosen = choose_on_forty(examples);
        let weight = |fitted: &Fitted| f32::try_from(fitted.weights.get(4).get(1)).unwrap();
        assert_eq!(weight(&chosen.on_training), 0.0);
        assert!(weight(&chosen.on_labelled) > 0.0);
    }
}
