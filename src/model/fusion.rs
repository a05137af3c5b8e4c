//! Modality-weighted fusion (paper eq. 4), one scale: NIN (1x1 conv) maps the
//! cover map `C_s` to `k/2` channels, a linear layer maps the text feature `U_s`
//! to `k/2` values broadcast over the map's grid; the scalar descriptors
//! `S_c = sigmoid(w_c . pool(NIN(C_s)) + b_c)` and `S_u = sigmoid(w_u . NIN(U_s) + b_u)`
//! weigh them, normalised by `S_t = S_c + S_u`. A missing modality gets
//! descriptor 0, so the present one takes all the weight.
//!
//! The shares `S_c / S_t` and `S_u / S_t` are computed from the descriptors'
//! logarithms (`S_c / S_t = sigmoid(log S_c - log S_u)`), not by dividing by
//! `S_t + epsilon`: a gate driven far negative (`S_c` below the epsilon) gave
//! a lone cover a share of 0 instead of 1, and nothing downstream could learn
//! from it.

use tch::Tensor;
use tch::nn::{self, Module as _};

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
        let image_logit = self
            .image_gate
            .forward(&image.mean_dim([2i64, 3].as_slice(), false, None))
            .squeeze_dim(1);
        self.combine((image, image_logit), text, image_present, text_present)
    }

    /// [`Self::forward`] for rows none of which shows its cover (a typed
    /// description, a text-only run's steps, the alignment term's text
    /// pass), as one value per channel, `[batch, k]`: with `image_present` 0
    /// the cover's half is zeros with no share (and no gradient), and the
    /// words' half is the same at every place, so the map is flat in space
    /// and need not be built. A typed description's query spent most of its
    /// time on the full maps of its one row; training, on maps of a few
    /// hundred places that all hold the same values.
    pub fn flat_without_covers(&self, text: &Tensor, text_present: &Tensor) -> Fused {
        let rows = text.size()[0];
        let options = (text.kind(), text.device());
        let half = self.image_nin.ws.size()[0];
        let absent = Tensor::zeros([rows], options);
        let gated = self.gate_text(text, (&absent, &absent), text_present);
        let features = Tensor::cat(
            &[
                Tensor::zeros([rows, half], options),
                gated.text * gated.text_share.unsqueeze(-1),
            ],
            1,
        );
        Fused {
            features,
            image_weight: gated.image_weight,
            text_weight: gated.text_weight,
        }
    }

    /// The words' NIN vector, both gates' weights and the modalities' shares.
    fn gate_text(
        &self,
        text: &Tensor,
        (image_logit, image_present): (&Tensor, &Tensor),
        text_present: &Tensor,
    ) -> GatedText {
        let text = self.text_nin.forward(text);
        let text_logit = self.text_gate.forward(&text).squeeze_dim(1);
        let image_weight = image_logit.sigmoid() * image_present;
        let text_weight = text_logit.sigmoid() * text_present;
        let (image_share, text_share) =
            modality_shares(image_logit, &text_logit, image_present, text_present);
        GatedText {
            text,
            image_weight,
            text_weight,
            image_share,
            text_share,
        }
    }

    /// The fused map from the cover's NIN map and gate logit.
    fn combine(
        &self,
        (image, image_logit): (Tensor, Tensor),
        text: &Tensor,
        image_present: &Tensor,
        text_present: &Tensor,
    ) -> Fused {
        let GatedText {
            text,
            image_weight,
            text_weight,
            image_share,
            text_share,
        } = self.gate_text(text, (&image_logit, image_present), text_present);
        let as_map = |t: &Tensor| t.unsqueeze(-1).unsqueeze(-1).unsqueeze(-1);
        let (height, width) = (image.size()[2], image.size()[3]);
        let text_map = text
            .unsqueeze(-1)
            .unsqueeze(-1)
            .expand([-1, -1, height, width], false);
        let features = Tensor::cat(
            &[
                &image * as_map(&image_share),
                text_map * as_map(&text_share),
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

/// What the gates make of a batch's words and covers' presence.
struct GatedText {
    /// The words' NIN vector, `[batch, k / 2]`.
    text: Tensor,
    image_weight: Tensor,
    text_weight: Tensor,
    image_share: Tensor,
    text_share: Tensor,
}

/// `S_c / S_t` and `S_u / S_t` from the gates' logits and the 0/1 presence
/// flags: with both present `sigmoid(log S_c - log S_u)` and its complement
/// (log-sigmoids stay finite however far a gate saturates); one present gets
/// exactly 1; none present gives 0 to both.
fn modality_shares(
    image_logit: &Tensor,
    text_logit: &Tensor,
    image_present: &Tensor,
    text_present: &Tensor,
) -> (Tensor, Tensor) {
    let both = image_present * text_present;
    let log_ratio = image_logit.log_sigmoid() - text_logit.log_sigmoid();
    let image_share = &both * log_ratio.sigmoid() + image_present * (1.0 - text_present);
    let text_share = &both * (-log_ratio).sigmoid() + text_present * (1.0 - image_present);
    (image_share, text_share)
}
