//! A library folder moved to another place (a GPU server that trains it
//! headless, then back to the laptop) opens and answers there: its run, its
//! cover cache and its covers are found, and the answers are the ones it gave
//! before the move.

mod common;

use std::path::Path;

use common::trained_library;

fn suggestions(library: &Path, run: i64, query: &[&str]) -> Vec<String> {
    let run = run.to_string();
    let mut args = vec!["recommend", "--run", run.as_str()];
    args.extend_from_slice(query);
    let output = common::shelfwise_json(library, &args);
    output["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["external_id"].as_str().unwrap().to_string())
        .collect()
}

fn relative_files(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = common::walk(root)
        .iter()
        .map(|path| path.strip_prefix(root).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn a_moved_library_answers_from_its_new_place_with_every_run_and_cache_found() {
    let (library, _source, run) = trained_library();
    let queries: [&[&str]; 3] = [
        &["--like", "b0", "--k", "5"],
        &["--reader", "ada", "--k", "5"],
        &["--text", "Book 3", "--k", "5"],
    ];
    let before: Vec<Vec<String>> = queries
        .iter()
        .map(|query| suggestions(library.path(), run, query))
        .collect();
    let features_before = relative_files(&library.path().join("features"));

    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("moved library");
    std::fs::rename(library.path(), &moved).unwrap();
    assert!(!library.path().exists());

    let check = common::shelfwise(&["--library", moved.to_str().unwrap(), "check", "--json"]);
    assert!(
        check.0.success(),
        "the moved library checks clean: {}",
        check.1
    );
    let runs = common::shelfwise_json(&moved, &["runs"]);
    let listed = runs["runs"]
        .as_array()
        .or_else(|| runs.as_array())
        .unwrap_or_else(|| panic!("{runs}"))
        .clone();
    assert!(
        listed
            .iter()
            .any(|r| r["run"].as_i64() == Some(run) && r["status"] == "finished"),
        "{runs}"
    );
    for (query, answer) in queries.iter().zip(&before) {
        assert_eq!(&suggestions(&moved, run, query), answer, "{query:?}");
    }
    // The cover cache was found, not computed again under another key.
    assert_eq!(relative_files(&moved.join("features")), features_before);
    // Training goes on there: a fine-tuned run from the moved one.
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        moved.to_str().unwrap(),
        "train",
        "--fine-tune",
        &run.to_string(),
        "--epochs",
        "1",
    ]);
    assert!(status.success(), "{stderr}");
}
