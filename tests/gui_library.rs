//! The Library view, driven headless with egui_kittest: the grid shows the
//! imported books, search and the category filter narrow it, a click opens the
//! detail panel, and an import started from the window reports at the end.

mod common;

use egui::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use shelfwise::app::ShelfwiseApp;
use shelfwise::store::Library;

const BOOKS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "a",
        "Alpha Voyage",
        "Ann Archer",
        "Adventure",
        "Sailors cross the sea in search of an island.",
    ),
    (
        "b",
        "Beta Murders",
        "Bo Brown",
        "Mystery",
        "A detective untangles three poisonings.",
    ),
    (
        "c",
        "Gamma Rays",
        "Cy Cole",
        "Science Fiction",
        "A probe returns from Jupiter changed.",
    ),
];

fn library_with_books() -> tempfile::TempDir {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(source.path(), BOOKS);
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    common::import(&mut library, &csv);
    library_dir
}

fn harness(
    library_dir: &std::path::Path,
    demo: Option<std::path::PathBuf>,
) -> Harness<'static, ShelfwiseApp> {
    let dir = library_dir.to_path_buf();
    // Covers load on egui's loader threads; on a loaded machine they take
    // more frames than the default 4 to arrive and settle the window.
    Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .with_max_steps(24)
        .build_eframe(move |cc| ShelfwiseApp::new(&cc.egui_ctx, dir, demo, false))
}

/// Steps frames until the import job's report window appears (the job runs on
/// its own thread), then lets the window settle.
fn wait_for_import_report(harness: &mut Harness<'_, ShelfwiseApp>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while harness.query_by_label("Import report").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the import never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
    harness.run();
}

fn book_button_count(harness: &Harness<'_, ShelfwiseApp>, title: &str) -> usize {
    harness
        .query_all_by_role_and_label(Role::Button, title)
        .count()
}

#[test]
fn the_grid_shows_every_imported_book() {
    let library_dir = library_with_books();
    let mut harness = harness(library_dir.path(), None);
    harness.run();
    for (_, title, ..) in BOOKS {
        assert_eq!(
            book_button_count(&harness, title),
            1,
            "{title} is not in the grid"
        );
    }
    harness.get_by_label("3 of 3 books");
}

#[test]
fn search_narrows_the_grid() {
    let library_dir = library_with_books();
    let mut harness = harness(library_dir.path(), None);
    harness.run();
    let search = harness.get_by_role(Role::TextInput);
    search.focus();
    harness.run();
    harness.get_by_role(Role::TextInput).type_text("brown");
    harness.run();
    assert_eq!(book_button_count(&harness, "Beta Murders"), 1);
    assert_eq!(book_button_count(&harness, "Alpha Voyage"), 0);
    assert_eq!(book_button_count(&harness, "Gamma Rays"), 0);
    harness.get_by_label("1 of 3 books");
}

#[test]
fn the_category_filter_narrows_the_grid() {
    let library_dir = library_with_books();
    let mut harness = harness(library_dir.path(), None);
    harness.run();
    harness
        .get_by_role_and_label(Role::ComboBox, "Category")
        .click();
    harness.run();
    harness.get_by_label("Science Fiction (1)").click();
    harness.run();
    assert_eq!(book_button_count(&harness, "Gamma Rays"), 1);
    assert_eq!(book_button_count(&harness, "Alpha Voyage"), 0);
    harness.get_by_label("1 of 3 books");
}

#[test]
fn a_click_opens_the_detail_panel() {
    let library_dir = library_with_books();
    let mut harness = harness(library_dir.path(), None);
    harness.run();
    assert!(harness.query_by_label(BOOKS[1].4).is_none());
    harness
        .get_by_role_and_label(Role::Button, "Beta Murders")
        .click();
    harness.run();
    harness.get_by_label(BOOKS[1].4);
    harness.get_by_label("Bo Brown");
    harness.get_by_label("Mystery");
    harness.get_by_label("Close").click();
    harness.run();
    assert!(harness.query_by_label(BOOKS[1].4).is_none());
}

#[test]
fn importing_from_the_window_shows_progress_then_the_report() {
    let library_dir = tempfile::tempdir().unwrap();
    let demo = common::demo_csv();
    let mut harness = harness(library_dir.path(), Some(demo.clone()));
    harness.run();
    harness.get_by_label("This library has no books yet.");
    harness.get_by_label("Load the demo library").click();
    harness.step();
    harness.step();
    wait_for_import_report(&mut harness);
    // In the report window, and in the status bar below the grid.
    harness.get_by_label(&format!(
        "{}: 296 imported, 0 updated, 0 skipped",
        demo.display()
    ));
    harness.get_by_label("Last import: 296 imported, 0 updated, 0 skipped");
    harness.get_by_label("296 of 296 books");
    assert_eq!(book_button_count(&harness, "Dracula"), 1);
}

#[test]
fn ten_thousand_books_lay_out_only_the_rows_in_view() {
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    let books: Vec<shelfwise::store::NewBook> = (0..10_000)
        .map(|index| shelfwise::store::NewBook {
            external_id: format!("book-{index:05}"),
            title: format!("Book {index:05}"),
            author: format!("Author {}", index % 97),
            synopsis: String::new(),
            category: ["Drama", "Poetry", "Horror"][index % 3].to_string(),
            language: None,
            cover: None,
        })
        .collect();
    library.upsert_books(&books, "generated").unwrap();
    drop(library);

    let mut harness = harness(library_dir.path(), None);
    harness.run();
    harness.get_by_label("10000 of 10000 books");
    let laid_out = harness
        .query_all_by(|node| {
            node.role() == Role::Button && node.label().is_some_and(|l| l.starts_with("Book "))
        })
        .count();
    assert!(laid_out > 0, "the grid shows no book");
    assert!(laid_out < 200, "{laid_out} cells laid out for one screen");

    // Search still reaches books far down the list.
    harness.get_by_role(Role::TextInput).focus();
    harness.run();
    harness.get_by_role(Role::TextInput).type_text("Book 09999");
    harness.run();
    assert_eq!(book_button_count(&harness, "Book 09999"), 1);
}

use common::DroppedPath;

#[test]
fn a_csv_dropped_on_the_window_is_imported() {
    let library_dir = library_with_books();
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(
        source.path(),
        &[("d", "Delta Dawn", "Di Doe", "Poetry", "Verses at sunrise.")],
    );
    let mut harness = harness(library_dir.path(), None);
    harness.run();
    harness.get_by_label("3 of 3 books");
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(csv.clone())));
    harness.step();
    wait_for_import_report(&mut harness);
    harness.get_by_label(&format!(
        "{}: 1 imported, 0 updated, 0 skipped",
        csv.display()
    ));
    harness.get_by_label("4 of 4 books");
    assert_eq!(book_button_count(&harness, "Delta Dawn"), 1);
    // One drop is one import: a few frames later nothing has been imported again.
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(30));
        harness.step();
    }
    harness.get_by_label("Last import: 1 imported, 0 updated, 0 skipped");
}

#[test]
fn a_library_that_opens_with_problems_says_so() {
    let library_dir = library_with_books();
    std::fs::create_dir_all(library_dir.path().join("runs/7")).unwrap();
    let mut harness = harness(library_dir.path(), None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while harness
        .query_by_label_contains("problem(s) (orphan run folder)")
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "no banner");
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
    assert!(
        harness
            .query_by_label_contains("shelfwise check --repair")
            .is_some()
    );
}
