//! The workbench driven headless with egui_kittest, asserting on what is on
//! screen: a sweep started from the Train view draws a curve per run that
//! grows, and stops when asked; after a finished sweep, the Attention view
//! shows a book's heatmap, a click on the projection lands on the book, and
//! the Recommend view lists explained suggestions.

mod common;

use std::time::{Duration, Instant};

use egui::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use shelfwise::app::ShelfwiseApp;
use shelfwise::app::TrainForm;
use shelfwise::store::Library;

fn library() -> (tempfile::TempDir, tempfile::TempDir) {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 40, 10, |i| format!("Book {i:02}"));
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    common::import(&mut library, &csv);
    (library_dir, source)
}

fn harness(library_dir: &std::path::Path) -> Harness<'static, ShelfwiseApp> {
    let dir = library_dir.to_path_buf();
    Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        // Thumbnails load on egui_extras' loader threads; a frame waits for
        // them for a few steps, more on a loaded machine.
        .with_max_steps(24)
        .build_eframe(move |cc| ShelfwiseApp::new(&cc.egui_ctx, dir, None, false))
}

/// A sweep small enough for a test: tiny covers, a thin trunk.
fn tiny_form(epochs: usize) -> TrainForm {
    TrainForm {
        betas: "0.3".into(),
        seeds: "1".into(),
        single_modal: true,
        epochs,
        categories_per_batch: 4,
        books_per_category: 4,
        learning_rate: 3e-3,
        max_words: 200,
        image_only_epochs: 0,
        image_size: 32,
        width: 0.125,
        train_block5: false,
    }
}

