//! `shelfwise train-words` and `shelfwise words` on the demo library: vectors
//! are stored with the library, reused while the corpus is unchanged, and
//! retrained when it changes.

mod common;

use common::{demo_csv, shelfwise};
use shelfwise::store::Library;

#[test]
fn word_vectors_are_stored_reused_and_retrained_when_the_corpus_changes() {
    let library_dir = tempfile::tempdir().unwrap();
    let library = library_dir.path().to_str().unwrap();
    let (status, _, stderr) =
        shelfwise(&["--library", library, "import", demo_csv().to_str().unwrap()]);
    assert!(status.success(), "{stderr}");

    let (status, stdout, stderr) = shelfwise(&["--library", library, "train-words", "--json"]);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("training word vectors"),
        "progress goes to stderr: {stderr}"
    );
    let trained: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(trained["vocabulary"].as_u64().unwrap() > 2000, "{trained}");
    assert_eq!(trained["dim"], 100);
    // A small library gets enough epochs for about two million word updates.
    assert!(trained["epochs"].as_u64().unwrap() > 20, "{trained}");
    assert_eq!(trained["stored"], true);

    // Languages were detected and stored apart from named ones: the demo
    // library is English, and its synopses are long enough to tell.
    let opened = Library::open(library_dir.path()).unwrap();
    let texts = opened.book_texts().unwrap();
    assert!(texts.iter().all(|b| b.language.is_none()));
    let english = texts
        .iter()
        .filter(|b| b.detected_language.as_deref() == Some("en"))
        .count();
    assert!(
        english * 10 >= texts.len() * 9,
        "{english} of {}",
        texts.len()
    );
    drop(opened);

    let (status, stdout, stderr) =
        shelfwise(&["--library", library, "words", "vampires", "--json"]);
    assert!(status.success(), "{stderr}");
    assert!(
        !stderr.contains("trained"),
        "the stored vectors were not reused: {stderr}"
    );
    let words: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(words["stem"], "vampir");
    let neighbours = words["neighbours"].as_array().unwrap();
    assert_eq!(neighbours.len(), 10);
    let similarities: Vec<f64> = neighbours
        .iter()
        .map(|n| n["similarity"].as_f64().unwrap())
        .collect();
    assert!(
        similarities.windows(2).all(|w| w[0] >= w[1]),
        "{similarities:?}"
    );
    assert!(
        neighbours
            .iter()
            .all(|n| n["word"].is_string() && n["count"].as_u64().unwrap() >= 2)
    );

    let (status, stdout, _) = shelfwise(&["--library", library, "words", "vampire", "--k", "3"]);
    assert!(status.success());
    assert_eq!(stdout.lines().count(), 3);

    let (status, _, stderr) = shelfwise(&["--library", library, "words", "qqqzzzx"]);
    assert!(!status.success());
    assert!(
        stderr.contains("`qqqzzzx` is not in the library's vocabulary"),
        "{stderr}"
    );

    // A new book changes the corpus: the next question retrains first.
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(
        source.path(),
        &[(
            "new",
            "The Vampire Ship",
            "Ann Archer",
            "Horror",
            "A vampire sails a ghost ship.",
        )],
    );
    let (status, _, stderr) = shelfwise(&["--library", library, "import", csv.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    let (status, _, stderr) = shelfwise(&["--library", library, "words", "vampire"]);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("trained word vectors on the library's current corpus"),
        "{stderr}"
    );
}

#[test]
fn preprocess_prints_one_line_of_tokens_per_book() {
    let (status, stdout, stderr) = shelfwise(&["preprocess", demo_csv().to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 296);
    for line in &lines {
        // Stems of letters, and one token for the author as a whole.
        let tokens: Vec<&str> = line.split(' ').collect();
        let (authors, words): (Vec<&str>, Vec<&str>) =
            tokens.iter().partition(|t| t.starts_with('@'));
        assert_eq!(authors.len(), 1, "{line}");
        assert!(
            authors[0][1..]
                .chars()
                .all(|c| c.is_alphabetic() || c == '_'),
            "{line}"
        );
        assert!(
            words
                .iter()
                .all(|w| !w.is_empty() && w.chars().all(char::is_alphabetic)),
            "{line}"
        );
    }
}

/// Chinese and Japanese titles and synopses, written without spaces, give
/// words (they gave none but the author token before segmentation).
#[test]
fn chinese_and_japanese_books_give_words() {
    let source = tempfile::tempdir().unwrap();
    let csv = source.path().join("books.csv");
    std::fs::write(
        &csv,
        "id,title,author,category,synopsis,cover\n\
         b1,三体,刘慈欣,科幻,文化大革命如火如荼进行的同时，军方探寻外星文明的绝秘计划取得了突破性进展。,\n\
         b2,日本語のタイトル,村上春樹,小説,東京に住む少年は、ある日不思議な猫と出会い、長い旅に出ることになった。,\n",
    )
    .unwrap();
    let (status, stdout, stderr) = shelfwise(&["preprocess", csv.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for word in ["三体", "@刘慈欣", "文化大革命", "外星", "文明"] {
        assert!(lines[0].contains(&word), "{word} in {:?}", lines[0]);
    }
    for word in ["日本", "タイ", "@村上春樹", "東京", "少年"] {
        assert!(lines[1].contains(&word), "{word} in {:?}", lines[1]);
    }
}
