//! Where the model runs, chosen without naming a tch type: the window and the
//! command line say what they prefer, and the modules that compute turn it
//! into a libtorch device (setting its CPU threads on the way).

use serde::{Deserialize, Serialize};
use tch::Device;

/// Where long work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else the CPU with one core left free.
    Auto,
    Cpu,
}

/// A device choice and libtorch's CPU threads (0: all cores but one, so the
/// window keeps one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compute {
    pub choice: DeviceChoice,
    pub threads: usize,
}

impl Default for Compute {
    fn default() -> Self {
        Self {
            choice: DeviceChoice::Auto,
            threads: 0,
        }
    }
}

impl Compute {
    /// The libtorch device, with the CPU threads set.
    pub fn device(self) -> Device {
        let device = match self.choice {
            DeviceChoice::Auto => Device::cuda_if_available(),
            DeviceChoice::Cpu => Device::Cpu,
        };
        let threads = if self.threads > 0 {
            self.threads
        } else {
            all_cores().saturating_sub(1).max(1)
        };
        if device == Device::Cpu || self.threads > 0 {
            tch::set_num_threads(threads as i32);
        }
        device
    }

    /// What this machine computes on, for `shelfwise info`.
    pub fn describe(self) -> (String, i64) {
        (
            format!("{:?}", Device::cuda_if_available()),
            tch::Cuda::device_count(),
        )
    }
}

/// The device training uses: CUDA when libtorch sees a GPU, else the CPU with
/// one core left free for the window.
pub fn training_device() -> Device {
    Compute::default().device()
}

/// The device a command with no window computes on (`eval`, `recommend`,
/// `embeddings`): CUDA when libtorch sees a GPU, else every core, since no
/// window needs one. On a 2-core machine a fused run's `eval` took 6.6 s on
/// both cores against 7.9-8.6 s on the one thread [`training_device`] leaves
/// it, with byte-identical output.
pub fn headless_device() -> Device {
    Compute {
        choice: DeviceChoice::Auto,
        threads: all_cores(),
    }
    .device()
}

/// The machine's cores as the standard library counts them (1 when it cannot
/// tell).
fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    /// A libtorch built with CUDA has its CUDA library loaded in shelfwise's
    /// binaries (the linker used to drop it, and a GPU was never used).
    #[test]
    fn libtorchs_cuda_library_is_loaded_when_libtorch_has_one() {
        let lib = std::path::Path::new(env!("SHELFWISE_LIBTORCH_LIB"));
        if !lib.join("libtorch_cuda.so").exists() {
            eprintln!("skipped: this libtorch has no CUDA library");
            return;
        }
        // Touch libtorch, so that it is loaded at all.
        let _ = tch::Cuda::is_available();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(
            maps.contains("libtorch_cuda.so"),
            "libtorch_cuda.so is not loaded"
        );
    }
}
