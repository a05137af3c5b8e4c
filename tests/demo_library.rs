//! The bundled demo library imports whole, and so does every set in
//! `../shared/data` (skipped where that folder is absent).

mod common;

use common::{demo_csv, import, shared_data, shelfwise};
use shelfwise::store::Library;

#[test]
fn the_demo_library_imports_all_296_books_with_covers() {
    let library_dir = tempfile::tempdir().unwrap();
    let library = library_dir.path().to_str().unwrap();
    let (status, stdout, stderr) = shelfwise(&[
        "--library",
        library,
        "--json",
        "import",
        demo_csv().to_str().unwrap(),
    ]);
    assert!(status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["imported"], 296);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 0, "{stdout}");

    let (_, stdout, _) = shelfwise(&["--library", library, "--json", "stats"]);
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stats["books"], 296);
    assert_eq!(stats["with_cover"], 296);
    assert_eq!(stats["with_synopsis"], 296);
    let categories = stats["categories"].as_object().unwrap();
    assert_eq!(categories.len(), 10);
    assert_eq!(categories["Fiction"], 44);
    assert_eq!(categories["Horror"], 20);
}

#[test]
fn every_shared_data_set_imports_without_a_skipped_row() {
    for name in [
        "standard_ebooks",
        "goodbooks_text",
        "goodreads_synopsis_bml",
        "openlibrary_covers5",
    ] {
        let Some(dir) = shared_data(name) else {
            continue;
        };
        let library_dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(library_dir.path()).unwrap();
        let report = import(&mut library, &dir);
        let rows = std::fs::read_to_string(dir.join("books.csv")).unwrap();
        let expected = csv::Reader::from_reader(rows.as_bytes()).records().count();
        assert_eq!(report.imported, expected, "{name}: {}", report.to_text());
        assert!(report.skipped.is_empty(), "{name}: {}", report.to_text());
        assert!(library.books_with_missing_cover_files().unwrap().is_empty());
    }
}
