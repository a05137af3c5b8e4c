//! Helpers the integration tests share: covers and CSVs made on the spot.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use shelfwise::import::{self, ImportOptions, ImportReport};
use shelfwise::store::Library;

/// A small JPEG cover in one colour, so that each cover hashes differently.
pub fn jpeg_cover(seed: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(60, 90, |x, y| {
        image::Rgb([(seed * 37 % 256) as u8, (x * 4) as u8, (y * 2 + seed) as u8])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&image)
        .unwrap();
    bytes
}

/// Quotes one CSV field.
pub fn field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Writes `covers/<id>.jpg` for each id and a books.csv naming them; returns the CSV path.
pub fn write_books(dir: &Path, rows: &[(&str, &str, &str, &str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir.join("covers")).unwrap();
    let mut csv = String::from("id,title,author,category,synopsis,cover\n");
    for (index, (id, title, author, category, synopsis)) in rows.iter().enumerate() {
        let cover = format!("covers/{id}.jpg");
        std::fs::write(dir.join(&cover), jpeg_cover(index as u32)).unwrap();
        csv.push_str(
            &[*id, title, author, category, synopsis, &cover]
                .map(field)
                .join(","),
        );
        csv.push('\n');
    }
    let path = dir.join("books.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

pub fn import(library: &mut Library, path: &Path) -> ImportReport {
    import::import_path(
        library,
        path,
        ImportOptions::default(),
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap()
}

/// The bundled demo library in the source tree.
pub fn demo_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/books.csv")
}

/// `../shared/data/<name>` when this checkout has it (CI does; a user's clone does not).
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if dir.join("books.csv").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/data/{name} is not here (only CI and developers have it)");
        None
    }
}

/// Runs the real binary with arguments; returns (status, stdout, stderr).
pub fn shelfwise(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shelfwise"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Four categories, each with five words of its own.
pub const CATEGORY_WORDS: [(&str, [&str; 5]); 4] = [
    (
        "Adventure",
        ["pirate", "ship", "ocean", "treasure", "storm"],
    ),
    (
        "Mystery",
        ["detective", "murder", "clue", "poison", "alibi"],
    ),
    (
        "Science Fiction",
        ["rocket", "planet", "alien", "robot", "galaxy"],
    ),
    ("Fantasy", ["castle", "dragon", "wizard", "spell", "sword"]),
];

/// Writes `count` books into `dir` (ids `b0`, `b1`, ...; book `i` in category
/// `i % 4`, by "Author i", titled `title(i)`, its synopsis `synopsis_words`
/// words of its category's five, a cover of its own); returns the CSV path.
pub fn write_category_books(
    dir: &Path,
    count: usize,
    synopsis_words: usize,
    title: impl Fn(usize) -> String,
) -> PathBuf {
    let rows: Vec<[String; 5]> = (0..count)
        .map(|i| {
            let (category, words) = CATEGORY_WORDS[i % 4];
            let synopsis = (0..synopsis_words)
                .map(|j| words[(i + j) % 5])
                .collect::<Vec<_>>()
                .join(" ");
            [
                format!("b{i}"),
                title(i),
                format!("Author {i}"),
                category.to_string(),
                synopsis,
            ]
        })
        .collect();
    let borrowed: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (&*r[0], &*r[1], &*r[2], &*r[3], &*r[4]))
        .collect();
    write_books(dir, &borrowed)
}

/// 40 books, 10 per category, each with a cover of its own and a synopsis
/// in its category's words; two readers.
pub fn trained_library() -> (tempfile::TempDir, tempfile::TempDir, i64) {
    let source = tempfile::tempdir().unwrap();
    let csv = write_category_books(source.path(), 40, 10, |i| format!("Book {i}"));
    let readings = source.path().join("readings.csv");
    std::fs::write(
        &readings,
        "reader,book_id,rating,date\nada,b0,5,\nada,b4,4,\nada,b8,5,\nbob,b1,5,\nbob,b5,3,\n",
    )
    .unwrap();
    let config = source.path().join("tiny.json");
    std::fs::write(
        &config,
        r#"{"beta": 0.5, "alpha": null, "epochs": 30, "categories_per_batch": 4,
            "books_per_category": 5, "learning_rate": 0.003, "seed": 1,
            "validation_share": 0.2, "modality_dropout": 0.1, "modalities": "fused",
            "max_words": 50,
            "model": {"image_size": 32, "width": 0.125, "word_dim": 100, "lstm_hidden": 16,
                      "fused_channels": 16, "embedding_dim": 16, "categories": 2},
            "trunk": {"image_size": 32, "width": 0.125, "grid": 2, "weights": null, "seed": 1}}"#,
    )
    .unwrap();
    let library = tempfile::tempdir().unwrap();
    let dir = library.path().to_str().unwrap();
    for path in [&csv, &readings] {
        let (status, _, stderr) = shelfwise(&["--library", dir, "import", path.to_str().unwrap()]);
        assert!(status.success(), "{stderr}");
    }
    let (status, stdout, stderr) = shelfwise(&[
        "--library",
        dir,
        "train",
        "--config",
        config.to_str().unwrap(),
        "--json",
    ]);
    assert!(status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let run = report["runs"][0]["run"].as_i64().unwrap();
    (library, source, run)
}

/// `shelfwise --library LIBRARY --json ARGS...`, which must succeed; its JSON.
pub fn shelfwise_json(library: &Path, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["--library", library.to_str().unwrap(), "--json"];
    full.extend_from_slice(args);
    let (status, stdout, stderr) = shelfwise(&full);
    assert!(status.success(), "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// A file dropped on the window, as the windowing integration hands it over.
#[derive(Debug)]
pub struct DroppedPath(pub PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}
