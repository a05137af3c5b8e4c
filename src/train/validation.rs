//! The paper's tables on a run's held-out books: per category (Table 3) from
//! the confusion matrix, and text ↔ cover retrieval (Table 2) from the
//! single-modality embeddings of the books that have both.

use super::data::Dataset;
use super::predict::Predictor;
use super::summary::{HeldOutBook, ValidationTables};
use crate::store::Modalities;

///
/// Also what the run said about each held-out book of the library.
pub(crate) fn validation_tables(
    predictor: &Predictor,
    dataset: &Dataset,
    measured: &[usize],
    modalities: Modalities,
    mask_ensemble: bool,
    embedding_dim: usize,
) -> (ValidationTables, Vec<HeldOutBook>) {
    let predictions = predictor.predict(dataset, measured, modalities, mask_ensemble);
    let actual: Vec<usize> = measured
        .iter()
        .map(|&i| dataset.examples[i].label)
        .collect();
    let confusion = crate::eval::ConfusionMatrix::from_labels(
        &actual,
        &predictions.predicted,
        dataset.categories.len(),
    )
    .expect("labels in range");
    let held_out = measured
        .iter()
        .enumerate()
        .filter_map(|(row, &i)| {
            Some(HeldOutBook {
                book_id: dataset.examples[i].book_id?,
                actual: actual[row],
                predicted: predictions.predicted[row],
                confidence: predictions.confidence[row],
            })
        })
        .collect();
    let paired: Vec<usize> = measured
        .iter()
        .copied()
        .filter(|&i| dataset.examples[i].has_cover_and_text())
        .collect();
    let retrieval = if paired.len() >= 2 {
        let on_paired = |alone| predictor.predict(dataset, &paired, alone, false).embeddings;
        crate::eval::cross_modal_recall(
            &on_paired(Modalities::Text),
            &on_paired(Modalities::Image),
            embedding_dim,
        )
        .ok()
    } else {
        None
    };
    let tables = ValidationTables {
        per_category: crate::eval::per_category(&confusion, &dataset.categories),
        confusion,
        retrieval_gallery: retrieval.as_ref().map(|_| paired.len()),
        retrieval,
    };
    (tables, held_out)
}
