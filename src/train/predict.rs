//! What the heads say about examples: categories, embeddings and the fusion's
//! modality weights, in batches without gradients.

use tch::{Device, Kind, Tensor};

use super::TrainError;
use super::batches::{BatchTensors, Layout, batch_tensors};
use super::data::Dataset;
use crate::eval::ConfusionMatrix;
use crate::jobs::{Cancel, is_cancelled};
use crate::model::cover_classifier::pooled_features;
use crate::model::focus;
use crate::model::{FusionHeads, ModelOutput};
use crate::store::Modalities;

/// Rows predicted at once.
const BATCH: usize = 64;

/// What the heads say about a list of examples, row by row.
#[derive(Debug, Default)]
pub(crate) struct Predictions {
    pub predicted: Vec<usize>,
    /// The predicted category's share of the probabilities (0 to 1).
    pub confidence: Vec<f32>,
    /// L2-normalised embeddings, `embedding_dim` values per row.
    pub embeddings: Vec<f32>,
    /// `S_c` and `S_u`, each the mean over the three scales.
    pub image_weights: Vec<f32>,
    pub text_weights: Vec<f32>,
    /// The hottest cell of each row's CBAM maps (`model::focus::peak_cell`;
    /// none when they are flat), on a `grid x grid` map: where the model
    /// looked, if the cover counted.
    pub peak_cells: Vec<Option<usize>>,
    pub grid: usize,
}

/// Heads ready to run over a run's examples.
pub(crate) struct Predictor<'a> {
    pub heads: &'a FusionHeads,
    pub layout: Layout,
}

fn to_vec(tensor: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(tensor.to_kind(Kind::Float).to_device(Device::Cpu)).unwrap_or_default()
}

fn mean_weight(weights: &[Tensor]) -> Vec<f32> {
    to_vec(&Tensor::stack(weights, 0).mean_dim([0i64].as_slice(), false, Kind::Float))
}

/// [`focus::peak_cell`] of each of `rows` rows of `heatmaps` (CBAM's `Ms`
/// per scale, `[rows, 1, H, W]`).
fn peak_cells(heatmaps: &[Tensor], rows: usize) -> Vec<Option<usize>> {
    let scales: Vec<Vec<f32>> = heatmaps
        .iter()
        .map(|map| to_vec(&map.flatten(0, -1)))
        .collect();
    let cells = scales
        .first()
        .map_or(0, |values| values.len() / rows.max(1));
    (0..rows)
        .map(|row| {
            let maps: Vec<&[f32]> = scales
                .iter()
                .map(|values| &values[row * cells..(row + 1) * cells])
                .collect();
            focus::peak_cell(&maps)
        })
        .collect()
}

/// The pooled maps of `indices` (books with a cover), `[rows, features]`:
/// the cached maps of each batch as `scales` makes them (the heads' trunk
/// scales, or the cache's maps as they are), pooled; stops early
/// (`Cancelled`) once `stop` is set.
pub(crate) fn pooled_maps(
    dataset: &Dataset,
    indices: &[usize],
    layout: Layout,
    stop: &Cancel,
    scales: impl Fn(&[Tensor; 3]) -> [Tensor; 3],
) -> Result<Tensor, TrainError> {
    let mut parts = Vec::with_capacity(indices.len().div_ceil(BATCH));
    for chunk in indices.chunks(BATCH) {
        if is_cancelled(stop) {
            return Err(TrainError::Cancelled);
        }
        let batch = batch_tensors(dataset, chunk, layout, Modalities::Image, None);
        parts.push(tch::no_grad(|| pooled_features(&scales(&batch.scales))));
    }
    Ok(Tensor::cat(&parts, 0))
}

