//! Each book's distinct words kept with the library (see
//! [`crate::store::KeptWords`]): written whenever the corpus is read, read by
//! a query for the words a suggestion shares with it.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::corpus::{book_language, book_tokens};
use super::preprocess::{PREPROCESS_VERSION, Token};
use crate::store::{BookId, KeptWords, Library, StoreError};

/// The first token of each stem among `tokens`, in the order they appear:
/// all a query's reasons need of a text (they show a shared stem as its
/// first word).
fn first_of_each_stem<'a>(
    tokens: impl IntoIterator<Item = &'a Token>,
) -> impl Iterator<Item = &'a Token> {
    let mut seen = HashSet::new();
    tokens
        .into_iter()
        .filter(move |token| seen.insert(token.stem.as_str()))
}

/// A text's tokens once per stem (see [`first_of_each_stem`]).
pub fn distinct_tokens(tokens: &[Token]) -> Vec<Token> {
    first_of_each_stem(tokens).cloned().collect()
}

/// The kept form: one token a line, its stem, then a tab and its word where
/// the word differs. `None` when a token holds a tab or a line break (such a
/// book is not kept; its text is read again).
pub fn encode<'a>(tokens: impl IntoIterator<Item = &'a Token>) -> Option<String> {
    let mut kept = String::new();
    for token in tokens {
        if [&token.stem, &token.word]
            .iter()
            .any(|part| part.contains(['\t', '\n']))
        {
            return None;
        }
        if !kept.is_empty() {
            kept.push('\n');
        }
        kept.push_str(&token.stem);
        if token.word != token.stem {
            kept.push('\t');
            kept.push_str(&token.word);
        }
    }
    Some(kept)
}

/// Each (stem, word) [`encode`] kept, borrowed from the kept form.
fn kept_stems_and_words(kept: &str) -> impl Iterator<Item = (&str, &str)> {
    kept.lines()
        .filter(|line| !line.is_empty())
        .map(|line| line.split_once('\t').unwrap_or((line, line)))
}

/// The tokens [`encode`] kept.
pub fn decode(kept: &str) -> Vec<Token> {
    kept_stems_and_words(kept)
        .map(|(stem, word)| Token {
            stem: stem.to_string(),
            word: word.to_string(),
        })
        .collect()
}

/// One book's distinct words: as the library keeps them, or as read from its
/// text when they were not kept. Read in place: decoding a reader's thirty
/// books into two strings a word was a quarter of a reader's query.
#[derive(Debug, Clone, PartialEq)]
pub enum BookWords {
    Kept(String),
    Read(Vec<Token>),
}

impl BookWords {
    /// Each distinct word's stem and the word as the book first writes it.
    pub fn stems_and_words(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        match self {
            Self::Kept(kept) => Box::new(kept_stems_and_words(kept)),
            Self::Read(tokens) => Box::new(
                tokens
                    .iter()
                    .map(|token| (token.stem.as_str(), token.word.as_str())),
            ),
        }
    }

    /// The words as tokens.
    pub fn to_tokens(&self) -> Vec<Token> {
        match self {
            Self::Kept(kept) => decode(kept),
            Self::Read(tokens) => tokens.clone(),
        }
    }
}

/// Gathers the words of books whose kept words are not current, as a pass
/// over the library reads their texts, and keeps them at the end: the corpus
/// and a run's placements of every book both read every text anyway.
pub struct WordKeeper {
    /// Each book's `updated_at`, read before the texts: a book edited after
    /// gets words that are stale at once, never words that pass for current.
    stamps: HashMap<BookId, String>,
    current: BTreeSet<BookId>,
    rows: Vec<KeptWords>,
    /// False on a read-only library (nothing is kept).
    writable: bool,
}

impl WordKeeper {
    /// Made before the pass reads the texts.
    pub fn new(library: &Library) -> Result<Self, StoreError> {
        let writable = !library.is_read_only();
        let (stamps, current) = if writable {
            (
                library.book_update_stamps()?.into_iter().collect(),
                library
                    .books_with_current_words(PREPROCESS_VERSION)?
                    .into_iter()
                    .collect(),
            )
        } else {
            Default::default()
        };
        Ok(Self {
            stamps,
            current,
            rows: Vec::new(),
            writable,
        })
    }

    /// One book's tokens as the pass read them.
    pub fn offer(&mut self, book_id: BookId, tokens: &[Token]) {
        if !self.writable || self.current.contains(&book_id) {
            return;
        }
        let Some(book_updated_at) = self.stamps.get(&book_id) else {
            return;
        };
        if let Some(words) = encode(first_of_each_stem(tokens)) {
            self.rows.push(KeptWords {
                book_id,
                book_updated_at: book_updated_at.clone(),
                words,
            });
        }
    }

    /// Keeps what was offered; returns how many books' words it kept.
    pub fn keep(self, library: &mut Library) -> Result<usize, StoreError> {
        if !self.rows.is_empty() {
            library.keep_book_words(&self.rows, PREPROCESS_VERSION)?;
        }
        Ok(self.rows.len())
    }
}

