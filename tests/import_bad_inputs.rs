//! Every kind of bad input the import meets becomes one report line (file, row,
//! reason); none stops the import, and nothing already in the library is lost.

mod common;

use common::{field, import, jpeg_cover, shelfwise, write_books};
use shelfwise::store::{Library, ReadingRecord};

/// A BMP header that claims 100,000 x 100,000 pixels (30 GB decoded).
fn absurd_bmp() -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"BM");
    bytes.extend_from_slice(&(54u32 + 16).to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&54u32.to_le_bytes());
    bytes.extend_from_slice(&40u32.to_le_bytes());
    bytes.extend_from_slice(&100_000i32.to_le_bytes());
    bytes.extend_from_slice(&100_000i32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&24u16.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 24]);
    bytes.extend_from_slice(&[0x7f; 16]);
    bytes
}

/// Writes a books CSV with one good row and one row for each kind of bad input.
fn write_bad_import(dir: &std::path::Path) -> std::path::PathBuf {
    let covers = dir.join("covers");
    std::fs::create_dir_all(&covers).unwrap();
    std::fs::write(covers.join("good.jpg"), jpeg_cover(1)).unwrap();
    std::fs::write(covers.join("text.jpg"), b"this is not an image at all").unwrap();
    let whole = jpeg_cover(2);
    std::fs::write(covers.join("truncated.jpg"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(covers.join("huge.bmp"), absurd_bmp()).unwrap();
    std::fs::create_dir_all(covers.join("folder.jpg")).unwrap();

    let row = |id: &str, title: &str, cover: &str| {
        [id, title, "An Author", "Drama", "A synopsis.", cover]
            .map(field)
            .join(",")
            + "\n"
    };
    let mut bytes = b"id,title,author,category,synopsis,cover\n".to_vec();
    bytes.extend(row("good", "Good Book", "covers/good.jpg").bytes()); // line 2
    bytes.extend(row("missing", "Missing Cover", "covers/nope.jpg").bytes()); // 3
    bytes.extend(row("text", "Text Cover", "covers/text.jpg").bytes()); // 4
    bytes.extend(row("truncated", "Truncated Cover", "covers/truncated.jpg").bytes()); // 5
    bytes.extend(row("huge", "Huge Cover", "covers/huge.bmp").bytes()); // 6
    bytes.extend(row("folder", "Folder Cover", "covers/folder.jpg").bytes()); // 7
    bytes.extend(row("escape", "Escaping Cover", "../../etc/passwd").bytes()); // 8
    bytes.extend(row("absolute", "Absolute Cover", "/etc/passwd").bytes()); // 9
    bytes.extend(b"short,Too Few Fields\n"); // 10
    bytes.extend(b"utf8,\"Bad \xC3\x28 bytes\",A,Drama,S,\n"); // 11
    bytes.extend(row("good", "Good Book Again", "").bytes()); // 12
    // Valid UTF-8 elsewhere tells the file is UTF-8 with one damaged row, not Latin-1.
    bytes.extend(row("last", "Last Good Book — schön", "").bytes()); // 13
    let path = dir.join("books.csv");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn each_bad_input_is_one_report_line_and_the_rest_is_imported() {
    let source = tempfile::tempdir().unwrap();
    let csv = write_bad_import(source.path());
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();

    let report = import(&mut library, &csv);

    assert_eq!(report.imported, 9, "{}", report.to_text());
    assert_eq!(report.updated, 0);
    let lines: Vec<u64> = report.skipped.iter().map(|s| s.line.unwrap()).collect();
    assert_eq!(
        lines,
        [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        "{}",
        report.to_text()
    );
    let reason_of = |line: u64| {
        report
            .skipped
            .iter()
            .find(|s| s.line == Some(line))
            .unwrap()
            .reason
            .clone()
    };
    let expectations = [
        (3, "nope.jpg"),
        (4, "not an image"),
        (5, "truncated"),
        (6, "too large"),
        (7, "not a file"),
        (8, "leaves the import folder"),
        (9, "absolute"),
        (10, "2 fields where the header has 6"),
        (11, "invalid UTF-8 in column `title`"),
        (12, "duplicate id `good` (first on line 2)"),
    ];
    for (line, expected) in expectations {
        let reason = reason_of(line);
        assert!(reason.contains(expected), "line {line}: {reason}");
        assert!(
            report
                .skipped
                .iter()
                .all(|s| s.source.ends_with("books.csv"))
        );
    }
    // Books with bad covers are still imported, without a cover, and the report says so.
    for line in 3..=9 {
        assert!(
            reason_of(line).contains("imported without a cover"),
            "line {line}"
        );
    }

    let stats = library.stats().unwrap();
    assert_eq!(stats.books, 9);
    assert_eq!(stats.with_cover, 1);
    assert!(library.books_with_missing_cover_files().unwrap().is_empty());
    // The report is stored with the import.
    assert_eq!(
        library.import_issues(report.import_id).unwrap(),
        report.skipped
    );
    // Nothing outside the import folder was copied in.
    let stored: Vec<_> = common::walk(&library_dir.path().join("covers"));
    assert_eq!(stored.len(), 1, "{stored:?}");
}

#[test]
fn a_bad_import_loses_nothing_already_in_the_library() {
    let good_source = tempfile::tempdir().unwrap();
    let good_csv = write_books(
        good_source.path(),
        &[
            ("a", "Alpha", "Ann", "Poetry", "One."),
            ("good", "Kept Title", "Bo", "Drama", "Two."),
        ],
    );
    let bad_source = tempfile::tempdir().unwrap();
    let bad_csv = write_bad_import(bad_source.path());
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    import(&mut library, &good_csv);

    let report = import(&mut library, &bad_csv);

    // `good` is updated by the bad file's row 2 (its cover is fine); the rest are new.
    assert_eq!((report.imported, report.updated), (8, 1));
    let alpha = library
        .book_summaries()
        .unwrap()
        .into_iter()
        .find(|b| b.external_id == "a")
        .unwrap();
    assert_eq!(alpha.title, "Alpha");
    assert!(alpha.thumb_path.unwrap().is_file());
    assert_eq!(library.stats().unwrap().books, 10);
}

#[test]
fn reimporting_updates_by_id_and_adds_none_twice() {
    let source = tempfile::tempdir().unwrap();
    let rows = [
        ("a", "Alpha", "Ann", "Poetry", "One."),
        ("b", "Beta", "Bo", "Drama", "Two."),
    ];
    let csv = write_books(source.path(), &rows);
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();

    let first = import(&mut library, &csv);
    let second = import(&mut library, &csv);
    assert_eq!((first.imported, first.updated), (2, 0));
    assert_eq!((second.imported, second.updated), (0, 2));
    assert_eq!(library.stats().unwrap().books, 2);

    let changed = [
        ("a", "Alpha, Revised", "Ann", "Poetry", "One."),
        ("c", "Gamma", "Cy", "Drama", ""),
    ];
    let csv = write_books(source.path(), &changed);
    let third = import(&mut library, &csv);
    assert_eq!((third.imported, third.updated), (1, 1));
    let titles: Vec<String> = library
        .book_summaries()
        .unwrap()
        .into_iter()
        .map(|b| b.title)
        .collect();
    assert_eq!(titles, ["Alpha, Revised", "Beta", "Gamma"]);
    let stats = library.stats().unwrap();
    assert_eq!((stats.books, stats.with_synopsis), (3, 2));
}

#[test]
fn reading_history_is_imported_with_its_bad_rows_reported() {
    let source = tempfile::tempdir().unwrap();
    let books = write_books(
        source.path(),
        &[
            ("a", "Alpha", "Ann", "Poetry", ""),
            ("b", "Beta", "Bo", "Drama", ""),
        ],
    );
    let library_dir = tempfile::tempdir().unwrap();
    let mut library = Library::open(library_dir.path()).unwrap();
    import(&mut library, &books);
    let history = source.path().join("history.csv");
    std::fs::write(
        &history,
        "reader,book_id,rating,date\n\
         r1,a,4,2024-01-01\n\
         r1,b,,2024-02-01\n\
         r2,zzz,3,\n\
         r1,a,5,\n\
         r3,a,eleven,\n\
         r2,b,2.5,\n",
    )
    .unwrap();

    let report = import(&mut library, &history);

    assert_eq!(report.kind, "readings-csv");
    assert_eq!(
        (report.imported, report.updated),
        (3, 0),
        "{}",
        report.to_text()
    );
    let lines: Vec<u64> = report.skipped.iter().map(|s| s.line.unwrap()).collect();
    assert_eq!(lines, [4, 5, 6]);
    assert!(report.skipped[0].reason.contains("unknown book_id `zzz`"));
    assert!(report.skipped[1].reason.contains("duplicate reading"));
    assert!(report.skipped[2].reason.contains("rating `eleven`"));
    assert_eq!(
        library.readings_of("r1").unwrap(),
        vec![
            ReadingRecord {
                book_external_id: "a".into(),
                rating: Some(4.0),
                read_on: Some("2024-01-01".into()),
            },
            ReadingRecord {
                book_external_id: "b".into(),
                rating: None,
                read_on: Some("2024-02-01".into()),
            },
        ]
    );
    let stats = library.stats().unwrap();
    assert_eq!((stats.readers, stats.readings), (2, 3));
}

#[test]
fn the_command_line_reports_in_json_with_options_before_or_after_the_command() {
    let source = tempfile::tempdir().unwrap();
    let csv = write_bad_import(source.path());
    let library_dir = tempfile::tempdir().unwrap();
    let library = library_dir.path().to_str().unwrap();

    let (status, stdout, stderr) = shelfwise(&[
        "--library",
        library,
        "import",
        csv.to_str().unwrap(),
        "--json",
    ]);
    assert!(status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["imported"], 9);
    assert_eq!(json["updated"], 0);
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 10);
    assert_eq!(skipped[0]["line"], 3);
    assert!(
        skipped[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("books.csv")
    );
    assert!(skipped[0]["reason"].as_str().unwrap().contains("nope.jpg"));
    assert!(
        stderr.contains("importing"),
        "progress goes to stderr: {stderr}"
    );

    let (status, stdout, _) = shelfwise(&["stats", "--json", "--library", library]);
    assert!(status.success());
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stats["books"], 9);
    assert_eq!(stats["with_cover"], 1);
    assert_eq!(stats["with_synopsis"], 9);
    assert_eq!(stats["categories"]["Drama"], 9);

    let (status, stdout, _) = shelfwise(&[
        "import",
        csv.to_str().unwrap(),
        "--library",
        library,
        "--json",
    ]);
    assert!(status.success());
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (json["imported"].as_u64(), json["updated"].as_u64()),
        (Some(0), Some(9))
    );
}

#[test]
fn unknown_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("notes.csv");
    std::fs::write(&other, "name,value\nx,1\n").unwrap();
    let library_dir = tempfile::tempdir().unwrap();
    let library = library_dir.path().to_str().unwrap();
    let (status, _, stderr) = shelfwise(&["--library", library, "import", other.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("notes.csv") && stderr.contains("unrecognised CSV header"),
        "{stderr}"
    );
    let (status, _, stderr) = shelfwise(&["--library", library, "import", "/no/such/place.csv"]);
    assert!(!status.success());
    assert!(
        stderr.contains("/no/such/place.csv: no such file or folder"),
        "{stderr}"
    );
}

#[test]
fn a_file_whose_every_row_is_refused_exits_non_zero_with_its_report() {
    let source = tempfile::tempdir().unwrap();
    let csv = source.path().join("books.csv");
    std::fs::write(
        &csv,
        "id,title,author,category,synopsis,cover\nshort,Too Few Fields\n,No Id,A,Drama,S,\n",
    )
    .unwrap();
    let library_dir = tempfile::tempdir().unwrap();
    let library = library_dir.path().to_str().unwrap();
    let (status, stdout, stderr) = shelfwise(&[
        "--library",
        library,
        "import",
        csv.to_str().unwrap(),
        "--json",
    ]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["imported"], 0);
    assert_eq!(json["skipped"].as_array().unwrap().len(), 2);
}
