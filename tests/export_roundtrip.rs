//! An exported library imported into an empty one gives the same books,
//! fields and covers (byte for byte); trashed books are not exported, and an
//! export never overwrites an earlier one.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use shelfwise::store::Library;

type Fields = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<Vec<u8>>,
);

fn books(dir: &Path) -> BTreeMap<String, Fields> {
    let library = Library::open(dir).unwrap();
    library
        .export_rows()
        .unwrap()
        .into_iter()
        .map(|row| {
            let cover = row
                .cover_file
                .map(|file| std::fs::read(library.cover_path(&file)).unwrap());
            (
                row.external_id,
                (
                    row.title,
                    row.author,
                    row.category,
                    row.synopsis,
                    row.language,
                    cover,
                ),
            )
        })
        .collect()
}

fn shelfwise_ok(args: &[&str]) -> String {
    let (status, stdout, stderr) = common::shelfwise(args);
    assert!(status.success(), "{args:?}: {stderr}");
    stdout
}

#[test]
fn an_export_imports_back_as_the_same_books_fields_and_covers() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(
        source.path(),
        &[
            (
                "a",
                "Alpha, \"the\" first",
                "Ann",
                "Drama",
                "Line one.\nLine two.",
            ),
            ("b", "Beta", "Bo", "Poetry", ""),
            ("c", "Gamma", "Cy", "", "No category."),
            ("d", "Delta", "Di", "Drama", "Trashed."),
        ],
    );
    let first = tempfile::tempdir().unwrap();
    let first_dir = first.path().to_str().unwrap();
    shelfwise_ok(&["--library", first_dir, "import", csv.to_str().unwrap()]);
    shelfwise_ok(&["--library", first_dir, "edit", "b", "--language", "fr"]);
    shelfwise_ok(&["--library", first_dir, "delete", "d"]);

    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("export");
    let report = shelfwise_ok(&[
        "--library",
        first_dir,
        "--json",
        "export",
        "--out",
        folder.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        (report["books"].as_i64(), report["covers"].as_i64()),
        (Some(3), Some(3))
    );

    let second = tempfile::tempdir().unwrap();
    let second_dir = second.path().to_str().unwrap();
    shelfwise_ok(&["--library", second_dir, "import", folder.to_str().unwrap()]);
    let exported = books(first.path());
    assert_eq!(exported.len(), 3);
    assert!(!exported.contains_key("d"));
    assert_eq!(books(second.path()), exported);
    assert_eq!(exported["b"].4.as_deref(), Some("fr"));

    // A second export into the same folder is refused, and changes nothing.
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        first_dir,
        "export",
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert!(
        !status.success() && stderr.contains("already exists"),
        "{stderr}"
    );
}
