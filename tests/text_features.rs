//! Text features on real data: preprocessing of real synopses and titles
//! (English from the bundled demo library, Spanish from `../shared/data`) word
//! by word, and Word2Vec on a corpus whose two word groups never mix.

mod common;

use std::sync::atomic::AtomicBool;

use rand::{Rng as _, SeedableRng as _};
use shelfwise::text::preprocess::{detect_language, tokens};
use shelfwise::text::{Vocab, Word2VecConfig, word2vec};

fn demo_synopsis(id: &str) -> String {
    let mut reader = csv::Reader::from_path(common::demo_csv()).unwrap();
    reader
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == id)
        .map(|r| r[4].to_string())
        .unwrap()
}

#[test]
fn a_real_english_synopsis_word_by_word() {
    let synopsis = demo_synopsis("bram-stoker_dracula");
    let first_sentence = synopsis.split(". ").next().unwrap();
    assert_eq!(
        tokens(first_sentence, "en"),
        [
            "dracula", "one", "famous", "horror", "novel", "respons", "introduc", "eponym",
            "count", "dracula", "lay", "foundat", "mani", "common", "trope", "see", "modern",
            "horror", "fiction"
        ]
    );
    assert_eq!(detect_language(&synopsis).as_deref(), Some("en"));
}

#[test]
fn real_english_typography_curly_quotes_and_dashes() {
    let synopsis = demo_synopsis("h-g-wells_the-time-machine");
    // "The Time Machine is the novel that gave us the concept of—and even the word for—a “time
    // machine.” While it’s not Wells’ first story involving time travel, it is the one that most
    // fully fleshes out the concept of a device that can send a person backwards and forwards in
    // time with complete precision."
    let opening = synopsis.split(". ").next().unwrap();
    assert_eq!(
        tokens(opening, "en"),
        [
            "time", "machin", "novel", "gave", "us", "concept", "even", "word", "time", "machin",
            "well", "first", "stori", "involv", "time", "travel", "one", "fulli", "flesh",
            "concept", "devic", "send", "person", "backward", "forward", "time", "complet",
            "precis"
        ]
    );
}

#[test]
fn real_spanish_titles_word_by_word() {
    let Some(dir) = common::shared_data("openlibrary_covers5") else {
        return;
    };
    let mut reader = csv::Reader::from_path(dir.join("books.csv")).unwrap();
    let titles: Vec<String> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[2] == "Corín Tellado")
        .map(|r| r[1].to_string())
        .collect();
    assert!(titles.len() > 300, "{} Corín Tellado titles", titles.len());
    let title = |t: &str| titles.iter().find(|x| x.as_str() == t).expect(t).clone();
    // Stems as the reference Snowball (Python's snowballstemmer) gives them.
    assert_eq!(
        tokens(&title("Cásate con mi hermana"), "es"),
        ["casat", "herman"]
    );
    assert_eq!(
        tokens(&title("No traté de engañarte"), "es"),
        ["trat", "engañart"]
    );
    assert_eq!(
        tokens(&title("Disculpa mi timidez"), "es"),
        ["disculp", "timidez"]
    );
    // Many titles together are unmistakably Spanish.
    assert_eq!(
        detect_language(&titles[..40].join(". ")).as_deref(),
        Some("es")
    );
}

#[test]
fn word2vec_keeps_two_word_groups_apart() {
    let groups: [Vec<String>; 2] = [
        (0..10).map(|i| format!("sea{i}")).collect(),
        (0..10).map(|i| format!("star{i}")).collect(),
    ];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let lines: Vec<Vec<&str>> = (0..3000)
        .map(|_| {
            let group = &groups[rng.next_u32() as usize % 2];
            (0..12)
                .map(|_| group[rng.next_u32() as usize % 10].as_str())
                .collect()
        })
        .collect();
    let vocab = Vocab::build(lines.iter().map(|l| l.iter().map(|w| (*w, *w))), 2);
    assert_eq!(vocab.len(), 20);
    let sentences: Vec<Vec<u32>> = lines
        .iter()
        .map(|l| l.iter().map(|w| vocab.id(w)).collect())
        .collect();
    let config = Word2VecConfig {
        dim: 32,
        threads: 2,
        epochs: 5,
        ..Word2VecConfig::default()
    };
    let (vectors, stats) =
        word2vec::train(&sentences, vocab, &config, &|_| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!(stats.words, 3000 * 12 * 5);
    for id in 0..20u32 {
        let word = vectors.vocab.word(id).to_string();
        let prefix = &word[..3];
        let neighbours = vectors.nearest(id, 9);
        for (near, similarity) in neighbours {
            let near_word = vectors.vocab.word(near);
            assert!(
                near_word.starts_with(prefix),
                "{word}'s neighbour {near_word} ({similarity:.2}) is from the other group"
            );
        }
    }
}
