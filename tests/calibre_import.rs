//! A real Calibre library, made with Calibre's own `calibredb` and committed as a
//! fixture, imports with its titles, authors, tags, HTML comments and covers, and
//! is never written to.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::import;
use shelfwise::store::Library;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calibre_library")
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            files.insert(path.clone(), (std::fs::read(&path).unwrap(), modified));
        }
    }
    files
}

#[test]
fn a_calibre_library_imports_and_stays_untouched() {
    let before = snapshot(&fixture());
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();

    let report = import(&mut library, &fixture());

    assert_eq!(report.kind, "calibre");
    assert_eq!(
        (report.imported, report.updated),
        (3, 0),
        "{}",
        report.to_text()
    );
    assert!(report.skipped.is_empty(), "{}", report.to_text());
    let books = library.book_summaries().unwrap();
    let titles: Vec<&str> = books.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["Dracula", "Good Omens", "The Time Machine"]);

    let dracula = library.book_detail(books[0].book_id).unwrap().unwrap();
    assert_eq!(dracula.author, "Bram Stoker");
    assert_eq!(dracula.category, "Horror", "the first tag is the category");
    assert_eq!(
        dracula.synopsis,
        "A vampire travels from Transylvania to England & is hunted. Told in letters."
    );
    assert_eq!(dracula.language.as_deref(), Some("en"));
    assert!(dracula.external_id.starts_with("calibre:"));
    assert!(dracula.cover_path.unwrap().is_file());
    assert!(dracula.thumb_path.unwrap().is_file());

    let omens = library.book_detail(books[1].book_id).unwrap().unwrap();
    // Joined as Calibre shows them, so that each author is a token of their own.
    assert_eq!(omens.author, "Terry Pratchett & Neil Gaiman");
    let texts = library.book_texts().unwrap();
    let omens_text = texts.iter().find(|t| t.book_id == omens.book_id).unwrap();
    let authors: Vec<String> = shelfwise::text::corpus::book_tokens(omens_text, "en")
        .into_iter()
        .map(|t| t.stem)
        .filter(|s| s.starts_with('@'))
        .collect();
    assert_eq!(authors, ["@terry_pratchett", "@neil_gaiman"]);
    assert_eq!(omens.category, "Fantasy");
    assert_eq!(omens.synopsis, "");
    assert_eq!(omens.language.as_deref(), Some("es"));
    assert!(
        omens.cover_path.is_none(),
        "Good Omens has no cover in Calibre"
    );

    let stats = library.stats().unwrap();
    assert_eq!(
        (stats.books, stats.with_cover, stats.with_synopsis),
        (3, 2, 2)
    );

    // Importing again updates the same three books.
    let again = import(&mut library, &fixture());
    assert_eq!((again.imported, again.updated), (0, 3));

    // Not one byte of the Calibre library changed, and no file appeared in it.
    assert_eq!(snapshot(&fixture()), before);
}
