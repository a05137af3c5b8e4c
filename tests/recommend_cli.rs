//! `shelfwise recommend`, `project` and `eval` on a small trained library:
//! every kind of query, the filters, a reader's own books left out, an image
//! of a book's own cover finding that book, deterministic projections, and a
//! book added after training embedded without retraining.

mod common;

use std::path::Path;

use common::trained_library;

fn recommend(library: &Path, run: i64, query: &[&str]) -> Vec<serde_json::Value> {
    let run = run.to_string();
    let mut args = vec![
        "--library",
        library.to_str().unwrap(),
        "recommend",
        "--run",
        &run,
        "--json",
    ];
    args.extend_from_slice(query);
    let (status, stdout, stderr) = common::shelfwise(&args);
    assert!(status.success(), "{query:?}: {stderr}");
    let output: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    output["suggestions"].as_array().unwrap().clone()
}

fn ids(suggestions: &[serde_json::Value]) -> Vec<&str> {
    suggestions
        .iter()
        .map(|s| s["external_id"].as_str().unwrap())
        .collect()
}

#[test]
fn every_query_kind_answers_with_explained_suggestions() {
    let (library, source, run) = trained_library();
    let dir = library.path();

    // More like this: never the book itself; every explanation number present.
    let like = recommend(dir, run, &["--like", "b0", "--k", "5"]);
    assert_eq!(like.len(), 5);
    assert!(!ids(&like).contains(&"b0"));
    for s in &like {
        for key in [
            "book_id",
            "title",
            "score",
            "image_weight",
            "text_weight",
            "image_share",
        ] {
            assert!(!s[key].is_null(), "{key} missing in {s}");
        }
        assert!(s["focus"].is_array(), "every book has a cover: {s}");
    }
    let scores: Vec<f64> = like.iter().map(|s| s["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    // Books of the same category share words with the query book.
    assert!(
        like.iter()
            .any(|s| !s["shared_words"].as_array().unwrap().is_empty())
    );
    // By title too.
    assert_eq!(
        ids(&recommend(dir, run, &["--like", "Book 0", "--k", "5"])),
        ids(&like)
    );

    // A description in one category's words lands in that category.
    let text = recommend(
        dir,
        run,
        &["--text", "pirate ship on a stormy ocean", "--k", "3"],
    );
    assert_eq!(text[0]["category"], "Adventure", "{text:?}");
    assert!(
        text[0]["shared_words"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "pirate")
    );

    // An image of a library book's own cover finds that book first.
    let cover = source.path().join("covers/b7.jpg");
    let image = recommend(dir, run, &["--image", cover.to_str().unwrap(), "--k", "3"]);
    assert_eq!(image[0]["external_id"], "b7", "{image:?}");

    // A reader never gets a book they read.
    let reader = recommend(dir, run, &["--reader", "ada", "--k", "37"]);
    assert_eq!(reader.len(), 37);
    for read in ["b0", "b4", "b8"] {
        assert!(!ids(&reader).contains(&read));
    }
    let diverse = recommend(dir, run, &["--reader", "ada", "--k", "5", "--diverse"]);
    assert_eq!(diverse.len(), 5);
    assert!(
        !ids(&diverse)
            .iter()
            .any(|id| ["b0", "b4", "b8"].contains(id))
    );

    // The category filter.
    let mystery = recommend(dir, run, &["--like", "b0", "--category", "Mystery"]);
    assert_eq!(mystery.len(), 10);
    assert!(mystery.iter().all(|s| s["category"] == "Mystery"));

    // Unknown inputs are named.
    let run_arg = run.to_string();
    let base = [
        "--library",
        dir.to_str().unwrap(),
        "recommend",
        "--run",
        &run_arg,
    ];
    let (status, _, stderr) = common::shelfwise(&[&base[..], &["--like", "nope"]].concat());
    assert!(!status.success() && stderr.contains("nope"), "{stderr}");
    let (status, _, stderr) = common::shelfwise(&[&base[..], &["--reader", "zed"]].concat());
    assert!(!status.success() && stderr.contains("zed"), "{stderr}");
    let (status, _, stderr) =
        common::shelfwise(&[&base[..], &["--image", "/no/such.jpg"]].concat());
    assert!(
        !status.success() && stderr.contains("/no/such.jpg"),
        "{stderr}"
    );

    // A book added after training is embedded without retraining.
    let later = tempfile::tempdir().unwrap();
    let csv = common::write_books(
        later.path(),
        &[(
            "late",
            "Late Book",
            "Someone",
            "Fantasy",
            "dragon wizard castle spell sword",
        )],
    );
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "import",
        csv.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stderr}");
    let late = recommend(dir, run, &["--like", "late", "--k", "3"]);
    assert_eq!(late.len(), 3);
    assert!(ids(&recommend(dir, run, &["--like", "b3", "--k", "40"])).contains(&"late"));

    // Evaluation of suggestions on the library.
    let (status, stdout, stderr) = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "eval",
        "--run",
        &run_arg,
        "--json",
    ]);
    assert!(status.success(), "{stderr}");
    let eval: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let suggestions = &eval["suggestions"];
    let precision = suggestions["more_like_this"]["precision"].as_f64().unwrap();
    assert!(
        precision > 0.25,
        "better than chance among 4 categories: {precision}"
    );
    assert!(suggestions["more_like_this"]["ndcg"].as_f64().is_some());
    assert_eq!(suggestions["readers"]["readers"], 2);
    assert!(suggestions["readers"]["hit_rate"].as_f64().is_some());
}

#[test]
fn projections_are_stored_scored_and_repeatable() {
    let (library, _source, run) = trained_library();
    let dir = library.path().to_str().unwrap();
    let run = run.to_string();
    let project = |method: &str, out: &Path| {
        let (status, stdout, stderr) = common::shelfwise(&[
            "--library",
            dir,
            "project",
            "--run",
            &run,
            "--method",
            method,
            "--perplexity",
            "5",
            "--iterations",
            "300",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert!(status.success(), "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["books"], 40);
        let trust = report["trustworthiness"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&trust), "{trust}");
        std::fs::read_to_string(out).unwrap()
    };
    let scratch = tempfile::tempdir().unwrap();
    for method in ["pca", "tsne"] {
        let first = project(method, &scratch.path().join("first.csv"));
        assert_eq!(first.lines().count(), 41, "a header and one line per book");
        assert!(first.starts_with("book_id,external_id,title,category,x,y"));
        let second = project(method, &scratch.path().join("second.csv"));
        assert_eq!(first, second, "{method} is deterministic for a seed");
    }
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir,
        "project",
        "--run",
        &run,
        "--method",
        "umap",
    ]);
    assert!(!status.success() && stderr.contains("umap"), "{stderr}");
}
