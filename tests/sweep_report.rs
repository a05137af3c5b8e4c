//! The analyst's way out of the app: a sweep over seeds from the command
//! line, its report as one HTML page, and a run's placements for TensorBoard
//! Projector and NumPy.

mod common;

use std::path::Path;

/// 40 books in 4 categories, two readers, and a tiny sweep over two seeds:
/// fused at β 0.3 and 0.5, image-only and text-only, per seed (8 runs).
fn swept_library() -> (tempfile::TempDir, tempfile::TempDir) {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 40, 10, |i| format!("Book {i}"));
    let config = source.path().join("tiny.json");
    std::fs::write(
        &config,
        r#"{"beta": 0.5, "alpha": null, "epochs": 3, "categories_per_batch": 4,
            "books_per_category": 5, "learning_rate": 0.003, "seed": 1,
            "validation_share": 0.2, "modality_dropout": 0.1, "modalities": "fused",
            "alignment": 0.5,
            "max_words": 50,
            "model": {"image_size": 32, "width": 0.125, "word_dim": 100, "lstm_hidden": 16,
                      "fused_channels": 16, "embedding_dim": 16, "categories": 2},
            "trunk": {"image_size": 32, "width": 0.125, "grid": 2, "weights": null, "seed": 1}}"#,
    )
    .unwrap();
    let library = tempfile::tempdir().unwrap();
    let dir = library.path();
    common::shelfwise_json(dir, &["import", csv.to_str().unwrap()]);
    let config = config.to_str().unwrap();
    let trained = common::shelfwise_json(
        dir,
        &[
            "train",
            "--config",
            config,
            "--beta",
            "0.3,0.5",
            "--single-modal",
            "--seeds",
            "1,2",
        ],
    );
    assert_eq!(trained["runs"].as_array().unwrap().len(), 8, "{trained}");
    (library, source)
}

#[test]
fn a_sweep_over_seeds_is_reported_on_one_page_and_its_placements_exported() {
    let (library, _source) = swept_library();
    let dir = library.path();

    // Each seed its own split: the runs say their seed, the held-out books differ.
    let runs = common::shelfwise_json(dir, &["runs"]);
    let seeds: Vec<i64> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_i64().unwrap())
        .collect();
    assert_eq!(seeds, [2, 2, 2, 2, 1, 1, 1, 1], "newest first: {runs}");
    let held_out = |run: u32| -> Vec<i64> {
        let file = dir.join(format!("runs/{run}/held_out.json"));
        let books: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let mut ids: Vec<i64> = books
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["book_id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(held_out(1).len(), 8, "a fifth of 40 books held out");
    assert_eq!(held_out(1), held_out(2), "one seed, one split");
    assert_ne!(held_out(1), held_out(5), "another seed, another split");
    let (_, listing, _) = common::shelfwise(&["--library", dir.to_str().unwrap(), "runs"]);
    assert!(
        listing.contains("run 5 (sweep 1, seed 2): fused, β 0.3"),
        "{listing}"
    );

    // The report: one page, every plot an inline SVG, the spread over seeds.
    let out = tempfile::tempdir().unwrap();
    let written = common::shelfwise_json(
        dir,
        &[
            "report",
            "--sweep",
            "1",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    let page_path = Path::new(written["page"].as_str().unwrap());
    let page = std::fs::read_to_string(page_path).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Objective, cross-entropy, triplet, alignment; macro-F1 and accuracy per
    // epoch; macro-F1 against beta.
    assert_eq!(page.matches("<svg").count(), 7, "every plot is drawn");
    assert!(page.contains("Held-out macro-F1 against beta"));
    assert!(page.contains("fused, β 0.3 (2 runs)"), "a band per setting");
    assert!(
        page.contains("text only</td><td>2</td>"),
        "text-only over 2 seeds"
    );
    assert!(page.contains("true \\ predicted"), "confusion matrices");
    assert!(page.contains("chance (8 books)"), "retrieval with chance");
    assert!(page.contains("Trunk provenance") && page.contains("\"seed\": 2"));
    assert!(
        !page.contains("src=\"http"),
        "nothing is fetched from elsewhere"
    );
    let missing =
        common::shelfwise(&["--library", dir.to_str().unwrap(), "report", "--sweep", "9"]);
    assert!(
        !missing.0.success() && missing.2.contains("there is no sweep 9"),
        "{}",
        missing.2
    );

    // TensorBoard Projector: vectors and metadata row for row, a sprite, a config.
    let projector = out.path().join("projector");
    let exported = common::shelfwise_json(
        dir,
        &[
            "embeddings",
            "--run",
            "1",
            "--out",
            projector.to_str().unwrap(),
        ],
    );
    assert_eq!(exported["books"], 40, "{exported}");
    let dims = exported["dimensions"].as_u64().unwrap() as usize;
    let vectors = std::fs::read_to_string(projector.join("vectors.tsv")).unwrap();
    assert_eq!(vectors.lines().count(), 40);
    assert!(vectors.lines().all(|l| l.split('\t').count() == dims));
    let metadata = std::fs::read_to_string(projector.join("metadata.tsv")).unwrap();
    assert_eq!(metadata.lines().count(), 41, "a header and a row per book");
    assert!(metadata.starts_with("id\ttitle\tauthor\tcategory\tsplit\n"));
    assert_eq!(metadata.matches("\theld out\n").count(), 8);
    let sprite = image::open(projector.join("sprite.png")).unwrap();
    assert_eq!(
        (sprite.width(), sprite.height()),
        (7 * 64, 7 * 64),
        "7 x 7 cells"
    );
    let config = std::fs::read_to_string(projector.join("projector_config.pbtxt")).unwrap();
    assert!(
        config.contains("tensor_path: \"vectors.tsv\"") && config.contains("single_image_dim: 64")
    );
    let again = common::shelfwise(&[
        "--library",
        dir.to_str().unwrap(),
        "embeddings",
        "--run",
        "1",
        "--out",
        projector.to_str().unwrap(),
    ]);
    assert!(
        !again.0.success() && again.2.contains("is not empty"),
        "{}",
        again.2
    );

    // NumPy: a float32 array of books x dimensions, and its metadata.
    let numpy = out.path().join("numpy");
    common::shelfwise_json(
        dir,
        &[
            "embeddings",
            "--run",
            "1",
            "--format",
            "npy",
            "--out",
            numpy.to_str().unwrap(),
        ],
    );
    let array = tch::Tensor::read_npy(numpy.join("embeddings.npy")).unwrap();
    assert_eq!(array.size(), [40, dims as i64]);
    assert_eq!(array.kind(), tch::Kind::Float);
    let rows = std::fs::read_to_string(numpy.join("metadata.csv")).unwrap();
    assert_eq!(rows.lines().count(), 41);
}
