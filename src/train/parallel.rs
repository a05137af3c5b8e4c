//! A sweep with several runs training at once, for the command line, where
//! no window needs a core: on a 2-core machine a run on one core trains at
//! nearly the speed it has with both (its steps are too small to share
//! well), so two runs side by side, each on one core, take about half the
//! time of one after the other.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tch::Device;

use super::config::{SweepRequest, TrainConfig};
use super::sweep::{RunContext, SweepRun, fresh_run, run_sweep};
use super::{TrainError, TrainEvent};
use crate::embed::{FeatureCache, build_trunks, fill_cache_side_by_side};
use crate::jobs::{Cancel, Progress, is_cancelled};
use crate::store::{Library, Modalities, RunId};
use crate::text::Word2VecConfig;
use crate::text::corpus;

/// How a sweep shares the CPU: runs training at once, and libtorch's threads
/// for each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    pub runs: usize,
    pub threads_per_run: usize,
}

impl Parallelism {
    /// `runs` at once (0: two on a CPU with at least two cores, one on a
    /// GPU), sharing `cores` evenly; one run alone keeps a core free, as the
    /// window's training does (the reference the pipeline benchmark compares
    /// with).
    pub fn for_machine(runs: usize, cores: usize, device: Device) -> Self {
        let runs = match runs {
            0 if device == Device::Cpu && cores >= 2 => 2,
            0 => 1,
            runs => runs,
        };
        let threads_per_run = if runs == 1 {
            cores.saturating_sub(1)
        } else {
            cores / runs
        };
        Self {
            runs,
            threads_per_run: threads_per_run.max(1),
        }
    }
}

/// [`run_sweep`] with `parallelism.runs` runs training at once, each on its
/// own connections to the library and with `threads_per_run` of libtorch's
/// threads (it sets libtorch's thread count, which is the process's). The
/// word vectors and the cover cache, which every run reads, are made first
/// with all the cores (the cache with a worker a run), so that runs started
/// together do not make them twice.
/// The runs are created in the sweep's order; `on_event` hears the runs'
/// events as they come, interleaved. A run draws its dropout masks from a
/// generator of its own and keeps its thread count to its end (a run that
/// took a freed core for its last epochs summed in another order, and
/// which run that was depended on timing), so its figures are those it has
/// trained alone on as many threads, whatever trains beside it. The first
/// error stops handing out runs; the runs already training finish.
pub fn run_sweep_in_parallel(
    library_root: &Path,
    request: &SweepRequest,
    (device, parallelism): (Device, Parallelism),
    on_event: &(dyn Fn(RunId, &TrainEvent) + Sync),
    cancel: &Cancel,
) -> Result<Vec<SweepRun>, TrainError> {
    let configs = request.configs();
    let workers = parallelism.runs.min(configs.len());
    if workers <= 1 {
        tch::set_num_threads(parallelism.threads_per_run as i32);
        return run_sweep(
            library_root,
            request,
            device,
            &mut |run, event| on_event(run, event),
            cancel,
        );
    }
    request.validate()?;
    let reads_covers = configs.iter().any(|c| c.modalities != Modalities::Text);
    let cache_workers = reads_covers.then_some(workers);
    tch::set_num_threads(parallelism.threads_per_run as i32);
    prepare_shared(library_root, &request.base, (cache_workers, device), cancel)?;
    let mut recorder = Library::open(library_root)?;
    recorder.ensure_writable("training")?;
    let sweep_id = recorder.create_sweep()?;
    // The next setting, handed out with its run's row created under the lock
    // so that run numbers follow the sweep's order.
    let pending = Mutex::new((configs.into_iter(), recorder));
    let next_run = || -> Result<Option<(TrainConfig, RunId)>, TrainError> {
        let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
        let (configs, recorder) = &mut *pending;
        let Some(config) = configs.next() else {
            return Ok(None);
        };
        let stored = config.to_stored(library_root);
        let run_id =
            recorder.create_run(Some(sweep_id), config.beta, config.modalities, &stored)?;
        Ok(Some((config, run_id)))
    };
    let stopped = AtomicBool::new(false);
    let results = Mutex::new(Vec::new());
    let worker = || -> Result<(), TrainError> {
        let mut library = Library::open(library_root)?;
        let mut recorder = Library::open(library_root)?;
        while !stopped.load(Ordering::Relaxed) && !is_cancelled(cancel) {
            let Some((config, run_id)) = next_run()? else {
                break;
            };
            let context = RunContext {
                run_id,
                config: &config,
                device,
                cancel,
            };
            let mut hear = |run: RunId, event: &TrainEvent| on_event(run, event);
            let run = fresh_run(&mut library, &mut recorder, &context, &mut hear)?;
            results.lock().unwrap_or_else(|p| p.into_inner()).push(run);
        }
        Ok(())
    };
    let errors = on_threads(workers, &stopped, &worker);
    if let Some(error) = errors.into_iter().next() {
        return Err(error);
    }
    let mut runs = results.into_inner().unwrap_or_else(|p| p.into_inner());
    runs.sort_by_key(|run| run.run);
    Ok(runs)
}

/// Runs `worker` on `workers` threads and returns their errors; the first
/// one sets `stopped`, so that the others take no new run.
fn on_threads(
    workers: usize,
    stopped: &AtomicBool,
    worker: &(dyn Fn() -> Result<(), TrainError> + Sync),
) -> Vec<TrainError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let outcome = worker();
                    if outcome.is_err() {
                        stopped.store(true, Ordering::Relaxed);
                    }
                    outcome
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().expect("a sweep's worker panicked").err())
            .collect()
    })
}

/// The word vectors and (when a run reads covers: `cache_workers`) the
/// cover cache of `base`'s trunk, as a run's preparation would make them,
/// with a worker for each run that will train at once.
fn prepare_shared(
    library_root: &Path,
    base: &TrainConfig,
    (cache_workers, device): (Option<usize>, Device),
    cancel: &Cancel,
) -> Result<(), TrainError> {
    let mut library = Library::open(library_root)?;
    let text = corpus::library_corpus(&mut library)?;
    corpus::vectors_for_corpus(
        &mut library,
        &text,
        &Word2VecConfig::default(),
        &|_: Progress| {},
        cancel,
    )?;
    let Some(workers) = cache_workers else {
        return Ok(());
    };
    let (trunks, _) = build_trunks(&base.trunk, device, workers)?;
    let channels = trunks[0].scale_channels;
    let cache = FeatureCache::for_settings(library.root(), &base.trunk, channels)?;
    fill_cache_side_by_side(
        &library,
        trunks,
        &cache,
        &base.trunk,
        device,
        &|_: Progress| {},
        cancel,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_at_once_on_a_cpu_with_two_cores_one_on_a_gpu() {
        let cpu = Parallelism::for_machine(0, 2, Device::Cpu);
        assert_eq!(
            cpu,
            Parallelism {
                runs: 2,
                threads_per_run: 1
            }
        );
        let wide = Parallelism::for_machine(0, 16, Device::Cpu);
        assert_eq!(
            wide,
            Parallelism {
                runs: 2,
                threads_per_run: 8
            }
        );
        assert_eq!(Parallelism::for_machine(0, 1, Device::Cpu).runs, 1);
        assert_eq!(Parallelism::for_machine(0, 16, Device::Cuda(0)).runs, 1);
        let one_at_a_time = Parallelism::for_machine(1, 2, Device::Cpu);
        assert_eq!(
            one_at_a_time,
            Parallelism {
                runs: 1,
                threads_per_run: 1
            }
        );
    }
}
