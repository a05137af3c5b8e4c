//! Text → tokens, the same way for the library's corpus, a typed query and a
//! probe word: markup stripped, NFKC, lower case, Unicode word boundaries,
//! digits and punctuation dropped, stop words removed and Snowball stems, all
//! in the book's language. Chinese and Japanese, written without spaces, are
//! segmented first: Chinese into words by jieba's dictionary, Japanese (for
//! which no segmenter ships its dictionary in the crate) into overlapping
//! character pairs, as Lucene's CJK analyser does.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization as _;
use unicode_segmentation::UnicodeSegmentation as _;

/// Bumped whenever tokens change for the same text, so stored word vectors
/// trained on older tokens are known to be stale.
pub const PREPROCESS_VERSION: u32 = 4;

/// Language used when none is given and detection finds none (ISO 639-1).
pub const DEFAULT_LANGUAGE: &str = "en";

/// Languages with both a Snowball stemmer and a stop-word list, as ISO 639-1
/// codes with their whatlang and rust-stemmers names.
const LANGUAGES: &[(&str, whatlang::Lang, Algorithm)] = &[
    ("en", whatlang::Lang::Eng, Algorithm::English),
    ("es", whatlang::Lang::Spa, Algorithm::Spanish),
    ("fr", whatlang::Lang::Fra, Algorithm::French),
    ("de", whatlang::Lang::Deu, Algorithm::German),
    ("it", whatlang::Lang::Ita, Algorithm::Italian),
    ("pt", whatlang::Lang::Por, Algorithm::Portuguese),
    ("nl", whatlang::Lang::Nld, Algorithm::Dutch),
    ("sv", whatlang::Lang::Swe, Algorithm::Swedish),
    ("da", whatlang::Lang::Dan, Algorithm::Danish),
    ("fi", whatlang::Lang::Fin, Algorithm::Finnish),
    ("hu", whatlang::Lang::Hun, Algorithm::Hungarian),
    ("ru", whatlang::Lang::Rus, Algorithm::Russian),
    ("tr", whatlang::Lang::Tur, Algorithm::Turkish),
    ("ro", whatlang::Lang::Ron, Algorithm::Romanian),
    ("el", whatlang::Lang::Ell, Algorithm::Greek),
    ("no", whatlang::Lang::Nob, Algorithm::Norwegian),
    ("ar", whatlang::Lang::Ara, Algorithm::Arabic),
];

/// One language's stop words and stemmer.
struct LanguageTools {
    stop_words: HashSet<&'static str>,
    stemmer: Stemmer,
}

fn tools(language: &str) -> Option<&'static LanguageTools> {
    static TOOLS: OnceLock<HashMap<&'static str, LanguageTools>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            LANGUAGES
                .iter()
                .map(|(code, _, algorithm)| {
                    let stop_words = stop_words::lookup(code)
                        .unwrap_or_default()
                        .iter()
                        .copied()
                        .collect();
                    (
                        *code,
                        LanguageTools {
                            stop_words,
                            stemmer: Stemmer::create(*algorithm),
                        },
                    )
                })
                .collect()
        })
        .get(language)
}

/// Turns a language name as import files write it ("en", "eng", "English",
/// "es-MX") into an ISO 639-1 code, if it is one we know.
pub fn normalise_language(given: &str) -> Option<String> {
    let given = given.trim().to_lowercase();
    let primary = given.split(['-', '_']).next().unwrap_or("");
    let language = match primary.len() {
        2 => isolang::Language::from_639_1(primary),
        3 => isolang::Language::from_639_3(primary),
        _ => isolang::Language::from_name_lowercase(primary),
    }?;
    language.to_639_1().map(str::to_string)
}

/// Detects a text's language among those we can stem; `None` unless
/// whatlang calls the guess reliable. Short titles are often misread ("Change
/// or Die" as Dutch, "How to think like Benjamin Graham" as Dutch too): their
/// words were then stemmed and stop-worded as another language, and one word
/// became several stems. Falling back to the default language instead lifted
/// a TF-IDF baseline on openlibrary_covers5 from 0.785 to 0.795 macro-F1.
pub fn detect_language(text: &str) -> Option<String> {
    static DETECTOR: OnceLock<whatlang::Detector> = OnceLock::new();
    let detector = DETECTOR.get_or_init(|| {
        whatlang::Detector::with_allowlist(LANGUAGES.iter().map(|(_, lang, _)| *lang).collect())
    });
    let info = detector.detect(text)?;
    if !info.is_reliable() {
        return None;
    }
    LANGUAGES
        .iter()
        .find(|(_, lang, _)| *lang == info.lang())
        .map(|(code, ..)| code.to_string())
}