impl Predictor<'_> {
    /// The heads on one batch, without gradients.
    pub fn forward(&self, batch: &BatchTensors) -> ModelOutput {
        tch::no_grad(|| {
            self.heads.forward(
                batch.covers(),
                batch.text(),
                &batch.image_present,
                &batch.text_present,
            )
        })
    }

    /// The L2-normalised embeddings of `indices` alone, `embedding_dim`
    /// values per row: what a query ranks by, without the categories'
    /// probabilities, their fitted classifiers (the cover classifier reads
    /// the maps even of rows that show no cover) and the attention's peaks.
    pub fn embeddings(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        modalities: Modalities,
    ) -> Vec<f32> {
        indices
            .chunks(BATCH)
            .flat_map(|chunk| {
                let batch = batch_tensors(dataset, chunk, self.layout, modalities, None);
                to_vec(&self.forward(&batch).embeddings.flatten(0, -1))
            })
            .collect()
    }

    /// Category probabilities of one batch (unnormalised when summed). With
    /// `mask_ensemble` (fused runs only) the sum of the softmaxes of three
    /// passes of the same heads: both modalities, the text alone and the
    /// cover alone. With `with_classifiers`, plus the fitted word
    /// classifier's softmax times its mix on the rows whose text is shown,
    /// that sum times the cover classifier's softmax to the power of its
    /// mix on the rows whose cover is.
    fn batch_probabilities(
        &self,
        dataset: &Dataset,
        chunk: &[usize],
        (modalities, mask_ensemble, with_classifiers): (Modalities, bool, bool),
    ) -> (Tensor, ModelOutput) {
        let batch = batch_tensors(dataset, chunk, self.layout, modalities, None);
        let output = self.forward(&batch);
        let mut probabilities = output.logits.softmax(1, Kind::Float);
        if mask_ensemble && modalities == Modalities::Fused {
            for alone in [Modalities::Text, Modalities::Image] {
                let single = batch_tensors(dataset, chunk, self.layout, alone, None);
                probabilities += self.forward(&single).logits.softmax(1, Kind::Float);
            }
        }
        if let Some(path) = self.heads.word_bag.as_ref().filter(|_| with_classifiers) {
            let mix = path.mix_value();
            if mix > 0.0 {
                let words = tch::no_grad(|| path.classifier_logits(&batch.bags));
                probabilities +=
                    words.softmax(1, Kind::Float) * batch.text_present.unsqueeze(1) * mix;
            }
        }
        if let Some(classifier) = self
            .heads
            .cover_classifier
            .as_ref()
            .filter(|_| with_classifiers)
        {
            let mix = classifier.mix_value();
            if mix > 0.0 {
                let covers = tch::no_grad(|| {
                    classifier.logits(&pooled_features(&self.heads.trunk_scales(&batch.scales)))
                });
                // A product of experts (see `train::mixes`); 1 without a cover.
                let shown = batch.image_present.unsqueeze(1);
                let factor =
                    covers.softmax(1, Kind::Float).pow_tensor_scalar(mix) * &shown + (1.0 - &shown);
                probabilities *= factor;
            }
        }
        (probabilities, output)
    }

    /// The pooled trunk maps of `indices` (books with a cover) as the cover
    /// classifier reads them, `[rows, features]`; stops early (`Cancelled`)
    /// once `stop` is set.
    pub fn pooled_covers(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        stop: &Cancel,
    ) -> Result<Tensor, TrainError> {
        pooled_maps(dataset, indices, self.layout, stop, |cached| {
            self.heads.trunk_scales(cached)
        })
    }

    /// The network's category probabilities on `indices`, without the
    /// fitted classifiers: what they are mixed with. `[rows, categories]`.
    pub fn network_probabilities(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        modalities: Modalities,
        mask_ensemble: bool,
    ) -> Tensor {
        let parts: Vec<Tensor> = indices
            .chunks(BATCH)
            .map(|chunk| {
                self.batch_probabilities(dataset, chunk, (modalities, mask_ensemble, false))
                    .0
            })
            .collect();
        Tensor::cat(&parts, 0)
    }

    /// The heads on `indices`; categories from [`Self::batch_probabilities`].
    pub fn predict(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        modalities: Modalities,
        mask_ensemble: bool,
    ) -> Predictions {
        let mut predictions = Predictions::default();
        for chunk in indices.chunks(BATCH) {
            let (probabilities, output) =
                self.batch_probabilities(dataset, chunk, (modalities, mask_ensemble, true));
            let labels =
                Vec::<i64>::try_from(probabilities.argmax(1, false).to_device(Device::Cpu))
                    .unwrap_or_default();
            let total = probabilities.sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
            let (top, _) = probabilities.max_dim(1, false);
            predictions
                .confidence
                .extend(to_vec(&(top / total.clamp_min(1e-12))));
            predictions
                .predicted
                .extend(labels.into_iter().map(|label| label as usize));
            predictions
                .embeddings
                .extend(to_vec(&output.embeddings.flatten(0, -1)));
            predictions
                .image_weights
                .extend(mean_weight(&output.image_weights));
            predictions
                .text_weights
                .extend(mean_weight(&output.text_weights));
            predictions.grid = output
                .heatmaps
                .first()
                .map_or(0, |map| map.size()[3] as usize);
            predictions
                .peak_cells
                .extend(peak_cells(&output.heatmaps, chunk.len()));
        }
        predictions
    }

    /// The confusion matrix of the heads' categories on `indices`.
    pub fn confusion(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        modalities: Modalities,
        mask_ensemble: bool,
    ) -> ConfusionMatrix {
        let predicted = self
            .predict(dataset, indices, modalities, mask_ensemble)
            .predicted;
        let actual: Vec<usize> = indices.iter().map(|&i| dataset.examples[i].label).collect();
        ConfusionMatrix::from_labels(&actual, &predicted, dataset.categories.len())
            .expect("labels in range")
    }
}
