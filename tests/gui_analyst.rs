//! The analyst's and the speaker's workbench, driven headless with
//! egui_kittest on a real (tiny) sweep over two seeds: curves as a mean with
//! a band and each loss term alone, macro-F1 against beta, the run table
//! grouped and sorted, the evaluation panel's confusion cell opening its
//! books, a book's hub, and the projection coloured, lassoed and made a
//! library filter.

mod common;

use std::time::{Duration, Instant};

use egui::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use shelfwise::app::{ShelfwiseApp, TrainForm, View};
use shelfwise::store::Library;

fn harness() -> (
    Harness<'static, ShelfwiseApp>,
    tempfile::TempDir,
    tempfile::TempDir,
) {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 40, 10, |i| format!("Book {i:02}"));
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    common::import(&mut library, &csv);
    drop(library);
    let dir = library_dir.path().to_path_buf();
    let harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 1000.0))
        .with_max_steps(24)
        .build_eframe(move |cc| ShelfwiseApp::new(&cc.egui_ctx, dir, None, false));
    (harness, library_dir, source)
}

fn labels(harness: &Harness<'_, ShelfwiseApp>) -> Vec<String> {
    harness
        .query_all_by_role(Role::Label)
        .filter_map(|node| node.accesskit_node().value())
        .collect()
}

