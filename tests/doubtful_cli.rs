//! Doubtful labels from the command line: in a library whose synopses say
//! their category plainly, two books given another book's category come out
//! on top of `shelfwise doubtful`, each judged by fold models that did not
//! see it; and a label changed back leaves the list.

mod common;

use std::path::Path;

fn doubtful(library: &Path) -> Vec<serde_json::Value> {
    let (status, stdout, stderr) = common::shelfwise(&[
        "--library",
        library.to_str().unwrap(),
        "--json",
        "doubtful",
        "--folds",
        "4",
    ]);
    assert!(status.success(), "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    answer["doubtful"].as_array().unwrap().clone()
}

#[test]
fn swapped_categories_top_the_list_of_doubtful_labels() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 48, 10, |i| format!("Book {i}"));
    // b0 is an Adventure book and b1 a Mystery book: swap their categories.
    let text = std::fs::read_to_string(&csv).unwrap();
    let swapped = text
        .replacen(
            "\"b0\",\"Book 0\",\"Author 0\",\"Adventure\"",
            "\"b0\",\"Book 0\",\"Author 0\",\"Mystery\"",
            1,
        )
        .replacen(
            "\"b1\",\"Book 1\",\"Author 1\",\"Mystery\"",
            "\"b1\",\"Book 1\",\"Author 1\",\"Adventure\"",
            1,
        );
    assert_ne!(swapped, text, "the CSV's rows were not found");
    std::fs::write(&csv, swapped).unwrap();
    let library = tempfile::tempdir().unwrap();
    let dir = library.path();
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "import",
        csv.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stderr}");

    let list = doubtful(dir);
    let top: Vec<&str> = list
        .iter()
        .take(2)
        .map(|d| d["external_id"].as_str().unwrap())
        .collect();
    assert!(top.contains(&"b0") && top.contains(&"b1"), "{list:?}");
    let b0 = list.iter().find(|d| d["external_id"] == "b0").unwrap();
    assert_eq!(
        (b0["category"].as_str(), b0["suggested"].as_str()),
        (Some("Mystery"), Some("Adventure"))
    );
    assert!(b0["suggested_probability"].as_f64() > b0["own_probability"].as_f64());

    // Set right, b0 leaves the list.
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "edit",
        "b0",
        "--category",
        "Adventure",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(!doubtful(dir).iter().any(|d| d["external_id"] == "b0"));
}
