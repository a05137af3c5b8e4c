//! The librarian's commands on a small trained library, as a librarian runs
//! them: an edit (a bad cover refused by name with nothing changed), a
//! delete that takes the book out of suggestions, a re-import that keeps the
//! edit and leaves the trashed book in the trash, restore, undo, the history,
//! and emptying the trash, after which the library checks clean.

mod common;

use std::path::Path;

use common::shelfwise_json as run;

fn suggested(library: &Path, run_id: i64) -> Vec<String> {
    let run_id = run_id.to_string();
    let answer = run(
        library,
        &["recommend", "--run", &run_id, "--like", "b0", "--k", "39"],
    );
    answer["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["external_id"].as_str().unwrap().to_string())
        .collect()
}

fn title_of(library: &Path, book: &str) -> String {
    let library = shelfwise::store::Library::open(library).unwrap();
    let id = library.find_book(book).unwrap();
    library.book_detail(id).unwrap().unwrap().title
}

#[test]
fn edit_delete_reimport_restore_undo_and_empty_from_the_command_line() {
    let (library, source, run_id) = common::trained_library();
    let dir = library.path();
    assert!(suggested(dir, run_id).contains(&"b4".to_string()));

    // An edit; then a cover that is not an image is refused by name.
    let edited = run(
        dir,
        &["edit", "b1", "--title", "Book One", "--category", "Fantasy"],
    );
    assert!(edited["entry"].is_i64(), "{edited}");
    let not_an_image = source.path().join("notes.txt");
    std::fs::write(&not_an_image, "not a cover").unwrap();
    let (status, stdout, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "--json",
        "edit",
        "b1",
        "--title",
        "Book Uno",
        "--cover",
        not_an_image.to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("notes.txt") && stderr.contains("not an image"),
        "{stderr}"
    );
    let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("notes.txt")
    );
    assert_eq!(title_of(dir, "b1"), "Book One");
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "edit",
        "b1",
        "--title",
        "",
    ]);
    assert!(
        !status.success() && stderr.contains("title cannot be empty"),
        "{stderr}"
    );

    // A deleted book leaves the suggestions and the counts.
    run(dir, &["delete", "b4"]);
    assert!(!suggested(dir, run_id).contains(&"b4".to_string()));
    assert_eq!(run(dir, &["stats"])["books"], 39);
    let trash = run(dir, &["trash", "list"]);
    assert_eq!(trash["trash"][0]["external_id"], "b4");

    // Importing the same file again keeps the edit and the trash, and says so.
    let csv = source.path().join("books.csv");
    let report = run(dir, &["import", csv.to_str().unwrap()]);
    assert_eq!(report["kept_edits"], serde_json::json!(["b1"]), "{report}");
    assert_eq!(report["trashed"], serde_json::json!(["b4"]), "{report}");
    assert_eq!(title_of(dir, "b1"), "Book One");
    assert_eq!(run(dir, &["stats"])["books"], 39);

    // Restore, undo the restore, redo it.
    run(dir, &["trash", "restore", "b4"]);
    assert!(suggested(dir, run_id).contains(&"b4".to_string()));
    let undone = run(dir, &["undo"]);
    assert_eq!(undone["entry"]["action"], "restore", "{undone}");
    assert_eq!(run(dir, &["stats"])["books"], 39);
    run(dir, &["redo"]);
    assert_eq!(run(dir, &["stats"])["books"], 40);

    // The history of one book, newest first, with old and new values.
    let history = run(dir, &["history", "b1"]);
    let entries = history["history"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{history}");
    let changes = entries[0]["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["field"] == "title" && c["old"] == "Book 1" && c["new"] == "Book One")
    );

    // Several books get one category in one change, taken back by one undo;
    // other fields are edited one book at a time.
    run(dir, &["edit", "b2", "b3", "--category", "Poetry"]);
    assert_eq!(run(dir, &["stats"])["categories"]["Poetry"], 2);
    run(dir, &["undo"]);
    assert!(run(dir, &["stats"])["categories"].get("Poetry").is_none());
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "edit",
        "b2",
        "b3",
        "--title",
        "Same",
    ]);
    assert!(
        !status.success() && stderr.contains("--category alone"),
        "{stderr}"
    );

    // The run trained before these changes says how many of its books changed.
    let runs = run(dir, &["runs"]);
    assert_eq!(runs["runs"][0]["books_changed_since"], 2, "{runs}");
    let (_, listing, _) = common::shelfwise(&["--library", dir.to_str().unwrap(), "runs"]);
    assert!(
        listing.contains("2 of its books changed since"),
        "{listing}"
    );

    // Emptying the trash removes the book and its cover file, and the
    // library checks clean afterwards.
    run(dir, &["delete", "b4"]);
    let cover_files = |dir: &Path| common::walk(&dir.join("covers")).len();
    let before = cover_files(dir);
    let emptied = run(dir, &["trash", "empty"]);
    assert_eq!(emptied["books"], 1, "{emptied}");
    assert_eq!(emptied["cover_files"], 1, "{emptied}");
    assert_eq!(cover_files(dir), before - 1);
    assert_eq!(run(dir, &["stats"])["books"], 39);
    let check = run(dir, &["check"]);
    assert_eq!(check["findings"], serde_json::json!([]), "{check}");
    // Gone for good: restoring it names the book that is not there.
    let (status, _, stderr) =
        common::shelfwise(&["--library", dir.to_str().unwrap(), "trash", "restore", "b4"]);
    assert!(
        !status.success() && stderr.contains("no book b4"),
        "{stderr}"
    );
}