/// Steps frames until a label containing `needle` is on screen; returns it.
fn wait_for_text(harness: &mut Harness<'_, ShelfwiseApp>, needle: &str, seconds: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        harness.step();
        if let Some(found) = labels(harness).into_iter().find(|l| l.contains(needle)) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "`{needle}` never appeared; on screen: {:?}",
            labels(harness)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pick(harness: &mut Harness<'_, ShelfwiseApp>, combo: &str, choice: &str) {
    harness.get_by_label(combo).click();
    harness.run();
    harness.get_by_label(choice).click();
    harness.run();
}

#[test]
fn a_sweep_over_seeds_is_studied_opened_and_taken_out() {
    let (mut harness, library_dir, _source) = harness();
    harness.get_by_label("Train").click();
    harness.run();
    harness.state_mut().train.form = TrainForm {
        betas: "0.3, 0.5".into(),
        seeds: "1, 2".into(),
        single_modal: true,
        epochs: 3,
        categories_per_batch: 4,
        books_per_category: 4,
        learning_rate: 3e-3,
        max_words: 200,
        image_only_epochs: 0,
        image_size: 32,
        width: 0.125,
        train_block5: false,
    };
    harness.get_by_label("Start").click();
    harness.run();
    // The sweep says what it shows: runs, seeds, split, trunk.
    let note = wait_for_text(&mut harness, "Showing 8 run(s)", 30);
    assert!(
        note.contains("seeds 1, 2") && note.contains("random VGG16 trunk"),
        "{note}"
    );
    assert!(
        note.contains("32 of 40 labelled books train, the other 8 are held out"),
        "{note}"
    );
    wait_for_text(&mut harness, "Training finished: 8 run(s)", 600);
    harness.run();

    // Each run labelled with its seed; macro-F1 against beta with its spread.
    wait_for_text(&mut harness, "(seed 2): ", 5);
    let beta = wait_for_text(&mut harness, "β 0.3: ", 5);
    assert!(beta.contains("(2 runs)"), "{beta}");
    // Each loss term on its own scale.
    pick(&mut harness, "loss", "cross-entropy");
    wait_for_text(&mut harness, "steps, cross-entropy ", 5);
    pick(&mut harness, "draw", "mean ± 1 sd band");
    assert_eq!(
        harness.state().train.curve_mode,
        shelfwise::app::curves::CurveMode::MeanSd
    );

    // The run table: grouped by setting with the group's spread, sorted by F1.
    harness.get_by_label("group by setting").click();
    harness.run();
    assert_eq!(
        harness.query_all_by_label("2 run(s)").count(),
        4,
        "{:?}",
        labels(&harness)
    );
    harness.get_by_label("group by setting").click();
    harness.get_by_label("F1").click();
    harness.run();
    let order = harness.state().train.table_order;
    assert_eq!(order.column, shelfwise::app::runs::RunColumn::MacroF1);

    // The evaluation panel: a confusion cell opens its held-out books.
    harness.get_by_label("Evaluation").click();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("Confusion matrix")
            .is_some()
    );
    let chosen = harness.state().runs.chosen.unwrap();
    let held_out = harness.state().train.evaluation.held_out.clone().unwrap();
    assert_eq!(held_out.len(), 8, "a fifth of 40 books held out");
    let first = &held_out[0];
    let cell_count = held_out
        .iter()
        .filter(|b| b.actual == first.actual && b.predicted == first.predicted)
        .count();
    harness.state_mut().train.evaluation.cell = Some((first.actual, first.predicted));
    harness.run();
    let heading = wait_for_text(&mut harness, " book(s) of ", 5);
    assert!(
        heading.starts_with(&format!("{cell_count} book(s) of ")),
        "{heading}"
    );
    wait_for_text(&mut harness, "confidence ", 5);
    // The cell's first book, one click to "more like this".
    harness
        .get_all_by_label("More like this")
        .next()
        .expect("each book of the cell has its hub")
        .click();
    harness.step();
    assert_eq!(harness.state().view, View::Recommend);
    wait_for_text(&mut harness, "similarity ", 120);
    assert_eq!(harness.state().runs.chosen, Some(chosen));

    // The projection: colour by the run's verdict, lasso every book, make a filter.
    harness.get_by_label("Projection").click();
    harness.run();
    harness.get_by_label("Compute").click();
    wait_for_text(&mut harness, "trustworthiness@10", 120);
    pick(&mut harness, "colour by", "right / wrong");
    harness.get_by_label("lasso").click();
    harness.run();
    let points = harness.state().projection.screen.clone();
    let (min, max) = points.iter().fold(
        (
            egui::pos2(f32::MAX, f32::MAX),
            egui::pos2(f32::MIN, f32::MIN),
        ),
        |(lo, hi), (_, p)| (lo.min(*p), hi.max(*p)),
    );
    let (lo, hi) = (min - egui::vec2(4.0, 4.0), max + egui::vec2(4.0, 4.0));
    let outline = [lo, egui::pos2(hi.x, lo.y), hi, egui::pos2(lo.x, hi.y)];
    harness.hover_at(outline[0]);
    harness.run();
    harness.event(egui::Event::PointerButton {
        pos: outline[0],
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    harness.step();
    for corner in &outline[1..] {
        for step in 1..=5 {
            let from = harness
                .state()
                .projection
                .lasso
                .last()
                .copied()
                .unwrap_or(outline[0]);
            harness.hover_at(from + (*corner - from) * (step as f32 / 5.0));
            harness.step();
        }
    }
    harness.event(egui::Event::PointerButton {
        pos: outline[3],
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run();
    assert_eq!(
        harness.state().projection.selection.len(),
        40,
        "the lasso holds every book"
    );
    let facts = &harness.state().projection.facts;
    assert_eq!(facts.held_out.len(), 8);
    harness.get_by_label("Filter the library").click();
    harness.run();
    assert_eq!(harness.state().view, View::Library);
    wait_for_text(
        &mut harness,
        "Showing the 40 books selected in the projection",
        5,
    );
    harness.get_by_label("Show all books").click();
    harness.run();
    assert!(harness.state().library.only.is_none());

    // From a cover in the grid, one click to its neighbours in the projection.
    harness.get_by_label("Book 05").click_secondary();
    harness.run();
    // (The detail panel of the book opened earlier has its own hub.)
    harness
        .get_all_by_label("In projection")
        .last()
        .expect("the cover's menu")
        .click();
    harness.run();
    assert_eq!(harness.state().view, View::Projection);
    let projection = &harness.state().projection;
    let focus = projection.focus.expect("the book is ringed");
    let book_05 = harness
        .state()
        .library
        .books
        .iter()
        .find(|b| b.title == "Book 05")
        .unwrap();
    assert_eq!(focus, book_05.book_id, "the book right-clicked");
    assert_eq!(
        projection.selection.len(),
        11,
        "the book and its 10 nearest"
    );
    assert_eq!(projection.selection[0], focus);

    // The sweep's report, from the Train view's button.
    harness.get_by_label("Train").click();
    harness.run();
    harness.get_by_label("Curves").click();
    harness.run();
    harness.get_by_label("Sweep report (HTML)").click();
    let status = wait_for_text(&mut harness, "Wrote the sweep report to ", 60);
    let page = library_dir.path().join("reports").join("sweep-1.html");
    assert!(
        status.contains("sweep-1.html") && page.is_file(),
        "{status}"
    );
}
