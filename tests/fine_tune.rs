//! A finished run fine-tuned on a grown library, through the command line as
//! a librarian runs it: the parent's held-out books stay held out, the new
//! books join the split, a new category gets its own classifier row, the run
//! records its parent and starts where the parent left off.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use shelfwise::store::{Library, RunId};

/// Books `from..to` in the four test categories, plus `horror` books of a
/// category the first import did not have, each with words of its own.
fn write_batch(dir: &Path, from: usize, to: usize, horror: usize, prefix: &str) -> String {
    let horror_words = ["ghost", "crypt", "vampire", "haunted", "scream"];
    let mut rows: Vec<[String; 5]> = (from..to)
        .map(|i| {
            let (category, words) = common::CATEGORY_WORDS[i % 4];
            let synopsis: Vec<&str> = (0..10).map(|j| words[(i + j) % 5]).collect();
            [
                format!("{prefix}{i}"),
                format!("Book {i}"),
                format!("Author {i}"),
                category.to_string(),
                synopsis.join(" "),
            ]
        })
        .collect();
    rows.extend((0..horror).map(|i| {
        let synopsis: Vec<&str> = (0..10).map(|j| horror_words[(i + j) % 5]).collect();
        [
            format!("{prefix}h{i}"),
            format!("Night {i}"),
            format!("Writer {i}"),
            "Horror".to_string(),
            synopsis.join(" "),
        ]
    }));
    let borrowed: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (&*r[0], &*r[1], &*r[2], &*r[3], &*r[4]))
        .collect();
    common::write_books(dir, &borrowed)
        .to_str()
        .unwrap()
        .to_string()
}

fn split(library: &Path, run: i64) -> serde_json::Value {
    let path = library.join(format!("runs/{run}/split.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn ids(value: &serde_json::Value) -> BTreeSet<i64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

fn words(library: &Path, run: i64) -> Vec<String> {
    let path = library.join(format!("runs/{run}/vocabulary.json"));
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    serde_json::from_value(value["words"].clone()).unwrap()
}

#[test]
fn a_fine_tuned_run_keeps_its_parents_split_and_grows_a_row_for_a_new_category() {
    let source = tempfile::tempdir().unwrap();
    let config = source.path().join("tiny.json");
    std::fs::write(
        &config,
        r#"{"beta": 0.5, "epochs": 12, "categories_per_batch": 4, "books_per_category": 4,
            "learning_rate": 0.003, "seed": 1, "validation_share": 0.25, "max_words": 50,
            "modality_dropout": 0.1, "modalities": "fused", "alpha": null,
            "model": {"image_size": 32, "width": 0.125, "word_dim": 100, "lstm_hidden": 16,
                      "fused_channels": 16, "embedding_dim": 16, "categories": 2},
            "trunk": {"image_size": 32, "width": 0.125, "grid": 2, "weights": null, "seed": 1}}"#,
    )
    .unwrap();
    let library = tempfile::tempdir().unwrap();
    let root = library.path();
    let dir = root.to_str().unwrap();
    let run = |args: &[&str]| {
        let (status, stdout, stderr) = common::shelfwise(&[&["--library", dir], args].concat());
        assert!(status.success(), "{args:?}: {stderr}");
        stdout
    };

    let first = source.path().join("first");
    run(&["import", &write_batch(&first, 0, 32, 0, "b")]);
    run(&["train", "--config", config.to_str().unwrap(), "--json"]);

    // Only a finished run fine-tunes, and only one that exists.
    let (status, _, stderr) = common::shelfwise(&["--library", dir, "train", "--fine-tune", "9"]);
    assert!(
        !status.success() && stderr.contains("there is no run 9"),
        "{stderr}"
    );

    let second = source.path().join("second");
    run(&["import", &write_batch(&second, 32, 48, 8, "b")]);
    let stdout = run(&["train", "--fine-tune", "1", "--epochs", "6", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["runs"][0]["run"], 2, "{stdout}");

    let runs: serde_json::Value = serde_json::from_str(&run(&["runs", "--json"])).unwrap();
    let tuned = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == 2)
        .unwrap();
    assert_eq!(tuned["parent"], 1, "{runs}");
    assert_eq!(tuned["status"], "finished");
    assert_eq!(tuned["epochs"], 6);
    assert!(run(&["runs"]).contains("fine-tuned from run 1"));

    // The parent's books stay on their sides; the new ones join both.
    let (parent, child) = (split(root, 1), split(root, 2));
    let (parent_train, parent_held) = (ids(&parent["train"]), ids(&parent["validation"]));
    let (child_train, child_held) = (ids(&child["train"]), ids(&child["validation"]));
    assert!(parent_held.is_subset(&child_held), "{parent} / {child}");
    assert!(parent_train.is_subset(&child_train), "{parent} / {child}");
    assert_eq!(child_train.len() + child_held.len(), 56);
    assert!(child_train.is_disjoint(&child_held));
    let new_held = child_held.difference(&parent_held).count();
    assert_eq!(new_held, 6, "a quarter of each new category: {child}");
    // The parent's rows first, the new category after them.
    let mut categories: Vec<String> = serde_json::from_value(parent["categories"].clone()).unwrap();
    categories.push("Horror".into());
    assert_eq!(child["categories"], serde_json::json!(categories));
    // The parent's words keep their ids; the new books' words follow.
    let (parent_words, child_words) = (words(root, 1), words(root, 2));
    assert_eq!(child_words[..parent_words.len()], parent_words[..]);
    assert!(child_words[parent_words.len()..].contains(&"ghost".to_string()));

    // It starts where the parent ended, not from scratch.
    let store = Library::open(root).unwrap();
    let child_steps = store.run_steps(RunId(2)).unwrap();
    let (parent_epochs, child_epochs) = (
        store.run_epochs(RunId(1)).unwrap(),
        store.run_epochs(RunId(2)).unwrap(),
    );
    assert!(
        child_epochs[0].val_accuracy > parent_epochs[0].val_accuracy + 0.25,
        "first epoch's validation accuracy: parent {:.3}, fine-tune {:.3}",
        parent_epochs[0].val_accuracy,
        child_epochs[0].val_accuracy
    );
    assert_eq!(child_steps[0].step, 1, "a fine-tune counts its own steps");

    // Books it never saw, the new category among them, are told apart.
    let unseen = source.path().join("unseen");
    let csv = write_batch(&unseen, 0, 12, 4, "u");
    let report: serde_json::Value =
        serde_json::from_str(&run(&["eval", "--run", "2", "--csv", &csv, "--json"])).unwrap();
    let horror = &report["per_category"]["Horror"];
    assert!(
        horror["sensitivity"].as_f64().unwrap() >= 0.5,
        "Horror on unseen books: {report}"
    );
}
