//! The paper's evaluation (MODEL.md "Evaluation"), as pure functions over
//! plain vectors, so every number in a report can be checked by hand.
//!
//! Conventions: a ratio whose denominator is zero is 0 (scikit-learn's
//! `zero_division=0`); embeddings are row-major `n x dim` slices compared by
//! cosine similarity; a retrieval target's rank counts only the targets scored
//! strictly higher, so ties go in the query's favour.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Errors of malformed evaluation input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EvalError {
    #[error("{actual} true labels but {predicted} predictions")]
    LengthMismatch { actual: usize, predicted: usize },
    #[error("label {label} is not below the class count {classes}")]
    LabelOutOfRange { label: usize, classes: usize },
    #[error("embeddings of {values} values are not rows of {dim}")]
    RaggedEmbeddings { values: usize, dim: usize },
    #[error("{queries} queries but {targets} targets; they must pair up book by book")]
    UnpairedEmbeddings { queries: usize, targets: usize },
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// Counts of (true class, predicted class) pairs: `count(actual, predicted)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub classes: usize,
    /// Row-major: row = true class, column = predicted class.
    pub counts: Vec<u64>,
}

/// One class against the rest (Tables 1 and 3 of the paper).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub support: u64,
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_negatives: u64,
    /// TP / (TP + FN), the recall.
    pub sensitivity: f64,
    /// TN / (TN + FP).
    pub specificity: f64,
    /// TP / (TP + FP), the precision.
    pub ppv: f64,
    /// TP / (TP + FP + FN).
    pub iou: f64,
    /// 2TP / (2TP + FP + FN), which equals F1.
    pub dice: f64,
}

impl ConfusionMatrix {
    pub fn from_labels(
        actual: &[usize],
        predicted: &[usize],
        classes: usize,
    ) -> Result<Self, EvalError> {
        if actual.len() != predicted.len() {
            return Err(EvalError::LengthMismatch {
                actual: actual.len(),
                predicted: predicted.len(),
            });
        }
        let mut counts = vec![0u64; classes * classes];
        for (&a, &p) in actual.iter().zip(predicted) {
            for label in [a, p] {
                if label >= classes {
                    return Err(EvalError::LabelOutOfRange { label, classes });
                }
            }
            counts[a * classes + p] += 1;
        }
        Ok(Self { classes, counts })
    }

    pub fn count(&self, actual: usize, predicted: usize) -> u64 {
        self.counts[actual * self.classes + predicted]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Share of books whose predicted class is their true class.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        ratio(correct as f64, self.total() as f64)
    }

    pub fn class_metrics(&self, class: usize) -> ClassMetrics {
        let tp = self.count(class, class);
        let support: u64 = (0..self.classes).map(|p| self.count(class, p)).sum();
        let predicted: u64 = (0..self.classes).map(|a| self.count(a, class)).sum();
        let fn_ = support - tp;
        let fp = predicted - tp;
        let tn = self.total() - tp - fn_ - fp;
        let (tp_f, fp_f, fn_f, tn_f) = (tp as f64, fp as f64, fn_ as f64, tn as f64);
        ClassMetrics {
            support,
            true_positives: tp,
            false_positives: fp,
            false_negatives: fn_,
            true_negatives: tn,
            sensitivity: ratio(tp_f, tp_f + fn_f),
            specificity: ratio(tn_f, tn_f + fp_f),
            ppv: ratio(tp_f, tp_f + fp_f),
            iou: ratio(tp_f, tp_f + fp_f + fn_f),
            dice: ratio(2.0 * tp_f, 2.0 * tp_f + fp_f + fn_f),
        }
    }

    pub fn per_class(&self) -> Vec<ClassMetrics> {
        (0..self.classes).map(|c| self.class_metrics(c)).collect()
    }

    /// Unweighted mean of the per-class F1 (= Dice) over all classes.
    pub fn macro_f1(&self) -> f64 {
        let per_class = self.per_class();
        ratio(
            per_class.iter().map(|m| m.dice).sum(),
            per_class.len() as f64,
        )
    }
}

