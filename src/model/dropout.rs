//! Dropout masks drawn from a generator of the heads' own, not from
//! libtorch's one global generator: two runs training side by side (a sweep
//! on two cores) took their masks from that one generator in whatever order
//! their threads reached it, so neither run's figures could be had again
//! from its seed. The masks are libtorch's (`Tensor::dropout`,
//! `Tensor::feature_dropout`): each element, or whole channel, kept with
//! probability `1 - p` and scaled by `1 / (1 - p)`.

use std::sync::Mutex;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use tch::Tensor;

/// The generator one model's dropout masks are drawn from.
#[derive(Debug)]
pub struct DropoutDraws {
    rng: Mutex<SmallRng>,
}

impl DropoutDraws {
    /// Draws from `seed` until [`Self::reseed`]: heads are made with seed 0,
    /// and training reseeds them before its first step.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
        }
    }

    /// Starts the draws again from `seed`: training reseeds them at each
    /// epoch, so that a resumed run draws the masks the uninterrupted one
    /// would have.
    pub fn reseed(&self, seed: u64) {
        *self.rng.lock().unwrap_or_else(|p| p.into_inner()) = SmallRng::seed_from_u64(seed);
    }

    /// `input` with each element dropped with probability `p`.
    pub fn elements(&self, input: &Tensor, p: f64) -> Tensor {
        self.apply(input, p, input.size())
    }

    /// `input` (`[batch, channels, ...]`) with whole channels of each row
    /// dropped with probability `p`.
    pub fn channels(&self, input: &Tensor, p: f64) -> Tensor {
        let size = input.size();
        let mut shape = vec![1; size.len()];
        shape[..2.min(size.len())].copy_from_slice(&size[..2.min(size.len())]);
        self.apply(input, p, shape)
    }

    fn apply(&self, input: &Tensor, p: f64, shape: Vec<i64>) -> Tensor {
        if p <= 0.0 {
            return input.shallow_clone();
        }
        if p >= 1.0 {
            return input.zeros_like();
        }
        let count = shape.iter().product::<i64>().max(0) as usize;
        // An element is dropped when its 32 random bits fall below p x 2^32.
        let threshold = (p * 4_294_967_296.0) as u64;
        let kept = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            (0..count)
                .map(|_| {
                    if u64::from(rng.next_u32()) < threshold {
                        0.0
                    } else {
                        kept
                    }
                })
                .collect()
        };
        let mask = Tensor::from_slice(&mask)
            .view(shape.as_slice())
            .to_device(input.device())
            .to_kind(input.kind());
        input * mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn a_seed_draws_the_same_masks_whatever_the_global_generator_draws() {
        let input = Tensor::ones([40, 30], (Kind::Float, Device::Cpu));
        let draws = DropoutDraws::new(9);
        tch::manual_seed(1);
        let first = draws.elements(&input, 0.3);
        draws.reseed(9);
        // Another run drawing from libtorch's generator meanwhile.
        tch::manual_seed(2);
        let _ = input.dropout(0.5, true);
        let again = draws.elements(&input, 0.3);
        assert!(first.equal(&again));
        let other = DropoutDraws::new(10).elements(&input, 0.3);
        assert!(!first.equal(&other), "another seed drew the same mask");
    }

    #[test]
    fn masks_drop_about_p_and_scale_what_they_keep_as_libtorch_does() {
        let input = Tensor::ones([200, 100], (Kind::Float, Device::Cpu));
        let dropped = DropoutDraws::new(1).elements(&input, 0.3);
        let values = Vec::<f32>::try_from(dropped.flatten(0, -1)).unwrap();
        let zeros = values.iter().filter(|&&v| v == 0.0).count() as f64;
        assert!((zeros / values.len() as f64 - 0.3).abs() < 0.02, "{zeros}");
        let scale = 1.0 / 0.7f32;
        assert!(values.iter().all(|&v| v == 0.0 || (v - scale).abs() < 1e-6));
        // The mean is kept, as with `Tensor::dropout`.
        assert!((dropped.mean(Kind::Float).double_value(&[]) - 1.0).abs() < 0.03);
        assert!(DropoutDraws::new(1).elements(&input, 0.0).equal(&input));
    }

    #[test]
    fn channel_masks_drop_whole_channels_of_a_row() {
        let input = Tensor::ones([6, 50, 4, 4], (Kind::Float, Device::Cpu));
        let dropped = DropoutDraws::new(3).channels(&input, 0.5);
        assert_eq!(dropped.size(), [6, 50, 4, 4]);
        // Each channel of each row is all zeros or all kept.
        let per_channel = dropped.amax([2i64, 3].as_slice(), false);
        let least = dropped.amin([2i64, 3].as_slice(), false);
        assert!(per_channel.equal(&least));
        let zeros = per_channel.eq(0.0).sum(Kind::Int64).int64_value(&[]);
        assert!(
            (100..200).contains(&zeros),
            "{zeros} of 300 channels dropped"
        );
    }
}