/// One word as it appears in the text, cleaned: lower case, letters only.
/// `None` for digits, single letters and stop words.
fn clean_word(raw: &str, tools: Option<&LanguageTools>) -> Option<String> {
    if raw.chars().any(|c| c.is_numeric()) {
        return None;
    }
    let apostrophes_unified = raw.replace(['\u{2019}', '\u{2018}', '\u{02BC}'], "'");
    if let Some(tools) = tools
        && tools.stop_words.contains(apostrophes_unified.as_str())
    {
        return None;
    }
    let without_possessive = apostrophes_unified
        .strip_suffix("'s")
        .unwrap_or(&apostrophes_unified);
    let letters: String = without_possessive
        .chars()
        .filter(|c| c.is_alphabetic() || is_combining_mark(*c))
        .collect();
    if letters.chars().count() < 2 {
        return None;
    }
    if let Some(tools) = tools
        && tools.stop_words.contains(letters.as_str())
    {
        return None;
    }
    Some(letters)
}

/// Marks that NFKC leaves combined with their letter in some scripts (Devanagari
/// vowel signs, Arabic harakat) belong to the word.
fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x0610..=0x061A | 0x064B..=0x065F | 0x0900..=0x0903 | 0x093A..=0x094F)
}

/// Han ideographs (with their extensions and compatibility forms).
fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Hiragana, katakana (with the prolonged sound mark) and halfwidth katakana.
fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3041..=0x309F | 0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F)
}

fn is_cjk(c: char) -> bool {
    is_han(c) || is_kana(c)
}

/// How a run of Han and kana characters becomes words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CjkSegmentation {
    /// jieba's dictionary; words of one character (mostly particles) dropped.
    ChineseWords,
    /// Overlapping character pairs (a lone character stays as it is).
    Bigrams,
}

/// Japanese when the language says so or the text has kana; else Chinese.
fn cjk_segmentation(text: &str, language: &str) -> CjkSegmentation {
    match language {
        "ja" => CjkSegmentation::Bigrams,
        "zh" => CjkSegmentation::ChineseWords,
        _ if text.chars().any(is_kana) => CjkSegmentation::Bigrams,
        _ => CjkSegmentation::ChineseWords,
    }
}

fn jieba() -> &'static jieba_rs::Jieba {
    static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    JIEBA.get_or_init(jieba_rs::Jieba::new)
}

/// The words of one run of Han and kana characters.
fn cjk_words(run: &str, how: CjkSegmentation) -> Vec<String> {
    match how {
        CjkSegmentation::ChineseWords => jieba()
            .cut(run, true)
            .into_iter()
            .filter(|word| word.chars().count() >= 2)
            .map(str::to_string)
            .collect(),
        CjkSegmentation::Bigrams => {
            let chars: Vec<char> = run.chars().collect();
            if chars.len() < 2 {
                return vec![run.to_string()];
            }
            chars.windows(2).map(|pair| pair.iter().collect()).collect()
        }
    }
}

/// The text cut into runs of Han and kana and runs of everything else.
fn script_runs(text: &str) -> Vec<(bool, &str)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (offset, c) in text.char_indices() {
        let cjk = is_cjk(c);
        if current.is_some_and(|was| was != cjk) {
            runs.push((current.unwrap_or(false), &text[start..offset]));
            start = offset;
        }
        current = Some(cjk);
    }
    if let Some(cjk) = current {
        runs.push((cjk, &text[start..]));
    }
    runs
}

/// A token and the word it was stemmed from, for showing stems as words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub stem: String,
    pub word: String,
}

/// The full pipeline; `language` is an ISO 639-1 code (unknown codes: no stop
/// words and no stemming, only the cleaning).
pub fn tokens_with_words(text: &str, language: &str) -> Vec<Token> {
    let tools = tools(language);
    let plain = if text.contains('<') || text.contains('&') {
        nanohtml2text::html2text(text)
    } else {
        text.to_string()
    };
    let normalised: String = plain.nfkc().collect::<String>().to_lowercase();
    let segmentation = cjk_segmentation(&normalised, language);
    let mut tokens = Vec::new();
    for (cjk, run) in script_runs(&normalised) {
        if cjk {
            let words = cjk_words(run, segmentation);
            tokens.extend(words.into_iter().map(|word| Token {
                stem: word.clone(),
                word,
            }));
            continue;
        }
        tokens.extend(
            run.unicode_words()
                .filter_map(|raw| clean_word(raw, tools))
                .map(|word| {
                    let stem = match tools {
                        Some(tools) => tools.stemmer.stem(&word).into_owned(),
                        None => word.clone(),
                    };
                    Token { stem, word }
                }),
        );
    }
    tokens
}