/// Checks that `values` are rows of `dim` and returns how many.
fn rows(values: &[f32], dim: usize) -> Result<usize, EvalError> {
    if dim == 0 || !values.len().is_multiple_of(dim) {
        return Err(EvalError::RaggedEmbeddings {
            values: values.len(),
            dim,
        });
    }
    Ok(values.len() / dim)
}

/// Queries scored against targets in blocks of this many queries, so that
/// the scores held at once stay a few megabytes whatever the library's size.
const QUERY_BLOCK: usize = 512;

/// The rows of `values` scaled to unit length (a zero row stays zero), as
/// an `n x dim` tensor.
fn normalised_rows(values: &[f32], dim: usize) -> Tensor {
    let matrix = Tensor::from_slice(values).view([-1, dim as i64]);
    let norms = matrix
        .square()
        .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
        .sqrt()
        .clamp_min(f64::from(f32::MIN_POSITIVE));
    matrix / norms
}

/// Calls `on_scores(query, scores)` for each query row with its cosine
/// similarity to every target row, in query order. The scores come from
/// libtorch's matrix product a block of queries at a time: ranking a
/// library's every book against every other is a matrix product, and one
/// dot product at a time took most of `eval`'s time.
fn for_each_cosine_row(
    queries: &[f32],
    targets: &[f32],
    dim: usize,
    on_scores: &mut dyn FnMut(usize, &[f32]),
) {
    let n_targets = targets.len() / dim;
    if n_targets == 0 {
        for query in 0..queries.len() / dim {
            on_scores(query, &[]);
        }
        return;
    }
    let targets = normalised_rows(targets, dim).tr();
    for (block, chunk) in queries.chunks(QUERY_BLOCK * dim).enumerate() {
        let scores = normalised_rows(chunk, dim).mm(&targets).contiguous();
        let scores = Vec::<f32>::try_from(scores.view([-1]))
            .expect("a float matrix product reads back as floats");
        for (offset, row) in scores.chunks_exact(n_targets).enumerate() {
            on_scores(block * QUERY_BLOCK + offset, row);
        }
    }
}

/// Each category's one-against-the-rest metrics by name: the per-category
/// table of a run's validation and of an evaluation on a CSV.
pub fn per_category(
    confusion: &ConfusionMatrix,
    categories: &[String],
) -> std::collections::BTreeMap<String, ClassMetrics> {
    categories
        .iter()
        .enumerate()
        .map(|(class, name)| (name.clone(), confusion.class_metrics(class)))
        .collect()
}

/// Recall at 1, 5 and 10 of one retrieval direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecallAtK {
    pub r1: f64,
    pub r5: f64,
    pub r10: f64,
}

/// Table 2 of the paper: text → cover and cover → text retrieval of the same book.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrossModalRecall {
    /// "Text recommendation": a book's text-only embedding finds its cover-only one.
    pub text: RecallAtK,
    /// "Image recommendation": the reverse.
    pub image: RecallAtK,
    /// Mean of the six recalls.
    #[serde(rename = "mR")]
    pub mean_recall: f64,
}

/// For each query row `i`, the rank (1-based) of target row `i` among all targets.
pub fn paired_ranks(queries: &[f32], targets: &[f32], dim: usize) -> Result<Vec<usize>, EvalError> {
    let (n_queries, n_targets) = (rows(queries, dim)?, rows(targets, dim)?);
    if n_queries != n_targets {
        return Err(EvalError::UnpairedEmbeddings {
            queries: n_queries,
            targets: n_targets,
        });
    }
    let mut ranks = Vec::with_capacity(n_queries);
    for_each_cosine_row(queries, targets, dim, &mut |query, row| {
        ranks.push(1 + row.iter().filter(|&&s| s > row[query]).count());
    });
    Ok(ranks)
}

fn recall_from_ranks(ranks: &[usize]) -> RecallAtK {
    let at = |k: usize| {
        ratio(
            ranks.iter().filter(|&&r| r <= k).count() as f64,
            ranks.len() as f64,
        )
    };
    RecallAtK {
        r1: at(1),
        r5: at(5),
        r10: at(10),
    }
}

