//! The word classifier kept beside the network (see `model::word_bag`):
//! after the epochs, multinomial logistic regression on the training books'
//! word bags, fitted as the linear baseline is (L2 strength `C` and class
//! weighting from a grid), and the strength, weighting and mix with the
//! network chosen by macro-F1 on the run's validation books. The classifier
//! is fitted on the training books only, so the run's validation figures stay
//! figures on books nothing of the run has seen.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig as _};
use tch::{Device, Kind, Tensor};

use super::TrainError;
use super::data::Dataset;
use crate::eval::ConfusionMatrix;
use crate::model::word_bag::{BagInput, bag_sum};

/// scikit-learn's `C` (inverse L2 strength) tried, the baseline's own grid.
const STRENGTHS: [f64; 5] = [0.3, 1.0, 3.0, 10.0, 30.0];
/// Weights of the classifier's softmax beside the network's tried; the last
/// one lets the classifier decide alone.
const MIXES: [f64; 6] = [0.0, 0.5, 1.0, 2.0, 4.0, 1000.0];
/// Full-batch Adam steps of one fit (the objective is convex).
const STEPS: usize = 300;
const RATE: f64 = 0.1;

/// What was chosen for a run, kept in its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordClassifierChoice {
    /// scikit-learn's `C`: the loss summed over books plus `|W|^2 / (2 C)`.
    pub c: f64,
    /// Books weighted inversely to their category's size.
    pub balanced: bool,
    /// Weight of the classifier's softmax beside the network's (0: unused).
    pub mix: f64,
    /// Validation macro-F1 of the network alone and with the classifier.
    pub network_macro_f1: f64,
    pub val_macro_f1: f64,
}

/// The bags of `indices` (their whole text) in one flat input, their
/// buckets renumbered by `rows` (buckets it lacks are left out).
fn bags_of(
    dataset: &Dataset,
    indices: &[usize],
    rows: &HashMap<i64, i64>,
    device: Device,
) -> BagInput {
    let renumbered: Vec<Vec<(i64, f32)>> = indices
        .iter()
        .map(|&index| {
            dataset.examples[index]
                .bag
                .iter()
                .filter_map(|(bucket, weight)| rows.get(bucket).map(|&row| (row, *weight)))
                .collect()
        })
        .collect();
    BagInput::from_rows(renumbered.iter().map(Vec::as_slice), device)
}

/// A fitted classifier: weights `[buckets, categories]` and bias.
pub(crate) struct Fitted {
    pub weights: Tensor,
    pub bias: Tensor,
}

