//! "More like this" over a large library (100,000 books x 256 dimensions by
//! default): the index's answer (the approximate graph, from 20,000 books on)
//! against its exact search (one bfloat16 matrix-vector product with a top-K
//! heap) and a naive per-book loop that scores every book and sorts them
//! all, side by side on the same queries; first on an idle machine, then
//! while a training run of the demo library trains in the same process on
//! the cores the window gives it (as the window trains and queries at once).
//! Prints p50 / p99 per query, the graph's recall@10 against the exact
//! ranking, its build time and the process's peak memory; for whole queries
//! also the page faults and context switches the slowest ones met.
//!
//! The placements are synthetic but shaped like a trained run's: books
//! gather round one centre per category (30 of them), with noise. With
//! LIBRARY=<folder> (and RUN=<id>, else the newest finished run) they are that
//! run's placements of the library's books instead, and whole queries
//! ("more like this", a typed description, a reader:
//! `recommend::recommend`, explanations included) are timed too, alone and
//! as the window's query job asks them (its kept library, run and index
//! checked against the library first: `recommend::IndexCache`).
//!
//! `cargo bench --bench recommend_query` (BOOKS / DIM / QUERIES to change
//! the size; TRAINING=0 to skip the second half; SEARCH=0, with LIBRARY, to
//! time the whole queries alone, idle, as for a profile of them; KEEP_FREED=0
//! to let glibc unmap freed blocks at once, as the app does not;
//! TRAIN_EPOCHS=N for training runs of N epochs in place of the demo's 12;
//! FREE_CORE=0 to let the training and rayon's threads share the window's
//! first core, as they did before `jobs::leave_first_core_free` and
//! `jobs::make_rayon_background`; GRAPHS=<folder> to keep the
//! synthetic placements' graph there and load it from there the next time,
//! as a library's index does in its `graphs` folder).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use shelfwise::recommend::EmbeddingIndex;
use shelfwise::store::BookId;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(times: &mut [f64], share: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    let at = ((times.len() as f64 * share).ceil() as usize).clamp(1, times.len()) - 1;
    times[at]
}

/// The reference: one dot product per book in a plain loop, then a full sort.
fn naive(embeddings: &[f32], dim: usize, query: &[f32], k: usize, skip: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = embeddings
        .chunks_exact(dim)
        .enumerate()
        .filter(|(row, _)| *row != skip)
        .map(|(row, book)| (book.iter().zip(query).map(|(a, b)| a * b).sum(), row))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, row)| row).collect()
}

/// `books` placements round 30 category centres, L2-normalised.
fn clustered_embeddings(books: usize, dim: usize) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut uniform = move || rng.next_u32() as f32 / u32::MAX as f32 - 0.5;
    let centres: Vec<f32> = (0..30 * dim).map(|_| uniform()).collect();
    let mut embeddings = Vec::with_capacity(books * dim);
    for book in 0..books {
        let centre = &centres[(book % 30) * dim..][..dim];
        let row: Vec<f32> = centre.iter().map(|c| c + 0.6 * uniform()).collect();
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        embeddings.extend(row.iter().map(|v| v / norm));
    }
    embeddings
}

/// Per-query times (ms) of the index's answer and of its exact search, and
/// the graph's hits among the exact top 10.
struct Timings {
    answer: Vec<f64>,
    /// The graph's own search again, warm (its books in the caches).
    graph: Vec<f64>,
    /// Queries the graph found fewer than 10 books for (answered exactly).
    short: usize,
    exact: Vec<f64>,
    naive: Vec<f64>,
    hits: usize,
}