/// Steps frames until a label containing `needle` is on screen; returns it.
fn wait_for_text(harness: &mut Harness<'_, ShelfwiseApp>, needle: &str, seconds: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        harness.step();
        if let Some(found) = harness
            .query_all_by_role(Role::Label)
            .filter_map(|node| node.accesskit_node().value())
            .find(|label| label.contains(needle))
        {
            return found;
        }
        if Instant::now() >= deadline {
            let labels: Vec<String> = harness
                .query_all_by_role(Role::Label)
                .filter_map(|node| node.accesskit_node().value())
                .collect();
            panic!("`{needle}` never appeared; on screen: {labels:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The step count a run's line under the plots shows, e.g. "run 1: fused, β 0.3: 12 steps, ...".
fn steps_shown(harness: &Harness<'_, ShelfwiseApp>, run: &str) -> Option<usize> {
    harness
        .query_all_by_role(Role::Label)
        .filter_map(|node| node.accesskit_node().value())
        .find(|label| label.starts_with(run) && label.contains(" steps"))
        .and_then(|label| {
            let before = label.split(" steps").next()?;
            before.rsplit(' ').next()?.parse().ok()
        })
}

#[test]
fn a_sweep_started_from_the_train_view_draws_growing_curves_and_stops() {
    let (library_dir, _source) = library();
    let mut harness = harness(library_dir.path());
    harness.get_by_label("Train").click();
    harness.run();
    harness.state_mut().train.form = tiny_form(400);
    harness.get_by_label("Start").click();
    wait_for_text(&mut harness, "run 1: fused, β 0.3: ", 120);
    let first = steps_shown(&harness, "run 1:").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while steps_shown(&harness, "run 1:").unwrap() <= first + 3 {
        assert!(Instant::now() < deadline, "the curve did not grow");
        std::thread::sleep(Duration::from_millis(50));
        harness.step();
    }
    harness.get_by_label("Stop").click();
    wait_for_text(&mut harness, "Training stopped", 60);
    // The stopped run is in the table, ready to resume.
    harness.run();
    assert!(harness.query_by_label("stopped").is_some());
    assert!(harness.query_by_label("resume").is_some());
}

#[test]
fn after_a_sweep_attention_projection_and_suggestions_are_on_screen() {
    let (library_dir, _source) = library();
    let mut harness = harness(library_dir.path());
    harness.get_by_label("Train").click();
    harness.run();
    harness.state_mut().train.form = tiny_form(4);
    harness.get_by_label("Start").click();
    wait_for_text(&mut harness, "Training finished: 3 run(s)", 300);
    // One line per run under the plots.
    for run in ["run 1: fused", "run 2: image only", "run 3: text only"] {
        assert!(steps_shown(&harness, run).unwrap() > 0, "{run}");
    }
    // The per-category table of the chosen run, in its evaluation panel.
    harness.run();
    harness.get_by_label("Evaluation").click();
    harness.run();
    assert!(harness.query_by_label("sensitivity").is_some());

    // Attention: pick a book in the Library, then show its heatmap.
    harness.get_by_label("Library").click();
    harness.run();
    harness.get_by_label("Book 05").click();
    harness.run();
    harness.get_by_label("Attention").click();
    harness.run();
    harness.get_by_label_contains("Show \"Book 05\"").click();
    wait_for_text(&mut harness, "S_c (cover)", 120);

    // Projection: compute, then click a point and land on its book.
    harness.get_by_label("Projection").click();
    harness.run();
    harness.get_by_label("Compute").click();
    wait_for_text(&mut harness, "trustworthiness@10", 120);
    harness.run();
    let (book_id, at) = harness.state().projection.screen[7];
    harness.hover_at(at);
    harness.run();
    harness.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    harness.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run();
    let selected = harness.state().library.selected.as_ref().map(|b| b.book_id);
    assert_eq!(selected, Some(book_id), "the click opened the book");
    let title = harness
        .state()
        .library
        .selected
        .as_ref()
        .unwrap()
        .title
        .clone();
    assert!(harness.query_all_by_label(&title).count() >= 1);

    // Box selection: a rectangle dragged over the whole scatter lists every book.
    harness.get_by_label("Projection").click();
    harness.run();
    harness.get_by_label("box select").click();
    harness.run();
    let points = harness.state().projection.screen.clone();
    let (min, max) = points.iter().fold(
        (
            egui::pos2(f32::MAX, f32::MAX),
            egui::pos2(f32::MIN, f32::MIN),
        ),
        |(lo, hi), (_, p)| (lo.min(*p), hi.max(*p)),
    );
    let (from, to) = (min - egui::vec2(3.0, 3.0), max + egui::vec2(3.0, 3.0));
    harness.hover_at(from);
    harness.run();
    harness.event(egui::Event::PointerButton {
        pos: from,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    harness.step();
    for step in 1..=10 {
        harness.hover_at(from + (to - from) * (step as f32 / 10.0));
        harness.step();
    }
    harness.event(egui::Event::PointerButton {
        pos: to,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run();
    assert_eq!(
        harness.state().projection.selection.len(),
        40,
        "box {from:?}..{to:?}, drag mode {:?}",
        harness.state().projection.select_mode
    );
    assert!(
        harness.query_by_label_contains("40 selected").is_some(),
        "the selection window lists the 40 books"
    );

    // Recommend: a typed description, explained suggestions.
    harness.get_by_label("Recommend").click();
    harness.run();
    harness.get_by_label("A description").click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Description:")
        .focus();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "Description:")
        .type_text("pirate ship treasure");
    harness.run();
    harness.get_by_label("Suggest").click();
    wait_for_text(&mut harness, "similarity ", 120);
    assert!(harness.query_by_label_contains("1. Book").is_some());
    let count = harness.state().recommend.count;
    assert_eq!(
        harness.query_all_by_label_contains("% · text ").count(),
        count,
        "every suggestion says how much cover and text counted"
    );
    // A description of pirates finds the Adventure books first.
    assert!(
        harness
            .query_all_by_label_contains("Author")
            .next()
            .is_some_and(|node| node
                .accesskit_node()
                .value()
                .is_some_and(|v| v.contains("Adventure")))
    );

    // The window keeps the library, run and index between queries, and
    // still sees a change made elsewhere (here the command line's
    // connection): the book trashed there is not suggested again.
    let first = harness.state().recommend.suggestions[0].clone();
    {
        let mut elsewhere = shelfwise::store::Library::open(library_dir.path()).unwrap();
        elsewhere.trash_books(&[first.book_id]).unwrap();
    }
    harness.state_mut().recommend.suggestions.clear();
    harness.get_by_label("Suggest").click();
    wait_for_text(&mut harness, "similarity ", 120);
    let again = harness.state().recommend.suggestions.clone();
    assert_eq!(again.len(), count);
    assert!(again.iter().all(|s| s.book_id != first.book_id));

    // What the window keeps of each book for its suggestions is current too:
    // a category set elsewhere shows in the next answer.
    let moved = &again[0];
    {
        let mut elsewhere = shelfwise::store::Library::open(library_dir.path()).unwrap();
        elsewhere
            .set_category(&[moved.book_id], "Shelved elsewhere", "set_category")
            .unwrap();
    }
    harness.state_mut().recommend.suggestions.clear();
    harness.get_by_label("Suggest").click();
    wait_for_text(&mut harness, "similarity ", 120);
    let shown = harness
        .state()
        .recommend
        .suggestions
        .iter()
        .find(|s| s.book_id == moved.book_id)
        .cloned()
        .expect("the book is still suggested");
    assert_eq!(shown.category, "Shelved elsewhere");
}

/// eframe's storage, in memory.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn settings_changed_in_the_window_are_remembered() {
    use eframe::App as _;
    use shelfwise::app::{DeviceChoice, Settings};
    let (library_dir, _source) = library();
    let mut harness = harness(library_dir.path());
    harness.get_by_label("Settings").click();
    harness.run();
    harness.get_by_label("CPU").click();
    harness.run();
    let mut storage = MemoryStorage::default();
    harness.state_mut().save(&mut storage);
    let saved: Settings =
        eframe::get_value(&storage, shelfwise::app::SETTINGS_KEY).expect("settings saved");
    assert_eq!(saved.device, DeviceChoice::Cpu);
    // A new window restores them.
    let dir = library_dir.path().to_path_buf();
    let restored = Harness::builder().build_eframe(move |cc| {
        ShelfwiseApp::new(&cc.egui_ctx, dir, None, false).with_settings(saved)
    });
    assert_eq!(restored.state().settings.device, DeviceChoice::Cpu);
}
