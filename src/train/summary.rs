//! How a run ended, as it is stored with the run and read back by the window
//! and the command line: typed, so a renamed field is a compile error, not a
//! NaN on screen.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::eval::{ClassMetrics, ConfusionMatrix, CrossModalRecall};
use crate::model::weights::TrunkProvenance;
use crate::store::RunListing;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub trunk: TrunkProvenance,
    /// Block 5 of the trunk trained with the heads (kept in the checkpoint).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub block5_trained: bool,
    pub best_epoch: usize,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    /// Not measured on a resumed run's kept best epoch (NaN, stored as null).
    #[serde(deserialize_with = "nan_when_null")]
    pub train_accuracy: f64,
    pub categories: Vec<String>,
    /// The paper's tables on the held-out books at the best epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationTables>,
    /// When the best weights are the mean over epochs `averaged_from..=best_epoch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averaged_from: Option<usize>,
    /// The word classifier fitted beside the network, when the model has
    /// the word path and books were held out to choose it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_classifier: Option<super::word_classifier::WordClassifierChoice>,
    /// The cover classifier fitted beside the network, when the model has
    /// one, the run reads covers and books were held out to choose it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_classifier: Option<super::cover_classifier::CoverClassifierChoice>,
}

/// The paper's Table 3 (per category) and Table 2 (retrieval) on the held-out
/// books, with the confusion matrix they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationTables {
    pub per_category: BTreeMap<String, ClassMetrics>,
    pub confusion: ConfusionMatrix,
    /// `None` when the held-out books lack covers or texts to pair.
    pub retrieval: Option<CrossModalRecall>,
    /// How many books retrieval ranked among (chance R@k is k / gallery);
    /// absent in runs saved before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieval_gallery: Option<usize>,
}

/// What a run said about one held-out book: categories as rows of the
/// run's `categories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutBook {
    pub book_id: crate::store::BookId,
    pub actual: usize,
    pub predicted: usize,
    /// The predicted category's share of the probabilities.
    pub confidence: f32,
}

/// JSON has no NaN: serde_json writes it as null, which reads back as NaN.
fn nan_when_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

impl RunSummary {
    /// The trunk as the run table and `shelfwise runs` name it: where its
    /// weights came from, and whether its block 5 trained.
    pub fn trunk_label(&self) -> String {
        let trunk = self.trunk.short();
        if self.block5_trained {
            format!("{trunk} + block 5 trained")
        } else {
            trunk
        }
    }

    /// The summary stored with a finished run; `None` for a run that has
    /// none (still running, failed or cancelled).
    pub fn of_listing(listing: &RunListing) -> Result<Option<Self>, serde_json::Error> {
        match listing.summary.as_deref() {
            Some(json) if listing.status == crate::store::RunStatus::Finished => {
                serde_json::from_str(json).map(Some)
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reads_back_as_it_was_written_even_with_a_nan() {
        let matrix = ConfusionMatrix::from_labels(&[0, 1, 1], &[0, 1, 0], 2).unwrap();
        let summary = RunSummary {
            trunk: TrunkProvenance::Random,
            block5_trained: true,
            best_epoch: 3,
            val_accuracy: 0.5,
            val_macro_f1: 0.4,
            train_accuracy: f64::NAN,
            categories: vec!["a".into(), "b".into()],
            validation: Some(ValidationTables {
                per_category: crate::eval::per_category(&matrix, &["a".into(), "b".into()]),
                confusion: matrix,
                retrieval: None,
                retrieval_gallery: None,
            }),
            averaged_from: None,
            word_classifier: Some(super::super::word_classifier::WordClassifierChoice {
                c: 3.0,
                balanced: true,
                mix: 1.0,
                network_macro_f1: 0.3,
                val_macro_f1: 0.4,
                cv_macro_f1: 0.35,
            }),
            cover_classifier: Some(super::super::cover_classifier::CoverClassifierChoice {
                c: 0.01,
                balanced: false,
                mix: 0.5,
                cv_macro_f1: 0.41,
                covers: 12,
            }),
        };
        let json = serde_json::to_string(&summary).unwrap();
        let back: RunSummary = serde_json::from_str(&json).unwrap();
        assert!(back.train_accuracy.is_nan());
        assert_eq!(back.validation, summary.validation);
        assert_eq!(back.categories, summary.categories);
        assert_eq!(back.word_classifier, summary.word_classifier);
        assert_eq!(back.cover_classifier, summary.cover_classifier);
        assert!(back.block5_trained);
        assert_eq!(back.trunk_label(), "random + block 5 trained");
        // A field the reader does not know is an error, not a silent NaN.
        assert!(
            serde_json::from_str::<RunSummary>(&json.replace("best_epoch", "top_epoch")).is_err()
        );
    }
}
