//! The librarian's changes in the window, driven headless with egui_kittest
//! on a real library: edit a book in the detail panel (an empty title is
//! refused with the reason), drop an image as its cover, delete it with the
//! Delete key, find it in the trash, restore it, and take changes back with
//! Ctrl+Z and Ctrl+Y. What the window did is what the library holds.

mod common;

use egui::{Key, Modifiers, Role};
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
        "Sailors at sea.",
    ),
    ("b", "Beta Murders", "Bo Brown", "Mystery", "A detective."),
    ("c", "Gamma Rays", "Cy Cole", "Science Fiction", "A probe."),
];

use common::DroppedPath;

fn harness(library_dir: &std::path::Path) -> Harness<'static, ShelfwiseApp> {
    let dir = library_dir.to_path_buf();
    Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .with_max_steps(24)
        .build_eframe(move |cc| ShelfwiseApp::new(&cc.egui_ctx, dir, None, false))
}

fn titles(library_dir: &std::path::Path) -> Vec<String> {
    Library::open(library_dir)
        .unwrap()
        .book_summaries()
        .unwrap()
        .into_iter()
        .map(|b| b.title)
        .collect()
}

fn press(harness: &mut Harness<'_, ShelfwiseApp>, modifiers: Modifiers, key: Key) {
    harness.key_press_modifiers(modifiers, key);
    harness.run();
}

#[test]
fn a_book_is_edited_given_a_cover_deleted_restored_and_undone_in_the_window() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(source.path(), BOOKS);
    let library_dir = tempfile::tempdir().unwrap();
    common::import(&mut Library::open(library_dir.path()).unwrap(), &csv);
    let dir = library_dir.path();
    let mut harness = harness(dir);
    harness.run();
    harness
        .get_by_role_and_label(Role::Button, "Beta Murders")
        .click();
    harness.run();

    // Edit: an empty title is refused, with the reason, and nothing changes.
    harness.get_by_label("Edit").click();
    harness.run();
    harness.state_mut().library.draft.as_mut().unwrap().title = "  ".into();
    harness.get_by_label("Save").click();
    harness.run();
    harness.get_by_label("a book's title cannot be empty");
    assert!(titles(dir).contains(&"Beta Murders".to_string()));
    let draft = harness.state_mut().library.draft.as_mut().unwrap();
    draft.title = "Beta Murders, Revised".into();
    draft.category = "Crime".into();
    harness.get_by_label("Save").click();
    harness.run();
    assert!(harness.state().library.draft.is_none());
    assert!(titles(dir).contains(&"Beta Murders, Revised".to_string()));
    harness.get_by_role_and_label(Role::Button, "Beta Murders, Revised");

    // An image dropped while the book is shown becomes its cover.
    let before = harness
        .state()
        .library
        .selected
        .as_ref()
        .unwrap()
        .cover_path
        .clone();
    let image = source.path().join("new-cover.jpg");
    std::fs::write(&image, common::jpeg_cover(99)).unwrap();
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(image)));
    harness.run();
    let after = harness
        .state()
        .library
        .selected
        .as_ref()
        .unwrap()
        .cover_path
        .clone();
    assert_ne!(before, after, "the dropped image is the cover now");
    assert_eq!(
        harness.state().library.books.len(),
        3,
        "and nothing was imported"
    );

    // The Delete key moves the book shown to the trash.
    press(&mut harness, Modifiers::NONE, Key::Delete);
    assert_eq!(titles(dir), ["Alpha Voyage", "Gamma Rays"]);
    assert!(harness.state().library.selected.is_none());
    harness.get_by_label("Trash").click();
    harness.run();
    harness.get_by_label("Trash (1)");
    harness.get_by_label("Restore").click();
    harness.run();
    harness.get_by_label("Trash (0)");
    assert_eq!(titles(dir).len(), 3);

    // Ctrl+Z takes back the restore, then the delete; Ctrl+Y redoes one.
    press(&mut harness, Modifiers::COMMAND, Key::Z);
    assert_eq!(titles(dir).len(), 2);
    press(&mut harness, Modifiers::COMMAND, Key::Z);
    assert_eq!(titles(dir).len(), 3);
    press(&mut harness, Modifiers::COMMAND, Key::Z);
    press(&mut harness, Modifiers::COMMAND, Key::Z);
    assert!(
        titles(dir).contains(&"Beta Murders".to_string()),
        "{:?}",
        titles(dir)
    );
    press(&mut harness, Modifiers::COMMAND, Key::Y);
    assert!(titles(dir).contains(&"Beta Murders, Revised".to_string()));
    let history = Library::open(dir).unwrap().history(None).unwrap();
    assert_eq!(history.len(), 4, "{history:?}");
    harness.get_by_label("Back to the library").click();
    harness.run();

    // Two books chosen get one category in one step, taken back by one undo.
    let ids: Vec<_> = harness
        .state()
        .library
        .books
        .iter()
        .map(|b| b.book_id)
        .collect();
    harness.state_mut().library.chosen = ids[..2].iter().copied().collect();
    harness.state_mut().library.bulk_category = "Classics".into();
    harness.run();
    harness.get_by_label("Set category").click();
    harness.run();
    let categories = |dir: &std::path::Path| -> Vec<String> {
        Library::open(dir)
            .unwrap()
            .book_summaries()
            .unwrap()
            .into_iter()
            .map(|b| b.category)
            .collect()
    };
    assert_eq!(
        categories(dir).iter().filter(|c| *c == "Classics").count(),
        2
    );
    press(&mut harness, Modifiers::COMMAND, Key::Z);
    assert_eq!(
        categories(dir).iter().filter(|c| *c == "Classics").count(),
        0
    );

    // The chosen books go on a shelf, which then shows as its own wall.
    harness.state_mut().library.chosen = [ids[2], ids[0]].into_iter().collect();
    harness.state_mut().library.shelf_target = "Window display".into();
    harness.run();
    harness.get_by_label("Put on shelf").click();
    harness.run();
    assert_eq!(Library::open(dir).unwrap().shelves().unwrap()[0].books, 2);
    harness.get_by_label("Shelf").click();
    harness.run();
    harness.get_by_label("Window display (2)").click();
    harness.run();
    assert_eq!(harness.state().library.visible.len(), 2);
    harness.get_by_label("Take off this shelf").click();
    harness.run();
    assert_eq!(harness.state().library.visible.len(), 0);
    press(&mut harness, Modifiers::COMMAND, Key::Z);
    assert_eq!(harness.state().library.visible.len(), 2);
    harness.get_by_label("Shelf").click();
    harness.run();
    harness.get_by_label("All books").click();
    harness.run();
    assert_eq!(harness.state().library.visible.len(), 3);

    // Export books writes the chosen books, else the library, in the import
    // format, in the background.
    let status = export(&mut harness);
    assert!(
        status.starts_with("Exported 2 book(s) and 2 cover file(s) to "),
        "{status}"
    );
    harness.state_mut().library.chosen.clear();
    let status = export(&mut harness);
    assert!(
        status.starts_with("Exported 3 book(s) and 3 cover file(s) to "),
        "{status}"
    );
    let csv = status.rsplit(" to ").next().unwrap();
    assert!(std::path::Path::new(csv).is_file(), "{status}");
}

/// Clicks "Export books" and waits for the status line that says where it went.
fn export(harness: &mut Harness<'_, ShelfwiseApp>) -> String {
    harness.state_mut().status = None;
    harness.run();
    harness.get_by_label("Export books").click();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = harness.state().status.clone()
            && status.starts_with("Export")
        {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            harness.state().status
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
}