fn measure(index: &EmbeddingIndex, rows: &[usize], with_naive: bool) -> Timings {
    let mut timings = Timings {
        answer: Vec::new(),
        graph: Vec::new(),
        short: 0,
        exact: Vec::new(),
        naive: Vec::new(),
        hits: 0,
    };
    for &row in rows {
        let query = index.embedding(row).to_vec();
        let not_itself = |r: usize| r != row;
        // The answer first, as a query meets it (its books not yet in the
        // processor's caches), then the graph's own search, warm.
        let started = Instant::now();
        let found = index.nearest(&query, 10, &not_itself);
        timings.answer.push(started.elapsed().as_secs_f64() * 1e3);
        if let Some(graph) = index.graph() {
            let started = Instant::now();
            let rows = graph.search(&query, 10, &not_itself);
            timings.graph.push(started.elapsed().as_secs_f64() * 1e3);
            timings.short += usize::from(rows.len() < 10);
        }
        let started = Instant::now();
        let exact = index.exact_nearest(&query, 10, &not_itself);
        timings.exact.push(started.elapsed().as_secs_f64() * 1e3);
        if with_naive {
            let started = Instant::now();
            let expected = naive(&index.embeddings, index.dim, &query, 10, row);
            timings.naive.push(started.elapsed().as_secs_f64() * 1e3);
            let exact_rows: Vec<usize> = exact.iter().map(|r| r.0).collect();
            assert_eq!(exact_rows, expected, "exact search ranks as the naive loop");
        }
        timings.hits += found
            .iter()
            .filter(|(r, _)| exact.iter().any(|(e, _)| e == r))
            .count();
    }
    timings
}

fn report(label: &str, timings: &mut Timings, queries: usize) {
    println!("{label}");
    let line = |name: &str, times: &mut Vec<f64>| {
        if !times.is_empty() {
            println!(
                "  {name:<34} p50 {:7.2} ms  p99 {:7.2} ms",
                percentile(times, 0.5),
                percentile(times, 0.99)
            );
        }
    };
    line("index's answer:", &mut timings.answer);
    line("  the graph's search again, warm:", &mut timings.graph);
    line("exact (bf16 product + heap):", &mut timings.exact);
    line("naive per-book loop + sort:", &mut timings.naive);
    println!(
        "  recall@10 of the answer against exact: {:.4}; graph short of 10 books (answered exactly): {}",
        timings.hits as f64 / (10 * queries) as f64,
        timings.short
    );
}

/// Trains the demo library's fused run over and over on a thread, with the
/// libtorch threads the window gives training (all cores but one), until
/// `stop`; `started` is raised once its first step is done.
fn train_in_background(
    stop: Arc<AtomicBool>,
    started: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use shelfwise::app::train::TrainForm;
        use shelfwise::store::Library;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tch::set_num_threads(cores.saturating_sub(1).max(1) as i32);
        // As the window's training job does.
        shelfwise::jobs::lower_thread_priority();
        if setting("FREE_CORE", 1) == 1 {
            shelfwise::jobs::leave_first_core_free();
        }
        let folder = tempfile::tempdir().expect("a temporary folder");
        let mut library = Library::open(folder.path()).expect("a library");
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/books.csv");
        shelfwise::import::import_path(
            &mut library,
            &demo,
            shelfwise::import::ImportOptions::default(),
            &|_| {},
            &AtomicBool::new(false),
        )
        .expect("the demo library imports");
        let mut request = TrainForm::demo().request(None).expect("the demo settings");
        request.single_modal = false;
        let mut config = request.configs().remove(0);
        // TRAIN_EPOCHS=N: runs of N epochs, so that a run starts (and reads
        // its library on rayon's pool) less often than the demo's few seconds.
        config.epochs = setting("TRAIN_EPOCHS", config.epochs);
        while !stop.load(Ordering::Relaxed) {
            let _ = shelfwise::train::train_run(
                &mut library,
                &config,
                (tch::Device::Cpu, shelfwise::train::RunStart::Fresh),
                None,
                &mut |event| {
                    if matches!(event, shelfwise::train::TrainEvent::Step { .. }) {
                        started.store(true, Ordering::Relaxed);
                    }
                },
                &stop,
            );
        }
    })
}

fn peak_memory_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A library's run, its index and the queries a librarian would ask of it.
struct RealLibrary {
    library: shelfwise::store::Library,
    run: shelfwise::inference::TrainedRun,
    queries: Vec<shelfwise::recommend::Query>,
    /// The window's kept library, run and index (built before the timing).
    window: shelfwise::recommend::IndexCache,
    folder: std::path::PathBuf,
    run_id: shelfwise::store::RunId,
}

