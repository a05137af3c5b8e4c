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

/// A books CSV of `BOOKS` books with covers, in a folder of its own.
fn write_big_import() -> (tempfile::TempDir, std::path::PathBuf) {
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
    (source, csv_path)
}

/// Waits until the import in `library_dir` has written more than `books` books.
fn wait_for_books(child: &mut std::process::Child, library_dir: &std::path::Path, books: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let library = Library::open(library_dir).unwrap();
    while library.book_count().unwrap() <= books {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be stopped"
        );
        assert!(Instant::now() < deadline, "the import made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_stops_an_import_between_batches_and_records_it() {
    let (_source, csv_path) = write_big_import();
    let library_dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shelfwise"))
        .args([
            "--library",
            library_dir.path().to_str().unwrap(),
            "import",
            "--json",
        ])
        .arg(&csv_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_books(&mut child, library_dir.path(), 64);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let imported = report["imported"].as_u64().unwrap();
    assert!(imported > 0 && imported < BOOKS as u64, "{report}");
    assert_eq!(imported % 64, 0, "whole batches only: {imported}");
    let library = Library::open(library_dir.path()).unwrap();
    assert_eq!(library.book_count().unwrap(), imported);
    assert!(library.books_with_missing_cover_files().unwrap().is_empty());
}

#[test]
fn killing_an_import_leaves_whole_books_only() {
    let (_source, csv_path) = write_big_import();
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
    wait_for_books(&mut child, &library_dir.path().join("lib"), 1 + 64);
    child.kill().unwrap();
    child.wait().unwrap();

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
