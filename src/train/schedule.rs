//! The learning rate along an epoch: constant, or lowered along a half cosine
//! to zero at the last epoch, so that the last epochs settle instead of wandering.

use super::TrainConfig;

/// The learning rate at `step_in_epoch` of `steps_in_epoch` in `epoch` (1-based).
pub(crate) fn learning_rate(
    config: &TrainConfig,
    epoch: usize,
    step_in_epoch: usize,
    steps_in_epoch: usize,
) -> f64 {
    if !config.cosine_schedule {
        return config.learning_rate;
    }
    let progress = ((epoch - 1) as f64 + step_in_epoch as f64 / steps_in_epoch.max(1) as f64)
        / config.epochs.max(1) as f64;
    config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cosine_starts_at_the_rate_halves_midway_and_keeps_falling() {
        let config = TrainConfig {
            epochs: 4,
            learning_rate: 0.01,
            cosine_schedule: true,
            ..TrainConfig::default()
        };
        assert!((learning_rate(&config, 1, 0, 10) - 0.01).abs() < 1e-12);
        assert!((learning_rate(&config, 3, 0, 10) - 0.005).abs() < 1e-12);
        assert!(learning_rate(&config, 4, 9, 10) < learning_rate(&config, 4, 0, 10));
        let flat = TrainConfig {
            cosine_schedule: false,
            ..config
        };
        assert_eq!(learning_rate(&flat, 4, 9, 10), 0.01);
    }
}
