//! A process killed in the middle of an import leaves the library as it was
//! before, or with whole books only: never half a book.

mod common;

use std::time::{Duration, Instant};

use common::{field, jpeg_cover};
use shelfwise::store::Library;

const BOOKS: usize = 3000;

fn synopsis_of(index: usize) -> String {
    format!("Synopsis number {index}. ").repeat(20)
}

#[test]
fn killing_an_import_leaves_whole_books_only() {
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir(source.path().join("covers")).unwrap();
    let mut csv = String::from("id,title,author,category,synopsis,cover\n");
    for index in 0..BOOKS {
        let cover = format!("covers/{index}.jpg");
        std::fs::write(source.path().join(&cover), jpeg_cover(index as u32)).unwrap();
        let row = [
            format!("book-{index}"),
            format!("Title {index}"),
            format!("Author {index}"),
            "Mystery".to_string(),
            synopsis_of(index),
            cover,
        ];
        csv.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    let csv_path = source.path().join("books.csv");
    std::fs::write(&csv_path, csv).unwrap();

    let library_dir = tempfile::tempdir().unwrap();
    // One book already there: it must survive the killed import unchanged.
    let earlier = common::write_books(
        &library_dir.path().join("earlier"),
        &[("kept", "Kept", "K", "Drama", "Here before.")],
    );
    let mut library = Library::open(&library_dir.path().join("lib")).unwrap();
    common::import(&mut library, &earlier);
    drop(library);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shelfwise"))
        .args([
            "--library",
            library_dir.path().join("lib").to_str().unwrap(),
            "import",
        ])
        .arg(&csv_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some batches are in, well before the end.
    let deadline = Instant::now() + Duration::from_secs(120);
    let library = Library::open(&library_dir.path().join("lib")).unwrap();
    loop {
        let count = library.book_count().unwrap();
        if count > 1 + 64 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "the import made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(library);

    let library = Library::open(&library_dir.path().join("lib")).unwrap();
    assert_eq!(library.integrity_check().unwrap(), "ok");
    let books = library.book_summaries().unwrap();
    assert!(
        books.len() < BOOKS + 1,
        "the kill came too late to prove anything"
    );
    assert!(books.iter().any(|b| b.external_id == "kept"));
    for summary in &books {
        let detail = library.book_detail(summary.book_id).unwrap().unwrap();
        if detail.external_id == "kept" {
            assert_eq!(detail.synopsis, "Here before.");
            continue;
        }
        let index: usize = detail
            .external_id
            .strip_prefix("book-")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(detail.title, format!("Title {index}"));
        assert_eq!(detail.author, format!("Author {index}"));
        assert_eq!(detail.synopsis, synopsis_of(index).trim());
        assert!(detail.cover_path.is_some(), "book-{index} lost its cover");
    }
    assert!(library.books_with_missing_cover_files().unwrap().is_empty());

    // The interrupted import can simply be run again to completion.
    drop(library);
    let mut library = Library::open(&library_dir.path().join("lib")).unwrap();
    let report = common::import(&mut library, &csv_path);
    assert_eq!(report.imported + report.updated, BOOKS);
    assert_eq!(library.book_count().unwrap(), BOOKS as u64 + 1);
}
