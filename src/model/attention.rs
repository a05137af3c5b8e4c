//! The attention and residual module (paper eqs 2-3): channel weights
//! `q = sigmoid(d(v))` from the global descriptor `v` of C3 re-weight both `v`
//! and C3 residually (`v + q*v`, `C3 + q*C3`), letting a frozen trunk adapt to covers.

use tch::Tensor;
use tch::nn::{self, Module as _};

/// Hidden width of the MLP `d` is the channel count divided by this.
const REDUCTION: i64 = 4;

#[derive(Debug)]
pub struct AttentionResidual {
    squeeze: nn::Linear,
    excite: nn::Linear,
}

/// The module's outputs.
pub struct Attended {
    /// `C3 + q * C3`.
    pub c3: Tensor,
    /// `v + q * v`, `[batch, channels]`.
    pub descriptor: Tensor,
    /// `q`, `[batch, channels]`.
    pub weights: Tensor,
}

impl AttentionResidual {
    pub fn new(path: &nn::Path, channels: i64) -> Self {
        let hidden = (channels / REDUCTION).max(1);
        Self {
            squeeze: nn::linear(path / "squeeze", channels, hidden, Default::default()),
            excite: nn::linear(path / "excite", hidden, channels, Default::default()),
        }
    }

    pub fn forward(&self, c3: &Tensor) -> Attended {
        let v = c3.mean_dim([2i64, 3].as_slice(), false, None);
        let q = self
            .excite
            .forward(&self.squeeze.forward(&v).relu())
            .sigmoid();
        let q_map = q.unsqueeze(-1).unsqueeze(-1);
        Attended {
            c3: c3 + c3 * &q_map,
            descriptor: &v + &v * &q,
            weights: q,
        }
    }
}
