//! A fine-tuned run's heads, started from its parent's best checkpoint: every
//! variable the parent has is copied by name; the classifier's rows (one per
//! category) and the word table's rows (one per known word, then the unknown
//! and the padding rows) grow where the library has new categories and words,
//! the new rows keeping their fresh start. What describes the library as it
//! is now, not as the parent saw it, is not copied: the word path's inverse
//! document frequencies, and its word classifier (refitted after training).

use std::collections::HashMap;
use std::path::Path;

use tch::{Tensor, nn};

use super::TrainError;
use super::checkpoints::checkpoint_error;

/// The word table's variable, whose unknown and padding rows follow the words.
const WORD_TABLE: &str = "text.embedding.weight";

/// Variables of the library as it is now, or fitted after training.
const NOT_COPIED: [&str; 4] = [
    "word_bag.idf",
    "word_bag.classifier",
    "word_bag.classifier_bias",
    "word_bag.mix",
];

/// The cover classifier's variables, fitted after training.
const COVER_CLASSIFIER: &str = "cover_classifier.";

/// How the parent's variables went into the child's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WarmStart {
    /// Variables copied whole.
    pub copied: usize,
    /// Variables whose parent's rows went into a larger one.
    pub grown: usize,
}

/// Copies the parent's checkpoint at `checkpoint` into `store`; `words` is
/// the number of known words of the parent's vocabulary and of the child's
/// (which starts with the parent's, at the same ids).
pub(crate) fn warm_start(
    store: &nn::VarStore,
    checkpoint: &Path,
    (parent_words, child_words): (i64, i64),
) -> Result<WarmStart, TrainError> {
    let parent: HashMap<String, Tensor> = Tensor::read_safetensors(checkpoint)
        .map_err(|e| checkpoint_error(checkpoint, e))?
        .into_iter()
        .collect();
    let mut done = WarmStart::default();
    let variables = store.variables();
    tch::no_grad(|| -> Result<(), TrainError> {
        for (name, variable) in &variables {
            if NOT_COPIED.contains(&name.as_str()) || name.starts_with(COVER_CLASSIFIER) {
                continue;
            }
            let Some(saved) = parent.get(name) else {
                // A parent whose block 5 was frozen: the child's trainable
                // block keeps its start, the trunk's own block 5.
                if name.starts_with("block5.") {
                    continue;
                }
                return Err(checkpoint_error(
                    checkpoint,
                    format!("has no {name}; the run's settings changed since"),
                ));
            };
            let saved = saved.to_device(variable.device()).to_kind(variable.kind());
            let (want, have) = (variable.size(), saved.size());
            let mut target = variable.shallow_clone();
            if want == have {
                target.copy_(&saved);
                done.copied += 1;
            } else if name == WORD_TABLE && want[1..] == have[1..] {
                grow_word_table(&mut target, &saved, (parent_words, child_words));
                done.grown += 1;
            } else if want.len() == have.len() && want[1..] == have[1..] && have[0] < want[0] {
                target.narrow(0, 0, have[0]).copy_(&saved);
                done.grown += 1;
            } else {
                return Err(checkpoint_error(
                    checkpoint,
                    format!("{name} is {have:?} there and {want:?} here"),
                ));
            }
        }
        Ok(())
    })?;
    Ok(done)
}

/// The parent's word rows at their ids, its unknown and padding rows moved
/// after the child's words; the new words' rows as they started.
fn grow_word_table(target: &mut Tensor, saved: &Tensor, (parent_words, child_words): (i64, i64)) {
    target
        .narrow(0, 0, parent_words)
        .copy_(&saved.narrow(0, 0, parent_words));
    target
        .narrow(0, child_words, 2)
        .copy_(&saved.narrow(0, parent_words, 2));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
    }

    #[test]
    fn the_parents_rows_keep_their_places_and_the_new_rows_their_start() {
        let folder = tempfile::tempdir().unwrap();
        let checkpoint = folder.path().join("best.safetensors");
        // The parent: 2 words (+ unknown, padding), 2 categories.
        let parent = nn::VarStore::new(Device::Cpu);
        let root = parent.root();
        let _ = (root.clone() / "text" / "embedding").var_copy(
            "weight",
            &Tensor::from_slice(&[1f32, 2., 3., 4.]).reshape([4, 1]),
        );
        let _ = (root.clone() / "classify").var_copy("bias", &Tensor::from_slice(&[7f32, 8.]));
        let _ = (root.clone() / "word_bag").var_copy("idf", &Tensor::from_slice(&[5f32]));
        parent.save(&checkpoint).unwrap();

        // The child: 3 words, 3 categories, the library's own idf.
        let child = nn::VarStore::new(Device::Cpu);
        let root = child.root();
        let table = (root.clone() / "text" / "embedding").var_copy(
            "weight",
            &Tensor::full([5, 1], -1.0, (Kind::Float, Device::Cpu)),
        );
        let bias = (root.clone() / "classify").zeros("bias", &[3]);
        let idf = (root.clone() / "word_bag").var_copy("idf", &Tensor::from_slice(&[9f32]));
        let done = warm_start(&child, &checkpoint, (2, 3)).unwrap();
        assert_eq!(
            done,
            WarmStart {
                copied: 0,
                grown: 2
            }
        );
        assert_eq!(values(&table), [1., 2., -1., 3., 4.]);
        assert_eq!(values(&bias), [7., 8., 0.]);
        assert_eq!(values(&idf), [9.]);
    }

    #[test]
    fn a_variable_of_another_shape_names_itself() {
        let folder = tempfile::tempdir().unwrap();
        let checkpoint = folder.path().join("best.safetensors");
        let parent = nn::VarStore::new(Device::Cpu);
        let _ = parent.root().zeros("embed", &[4, 2]);
        parent.save(&checkpoint).unwrap();
        let child = nn::VarStore::new(Device::Cpu);
        let _ = child.root().zeros("embed", &[4, 3]);
        let error = warm_start(&child, &checkpoint, (0, 0))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("embed is [4, 2] there and [4, 3] here"),
            "{error}"
        );
    }
}
