//! AdamW as libtorch's `torch::optim::AdamW` computes it (decoupled weight
//! decay, bias-corrected moments, no AMSGrad), with each parameter's update
//! done in one pass on the CPU.
//!
//! libtorch's step makes about ten passes over every parameter (the decay,
//! each moment's scale and add, a square root, two divisions, the update),
//! each a kernel of its own. At the CPU defaults a run trains 9.5 million
//! weights, most of them the word bag path's table, and those passes were
//! about a quarter of a fused training step on openlibrary_covers5 (`perf`
//! on one run's epochs). The one-pass loop reads each weight, its gradient
//! and its two moments once. On other devices (CUDA) the step is the same
//! formula in tensor operations.

use std::sync::{Arc, Mutex};

use tch::nn::{self, OptimizerConfig as _, VarStore, Variables};
use tch::{Device, Kind, Tensor};

/// libtorch's AdamW defaults, as `tch::nn::AdamW::default()` has them.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// One trainable variable's moments and its step count.
struct Moments {
    mean: Tensor,
    square: Tensor,
    step: i32,
}

/// AdamW over a variable store's trainable variables, each group at its own
/// learning rate.
pub struct AdamW {
    variables: Arc<Mutex<Variables>>,
    /// Learning rate of each group (`nn::Path::set_group`).
    rates: Vec<f64>,
    weight_decay: f64,
    /// Per trainable variable, in the store's order; `None` until its first
    /// gradient.
    moments: Vec<Option<Moments>>,
    /// Clears the gradients the way libtorch's optimizers do (the gradient
    /// tensors are dropped, so the next backward pass writes fresh ones in
    /// place of adding into zeros); it never steps.
    clearer: nn::Optimizer,
}

impl AdamW {
    pub fn new(store: &VarStore, rate: f64, weight_decay: f64) -> Result<Self, tch::TchError> {
        Ok(Self {
            variables: store.variables_.clone(),
            rates: vec![rate],
            weight_decay,
            moments: Vec::new(),
            clearer: nn::Sgd::default().build(store, 0.0)?,
        })
    }

    /// Sets every group's learning rate.
    pub fn set_lr(&mut self, rate: f64) {
        self.rates.iter_mut().for_each(|r| *r = rate);
    }

    /// Sets one group's learning rate.
    pub fn set_lr_group(&mut self, group: usize, rate: f64) {
        if self.rates.len() <= group {
            let last = self.rates.last().copied().unwrap_or(rate);
            self.rates.resize(group + 1, last);
        }
        self.rates[group] = rate;
    }

    /// Clears the gradients, back-propagates `loss` and takes a step.
    pub fn backward_step(&mut self, loss: &Tensor) {
        self.clearer.zero_grad();
        loss.backward();
        self.step();
    }

    /// One step on every trainable variable that has a gradient.
    pub fn step(&mut self) {
        let variables = self.variables.lock().unwrap_or_else(|e| e.into_inner());
        let trainable = &variables.trainable_variables;
        if self.moments.len() < trainable.len() {
            self.moments.resize_with(trainable.len(), || None);
        }
        tch::no_grad(|| {
            for (variable, moments) in trainable.iter().zip(&mut self.moments) {
                let gradient = variable.tensor.grad();
                if !gradient.defined() {
                    continue;
                }
                let moments = moments.get_or_insert_with(|| Moments {
                    mean: variable.tensor.zeros_like(),
                    square: variable.tensor.zeros_like(),
                    step: 0,
                });
                moments.step += 1;
                let rate = self
                    .rates
                    .get(variable.group)
                    .or(self.rates.last())
                    .copied()
                    .unwrap_or(0.0);
                let settings = Settings::new(rate, self.weight_decay, moments.step);
                let mut parameter = variable.tensor.shallow_clone();
                if one_pass_applies(&[&parameter, &gradient, &moments.mean, &moments.square]) {
                    one_pass(&settings, &parameter, &gradient, moments);
                } else {
                    in_operations(&settings, &mut parameter, &gradient, moments);
                }
            }
        });
    }
}

/// A step's constants.
struct Settings {
    /// 1 - rate x weight decay.
    decay: f64,
    /// rate / (1 - beta1^step).
    step_size: f64,
    /// sqrt(1 - beta2^step).
    second_correction: f64,
}

impl Settings {
    fn new(rate: f64, weight_decay: f64, step: i32) -> Self {
        Self {
            decay: 1.0 - rate * weight_decay,
            step_size: rate / (1.0 - BETA1.powi(step)),
            second_correction: (1.0 - BETA2.powi(step)).sqrt(),
        }
    }
}

/// Whether every tensor is a contiguous float tensor in the CPU's memory,
/// which the one-pass loop reads directly.
fn one_pass_applies(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous())
        && tensors.windows(2).all(|w| w[0].numel() == w[1].numel())
}