/// The distinct tokens of each of `book_ids` (those not in the trash): from
/// `in_memory` (the kept words an index holds, current when it was built),
/// else the library's kept ones where current, the others read from the
/// book's text as the corpus reads it.
pub fn words_of_books(
    library: &Library,
    in_memory: &HashMap<BookId, String>,
    book_ids: &[BookId],
) -> Result<HashMap<BookId, BookWords>, StoreError> {
    let mut words: HashMap<BookId, BookWords> = book_ids
        .iter()
        .filter_map(|id| Some((*id, BookWords::Kept(in_memory.get(id)?.clone()))))
        .collect();
    let not_in_memory: Vec<BookId> = book_ids
        .iter()
        .filter(|id| !words.contains_key(id))
        .copied()
        .collect();
    let kept = if not_in_memory.is_empty() {
        HashMap::new()
    } else {
        library.current_words_of(&not_in_memory, PREPROCESS_VERSION)?
    };
    let missing: Vec<BookId> = not_in_memory
        .iter()
        .filter(|id| !kept.contains_key(id))
        .copied()
        .collect();
    words.extend(
        kept.into_iter()
            .map(|(book_id, kept)| (book_id, BookWords::Kept(kept))),
    );
    if !missing.is_empty() {
        for text in library.book_texts_of(&missing)? {
            let tokens = book_tokens(&text, &book_language(&text));
            words.insert(text.book_id, BookWords::Read(distinct_tokens(&tokens)));
        }
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(stem: &str, word: &str) -> Token {
        Token {
            stem: stem.into(),
            word: word.into(),
        }
    }

    #[test]
    fn distinct_tokens_keep_each_stems_first_word_in_order() {
        let tokens = vec![
            token("sail", "sailing"),
            token("sea", "sea"),
            token("sail", "sails"),
            token("mutini", "mutiny"),
        ];
        assert_eq!(
            distinct_tokens(&tokens),
            vec![
                token("sail", "sailing"),
                token("sea", "sea"),
                token("mutini", "mutiny")
            ]
        );
    }

    #[test]
    fn encoding_round_trips_and_refuses_what_it_cannot_hold() {
        let tokens = vec![
            token("sail", "sailing"),
            token("sea", "sea"),
            token("@joseph_conrad", "@joseph_conrad"),
            token("東京", "東京"),
        ];
        let kept = encode(&tokens).unwrap();
        assert_eq!(kept, "sail\tsailing\nsea\n@joseph_conrad\n東京");
        assert_eq!(decode(&kept), tokens);
        assert_eq!(decode(""), Vec::<Token>::new());
        assert_eq!(encode(&[token("a\tb", "a")]), None);
        assert_eq!(encode(&[token("ab", "a\nb")]), None);
    }

    fn new_book(external_id: &str, title: &str, synopsis: &str) -> crate::store::NewBook {
        crate::store::NewBook {
            external_id: external_id.into(),
            title: title.into(),
            author: "Joseph Conrad".into(),
            synopsis: synopsis.into(),
            category: "Sea".into(),
            language: None,
            cover: None,
        }
    }

    fn live_words(library: &Library, book_id: BookId) -> Vec<Token> {
        let text = library.book_texts_of(&[book_id]).unwrap().remove(0);
        distinct_tokens(&book_tokens(&text, &book_language(&text)))
    }

    /// The corpus keeps every book's words; a query reads them back as the
    /// text would give them, and a book edited since is read from its new
    /// text, not from its stale kept words.
    #[test]
    fn kept_words_are_read_while_current_and_an_edit_makes_them_stale() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        library
            .upsert_books(
                &[
                    new_book(
                        "a",
                        "Typhoon",
                        "The steamer sails into a typhoon; the sailors' courage holds.",
                    ),
                    new_book(
                        "b",
                        "Lord Jim",
                        "A young seaman abandons a ship and seeks redemption.",
                    ),
                ],
                "test",
            )
            .unwrap();
        let ids: Vec<BookId> = library
            .book_texts()
            .unwrap()
            .iter()
            .map(|t| t.book_id)
            .collect();
        assert!(
            library
                .current_words_of(&ids, PREPROCESS_VERSION)
                .unwrap()
                .is_empty()
        );

        crate::text::corpus::library_corpus(&mut library).unwrap();
        let kept = library.current_words_of(&ids, PREPROCESS_VERSION).unwrap();
        assert_eq!(kept.len(), 2);
        let words = words_of_books(&library, &HashMap::new(), &ids).unwrap();
        for &id in &ids {
            assert_eq!(decode(&kept[&id]), live_words(&library, id));
            assert_eq!(words[&id].to_tokens(), live_words(&library, id));
        }
        assert!(matches!(words[&ids[0]], BookWords::Kept(_)));
        assert!(
            words[&ids[0]]
                .stems_and_words()
                .any(|pair| pair == ("sailor", "sailors"))
        );

        let edit = crate::store::BookEdit {
            synopsis: Some("A storm at sea, and a captain who will not turn away.".into()),
            ..Default::default()
        };
        library.edit_book(ids[0], &edit).unwrap();
        assert_eq!(
            library
                .books_with_current_words(PREPROCESS_VERSION)
                .unwrap(),
            vec![ids[1]]
        );
        let words = words_of_books(&library, &HashMap::new(), &ids).unwrap();
        assert!(matches!(words[&ids[0]], BookWords::Read(_)));
        assert_eq!(words[&ids[0]].to_tokens(), live_words(&library, ids[0]));
        let stems = || words[&ids[0]].stems_and_words().map(|(stem, _)| stem);
        assert!(stems().any(|stem| stem == "captain"));
        assert!(!stems().any(|stem| stem == "sailor"));
        // Words an index keeps in memory are read from there, the others
        // from the library.
        let in_memory = HashMap::from([(ids[1], "kept\tin memory".to_string())]);
        let words = words_of_books(&library, &in_memory, &ids).unwrap();
        assert_eq!(words[&ids[1]].to_tokens(), vec![token("kept", "in memory")]);
        assert_eq!(words[&ids[0]].to_tokens(), live_words(&library, ids[0]));
        let all: HashMap<BookId, String> = library
            .all_current_words(PREPROCESS_VERSION)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            vec![&ids[1]],
            "the edited book's are stale"
        );
        // Another preprocessing version's words do not count.
        assert!(
            library
                .current_words_of(&ids, PREPROCESS_VERSION + 1)
                .unwrap()
                .is_empty()
        );
    }
}
