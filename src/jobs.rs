//! Long work and how it reports: one [`Progress`] type and one cancel flag
//! ([`Cancel`]) that every long job takes, from the command line or the
//! window, and for the window a [`Job`]: a named thread, a bounded channel of
//! events and a repaint call so the UI wakes when something happens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::Instant;

/// Lowers the calling thread's scheduling priority to the lowest (nice 19
/// on Linux, which keeps it per thread): a training run in the window and the
/// word classifier's folds beside a run then give way at once to the
/// window's own threads and its queries on the same cores. At equal
/// priority, "more like this" over 100,000 books measured p99 7.9 ms beside
/// the demo library's training against 4.1 ms idle (`cargo bench --bench
/// recommend_query`). A thread whose priority cannot be changed goes on at
/// its own: it is only slower to give way.
pub fn lower_thread_priority() {
    let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
}

/// Keeps the calling thread, and the threads it starts from now on, off the
/// first core the process may use, when it may use more than one: the
/// window's training leaves that core to the window and its queries, rather
/// than sharing it at a low priority. A nice-19 thread still takes a whole
/// time slice of a core now and then (Linux's EEVDF scheduler lets the one
/// eligible thread run its slice out): with training at nice 19 alone, the
/// slowest queries beside it had each been switched out once and waited
/// about 4 ms for their core (`recommend_query`'s report of what the slowest
/// queries met). Returns whether the thread was moved.
pub fn leave_first_core_free() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        affinity::leave_first_core_free()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The pool the window's rayon work runs on: as many threads as the cores
/// the window leaves, each at the lowest priority and off the first core.
fn background_pool_builder() -> rayon::ThreadPoolBuilder {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(cores.saturating_sub(1).max(1))
        .thread_name(|index| format!("background-{index}"))
        .start_handler(|_| {
            lower_thread_priority();
            leave_first_core_free();
        })
}

/// Makes rayon's global pool the window's background pool (see
/// [`background_pool_builder`]): every rayon pass of the window's jobs (a
/// training run reading its corpus at its start, an import, a graph's build)
/// then gives way to the window and its queries. Without it, rayon's
/// threads ran at normal priority on every core, and queries beside a
/// training run still waited 3-4 ms for a core after the training thread
/// had left the first one (README, "What the slowest queries waited for").
/// For the window only: the command line's work keeps every core. Call
/// before any rayon work; false when the pool was already built.
pub fn make_rayon_background() -> bool {
    background_pool_builder().build_global().is_ok()
}

/// The calling thread's cores (Linux's `sched_getaffinity`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod affinity {
    /// The cores the calling thread may run on, in order.
    pub fn allowed_cores() -> Vec<usize> {
        // SAFETY: the set is zeroed, then filled by the kernel within its size.
        let set = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            set
        };
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: every core number is below the set's size.
            .filter(|&core| unsafe { libc::CPU_ISSET(core, &set) })
            .collect()
    }

    pub fn leave_first_core_free() -> bool {
        let cores = allowed_cores();
        if cores.len() < 2 {
            return false;
        }
        // SAFETY: the set is zeroed, filled with core numbers below its size
        // and read by the kernel within its size; pid 0 is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &core in &cores[1..] {
                libc::CPU_SET(core, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
}

/// How far a piece of long work is: `done` of `total` units (books, covers,
/// words, steps, iterations: the job says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

impl Progress {
    pub fn new(done: impl TryInto<u64>, total: impl TryInto<u64>) -> Self {
        Self {
            done: done.try_into().unwrap_or(u64::MAX),
            total: total.try_into().unwrap_or(u64::MAX),
        }
    }

    pub fn is_done(self) -> bool {
        self.done >= self.total
    }
}

/// The one progress callback shape of every long job.
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Sync);

/// The one cancel flag: set by Ctrl-C or a Cancel button, checked by the job
/// at its next checkpoint.
pub type Cancel = AtomicBool;

/// Whether the job was asked to stop.
pub fn is_cancelled(cancel: &Cancel) -> bool {
    cancel.load(Ordering::Relaxed)
}

/// Progress events beyond this many unread are dropped (the next one carries
/// the same information); final events always get through.
const EVENT_CAPACITY: usize = 64;

