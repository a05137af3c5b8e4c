//! Max-pooling for the heads, by `max` rather than `amax`: the same values
//! and, without ties, the same gradient, at a fraction of its cost.
//! `amax`'s backward pass compares the whole input with the maximum, casts
//! the comparison, counts the ties and divides (10.7% of an
//! openlibrary_covers5 fused step on one core, in `perf`); `max`'s scatters
//! the gradient into the one place that held the maximum. On a tie, `amax`
//! shares the gradient among the tied places and `max` gives it to one.

use tch::Tensor;

/// The maximum over `dim`, kept as a dimension of size 1 when `keepdim`.
pub fn max_over(xs: &Tensor, dim: i64, keepdim: bool) -> Tensor {
    xs.max_dim(dim, keepdim).0
}

/// The maximum over each map of `[batch, channels, H, W]`: `[batch, channels]`.
pub fn spatial_max(maps: &Tensor) -> Tensor {
    max_over(&maps.flatten(2, -1), 2, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Values and gradients are `amax`'s on an input without ties.
    fn same_as_amax(pooled: impl Fn(&Tensor) -> Tensor, dims: &[i64], keepdim: bool) {
        let input = Tensor::randn([3, 5, 4, 4], (Kind::Float, Device::Cpu));
        let ours = input.copy().set_requires_grad(true);
        let theirs = input.copy().set_requires_grad(true);
        let weights = |out: &Tensor| Tensor::randn(out.size(), (Kind::Float, Device::Cpu));
        let expected = theirs.amax(dims, keepdim);
        let got = pooled(&ours);
        assert_eq!(got.size(), expected.size());
        assert!(got.allclose(&expected, 0.0, 0.0, false));
        let upstream = weights(&got);
        (&got * &upstream).sum(Kind::Float).backward();
        (&expected * &upstream).sum(Kind::Float).backward();
        assert!(ours.grad().allclose(&theirs.grad(), 1e-6, 1e-6, false));
    }

    #[test]
    fn max_over_a_dimension_is_amax_with_its_gradient() {
        same_as_amax(|xs| max_over(xs, 1, true), &[1], true);
        same_as_amax(|xs| max_over(xs, 2, false), &[2], false);
    }

    #[test]
    fn spatial_max_is_amax_over_the_map_with_its_gradient() {
        same_as_amax(spatial_max, &[2, 3], false);
    }
}
