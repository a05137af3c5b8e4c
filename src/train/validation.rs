//! The paper's tables on a run's held-out books: per category (Table 3) from
//! the confusion matrix, and text ↔ cover retrieval (Table 2) from the
//! single-modality embeddings of the books that have both.

use super::data::Dataset;
use super::predict::Predictor;
use super::summary::ValidationTables;
use crate::store::Modalities;

pub(crate) fn validation_tables(
    predictor: &Predictor,
    dataset: &Dataset,
    measured: &[usize],
    modalities: Modalities,
    mask_ensemble: bool,
    embedding_dim: usize,
) -> ValidationTables {
    let confusion = predictor.confusion(dataset, measured, modalities, mask_ensemble);
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
    ValidationTables {
        per_category: crate::eval::per_category(&confusion, &dataset.categories),
        confusion,
        retrieval,
    }
}