/// What a job reports.
#[derive(Debug)]
pub enum JobEvent<T> {
    Progress {
        done: u64,
        total: u64,
        message: String,
    },
    Finished(T),
    /// The job's error, with its sources (print it with `{:#}`).
    Failed(anyhow::Error),
}

/// The job's side: report progress, check for cancel.
pub struct JobContext<T> {
    sender: SyncSender<JobEvent<T>>,
    cancel: Arc<AtomicBool>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl<T> JobContext<T> {
    pub fn progress(&self, progress: Progress, message: impl Into<String>) {
        let event = JobEvent::Progress {
            done: progress.done,
            total: progress.total,
            message: message.into(),
        };
        match self.sender.try_send(event) {
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
        (self.repaint)();
    }

    pub fn cancel_flag(&self) -> &Cancel {
        &self.cancel
    }
}

/// The UI's side of a running job.
pub struct Job<T> {
    pub name: String,
    events: Receiver<JobEvent<T>>,
    cancel: Arc<AtomicBool>,
    pub started: Instant,
    pub done: u64,
    pub total: u64,
    pub message: String,
}

/// How a job ended, once it has.
#[derive(Debug)]
pub enum JobOutcome<T> {
    Finished(T),
    /// The job's error, with its sources (print it with `{:#}`).
    Failed(anyhow::Error),
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a named thread. `repaint` is called after each event.
    pub fn spawn(
        name: impl Into<String>,
        repaint: impl Fn() + Send + Sync + 'static,
        work: impl FnOnce(&JobContext<T>) -> anyhow::Result<T> + Send + 'static,
    ) -> Self {
        let name = name.into();
        let (sender, events) = sync_channel(EVENT_CAPACITY);
        let cancel = Arc::new(AtomicBool::new(false));
        let context = JobContext {
            sender,
            cancel: Arc::clone(&cancel),
            repaint: Arc::new(repaint),
        };
        let thread_name = format!("shelfwise-{name}");
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&context)));
                let event = match result {
                    Ok(Ok(value)) => JobEvent::Finished(value),
                    Ok(Err(error)) => JobEvent::Failed(error),
                    Err(panic) => JobEvent::Failed(anyhow::anyhow!(
                        "the job crashed: {}",
                        panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("unknown panic")
                    )),
                };
                // Blocking send: the final event must arrive even when progress filled the channel.
                let _ = context.sender.send(event);
                (context.repaint)();
            });
        let job = Self {
            name,
            events,
            cancel,
            started: Instant::now(),
            done: 0,
            total: 0,
            message: String::new(),
        };
        if let Err(error) = spawned {
            // Nothing runs; report it like any failure.
            let (sender, events) = sync_channel(1);
            let _ = sender.send(JobEvent::Failed(
                anyhow::Error::new(error).context("cannot start a thread"),
            ));
            return Self { events, ..job };
        }
        job
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelling(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Drains pending events into the progress fields; returns the outcome once the job has ended.
    pub fn poll(&mut self) -> Option<JobOutcome<T>> {
        loop {
            match self.events.try_recv() {
                Ok(JobEvent::Progress {
                    done,
                    total,
                    message,
                }) => {
                    self.done = done;
                    self.total = total;
                    self.message = message;
                }
                Ok(JobEvent::Finished(value)) => return Some(JobOutcome::Finished(value)),
                Ok(JobEvent::Failed(reason)) => return Some(JobOutcome::Failed(reason)),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    return Some(JobOutcome::Failed(anyhow::anyhow!(
                        "the job stopped without a result"
                    )));
                }
            }
        }
    }

    /// Share done, items per second and seconds left, for a progress line.
    pub fn rate_and_eta(&self) -> (f32, f64, Option<f64>) {
        let fraction = if self.total == 0 {
            0.0
        } else {
            self.done as f32 / self.total as f32
        };
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.done as f64 / elapsed;
        let eta = (rate > 0.0).then(|| (self.total.saturating_sub(self.done)) as f64 / rate);
        (fraction, rate, eta)
    }
}

