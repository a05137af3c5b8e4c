//! The model helps with books that have no category: a trained run suggests
//! one with its confidence, and accepting it makes it the librarian's (kept
//! by a re-import, undone like any change).

mod common;

use common::shelfwise_json as run;

#[test]
fn books_without_a_category_get_the_runs_with_its_confidence_and_one_is_accepted() {
    let (library, source, run_id) = common::trained_library();
    let dir = library.path();
    // Four new books without a category, each in one category's words.
    let rows: Vec<[String; 5]> = common::CATEGORY_WORDS
        .iter()
        .enumerate()
        .map(|(i, (_, words))| {
            [
                format!("new{i}"),
                format!("New book {i}"),
                format!("Writer {i}"),
                String::new(),
                words.repeat(2).join(" "),
            ]
        })
        .collect();
    let borrowed: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (&*r[0], &*r[1], &*r[2], &*r[3], &*r[4]))
        .collect();
    let folder = source.path().join("new");
    let csv = common::write_books(&folder, &borrowed);
    run(dir, &["import", csv.to_str().unwrap()]);

    let run_arg = run_id.to_string();
    let answer = run(dir, &["suggest-categories", "--run", &run_arg]);
    let suggestions = answer["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 4, "{answer}");
    let confidences: Vec<f64> = suggestions
        .iter()
        .map(|s| s["confidence"].as_f64().unwrap())
        .collect();
    assert!(
        confidences.windows(2).all(|w| w[0] >= w[1]),
        "{confidences:?}"
    );
    assert!(confidences.iter().all(|c| (0.0..=1.0).contains(c)));
    let right = suggestions
        .iter()
        .filter(|s| {
            let i: usize = s["external_id"].as_str().unwrap()[3..].parse().unwrap();
            s["category"] == common::CATEGORY_WORDS[i].0
        })
        .count();
    assert!(right >= 3, "{answer}");

    // Accepting one (or choosing another) makes it the librarian's.
    run(
        dir,
        &["suggest-categories", "--run", &run_arg, "--accept", "new0"],
    );
    run(
        dir,
        &[
            "suggest-categories",
            "--run",
            &run_arg,
            "--accept",
            "new1",
            "--category",
            "Poetry",
        ],
    );
    let left = run(dir, &["suggest-categories", "--run", &run_arg]);
    assert_eq!(left["suggestions"].as_array().unwrap().len(), 2, "{left}");
    let history = run(dir, &["history", "new1"]);
    assert_eq!(history["history"][0]["action"], "accept_category");
    let report = run(dir, &["import", csv.to_str().unwrap()]);
    assert_eq!(
        report["kept_edits"],
        serde_json::json!(["new0", "new1"]),
        "{report}"
    );
    let stats = run(dir, &["stats"]);
    assert_eq!(stats["categories"]["Poetry"], 1, "{stats}");
}