/// Logistic regression on `bags` against `labels` (`[rows]` int64), with
/// scikit-learn's objective divided by the number of rows.
pub(crate) fn fit(
    bags: &BagInput,
    labels: &Tensor,
    (buckets, categories): (i64, i64),
    c: f64,
    balanced: bool,
) -> Result<Fitted, TrainError> {
    let device = labels.device();
    let store = nn::VarStore::new(device);
    let weights = store.root().zeros("weights", &[buckets, categories]);
    let bias = store.root().zeros("bias", &[categories]);
    let mut optimizer = nn::Adam::default()
        .build(&store, RATE)
        .map_err(|e| TrainError::Optimizer(e.to_string()))?;
    let rows = labels.size()[0] as f64;
    let counts = labels
        .bincount(None::<Tensor>, categories)
        .to_kind(Kind::Float);
    let class_weights = if balanced {
        (Tensor::from(rows) / (counts.clamp_min(1.0) * categories as f64)).to_kind(Kind::Float)
    } else {
        Tensor::ones([categories], (Kind::Float, device))
    };
    let row_weights = class_weights.index_select(0, labels);
    let targets = labels.unsqueeze(1);
    for step in 0..STEPS {
        let progress = step as f64 / STEPS as f64;
        optimizer.set_lr(RATE * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        let logits = bag_sum(&weights, bags) + &bias;
        let loss_per_row = -logits
            .log_softmax(1, Kind::Float)
            .gather(1, &targets, false)
            .squeeze_dim(1);
        let loss = (loss_per_row * &row_weights).sum(Kind::Float) / rows
            + weights.square().sum(Kind::Float) / (2.0 * c * rows);
        optimizer.backward_step(&loss);
    }
    Ok(Fitted {
        weights: weights.detach(),
        bias: bias.detach(),
    })
}

fn macro_f1(probabilities: &Tensor, actual: &[usize], categories: usize) -> f64 {
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
fn used_buckets(dataset: &Dataset, train: &[usize]) -> (Vec<i64>, HashMap<i64, i64>) {
    let mut used: Vec<i64> = train
        .iter()
        .flat_map(|&i| dataset.examples[i].bag.iter().map(|&(bucket, _)| bucket))
        .collect();
    used.sort_unstable();
    used.dedup();
    let rows = used
        .iter()
        .enumerate()
        .map(|(row, &bucket)| (bucket, row as i64))
        .collect();
    (used, rows)
}

/// Fits the grid on `train`, scores each fit mixed with the network's
/// `network` probabilities on `validation`, and returns the best choice with
/// its classifier (ties go to the smaller mix: the network alone first).
pub(crate) fn choose(
    dataset: &Dataset,
    (train, validation): (&[usize], &[usize]),
    network: &Tensor,
    buckets: i64,
    device: Device,
) -> Result<(WordClassifierChoice, Fitted), TrainError> {
    let categories = dataset.categories.len();
    let labels_of = |indices: &[usize]| -> Vec<usize> {
        indices.iter().map(|&i| dataset.examples[i].label).collect()
    };
    let train_labels: Vec<i64> = labels_of(train).into_iter().map(|l| l as i64).collect();
    let train_labels = Tensor::from_slice(&train_labels).to_device(device);
    let actual = labels_of(validation);
    let (used, rows) = used_buckets(dataset, train);
    let (train_bags, validation_bags) = (
        bags_of(dataset, train, &rows, device),
        bags_of(dataset, validation, &rows, device),
    );
    let network = network.to_device(device);
    let network_macro_f1 = macro_f1(&network, &actual, categories);
    let mut best: Option<(WordClassifierChoice, Fitted)> = None;
    for balanced in [false, true] {
        for c in STRENGTHS {
            let fitted = fit(
                &train_bags,
                &train_labels,
                (used.len() as i64, categories as i64),
                c,
                balanced,
            )?;
            let words = tch::no_grad(|| {
                (bag_sum(&fitted.weights, &validation_bags) + &fitted.bias).softmax(1, Kind::Float)
            });
            for mix in MIXES {
                let f1 = macro_f1(&(&network + &words * mix), &actual, categories);
                if best.as_ref().is_none_or(|(b, _)| f1 > b.val_macro_f1) {
                    best = Some((
                        WordClassifierChoice {
                            c,
                            balanced,
                            mix,
                            network_macro_f1,
                            val_macro_f1: f1,
                        },
                        Fitted {
                            weights: fitted.weights.shallow_clone(),
                            bias: fitted.bias.shallow_clone(),
                        },
                    ));
                }
            }
        }
    }
    let (choice, compact) = best.expect("the grid is not empty");
    let weights = Tensor::zeros([buckets, categories as i64], (Kind::Float, device)).index_copy(
        0,
        &Tensor::from_slice(&used).to_device(device),
        &compact.weights,
    );
    Ok((
        choice,
        Fitted {
            weights,
            bias: compact.bias,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::data::Example;

    fn example(label: usize, bag: Vec<(i64, f32)>) -> Example {
        Example {
            book_id: None,
            label,
            word_ids: vec![1],
            bag,
            cover: None,
        }
    }

    /// Category 0's books have bucket 1, category 1's bucket 2 (and all share
    /// bucket 3): the classifier separates them where a network that knows
    /// nothing (uniform probabilities) cannot, and the choice says so.
    #[test]
    fn the_classifier_learns_words_that_tell_categories_apart_and_is_chosen_for_it() {
        let examples: Vec<Example> = (0..40)
            .map(|i| {
                let label = i % 2;
                example(label, vec![(1 + label as i64, 0.8), (3, 0.6)])
            })
            .collect();
        let dataset = Dataset {
            examples,
            categories: vec!["a".into(), "b".into()],
            padding_id: 3,
            word_bag: None,
        };
        let train: Vec<usize> = (0..30).collect();
        let validation: Vec<usize> = (30..40).collect();
        let network = Tensor::full([10, 2], 0.5, (Kind::Float, Device::Cpu));
        let (choice, fitted) =
            choose(&dataset, (&train, &validation), &network, 8, Device::Cpu).unwrap();
        assert!(choice.network_macro_f1 < 0.5, "{choice:?}");
        assert_eq!(choice.val_macro_f1, 1.0, "{choice:?}");
        assert!(choice.mix > 0.0);
        let weights = Vec::<f32>::try_from(fitted.weights.flatten(0, -1)).unwrap();
        // Bucket 1 speaks for category 0, bucket 2 for category 1.
        assert!(
            weights[2] > weights[3] && weights[5] > weights[4],
            "{weights:?}"
        );
    }
}
