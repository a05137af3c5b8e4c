//! Modality-weighted fusion (paper eq. 4), one scale: NIN (1x1 conv) maps the
//! cover map `C_s` to `k/2` channels, a linear layer maps the text feature `U_s`
//! to `k/2` values broadcast over the map's grid; the scalar descriptors
//! `S_c = sigmoid(w_c . pool(NIN(C_s)) + b_c)` and `S_u = sigmoid(w_u . NIN(U_s) + b_u)`
//! weigh them, normalised by `S_t = S_c + S_u`. A missing modality gets
//! descriptor 0, so the present one takes all the weight.

use tch::Tensor;
use tch::nn::{self, Module as _};

/// Keeps `S_t` away from zero when both descriptors vanish.
const EPSILON: f64 = 1e-6;

#[derive(Debug)]
pub struct ModalityFusion {
    pub(crate) image_nin: nn::Conv2D,
    pub(crate) text_nin: nn::Linear,
    pub(crate) image_gate: nn::Linear,
    pub(crate) text_gate: nn::Linear,
}

/// The fused map with the descriptors that weighed it.
pub struct Fused {
    /// `L_s`, `[batch, k, H, W]`.
    pub features: Tensor,
    /// `S_c`, `[batch]`.
    pub image_weight: Tensor,
    /// `S_u`, `[batch]`.
    pub text_weight: Tensor,
}

impl ModalityFusion {
    /// `k` is the fused channel count (even).
    pub fn new(path: &nn::Path, image_channels: i64, text_features: i64, k: i64) -> Self {
        let half = k / 2;
        Self {
            image_nin: nn::conv2d(
                path / "image_nin",
                image_channels,
                half,
                1,
                Default::default(),
            ),
            text_nin: nn::linear(path / "text_nin", text_features, half, Default::default()),
            image_gate: nn::linear(path / "image_gate", half, 1, Default::default()),
            text_gate: nn::linear(path / "text_gate", half, 1, Default::default()),
        }
    }

    /// `image_present` / `text_present`: `[batch]` floats, 1 present, 0 missing.
    pub fn forward(
        &self,
        image_map: &Tensor,
        text: &Tensor,
        image_present: &Tensor,
        text_present: &Tensor,
    ) -> Fused {
        let image = self.image_nin.forward(image_map);
        let text = self.text_nin.forward(text);
        let image_weight = self
            .image_gate
            .forward(&image.mean_dim([2i64, 3].as_slice(), false, None))
            .sigmoid()
            .squeeze_dim(1)
            * image_present;
        let text_weight = self.text_gate.forward(&text).sigmoid().squeeze_dim(1) * text_present;
        let total = &image_weight + &text_weight + EPSILON;
        let as_map = |t: &Tensor| t.unsqueeze(-1).unsqueeze(-1).unsqueeze(-1);
        let (height, width) = (image.size()[2], image.size()[3]);
        let text_map = text
            .unsqueeze(-1)
            .unsqueeze(-1)
            .expand([-1, -1, height, width], false);
        let features = Tensor::cat(
            &[
                &image * as_map(&(&image_weight / &total)),
                text_map * as_map(&(&text_weight / &total)),
            ],
            1,
        );
        Fused {
            features,
            image_weight,
            text_weight,
        }
    }
}
