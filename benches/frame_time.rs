//! CPU time per frame of the window, headless (egui_kittest: logic, layout
//! and tessellation; no GPU): the Library grid with 10,000 books
//! scrolling, and the Projection scatter with 10,000 points under a moving
//! pointer. Prints p50 / p95 per view against the 16 ms of a 60 Hz frame.
//!
//! `cargo bench --bench frame_time` (BOOKS for another library size, FRAMES
//! to change the sample).

use std::time::Instant;

use egui_kittest::Harness;
use shelfwise::app::ShelfwiseApp;
use shelfwise::app::View;
use shelfwise::store::{BookId, Library, NewBook, StoredProjection};

const BUDGET_MS: f64 = 16.0;

fn percentile(times: &mut [f64], share: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    let at = ((times.len() as f64 * share).ceil() as usize).clamp(1, times.len()) - 1;
    times[at]
}

fn report(name: &str, times: &mut [f64]) {
    let (p50, p95) = (percentile(times, 0.5), percentile(times, 0.95));
    println!(
        "{name:<28} p50 {p50:6.2} ms  p95 {p95:6.2} ms  p95 / 16 ms budget = {:.2}",
        p95 / BUDGET_MS
    );
}

/// One frame as eframe runs it on the CPU: the app's logic and layout, then
/// tessellating what it drew into triangles (only the GPU upload is left out).
fn timed_frame(harness: &mut Harness<'_, ShelfwiseApp>) -> f64 {
    let started = Instant::now();
    harness.step();
    let shapes = harness.output().shapes.clone();
    let pixels_per_point = harness.output().pixels_per_point;
    let triangles = harness.ctx.tessellate(shapes, pixels_per_point);
    std::hint::black_box(triangles);
    started.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let setting = |name: &str, default: usize| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (frames, book_count) = (setting("FRAMES", 300), setting("BOOKS", 10_000));
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    let categories = ["Drama", "Poetry", "Horror", "Fantasy", "Travel", "History"];
    let started = std::time::Instant::now();
    let books: Vec<NewBook> = (0..book_count)
        .map(|index| NewBook {
            external_id: format!("book-{index:07}"),
            title: format!("Book {index:07}"),
            author: format!("Author {}", index % 97),
            synopsis: String::new(),
            category: categories[index % categories.len()].to_string(),
            language: None,
            cover: None,
        })
        .collect();
    library.upsert_books(&books, "generated").unwrap();
    drop(books);
    let ids: Vec<BookId> = library
        .book_summaries()
        .unwrap()
        .iter()
        .map(|b| b.book_id)
        .collect();
    drop(library);
    eprintln!(
        "frame_time: {book_count} books stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let dir = library_dir.path().to_path_buf();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 820.0))
        .build_eframe(move |cc| ShelfwiseApp::new(&cc.egui_ctx, dir, None, false));
    let started = std::time::Instant::now();
    harness.run();
    println!(
        "Window opened on {} books: first frames settled in {:.2} s",
        harness.state().library.books.len(),
        started.elapsed().as_secs_f64()
    );

    // The Library grid, scrolling down a little every frame.
    let mut times = Vec::with_capacity(frames);
    for frame in 0..frames {
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -40.0),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        harness.hover_at(egui::pos2(400.0 + (frame % 50) as f32, 400.0));
        times.push(timed_frame(&mut harness));
    }
    report(&format!("Library grid, {book_count} books"), &mut times);

    // The scatter: a point per book in six categories on a spiral.
    let points: Vec<f32> = (0..ids.len())
        .flat_map(|i| {
            let angle = i as f32 * 0.01;
            let radius = 1.0 + (i % 6) as f32 + (i as f32 * 0.37).sin() * 0.3;
            [radius * angle.cos(), radius * angle.sin()]
        })
        .collect();
    harness.state_mut().projection.projection = Some(StoredProjection {
        method: "pca".into(),
        settings: "{}".into(),
        book_ids: ids,
        points,
        trustworthiness: 1.0,
        neighbours: 10,
        seconds: 0.0,
    });
    harness.state_mut().view = View::Projection;
    harness.run();
    let mut times = Vec::with_capacity(frames);
    for frame in 0..frames {
        let t = frame as f32 / frames as f32;
        harness.hover_at(egui::pos2(
            200.0 + 800.0 * t,
            250.0 + 300.0 * (t * 12.0).sin().abs(),
        ));
        times.push(timed_frame(&mut harness));
    }
    report(&format!("Projection, {book_count} points"), &mut times);
}