/// The stems only: what Word2Vec and the text encoder read.
pub fn tokens(text: &str, language: &str) -> Vec<String> {
    tokens_with_words(text, language)
        .into_iter()
        .map(|token| token.stem)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_cut_into_words() {
        let stems = tokens(
            "三体：地球往事。文化大革命如火如荼进行的同时，军方探寻外星文明的绝秘计划取得了突破性进展。",
            "en",
        );
        for word in ["三体", "地球", "往事", "文化大革命", "外星", "文明", "计划"]
        {
            assert!(stems.iter().any(|s| s == word), "{word} in {stems:?}");
        }
        // Particles of one character (的, 了) are left out, like stop words.
        assert!(stems.iter().all(|s| s.chars().count() >= 2), "{stems:?}");
    }

    #[test]
    fn japanese_is_cut_into_character_pairs() {
        let stems = tokens("日本語のタイトル", "en");
        assert_eq!(
            stems,
            ["日本", "本語", "語の", "のタ", "タイ", "イト", "トル"]
        );
        let synopsis = tokens(
            "東京に住む少年は、ある日不思議な猫と出会い、長い旅に出ることになった。",
            "ja",
        );
        assert!(synopsis.len() > 20, "{synopsis:?}");
        assert!(synopsis.contains(&"東京".to_string()) && synopsis.contains(&"少年".to_string()));
    }

    #[test]
    fn scripts_mixed_in_one_text_are_each_read_their_way() {
        let stems = tokens("Liu Cixin 刘慈欣: The Three-Body Problem 三体问题", "en");
        assert!(stems.contains(&"problem".to_string()), "{stems:?}");
        assert!(stems.contains(&"刘慈欣".to_string()), "{stems:?}");
        assert!(stems.iter().any(|s| s.contains("三体")), "{stems:?}");
    }

    #[test]
    fn english_word_by_word() {
        assert_eq!(
            tokens(
                "The Wizard's 3 apprentices were WALKING through 1,000 forests!",
                "en"
            ),
            ["wizard", "apprentic", "walk", "forest"]
        );
    }

    #[test]
    fn markup_and_entities_are_cleansed() {
        assert_eq!(
            tokens(
                "<p>Knights &amp; <b>dragons</b>&nbsp;fight&hellip;</p>",
                "en"
            ),
            ["knight", "dragon", "fight"]
        );
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        // Full-width letters and the "fi" ligature become plain letters.
        assert_eq!(tokens("ＳＥＡ ﬁsh", "en"), ["sea", "fish"]);
    }

    #[test]
    fn curly_apostrophes_and_contractions() {
        assert_eq!(
            tokens("Aeschylus’ play doesn’t end; Clytemnestra’s plot", "en"),
            ["aeschylus", "play", "end", "clytemnestra", "plot"]
        );
    }

    #[test]
    fn spanish_word_by_word() {
        assert_eq!(
            tokens(
                "Los caballeros cabalgaban hacia las montañas del norte",
                "es"
            ),
            ["caballer", "cabalg", "haci", "montañ", "nort"]
        );
    }

    #[test]
    fn an_unknown_language_is_only_cleaned() {
        assert_eq!(
            tokens("Ĉi tiu libro, 2 fojojn!", "eo"),
            ["ĉi", "tiu", "libro", "fojojn"]
        );
    }

    #[test]
    fn languages_are_normalised_and_detected() {
        assert_eq!(normalise_language("eng").as_deref(), Some("en"));
        assert_eq!(normalise_language("es-MX").as_deref(), Some("es"));
        assert_eq!(normalise_language("Spanish").as_deref(), Some("es"));
        assert_eq!(normalise_language("zz"), None);
        assert_eq!(
            detect_language(
                "El caballero cabalgaba hacia las montañas del norte con su espada y su escudo"
            )
            .as_deref(),
            Some("es")
        );
        assert_eq!(
            detect_language(
                "The knight rode towards the northern mountains with his sword and shield"
            )
            .as_deref(),
            Some("en")
        );
    }

    #[test]
    fn short_titles_are_not_guessed() {
        // The second was read as Dutch, and stemmed as such, when any guess
        // with a confidence of 0.2 or more was taken.
        for title in [
            "Change or Die. ",
            "How to think like Benjamin Graham and invest like Warren Buffett. ",
            "How to become power agent in real estate. ",
        ] {
            assert_eq!(detect_language(title), None, "{title}");
        }
    }
}