/// The error with its causes, `: `-separated as anyhow's `{:#}` does, but
/// leaving out a cause the message before it already says (errors that print
/// their source and also return it from `source()`).
pub fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's nice value, from /proc (field 19 of its stat).
    #[cfg(target_os = "linux")]
    fn nice_of_this_thread() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    /// Background work runs at the lowest priority, and only the thread
    /// that asked for it does.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_lowered_thread_runs_at_the_lowest_priority_and_only_it() {
        let before = nice_of_this_thread();
        let lowered = std::thread::spawn(|| {
            lower_thread_priority();
            nice_of_this_thread()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, 19);
        assert_eq!(nice_of_this_thread(), before);
    }

    /// A thread a lowered thread starts runs as low (what keeps a training
    /// run's word-classifier folds, and a sweep's runs, below the window's
    /// threads without lowering the folds of a headless run).
    #[cfg(target_os = "linux")]
    #[test]
    fn threads_started_by_a_lowered_thread_are_lowered_too() {
        let inherited = std::thread::spawn(|| {
            lower_thread_priority();
            std::thread::scope(|scope| scope.spawn(nice_of_this_thread).join().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(inherited, 19);
    }

    /// Background work leaves the first core to the window, the threads it
    /// starts too, and only it: the window's own threads keep every core.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_thread_that_leaves_the_first_core_free_and_its_threads_stay_off_it() {
        let all = affinity::allowed_cores();
        let (moved, own, started) = std::thread::spawn(|| {
            let moved = leave_first_core_free();
            let own = affinity::allowed_cores();
            let started =
                std::thread::scope(|scope| scope.spawn(affinity::allowed_cores).join().unwrap());
            (moved, own, started)
        })
        .join()
        .unwrap();
        assert_eq!(affinity::allowed_cores(), all);
        if all.len() < 2 {
            assert!(!moved);
            assert_eq!(own, all);
        } else {
            assert!(moved);
            assert_eq!(own, all[1..]);
            assert_eq!(started, all[1..]);
        }
    }

    /// The window's rayon threads run as background work: the lowest
    /// priority, off the first core, one fewer than the cores.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_background_pools_threads_give_way_to_the_window() {
        let all = affinity::allowed_cores();
        let pool = background_pool_builder().build().unwrap();
        assert_eq!(
            pool.current_num_threads(),
            all.len().saturating_sub(1).max(1)
        );
        let seen = pool.broadcast(|_| (nice_of_this_thread(), affinity::allowed_cores()));
        for (nice, cores) in seen {
            assert_eq!(nice, 19);
            if all.len() >= 2 {
                assert_eq!(cores, all[1..]);
            }
        }
    }

    fn wait<T: Send + 'static>(job: &mut Job<T>) -> JobOutcome<T> {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(outcome) = job.poll() {
                return outcome;
            }
            assert!(Instant::now() < deadline, "job did not end");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn the_result_arrives_even_after_a_flood_of_progress() {
        let mut job = Job::spawn(
            "flood",
            || {},
            |ctx| {
                for i in 0..10_000 {
                    ctx.progress(Progress::new(i, 10_000), "");
                }
                Ok(42)
            },
        );
        assert!(matches!(wait(&mut job), JobOutcome::Finished(42)));
    }

    #[test]
    fn cancel_is_seen_by_the_job() {
        let mut job = Job::spawn(
            "cancel",
            || {},
            |ctx| {
                let start = Instant::now();
                while !ctx.cancel_flag().load(Ordering::Relaxed) {
                    anyhow::ensure!(start.elapsed().as_secs() < 10, "cancel never arrived");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Ok("stopped")
            },
        );
        job.cancel();
        assert!(matches!(wait(&mut job), JobOutcome::Finished("stopped")));
    }

    #[test]
    fn errors_and_panics_become_failures() {
        let mut failing: Job<()> = Job::spawn("fail", || {}, |_| anyhow::bail!("bad input"));
        assert!(
            matches!(wait(&mut failing), JobOutcome::Failed(reason) if reason.to_string() == "bad input")
        );
        let mut panicking: Job<()> = Job::spawn("panic", || {}, |_| panic!("boom"));
        assert!(
            matches!(wait(&mut panicking), JobOutcome::Failed(reason) if reason.to_string().contains("boom"))
        );
    }
}
