//! The word bag rows a run's training texts reach, trained with an
//! optimizer of their own (see [`crate::model::word_bag_rows`]): a fused
//! step's AdamW update over the whole table was mostly rows no training
//! text reaches.

use tch::Tensor;
use tch::nn::{self, OptimizerConfig as _};

use super::TrainError;
use super::config::TrainConfig;
use super::run_data::RunData;
use crate::model::FusionHeads;
use crate::model::word_bag::BagInput;
use crate::model::word_bag_rows::ReachedRows;
use crate::store::Modalities;

/// The reached rows and their optimizer, for the length of a run's epochs.
pub(crate) struct TrainedBagRows {
    rows: ReachedRows,
    optimizer: nn::Optimizer,
}

impl TrainedBagRows {
    /// The rows the run's training books reach, copied out of the heads'
    /// table, which stops training until [`Self::finish`]; `None` when the
    /// run reads no word bags (no word bag path, or covers only).
    pub fn start(
        heads: &FusionHeads,
        data: &RunData,
        config: &TrainConfig,
    ) -> Result<Option<Self>, TrainError> {
        let Some(path) = heads.word_bag.as_ref() else {
            return Ok(None);
        };
        if config.modalities == Modalities::Image {
            return Ok(None);
        }
        let examples = &data.dataset.examples;
        let buckets = data.train.iter().flat_map(|&book| {
            examples[book]
                .bag
                .iter()
                .map(|&(bucket, _)| i64::from(bucket))
        });
        let rows = ReachedRows::new(path, buckets);
        if rows.is_empty() {
            // No training text has a word: nothing to train, and no row
            // for a bag's unknown buckets to point at.
            rows.finish(path);
            return Ok(None);
        }
        let optimizer = nn::AdamW {
            wd: config.weight_decay,
            ..Default::default()
        }
        .build(
            rows.store(),
            config.learning_rate * config.word_bag_rate_scale,
        )
        .map_err(|e| TrainError::Optimizer(e.to_string()))?;
        Ok(Some(Self { rows, optimizer }))
    }

    /// The rate of the table's group, at each step.
    pub fn set_lr(&mut self, rate: f64) {
        self.optimizer.set_lr(rate);
    }

    /// The batch's bags read from the rows, as the heads' table would.
    pub fn encode(&self, heads: &FusionHeads, bags: &BagInput) -> Option<Tensor> {
        heads
            .word_bag
            .as_ref()
            .map(|path| self.rows.forward(path, bags))
    }

    /// Before the step's backward pass.
    pub fn zero_grad(&mut self) {
        self.optimizer.zero_grad();
    }

    /// After the step's backward pass.
    pub fn step(&mut self) {
        self.optimizer.step();
    }

    /// Puts the rows into the heads' table, before it is read (validation,
    /// checkpoints, weight averaging).
    pub fn write_back(&self, heads: &FusionHeads) {
        if let Some(path) = heads.word_bag.as_ref() {
            self.rows.write_back(path);
        }
    }

    /// Puts the rows back, and the table trains again.
    pub fn finish(self, heads: &FusionHeads) {
        if let Some(path) = heads.word_bag.as_ref() {
            self.rows.finish(path);
        }
    }
}