/// The run's index of `folder`'s books and whole queries to ask: "more like
/// this" of seeded random books, their titles as typed descriptions, readers.
fn real_library(folder: &str, queries: usize) -> (EmbeddingIndex, RealLibrary) {
    use shelfwise::recommend::Query;
    let mut library =
        shelfwise::store::Library::open(std::path::Path::new(folder)).expect("the library opens");
    let run_id = match std::env::var("RUN").ok().and_then(|r| r.parse().ok()) {
        Some(run) => shelfwise::store::RunId(run),
        None => shelfwise::train::list_runs(&mut library)
            .expect("the runs")
            .into_iter()
            .filter(|r| r.status == shelfwise::store::RunStatus::Finished)
            .map(|r| r.run_id)
            .max()
            .expect("a finished run"),
    };
    let run = shelfwise::inference::TrainedRun::load(&library, run_id, tch::Device::Cpu)
        .expect("the run loads");
    let started = Instant::now();
    let index =
        shelfwise::recommend::library_index(&mut library, &run, &|_| {}, &AtomicBool::new(false))
            .expect("the run's placements");
    println!(
        "run {} placements of {} books read (embedding any not stored) in {:.1} s",
        run_id.0,
        index.len(),
        started.elapsed().as_secs_f64()
    );
    let summaries = library.book_summaries().expect("the books");
    let readers = library.reader_ids().expect("the readers");
    let mut rng = SmallRng::seed_from_u64(3);
    let mut pick = |len: usize| rng.next_u32() as usize % len.max(1);
    let mut asked = Vec::new();
    for q in 0..queries {
        let book = &summaries[pick(summaries.len())];
        asked.push(match q % 3 {
            0 => Query::Like(book.external_id.clone()),
            1 => Query::Text(book.title.clone()),
            _ if !readers.is_empty() => Query::Reader(readers[pick(readers.len())].clone()),
            _ => Query::Like(book.external_id.clone()),
        });
    }
    // The window's query job keeps the library, run and index between
    // queries; the first query builds them.
    let folder = std::path::PathBuf::from(folder);
    let window = shelfwise::recommend::IndexCache::default();
    drop(
        window
            .prepare(
                &folder,
                run_id,
                &asked[0],
                |library| {
                    Ok(shelfwise::inference::TrainedRun::load(
                        library,
                        run_id,
                        tch::Device::Cpu,
                    )?)
                },
                &|_| {},
                &AtomicBool::new(false),
            )
            .expect("the window's index"),
    );
    (
        index,
        RealLibrary {
            library,
            run,
            queries: asked,
            window,
            folder,
            run_id,
        },
    )
}

impl RealLibrary {
    fn window_has_graph(&self) -> bool {
        self.window
            .prepare(
                &self.folder,
                self.run_id,
                &self.queries[0],
                |_| panic!("the kept run is current"),
                &|_| {},
                &AtomicBool::new(false),
            )
            .is_ok_and(|prepared| prepared.index().graph().is_some())
    }
}

/// Page faults (minor, major) and context switches (voluntary,
/// involuntary) of the calling thread so far (`getrusage(RUSAGE_THREAD)`),
/// and its time on a core and waiting for one, in microseconds
/// (`/proc/thread-self/schedstat`): what a slow query met that a quick one
/// did not. A query's time on neither (with no voluntary switch) is time
/// its virtual core was not running at all (the host's steal: this kernel's
/// scheduler clock leaves steal out of a thread's time on a core).
#[derive(Debug, Default, Clone, Copy)]
struct ThreadCounts([i64; 6]);

impl ThreadCounts {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    fn now() -> Self {
        // SAFETY: getrusage fills the zeroed struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
            usage
        };
        let [on_core, waited] = scheduled_micros();
        Self([
            usage.ru_minflt,
            usage.ru_majflt,
            usage.ru_nvcsw,
            usage.ru_nivcsw,
            on_core,
            waited,
        ])
    }

    /// Zeros where the thread's own counts are not at hand.
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn now() -> Self {
        Self::default()
    }

    fn since(self, before: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] - before.0[i]))
    }

    fn plus(self, other: Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] + other.0[i]))
    }
}

/// The calling thread's time on a core and waiting on a run queue so far,
/// in microseconds; zeros where the kernel does not say.
fn scheduled_micros() -> [i64; 2] {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = stat
        .split_whitespace()
        .map(|field| field.parse::<i64>().unwrap_or(0) / 1000);
    [fields.next().unwrap_or(0), fields.next().unwrap_or(0)]
}

impl std::fmt::Display for ThreadCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [minor, major, voluntary, involuntary, on_core, waited] = self.0;
        write!(
            f,
            "faults {minor}/{major}, switches {voluntary}/{involuntary}, on a core {:.2} ms, waiting for one {:.2} ms",
            on_core as f64 / 1e3,
            waited as f64 / 1e3
        )
    }
}