/// The step, weight by weight, in one pass.
#[allow(unsafe_code)]
fn one_pass(settings: &Settings, parameter: &Tensor, gradient: &Tensor, moments: &Moments) {
    let len = parameter.numel();
    // SAFETY: the four tensors are contiguous `f32` CPU tensors of `len`
    // elements (`one_pass_applies`), each its own allocation (the moments
    // were made by `zeros_like`, the gradient by autograd), and nothing else
    // touches them during the step: the training thread owns them.
    let (weights, gradients, means, squares) = unsafe {
        (
            std::slice::from_raw_parts_mut(parameter.data_ptr().cast::<f32>(), len),
            std::slice::from_raw_parts(gradient.data_ptr().cast::<f32>(), len),
            std::slice::from_raw_parts_mut(moments.mean.data_ptr().cast::<f32>(), len),
            std::slice::from_raw_parts_mut(moments.square.data_ptr().cast::<f32>(), len),
        )
    };
    let decay = settings.decay as f32;
    let step_size = settings.step_size as f32;
    let second_correction = settings.second_correction as f32;
    let (beta1, beta2, epsilon) = (BETA1 as f32, BETA2 as f32, EPSILON as f32);
    for (((weight, &gradient), mean), square) in weights
        .iter_mut()
        .zip(gradients)
        .zip(means.iter_mut())
        .zip(squares.iter_mut())
    {
        *mean = *mean * beta1 + gradient * (1.0 - beta1);
        *square = *square * beta2 + gradient * gradient * (1.0 - beta2);
        let denominator = square.sqrt() / second_correction + epsilon;
        *weight = *weight * decay - step_size * *mean / denominator;
    }
}

/// The same step in tensor operations (libtorch's own), for tensors the
/// loop cannot read: those on a GPU.
fn in_operations(
    settings: &Settings,
    parameter: &mut Tensor,
    gradient: &Tensor,
    moments: &mut Moments,
) {
    let _ = parameter.g_mul_scalar_(settings.decay);
    let _ = moments.mean.lerp_(gradient, 1.0 - BETA1);
    let _ = moments
        .square
        .g_mul_scalar_(BETA2)
        .addcmul_(&(gradient * (1.0 - BETA2)), gradient);
    let mut denominator = moments.square.sqrt();
    let _ = denominator
        .g_div_scalar_(settings.second_correction)
        .g_add_scalar_(EPSILON);
    let _ = parameter.addcdiv_(&(&moments.mean * -settings.step_size), &denominator);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of two groups, trained a few steps by this AdamW and by
    /// tch's (libtorch's), from the same start on the same losses.
    fn trained(use_ours: bool, device: Device) -> Vec<Vec<f32>> {
        tch::manual_seed(7);
        let store = VarStore::new(device);
        let root = store.root();
        let a = root.randn("a", &[5, 3], 0.0, 1.0);
        let b = root.set_group(1).randn("b", &[4], 0.0, 1.0);
        let target = Tensor::randn([5, 3], (Kind::Float, device));
        let loss = || (&a - &target).square().sum(Kind::Float) + (&b * 3.0).sin().sum(Kind::Float);
        if use_ours {
            let mut optimizer = AdamW::new(&store, 0.1, 0.01).unwrap();
            for step in 0..6 {
                optimizer.set_lr(0.1 / f64::from(step + 1));
                optimizer.set_lr_group(1, 0.02);
                optimizer.backward_step(&loss());
            }
        } else {
            let mut optimizer = nn::AdamW {
                wd: 0.01,
                ..Default::default()
            }
            .build(&store, 0.1)
            .unwrap();
            for step in 0..6 {
                optimizer.set_lr(0.1 / f64::from(step + 1));
                optimizer.set_lr_group(1, 0.02);
                optimizer.backward_step(&loss());
            }
        }
        [a, b]
            .iter()
            .map(|t| Vec::<f32>::try_from(t.to_device(Device::Cpu).view([-1])).unwrap())
            .collect()
    }

    fn assert_close(ours: &[Vec<f32>], theirs: &[Vec<f32>]) {
        for (x, y) in ours.iter().flatten().zip(theirs.iter().flatten()) {
            assert!((x - y).abs() < 1e-5, "{x} against libtorch's {y}");
        }
    }

    #[test]
    fn one_pass_steps_as_libtorch_adamw_does() {
        assert_close(&trained(true, Device::Cpu), &trained(false, Device::Cpu));
    }

    #[test]
    fn tensor_operations_step_as_libtorch_adamw_does() {
        tch::manual_seed(3);
        let parameter = Tensor::randn([6], (Kind::Float, Device::Cpu));
        let gradient = Tensor::randn([6], (Kind::Float, Device::Cpu));
        let moments = |p: &Tensor| Moments {
            mean: p.zeros_like(),
            square: p.zeros_like(),
            step: 0,
        };
        let (looped, mut operated) = (parameter.copy(), parameter.copy());
        let (looped_moments, mut operated_moments) = (moments(&parameter), moments(&parameter));
        for step in 1..=3 {
            let settings = Settings::new(0.05, 0.01, step);
            one_pass(&settings, &looped, &gradient, &looped_moments);
            in_operations(&settings, &mut operated, &gradient, &mut operated_moments);
        }
        assert!(looped.allclose(&operated, 1e-6, 1e-6, false));
        // The two round in their own order: they agree to float precision.
        assert!(
            looped_moments
                .square
                .allclose(&operated_moments.square, 1e-4, 1e-9, false)
        );
    }

    #[test]
    fn a_variable_without_gradient_is_left_alone() {
        let store = VarStore::new(Device::Cpu);
        let root = store.root();
        let used = root.ones("used", &[3]);
        let unused = root.ones("unused", &[3]);
        let mut optimizer = AdamW::new(&store, 0.1, 0.5).unwrap();
        optimizer.backward_step(&used.sum(Kind::Float));
        assert_eq!(Vec::<f32>::try_from(&unused).unwrap(), [1.0; 3]);
        assert!(
            Vec::<f32>::try_from(&used)
                .unwrap()
                .iter()
                .all(|&w| w < 1.0)
        );
    }
}
