//! Shelves from the command line: books put on a shelf keep its order, a
//! shelf is shown and exported in that order, taking a book off is undone
//! like any change, and a shelf that is not there is named in the error.

mod common;

use std::path::Path;

use common::shelfwise_json as run;

fn shown(library: &Path, shelf: &str) -> Vec<String> {
    run(library, &["shelf", "show", shelf])["books"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["external_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_shelf_keeps_its_order_is_exported_in_it_and_undoes() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 8, 5, |i| format!("Book {i}"));
    let library = tempfile::tempdir().unwrap();
    let dir = library.path();
    run(dir, &["import", csv.to_str().unwrap()]);

    run(dir, &["shelf", "add", "Window display", "b5", "b1"]);
    run(dir, &["shelf", "add", "Window display", "b3", "b1"]);
    assert_eq!(shown(dir, "Window display"), ["b5", "b1", "b3"]);
    let shelves = run(dir, &["shelf", "list"]);
    assert_eq!(shelves["shelves"][0]["books"], 3, "{shelves}");

    run(dir, &["shelf", "remove", "Window display", "b1"]);
    assert_eq!(shown(dir, "Window display"), ["b5", "b3"]);
    run(dir, &["undo"]);
    assert_eq!(shown(dir, "Window display"), ["b5", "b1", "b3"]);

    let out = source.path().join("display");
    let report = run(
        dir,
        &[
            "export",
            "--out",
            out.to_str().unwrap(),
            "--shelf",
            "Window display",
        ],
    );
    assert_eq!(report["books"], 3);
    let exported = std::fs::read_to_string(out.join("books.csv")).unwrap();
    let ids: Vec<&str> = exported
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["b5", "b1", "b3"]);

    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "shelf",
        "show",
        "Nowhere",
    ]);
    assert!(
        !status.success() && stderr.contains("no shelf 'Nowhere'"),
        "{stderr}"
    );
}
