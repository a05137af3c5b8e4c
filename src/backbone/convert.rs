//! A VGG16 checkpoint as torchvision writes it (a PyTorch `.pth`: the zip of
//! pickled tensors of PyTorch 1.6 and later, or the older pickle stream the
//! ImageNet file itself is in), or safetensors, or tch's `.ot`, reduced to the
//! 26 tensors of the trunk (`features.0.weight` ... `features.28.bias`), checked
//! name by name and shape by shape against full-width VGG16, without Python.

use std::collections::HashMap;
use std::path::Path;

use tch::{Kind, Tensor};

use super::BackboneError;
use crate::model::trunk::torchvision_parameter_shapes;
use crate::model::weights::{WeightsError, read_named_tensors};

/// The trunk's tensors read from `file`, in torchvision's order, as f32.
pub fn read_trunk_tensors(file: &Path) -> Result<Vec<(String, Tensor)>, BackboneError> {
    let named = read_named_tensors(file).map_err(|error| BackboneError::NotVgg16 {
        file: file.to_path_buf(),
        reason: match error {
            WeightsError::Read { source, .. } => format!("not a readable checkpoint: {source}"),
            WeightsError::Checkpoint { reason, .. } => {
                format!("not a readable PyTorch checkpoint: {reason}")
            }
            other => other.to_string(),
        },
    })?;
    select_trunk(file, named)
}

/// The trunk's 26 tensors out of `named`, which may nest them under a prefix
/// (`state_dict.`, `model.`, `module.`: whatever comes before `features.0.weight`).
fn select_trunk(
    file: &Path,
    mut by_name: HashMap<String, Tensor>,
) -> Result<Vec<(String, Tensor)>, BackboneError> {
    let first = "features.0.weight";
    let prefix = by_name
        .keys()
        .filter_map(|name| name.strip_suffix(first))
        .filter(|prefix| prefix.is_empty() || prefix.ends_with('.'))
        .min_by_key(|prefix| prefix.len())
        .map(str::to_string)
        .ok_or_else(|| BackboneError::NotVgg16 {
            file: file.to_path_buf(),
            reason: format!(
                "no tensor named {first} among its {} (a torchvision VGG16 checkpoint names its convolutions features.0 ... features.28)",
                by_name.len()
            ),
        })?;
    let mut trunk = Vec::new();
    for (name, shape) in torchvision_parameter_shapes() {
        let tensor =
            by_name
                .remove(&format!("{prefix}{name}"))
                .ok_or_else(|| BackboneError::NotVgg16 {
                    file: file.to_path_buf(),
                    reason: format!("no tensor named {prefix}{name}"),
                })?;
        if tensor.size() != shape {
            return Err(BackboneError::NotVgg16 {
                file: file.to_path_buf(),
                reason: format!(
                    "{prefix}{name} has shape {:?}, VGG16 has {shape:?} (is it another network, or a narrower VGG?)",
                    tensor.size()
                ),
            });
        }
        trunk.push((name, tensor.to_kind(Kind::Float).contiguous()));
    }
    Ok(trunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_trunk(prefix: &str) -> Vec<(String, Tensor)> {
        torchvision_parameter_shapes()
            .into_iter()
            .map(|(name, shape)| {
                (
                    format!("{prefix}{name}"),
                    Tensor::zeros(&shape, tch::kind::FLOAT_CPU),
                )
            })
            .collect()
    }

    #[test]
    fn the_trunk_is_found_under_a_prefix_and_other_tensors_are_left_out() {
        let mut named = full_trunk("state_dict.");
        named.push((
            "state_dict.classifier.6.bias".into(),
            Tensor::zeros([1000], tch::kind::FLOAT_CPU),
        ));
        let trunk = select_trunk(Path::new("x.pth"), named.into_iter().collect()).unwrap();
        assert_eq!(trunk.len(), 26);
        assert_eq!(trunk[0].0, "features.0.weight");
        assert_eq!(trunk[25].0, "features.28.bias");
    }

    #[test]
    fn a_missing_or_misshapen_tensor_is_refused_with_its_name() {
        let mut named = full_trunk("");
        named.retain(|(name, _)| name != "features.14.bias");
        let error = select_trunk(Path::new("x.pth"), named.into_iter().collect()).unwrap_err();
        assert!(error.to_string().contains("features.14.bias"), "{error}");

        let mut named = full_trunk("");
        named[0].1 = Tensor::zeros([32, 3, 3, 3], tch::kind::FLOAT_CPU);
        let error = select_trunk(Path::new("x.pth"), named.into_iter().collect()).unwrap_err();
        assert!(error.to_string().contains("[32, 3, 3, 3]"), "{error}");

        let error = select_trunk(Path::new("resnet.pth"), HashMap::new()).unwrap_err();
        assert!(error.to_string().contains("resnet.pth"), "{error}");
    }
}
