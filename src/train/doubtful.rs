//! Doubtful labels: books whose category the model confidently disputes. A
//! book is never judged by a model that learnt from it: the labelled books
//! are cut into stratified folds, and each fold's books are scored by a
//! model fitted on the other folds (k-fold cross-fitting, as cleanlab's
//! out-of-sample probabilities and FiftyOne's mistakenness use). The fold
//! models are the model's linear word path (TF-IDF over words and word
//! pairs, logistic regression, categories balanced), which fits in seconds
//! where the network would take a run per fold. Its strength `C` is chosen
//! as the baseline chooses it, by the folds' own macro-F1 over the grid
//! (every strength is fitted side by side in each fold), so nothing is
//! tuned by hand on any data set. A book is doubtful when the
//! category its fold model finds most likely is not its own; the list is
//! ranked by how much more likely that category is than its own.

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::TrainError;
use super::data::{Dataset, Example};
use super::logistic::{Inputs, fit_grid};
use super::split::stratified_folds;
use super::word_classifier::{STRENGTHS, bags_of, macro_f1, sparse_bags_of, used_buckets};
use crate::jobs::{Cancel, OnProgress, Progress, is_cancelled};
use crate::model::word_bag::bag_sum;
use crate::store::{BookId, Library};
use crate::text::word_bag::{BagShape, DEFAULT_BUCKETS};
use crate::text::{WordBagWeights, corpus};

/// A book whose category the model disputes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoubtfulLabel {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    /// Its category in the library.
    pub category: String,
    /// The category its fold model finds most likely.
    pub suggested: String,
    /// Probability of `suggested` under a model that did not see the book.
    pub suggested_probability: f32,
    /// Probability of its own category under that model.
    pub own_probability: f32,
}

/// The labelled books (not in the trash) as the fold models read them:
/// their word bags and labels, and the categories in label order.
fn labelled_bags(library: &mut Library) -> Result<(Dataset, Vec<BookId>), TrainError> {
    let text = corpus::library_corpus(library)?;
    let categories = crate::store::sorted_categories(text.categories.iter());
    // Words and pairs only: the folds fit once per book, and character
    // n-grams would make each fit several times slower.
    let shape = BagShape {
        words: DEFAULT_BUCKETS,
        characters: 0,
    };
    let weights = WordBagWeights::from_documents(text.documents.iter().map(Vec::as_slice), shape);
    let mut dataset = Dataset {
        examples: Vec::new(),
        categories: categories.clone(),
        padding_id: 0,
        word_bag: None,
    };
    let mut books = Vec::new();
    for (row, category) in text.categories.iter().enumerate() {
        if let Some(label) = categories.iter().position(|c| c == category) {
            dataset.examples.push(Example {
                book_id: Some(text.book_ids[row]),
                label,
                word_ids: Vec::new(),
                bag: weights.bag(&text.documents[row]).into(),
                cover: None,
            });
            books.push(text.book_ids[row]);
        }
    }
    Ok((dataset, books))
}

/// Every example's category probabilities from the fold model that did not
/// see it, with the strength whose folds scored the best macro-F1.
fn cross_fitted(
    dataset: &Dataset,
    (folds, seed): (usize, u64),
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let labels = dataset.labels();
    let categories = dataset.categories.len();
    let fold_of = stratified_folds(&labels, folds, seed);
    let device = Device::Cpu;
    let settings: Vec<(f64, bool)> = STRENGTHS.iter().map(|&c| (c, true)).collect();
    // Per setting, every book's out-of-fold probabilities.
    let mut probabilities = vec![vec![Vec::new(); labels.len()]; settings.len()];
    let mut fold_f1 = vec![0.0; settings.len()];
    on_progress(Progress::new(0, folds));
    for fold in 0..folds {
        if is_cancelled(cancel) {
            return Err(TrainError::Cancelled);
        }
        let (train, held): (Vec<usize>, Vec<usize>) =
            (0..labels.len()).partition(|&i| fold_of[i] != fold);
        let rows = used_buckets(dataset, &train);
        let bags = sparse_bags_of(dataset, &train, &rows, device);
        let targets: Vec<i64> = train.iter().map(|&i| labels[i] as i64).collect();
        let fitted = fit_grid(
            Inputs::Bags(&bags),
            &Tensor::from_slice(&targets),
            (rows.len() as i64, categories as i64),
            &settings,
            cancel,
        )?;
        let held_bags = bags_of(dataset, &held, &rows, device);
        let held_labels: Vec<usize> = held.iter().map(|&i| labels[i]).collect();
        for (setting, model) in fitted.iter().enumerate() {
            let scores = (bag_sum(&model.weights, &held_bags) + &model.bias)
                .softmax(1, Kind::Float)
                .to_device(Device::Cpu);
            fold_f1[setting] += macro_f1(&scores, &held_labels, categories);
            for (row, &book) in held.iter().enumerate() {
                probabilities[setting][book] =
                    Vec::<f32>::try_from(scores.get(row as i64)).unwrap_or_default();
            }
        }
        on_progress(Progress::new(fold + 1, folds));
    }
    let chosen = (0..settings.len())
        .max_by(|&a, &b| fold_f1[a].total_cmp(&fold_f1[b]))
        .unwrap_or(0);
    Ok(probabilities.swap_remove(chosen))
}

/// The labelled books (not in the trash) whose category the cross-fitted
/// models dispute, most doubtful first. `folds` models are fitted, each
/// reported as it ends.
pub fn doubtful_labels(
    library: &mut Library,
    folds: usize,
    seed: u64,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<Vec<DoubtfulLabel>, TrainError> {
    let folds = folds.max(2);
    let (dataset, books) = labelled_bags(library)?;
    let categories = &dataset.categories;
    if categories.len() < 2 || books.len() < folds {
        return Err(TrainError::TooFewBooks(format!(
            "{} labelled books in {} categories",
            books.len(),
            categories.len()
        )));
    }
    let probabilities = cross_fitted(&dataset, (folds, seed), on_progress, cancel)?;
    let labels = dataset.labels();
    let mut doubtful = Vec::new();
    for (i, book) in books.iter().enumerate() {
        let p = &probabilities[i];
        let Some((suggested, &top)) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
            continue;
        };
        if suggested == labels[i] {
            continue;
        }
        let detail = library.book_detail(*book)?;
        let (external_id, title) =
            detail.map_or_else(Default::default, |d| (d.external_id, d.title));
        doubtful.push(DoubtfulLabel {
            book_id: *book,
            external_id,
            title,
            category: categories[labels[i]].clone(),
            suggested: categories[suggested].clone(),
            suggested_probability: top,
            own_probability: p[labels[i]],
        });
    }
    doubtful.sort_by(|a, b| {
        let margin = |d: &DoubtfulLabel| d.suggested_probability - d.own_probability;
        margin(b).total_cmp(&margin(a))
    });
    Ok(doubtful)
}
