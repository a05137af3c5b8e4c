//! Loading torchvision-named weights (VGG16's `features.N.weight`/`.bias`)
//! from a safetensors file or tch's `.ot`, and saying plainly what was loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

/// Where the trunk's weights came from; recorded with every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "trunk", rename_all = "snake_case")]
pub enum TrunkProvenance {
    /// Random initialisation: no weights file was given.
    Random,
    /// Loaded from `file`; every trunk parameter was found with its shape.
    Pretrained { file: PathBuf, parameters: usize },
}

/// Why a weights file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        source: tch::TchError,
    },
    #[error(
        "{file}: no tensor named {name} (a torchvision VGG16 file names its convolutions features.0 ... features.28)"
    )]
    Missing { file: PathBuf, name: String },
    #[error(
        "{file}: {name} has shape {found:?}, the model needs {expected:?} (is the width multiplier 1?)"
    )]
    Shape {
        file: PathBuf,
        name: String,
        found: Vec<i64>,
        expected: Vec<i64>,
    },
}

/// Reads every named tensor of a safetensors (`.safetensors`) or tch (`.ot`) file.
pub fn read_named_tensors(file: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    let read = match file.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Tensor::read_safetensors(file),
        _ => Tensor::load_multi(file),
    };
    read.map(|tensors| tensors.into_iter().collect())
        .map_err(|source| WeightsError::Read {
            file: file.to_path_buf(),
            source,
        })
}

/// Copies the tensors named `names` from `file` into the same-named variables
/// of `store`. All or nothing: any missing name or wrong shape is an error and
/// nothing is copied.
pub fn load_by_name(
    store: &nn::VarStore,
    file: &Path,
    names: &[String],
) -> Result<TrunkProvenance, WeightsError> {
    let tensors = read_named_tensors(file)?;
    let variables = store.variables();
    let mut pairs = Vec::with_capacity(names.len());
    for name in names {
        let source = tensors.get(name).ok_or_else(|| WeightsError::Missing {
            file: file.to_path_buf(),
            name: name.clone(),
        })?;
        let target = variables.get(name).ok_or_else(|| WeightsError::Missing {
            file: PathBuf::from("(model)"),
            name: name.clone(),
        })?;
        if source.size() != target.size() {
            return Err(WeightsError::Shape {
                file: file.to_path_buf(),
                name: name.clone(),
                found: source.size(),
                expected: target.size(),
            });
        }
        pairs.push((source, target));
    }
    tch::no_grad(|| {
        for (source, target) in &pairs {
            target.shallow_clone().copy_(source);
        }
    });
    Ok(TrunkProvenance::Pretrained {
        file: file.to_path_buf(),
        parameters: pairs.len(),
    })
}
