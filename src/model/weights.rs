//! Loading torchvision-named weights (VGG16's `features.N.weight`/`.bias`)
//! from a PyTorch checkpoint, a safetensors file or tch's `.ot`, and saying
//! plainly what was loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// Where the trunk's weights came from; recorded with every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "trunk", rename_all = "snake_case")]
pub enum TrunkProvenance {
    /// Random initialisation: no weights file was given.
    Random,
    /// Loaded from `file`; every trunk parameter was found with its shape.
    Pretrained {
        file: PathBuf,
        parameters: usize,
        /// What the weights are, when a library backbone's record says
        /// ("VGG16 pretrained on ImageNet (torchvision)").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
}

impl TrunkProvenance {
    /// The run table's word for it.
    pub fn short(&self) -> String {
        match self {
            TrunkProvenance::Random => "random".into(),
            TrunkProvenance::Pretrained {
                source: Some(source),
                ..
            } if source.contains("ImageNet") => "ImageNet".into(),
            TrunkProvenance::Pretrained { file, .. } => file
                .file_name()
                .map_or("weights file".into(), |n| n.to_string_lossy().into_owned()),
        }
    }
}

/// Why a weights file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        source: tch::TchError,
    },
    #[error("{file}: not a readable PyTorch checkpoint ({reason})")]
    Checkpoint { file: PathBuf, reason: String },
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

/// Reads every named floating-point tensor of a safetensors (`.safetensors`),
/// tch (`.ot`) or PyTorch (`.pth`, `.pt`, `.bin`: `torch.save`'s zip, or the
/// pre-1.6 pickle stream torchvision's ImageNet files are in) file.
pub fn read_named_tensors(file: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let read = match extension.as_str() {
        "safetensors" => Tensor::read_safetensors(file),
        "ot" => Tensor::load_multi(file),
        _ => return read_pytorch(file),
    };
    read.map(|tensors| tensors.into_iter().collect())
        .map_err(|source| WeightsError::Read {
            file: file.to_path_buf(),
            source,
        })
}

/// Every floating-point tensor of a PyTorch checkpoint, by its dotted name, as
/// f32, read by `pytorch-reader` (no Python).
fn read_pytorch(file: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    use pytorch_reader::{DType, PytorchReader};
    let unreadable = |reason: String| WeightsError::Checkpoint {
        file: file.to_path_buf(),
        reason,
    };
    let reader = PytorchReader::new(file).map_err(|e| unreadable(e.to_string()))?;
    let mut named = HashMap::new();
    for (name, tensor) in reader.tensors() {
        let kind = match tensor.dtype() {
            DType::F32 => Kind::Float,
            DType::F16 => Kind::Half,
            DType::BF16 => Kind::BFloat16,
            DType::F64 => Kind::Double,
            // Integer buffers (batch-norm counters); VGG16's trunk has none.
            _ => continue,
        };
        let bytes = tensor.read().map_err(|e| unreadable(e.to_string()))?;
        let shape: Vec<i64> = tensor.shape().iter().map(|&d| d as i64).collect();
        let values = Tensor::from_data_size(&bytes, &shape, kind).to_kind(Kind::Float);
        named.insert(name.clone(), values);
    }
    Ok(named)
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
        source: None,
    })
}