/// Each whole query's time (ms) by kind, as `recommend::recommend` answers it.
/// 0: "more like this", 1: a typed description, 2: a reader.
fn kind_of(query: &shelfwise::recommend::Query) -> usize {
    use shelfwise::recommend::Query;
    match query {
        Query::Like(_) => 0,
        Query::Text(_) => 1,
        _ => 2,
    }
}

/// Per query kind, what all its queries met and its four slowest queries,
/// each with what its thread met.
fn report_slowest(
    pass: &str,
    times: &[(&str, Vec<f64>); 3],
    costs: &mut [Vec<(f64, ThreadCounts)>; 3],
) {
    for ((name, _), costs) in times.iter().zip(costs.iter_mut()) {
        if costs.is_empty() {
            continue;
        }
        let total = costs
            .iter()
            .fold(ThreadCounts::default(), |sum, (_, c)| sum.plus(*c));
        costs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let over = costs.iter().filter(|(ms, _)| *ms >= 5.0).count();
        println!(
            "  {pass} {name}: all {} queries met {total}; {over} took 5 ms or more; the slowest:",
            costs.len()
        );
        for (ms, met) in costs.iter().take(4) {
            println!("    {ms:.2} ms: {met}");
        }
    }
}

fn measure_whole_queries(index: &EmbeddingIndex, real: &RealLibrary) {
    use shelfwise::recommend::{Query, RecommendOptions, recommend};
    let mut times: [(&str, Vec<f64>); 3] = [
        ("more like this", Vec::new()),
        ("typed description", Vec::new()),
        ("reader", Vec::new()),
    ];
    // The queries as the window's query job asks them, first (a query's
    // first reads of the database meet it): its kept library, run, index
    // and words checked against the library, then the answer.
    let mut window: [Vec<f64>; 3] = Default::default();
    let mut window_costs: [Vec<(f64, ThreadCounts)>; 3] = Default::default();
    for query in &real.queries {
        let before = ThreadCounts::now();
        let started = Instant::now();
        let prepared = real.window.prepare(
            &real.folder,
            real.run_id,
            query,
            |_| panic!("the kept run is current"),
            &|_| {},
            &AtomicBool::new(false),
        );
        let answered = prepared.and_then(|prepared| {
            recommend(
                prepared.library(),
                prepared.run(),
                prepared.index(),
                query,
                &RecommendOptions::default(),
            )
        });
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        let met = ThreadCounts::now().since(before);
        if answered.is_ok() {
            window[kind_of(query)].push(elapsed);
            window_costs[kind_of(query)].push((elapsed, met));
        }
    }
    // Each answered query's time with the page faults and context switches
    // its thread met, for the slowest ones' report below.
    let mut costs: [Vec<(f64, ThreadCounts)>; 3] = Default::default();
    for query in &real.queries {
        let before = ThreadCounts::now();
        let started = Instant::now();
        let answered = recommend(
            &real.library,
            &real.run,
            index,
            query,
            &RecommendOptions::default(),
        );
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        let met = ThreadCounts::now().since(before);
        let kind = kind_of(query);
        if answered.is_ok() {
            times[kind].1.push(elapsed);
            costs[kind].push((elapsed, met));
        }
    }
    report_slowest("the window's", &times, &mut window_costs);
    report_slowest("whole", &times, &mut costs);
    // The typed descriptions' tokens and pass of the text branch alone: the
    // part of a typed query that no kept data can spare.
    // And the search for the description's vector alone (a typed query's
    // vector is no book's, so the graph may walk further for it).
    let (mut text_branch, mut text_search): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for query in &real.queries {
        if let Query::Text(description) = query {
            let started = Instant::now();
            let tokens = real.run.query_tokens(description);
            let vector = std::hint::black_box(real.run.description_vector(&tokens));
            text_branch.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            std::hint::black_box(index.nearest(&vector, 10, &|_| true));
            text_search.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    for (name, times) in &mut times {
        if !times.is_empty() {
            println!(
                "  whole query, {name:<18} ({:>3}) p50 {:7.2} ms  p99 {:7.2} ms",
                times.len(),
                percentile(times, 0.5),
                percentile(times, 0.99)
            );
        }
    }
    for ((name, _), times) in times.iter().zip(&mut window) {
        if !times.is_empty() {
            println!(
                "  the window's query, {name:<18} ({:>3}) p50 {:7.2} ms  p99 {:7.2} ms",
                times.len(),
                percentile(times, 0.5),
                percentile(times, 0.99)
            );
        }
    }
    if !text_branch.is_empty() {
        println!(
            "  its tokens + text branch ({:>3}) p50 {:7.2} ms  p99 {:7.2} ms",
            text_branch.len(),
            percentile(&mut text_branch, 0.5),
            percentile(&mut text_branch, 0.99)
        );
        println!(
            "  its search alone         ({:>3}) p50 {:7.2} ms  p99 {:7.2} ms",
            text_search.len(),
            percentile(&mut text_search, 0.5),
            percentile(&mut text_search, 0.99)
        );
    }
}

fn main() {
    // As shelfwise's own `main` does: without it, the training thread's
    // step-sized blocks are mapped and unmapped at every step, which the app
    // never does (KEEP_FREED=0 to measure that anyway).
    if setting("KEEP_FREED", 1) == 1 {
        shelfwise::allocator::keep_freed_memory();
    }
    // As the window does: its rayon threads are background work.
    if setting("FREE_CORE", 1) == 1 {
        shelfwise::jobs::make_rayon_background();
    }
    let (books, dim, queries) = (
        setting("BOOKS", 100_000),
        setting("DIM", 256),
        setting("QUERIES", 300),
    );
    // The window's query jobs run libtorch on the threads it gives compute
    // (all cores but one, see `model::device`): so do these queries. With
    // libtorch's default (every core) and a training run on one of them, a
    // query's threads spun waiting for each other at every operation.
    let _ = shelfwise::model::device::Compute::default().device();
    let started = Instant::now();
    let (mut index, real) = match std::env::var("LIBRARY") {
        Ok(folder) => {
            let (index, real) = real_library(&folder, queries);
            (index, Some(real))
        }
        Err(_) => (
            EmbeddingIndex::with_graph_shelf(
                (0..books as i64).map(BookId).collect(),
                clustered_embeddings(books, dim),
                dim,
                vec![0.5; books],
                vec![0.5; books],
                std::env::var("GRAPHS").ok().map(|folder| {
                    shelfwise::recommend::graph_shelf::GraphShelf::new(folder.into(), true)
                }),
            ),
            None,
        ),
    };
    let (books, dim) = (index.len(), index.dim);
    let has_graph = index.wait_for_graph();
    if let Some(real) = &real {
        // The window's own index builds its graph on a thread too: until it
        // is built its queries are answered exactly (about 7 ms each).
        while has_graph && !real.window_has_graph() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!(
        "{books} books x {dim} dimensions, {queries} queries, top 10; index{} in {:.1} s; peak memory {:.0} MB",
        match index.graph() {
            Some(graph) if graph.was_loaded() => " built and graph loaded",
            Some(_) => " and graph built",
            None => " built (no graph: exact search)",
        },
        started.elapsed().as_secs_f64(),
        peak_memory_mb()
    );
    let mut rng = SmallRng::seed_from_u64(2);
    let rows: Vec<usize> = (0..queries)
        .map(|_| rng.next_u32() as usize % books)
        .collect();
    // Warm up (page in the matrix, start libtorch's threads).
    measure(&index, &rows[..5.min(rows.len())], false);
    if setting("SEARCH", 1) == 0 {
        if let Some(real) = &real {
            measure_whole_queries(&index, real);
        }
        return;
    }
    let mut idle = measure(&index, &rows, true);
    report("idle machine:", &mut idle, queries);
    if let Some(real) = &real {
        measure_whole_queries(&index, real);
    }
    println!(
        "  ratio naive / answer: p50 {:.1}x, p99 {:.1}x",
        percentile(&mut idle.naive, 0.5) / percentile(&mut idle.answer, 0.5),
        percentile(&mut idle.naive, 0.99) / percentile(&mut idle.answer, 0.99)
    );
    if setting("TRAINING", 1) == 0 {
        return;
    }
    let (stop, training) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let trainer = train_in_background(Arc::clone(&stop), Arc::clone(&training));
    while !training.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut busy = measure(&index, &rows, true);
    report(
        "while the demo library trains in this process:",
        &mut busy,
        queries,
    );
    if let Some(real) = &real {
        measure_whole_queries(&index, real);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = trainer.join();
}