/// R@1/5/10 both ways and their mean, from each held-out book's text-only and
/// cover-only embeddings (row `i` of both is the same book).
pub fn cross_modal_recall(
    text: &[f32],
    image: &[f32],
    dim: usize,
) -> Result<CrossModalRecall, EvalError> {
    let text_recall = recall_from_ranks(&paired_ranks(text, image, dim)?);
    let image_recall = recall_from_ranks(&paired_ranks(image, text, dim)?);
    let six = [
        text_recall.r1,
        text_recall.r5,
        text_recall.r10,
        image_recall.r1,
        image_recall.r5,
        image_recall.r10,
    ];
    Ok(CrossModalRecall {
        text: text_recall,
        image: image_recall,
        mean_recall: six.iter().sum::<f64>() / 6.0,
    })
}

/// Mean precision@K and NDCG@K of category-relevant recommendations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingQuality {
    pub k: usize,
    pub precision: f64,
    pub ndcg: f64,
}

/// Ranks the library for each query by cosine similarity; a suggestion is
/// relevant when it shares the query's category. `skip[i]`, when given, is a
/// library row to leave out for query `i` (the query book itself).
pub fn ranking_quality(
    queries: &[f32],
    query_labels: &[usize],
    library: &[f32],
    library_labels: &[usize],
    dim: usize,
    k: usize,
    skip: Option<&[usize]>,
) -> Result<RankingQuality, EvalError> {
    let (n_queries, n_library) = (rows(queries, dim)?, rows(library, dim)?);
    for (labels, expected) in [(query_labels, n_queries), (library_labels, n_library)] {
        if labels.len() != expected {
            return Err(EvalError::LengthMismatch {
                actual: labels.len(),
                predicted: expected,
            });
        }
    }
    // How many library rows share each label: a query's ideal ranking has
    // that many relevant books (less itself when it is left out).
    let mut label_counts: HashMap<usize, usize> = HashMap::new();
    for &label in library_labels {
        *label_counts.entry(label).or_default() += 1;
    }
    let (mut precision_sum, mut ndcg_sum) = (0.0, 0.0);
    let mut order: Vec<usize> = Vec::with_capacity(n_library);
    for_each_cosine_row(queries, library, dim, &mut |query, row| {
        let label = query_labels[query];
        let skipped = skip.and_then(|s| s.get(query).copied());
        order.clear();
        order.extend((0..n_library).filter(|&j| Some(j) != skipped));
        // Best first, ties by row: the top k of a full sort, without one.
        let better = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
        let top_len = k.min(order.len());
        if top_len > 0 && top_len < order.len() {
            order.select_nth_unstable_by(top_len - 1, better);
        }
        let top = &mut order[..top_len];
        top.sort_unstable_by(better);
        let relevant = |j: usize| library_labels[j] == label;
        let hits = top.iter().filter(|&&j| relevant(j)).count();
        let dcg: f64 = top
            .iter()
            .enumerate()
            .filter(|&(_, &j)| relevant(j))
            .map(|(position, _)| 1.0 / ((position + 2) as f64).log2())
            .sum();
        let skipped_relevant = skipped.is_some_and(|j| j < n_library && relevant(j));
        let relevant_total =
            label_counts.get(&label).copied().unwrap_or(0) - usize::from(skipped_relevant);
        let idcg: f64 = (0..relevant_total.min(k))
            .map(|position| 1.0 / ((position + 2) as f64).log2())
            .sum();
        precision_sum += hits as f64 / k as f64;
        ndcg_sum += ratio(dcg, idcg);
    });
    Ok(RankingQuality {
        k,
        precision: ratio(precision_sum, n_queries as f64),
        ndcg: ratio(ndcg_sum, n_queries as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Three classes, 10 books:
    /// true 0: predicted 0,0,0,1   true 1: predicted 1,1,2   true 2: predicted 2,0,2
    fn hand_made() -> ConfusionMatrix {
        let actual = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        let predicted = [0, 0, 0, 1, 1, 1, 2, 2, 0, 2];
        ConfusionMatrix::from_labels(&actual, &predicted, 3).unwrap()
    }

    #[test]
    fn confusion_matrix_counts() {
        let matrix = hand_made();
        assert_eq!(matrix.counts, [3, 1, 0, 0, 2, 1, 1, 0, 2]);
        assert_eq!(matrix.total(), 10);
        assert!(close(matrix.accuracy(), 7.0 / 10.0));
    }

    #[test]
    fn per_class_metrics_by_hand() {
        let matrix = hand_made();
        // Class 0: TP 3, FN 1, FP 1 (a class-2 book), TN 5.
        let c0 = matrix.class_metrics(0);
        assert_eq!(
            (
                c0.true_positives,
                c0.false_negatives,
                c0.false_positives,
                c0.true_negatives
            ),
            (3, 1, 1, 5)
        );
        assert!(close(c0.sensitivity, 3.0 / 4.0));
        assert!(close(c0.specificity, 5.0 / 6.0));
        assert!(close(c0.ppv, 3.0 / 4.0));
        assert!(close(c0.iou, 3.0 / 5.0));
        assert!(close(c0.dice, 6.0 / 8.0));
        // Class 1: TP 2, FN 1, FP 1, TN 6.
        let c1 = matrix.class_metrics(1);
        assert!(close(c1.sensitivity, 2.0 / 3.0));
        assert!(close(c1.specificity, 6.0 / 7.0));
        assert!(close(c1.iou, 2.0 / 4.0));
        assert!(close(c1.dice, 4.0 / 6.0));
        // Class 2: TP 2, FN 1, FP 1, TN 6.
        let c2 = matrix.class_metrics(2);
        assert!(close(c2.ppv, 2.0 / 3.0));
        assert!(close(
            matrix.macro_f1(),
            (0.75 + 4.0 / 6.0 + 4.0 / 6.0) / 3.0
        ));
    }

    #[test]
    fn a_class_never_seen_or_predicted_scores_zero_not_nan() {
        let matrix = ConfusionMatrix::from_labels(&[0, 0], &[0, 0], 2).unwrap();
        let absent = matrix.class_metrics(1);
        assert_eq!(
            (absent.sensitivity, absent.ppv, absent.dice),
            (0.0, 0.0, 0.0)
        );
        assert!(close(absent.specificity, 1.0));
        assert!(close(matrix.macro_f1(), 0.5));
    }

    #[test]
    fn bad_labels_are_refused() {
        assert_eq!(
            ConfusionMatrix::from_labels(&[0], &[0, 1], 2),
            Err(EvalError::LengthMismatch {
                actual: 1,
                predicted: 2
            })
        );
        assert_eq!(
            ConfusionMatrix::from_labels(&[0, 3], &[0, 1], 2),
            Err(EvalError::LabelOutOfRange {
                label: 3,
                classes: 2
            })
        );
    }

    #[test]
    fn recall_counts_a_hit_when_the_own_book_is_in_the_top_k() {
        // Books 0 and 2 are told apart; book 1's text looks like book 0's cover.
        let text = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let image = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(paired_ranks(&text, &image, 3).unwrap(), [1, 2, 1]);
        // Cover 1 scores 0 against every text: a three-way tie, counted in its favour.
        assert_eq!(paired_ranks(&image, &text, 3).unwrap(), [1, 1, 1]);
        let recall = cross_modal_recall(&text, &image, 3).unwrap();
        assert!(close(recall.text.r1, 2.0 / 3.0));
        assert!(close(recall.text.r5, 1.0));
        assert!(close(recall.image.r1, 1.0));
        assert!(close(recall.mean_recall, (2.0 / 3.0 + 5.0) / 6.0));
        assert_eq!(
            cross_modal_recall(&text, &image[..6], 3),
            Err(EvalError::UnpairedEmbeddings {
                queries: 3,
                targets: 2
            })
        );
    }

    /// The ranking by a full sort of each query's cosines, one dot product
    /// at a time: what `ranking_quality` computed before its matrix product.
    fn ranking_by_full_sort(
        (queries, query_labels): (&[f32], &[usize]),
        (library, library_labels): (&[f32], &[usize]),
        (dim, k): (usize, usize),
        skip: &[usize],
    ) -> (f64, f64) {
        let unit = |row: &[f32]| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter().map(|v| v / norm).collect::<Vec<f32>>()
        };
        let library: Vec<Vec<f32>> = library.chunks(dim).map(unit).collect();
        let (mut precision, mut ndcg) = (0.0, 0.0);
        for (query, q) in queries.chunks(dim).map(unit).enumerate() {
            let scores: Vec<f32> = library
                .iter()
                .map(|t| q.iter().zip(t).map(|(a, b)| a * b).sum())
                .collect();
            let mut order: Vec<usize> = (0..library.len()).filter(|&j| j != skip[query]).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            let relevant = |j: usize| library_labels[j] == query_labels[query];
            let gain = |position: usize| 1.0 / ((position + 2) as f64).log2();
            let top = &order[..k];
            precision += top.iter().filter(|&&j| relevant(j)).count() as f64 / k as f64;
            let dcg: f64 = (0..k).filter(|&p| relevant(top[p])).map(gain).sum();
            let ideal = order.iter().filter(|&&j| relevant(j)).count().min(k);
            ndcg += dcg / (0..ideal).map(gain).sum::<f64>();
        }
        let n = (queries.len() / dim) as f64;
        (precision / n, ndcg / n)
    }

    /// Over more queries than one block, with ties (repeated rows) and
    /// each query's own row left out, the matrix product ranks as the full
    /// sort did.
    #[test]
    fn ranking_matches_a_full_sort_of_every_query() {
        let (dim, books, k) = (8, 700, 10);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut library: Vec<f32> = (0..books * dim).map(|_| next()).collect();
        // Every tenth book repeats the one before it: exact ties.
        for book in (10..books).step_by(10) {
            let (before, this) = library.split_at_mut(book * dim);
            this[..dim].copy_from_slice(&before[(book - 1) * dim..]);
        }
        let labels: Vec<usize> = (0..books).map(|book| book % 6).collect();
        let own: Vec<usize> = (0..books).collect();
        let quality =
            ranking_quality(&library, &labels, &library, &labels, dim, k, Some(&own)).unwrap();
        let (precision, ndcg) =
            ranking_by_full_sort((&library, &labels), (&library, &labels), (dim, k), &own);
        assert!(
            close(quality.precision, precision),
            "{quality:?} {precision}"
        );
        assert!(close(quality.ndcg, ndcg), "{quality:?} {ndcg}");
        assert!(quality.precision > 0.0 && quality.precision < 1.0);
    }

    #[test]
    fn precision_and_ndcg_by_hand() {
        // One query of class 0; library ordered by similarity: rel, not, rel, not.
        let query = [1.0, 0.0];
        let library = [1.0, 0.0, 0.9, 0.1, 0.8, 0.3, 0.0, 1.0];
        let library_labels = [0, 1, 0, 1];
        let quality = ranking_quality(&query, &[0], &library, &library_labels, 2, 2, None).unwrap();
        assert!(close(quality.precision, 0.5));
        // DCG = 1/log2(2) = 1; ideal has both relevant on top: 1 + 1/log2(3).
        assert!(close(quality.ndcg, 1.0 / (1.0 + 1.0 / 3f64.log2())));
        // Leaving out the first library row (the query itself) moves the ranking up.
        let quality =
            ranking_quality(&query, &[0], &library, &library_labels, 2, 2, Some(&[0])).unwrap();
        assert!(close(quality.precision, 0.5));
        // Now: not, rel → DCG = 1/log2(3); ideal (one relevant left) = 1.
        assert!(close(quality.ndcg, 1.0 / 3f64.log2()));
    }
}
