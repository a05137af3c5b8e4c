//! Books and their covers: what imports write, what the grid, the detail
//! panel and the text corpus read.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::ids::id_list;
use super::{BookId, Library, StoreError};

/// A cover stored in the library: original bytes and thumbnail, named by content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCover {
    pub cover_hash: String,
    pub file_name: String,
    pub thumb_name: String,
    pub width: u32,
    pub height: u32,
}

/// One book as an importer hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBook {
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub synopsis: String,
    pub category: String,
    pub language: Option<String>,
    /// `None` keeps the cover a re-imported book already has.
    pub cover: Option<StoredCover>,
}

/// How many rows a write added and how many it changed in place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteCounts {
    pub imported: usize,
    pub updated: usize,
}

/// What writing a batch of books did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BooksWritten {
    pub counts: WriteCounts,
    /// Books updated whose librarian-edited fields were kept, by external id.
    pub kept_edits: Vec<String>,
    /// Books in the trash that the batch named and left there, by external id.
    pub trashed: Vec<String>,
}

/// A book as an export writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub category: String,
    pub synopsis: String,
    /// As an import named it (a detected language is not exported).
    pub language: Option<String>,
    /// Its cover's file under `covers/`.
    pub cover_file: Option<String>,
}

/// A book's text fields, for building the text corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct BookText {
    pub book_id: BookId,
    /// As the import named it.
    pub language: Option<String>,
    /// As the last corpus build found it, when the import named none.
    pub detected_language: Option<String>,
    pub title: String,
    pub author: String,
    pub synopsis: String,
    /// Read with the text in one statement, so a run's labels and covers are
    /// those of the same moment as its texts.
    pub category: String,
    pub cover_hash: Option<String>,
}

/// What the grid needs of a book: small, loaded for every book at once.
#[derive(Debug, Clone, PartialEq)]
pub struct BookSummary {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub category: String,
    pub thumb_path: Option<PathBuf>,
}

/// Everything about one book, for the detail panel.
#[derive(Debug, Clone, PartialEq)]
pub struct BookDetail {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub synopsis: String,
    pub category: String,
    /// As the import named it, else as last detected.
    pub language: Option<String>,
    pub cover_path: Option<PathBuf>,
    pub thumb_path: Option<PathBuf>,
    pub source: String,
    pub added_at: String,
    /// When it was moved to the trash; `None` for a book in the library.
    pub deleted_at: Option<String>,
}

/// Counts for `shelfwise stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryStats {
    pub books: u64,
    pub with_cover: u64,
    pub with_synopsis: u64,
    pub categories: std::collections::BTreeMap<String, u64>,
    pub readers: u64,
    pub readings: u64,
}

/// A re-imported book's row: the import's values, but for the fields the
/// librarian edited (?9 .. ?14: title, author, synopsis, category, language,
/// cover), which keep theirs.
const UPDATE_KEEPING_EDITS: &str = "UPDATE books SET title = CASE WHEN ?9 THEN title ELSE ?2 END,
    author = CASE WHEN ?10 THEN author ELSE ?3 END,
    synopsis = CASE WHEN ?11 THEN synopsis ELSE ?4 END,
    category = CASE WHEN ?12 THEN category ELSE ?5 END,
    language = CASE WHEN ?13 THEN language ELSE COALESCE(?6, language) END,
    cover_hash = CASE WHEN ?14 THEN cover_hash ELSE COALESCE(?7, cover_hash) END,
    source = ?8, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
 WHERE book_id = ?1";

fn update_keeping_edits(
    update: &mut rusqlite::CachedStatement<'_>,
    (book_id, edited): (i64, &str),
    book: &NewBook,
    cover_hash: Option<&str>,
    source: &str,
) -> Result<(), StoreError> {
    let kept = |field| super::is_edited(edited, field);
    use super::BookField as F;
    update.execute(params![
        book_id,
        book.title,
        book.author,
        book.synopsis,
        book.category,
        book.language,
        cover_hash,
        source,
        kept(F::Title),
        kept(F::Author),
        kept(F::Synopsis),
        kept(F::Category),
        kept(F::Language),
        kept(F::Cover),
    ])?;
    Ok(())
}

impl Library {
    /// Every stored cover by hash, so an import can skip decoding covers it already has.
    pub fn stored_covers(
        &self,
    ) -> Result<std::collections::HashMap<String, StoredCover>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT cover_hash, file_name, thumb_name, width, height FROM covers")?;
        let rows = stmt.query_map([], |row| {
            Ok(StoredCover {
                cover_hash: row.get(0)?,
                file_name: row.get(1)?,
                thumb_name: row.get(2)?,
                width: row.get(3)?,
                height: row.get(4)?,
            })
        })?;
        rows.map(|row| {
            row.map(|c| (c.cover_hash.clone(), c))
                .map_err(StoreError::from)
        })
        .collect()
    }

    /// Adds or updates books by external id, all in one transaction: either every
    /// book of the batch is written whole, or none is. A field the librarian
    /// edited keeps the librarian's value, and a book in the trash is left
    /// there (both are named in what it returns).
    pub fn upsert_books(
        &mut self,
        books: &[NewBook],
        source: &str,
    ) -> Result<BooksWritten, StoreError> {
        let tx = self.conn.transaction()?;
        let mut written = BooksWritten::default();
        {
            let mut find = tx.prepare_cached(
                "SELECT book_id, edited_fields, deleted_at IS NOT NULL FROM books WHERE external_id = ?1",
            )?;
            let mut put_cover = tx.prepare_cached(
                "INSERT INTO covers (cover_hash, file_name, thumb_name, width, height)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(cover_hash) DO NOTHING",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO books (external_id, title, author, synopsis, category, language, cover_hash, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut update = tx.prepare_cached(UPDATE_KEEPING_EDITS)?;
            for book in books {
                let existing: Option<(i64, String, bool)> = find
                    .query_row([&book.external_id], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()?;
                if let Some((_, _, true)) = existing {
                    written.trashed.push(book.external_id.clone());
                    continue;
                }
                if let Some(cover) = &book.cover {
                    put_cover.execute(params![
                        cover.cover_hash,
                        cover.file_name,
                        cover.thumb_name,
                        cover.width,
                        cover.height
                    ])?;
                }
                let cover_hash = book.cover.as_ref().map(|c| c.cover_hash.as_str());
                match existing {
                    Some((book_id, edited, _)) => {
                        update_keeping_edits(
                            &mut update,
                            (book_id, &edited),
                            book,
                            cover_hash,
                            source,
                        )?;
                        if !edited.is_empty() {
                            written.kept_edits.push(book.external_id.clone());
                        }
                        written.counts.updated += 1;
                    }
                    None => {
                        insert.execute(params![
                            book.external_id,
                            book.title,
                            book.author,
                            book.synopsis,
                            book.category,
                            book.language,
                            cover_hash,
                            source
                        ])?;
                        written.counts.imported += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(written)
    }

    /// Which of these external ids name books already in the library.
    pub fn book_id_by_external(&self, external_id: &str) -> Result<Option<BookId>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT book_id FROM books WHERE external_id = ?1")?
            .query_row([external_id], |row| row.get(0).map(BookId))
            .optional()?)
    }

    pub fn book_count(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM books WHERE deleted_at IS NULL",
            [],
            |row| row.get(0),
        )?)
    }

    pub fn stats(&self) -> Result<LibraryStats, StoreError> {
        let (books, with_cover, with_synopsis) = self.conn.query_row(
            "SELECT COUNT(*), COUNT(cover_hash), COALESCE(SUM(synopsis <> ''), 0) FROM books
             WHERE deleted_at IS NULL",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT category, COUNT(*) FROM books WHERE deleted_at IS NULL GROUP BY category ORDER BY category")?;
        let categories = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let readers = self
            .conn
            .query_row("SELECT COUNT(*) FROM readers", [], |row| row.get(0))?;
        let readings = self
            .conn
            .query_row("SELECT COUNT(*) FROM readings", [], |row| row.get(0))?;
        Ok(LibraryStats {
            books,
            with_cover,
            with_synopsis,
            categories,
            readers,
            readings,
        })
    }

    /// Every book, ordered by title, with just what a cover grid needs.
    pub fn book_summaries(&self) -> Result<Vec<BookSummary>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.book_id, b.external_id, b.title, b.author, b.category, c.thumb_name
             FROM books b LEFT JOIN covers c ON c.cover_hash = b.cover_hash
             WHERE b.deleted_at IS NULL
             ORDER BY b.title COLLATE NOCASE, b.book_id",
        )?;
        let rows = stmt.query_map([], |row| self.summary_row(row))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `book_ids` with just what a list of suggestions shows (not their
    /// synopses, which a suggestion does not show and which are most of a
    /// book's row), in one statement; a book not found is left out.
    pub fn book_summaries_of(&self, book_ids: &[BookId]) -> Result<Vec<BookSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT b.book_id, b.external_id, b.title, b.author, b.category, c.thumb_name
             FROM books b LEFT JOIN covers c ON c.cover_hash = b.cover_hash
             WHERE b.book_id IN (SELECT value FROM json_each(?1))",
        )?;
        let rows = stmt.query_map([id_list(book_ids)], |row| self.summary_row(row))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn summary_row(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<BookSummary> {
        let thumb_name: Option<String> = row.get(5)?;
        Ok(BookSummary {
            book_id: BookId(row.get(0)?),
            external_id: row.get(1)?,
            title: row.get(2)?,
            author: row.get(3)?,
            category: row.get(4)?,
            thumb_path: thumb_name.map(|name| self.thumb_path(&name)),
        })
    }

    /// One book, whole.
    pub fn book_detail(&self, book_id: BookId) -> Result<Option<BookDetail>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT b.book_id, b.external_id, b.title, b.author, b.synopsis, b.category,
                        COALESCE(b.language, b.detected_language), c.file_name, c.thumb_name, b.source, b.added_at,
                        b.deleted_at
                 FROM books b LEFT JOIN covers c ON c.cover_hash = b.cover_hash
                 WHERE b.book_id = ?1",
            )?
            .query_row([book_id.0], |row| {
                    let file_name: Option<String> = row.get(7)?;
                    let thumb_name: Option<String> = row.get(8)?;
                    Ok(BookDetail {
                        book_id: BookId(row.get(0)?),
                        external_id: row.get(1)?,
                        title: row.get(2)?,
                        author: row.get(3)?,
                        synopsis: row.get(4)?,
                        category: row.get(5)?,
                        language: row.get(6)?,
                        cover_path: file_name.map(|name| self.cover_path(&name)),
                        thumb_path: thumb_name.map(|name| self.thumb_path(&name)),
                        source: row.get(9)?,
                        added_at: row.get(10)?,
                        deleted_at: row.get(11)?,
                    })
            })
            .optional()?)
    }

    /// Checks that every stored book is whole: its cover, when it has one, exists on
    /// disk with its thumbnail. Returns the external ids of books that are not.
    pub fn books_with_missing_cover_files(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.external_id, c.file_name, c.thumb_name FROM books b
             JOIN covers c ON c.cover_hash = b.cover_hash ORDER BY b.book_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut broken = Vec::new();
        for row in rows {
            let (external_id, file_name, thumb_name) = row?;
            if !self.cover_path(&file_name).is_file() || !self.thumb_path(&thumb_name).is_file() {
                broken.push(external_id);
            }
        }
        Ok(broken)
    }

    /// Each book with a cover, and that cover's hash.
    pub fn book_cover_hashes(&self) -> Result<Vec<(BookId, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, cover_hash FROM books WHERE cover_hash IS NOT NULL AND deleted_at IS NULL
             ORDER BY book_id",
        )?;
        let rows = stmt.query_map([], |row| Ok((BookId(row.get(0)?), row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every book not in the trash, as an export writes it, in book id order.
    pub fn export_rows(&self) -> Result<Vec<ExportRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.book_id, b.external_id, b.title, b.author, b.category, b.synopsis, b.language,
                    c.file_name
             FROM books b LEFT JOIN covers c ON c.cover_hash = b.cover_hash
             WHERE b.deleted_at IS NULL ORDER BY b.book_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(ExportRow {
                book_id: BookId(row.get(0)?),
                external_id: row.get(1)?,
                title: row.get(2)?,
                author: row.get(3)?,
                category: row.get(4)?,
                synopsis: row.get(5)?,
                language: row.get(6)?,
                cover_file: row.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Each book's language: the one its import named, else the one found.
    pub fn book_languages(&self) -> Result<Vec<(BookId, Option<String>)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, COALESCE(language, detected_language) FROM books
             WHERE deleted_at IS NULL ORDER BY book_id",
        )?;
        let rows = stmt.query_map([], |row| Ok((BookId(row.get(0)?), row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every book's text, in book id order.
    pub fn book_texts(&self) -> Result<Vec<BookText>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {BOOK_TEXT_COLUMNS} FROM books WHERE deleted_at IS NULL ORDER BY book_id"
        ))?;
        let rows = stmt.query_map([], book_text_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Changes whenever a book is added, edited, deleted or restored (the
    /// count the schema's triggers keep). Lets a window keep a run's index of
    /// 100,000 books between queries and know when it is out of date,
    /// without reading the books.
    pub fn books_fingerprint(&self) -> Result<String, StoreError> {
        let version: i64 = self
            .conn
            .prepare_cached("SELECT version FROM books_version")?
            .query_row([], |row| row.get(0))?;
        Ok(version.to_string())
    }

    /// The texts of `book_ids` alone (those not in the trash), for a query
    /// that needs a few books of a large library, not all of them.
    pub fn book_texts_of(&self, book_ids: &[BookId]) -> Result<Vec<BookText>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {BOOK_TEXT_COLUMNS} FROM books WHERE book_id = ?1 AND deleted_at IS NULL"
        ))?;
        let mut texts = Vec::with_capacity(book_ids.len());
        for book_id in book_ids {
            if let Some(text) = stmt.query_row([book_id.0], book_text_row).optional()? {
                texts.push(text);
            }
        }
        Ok(texts)
    }

    /// Stores the languages books were found to be in (`None`: no reliable
    /// guess), all in one transaction; the languages imports named stay.
    pub fn set_detected_languages(
        &mut self,
        languages: &[(BookId, Option<String>)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut put =
                tx.prepare_cached("UPDATE books SET detected_language = ?2 WHERE book_id = ?1")?;
            for (book_id, language) in languages {
                put.execute(params![book_id.0, language])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every book's row id and when it last changed, the stamp a run's stored
    /// embedding is checked against.
    pub fn book_update_stamps(&self) -> Result<Vec<(BookId, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, updated_at FROM books WHERE deleted_at IS NULL ORDER BY book_id",
        )?;
        let rows = stmt.query_map([], |row| Ok((BookId(row.get(0)?), row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Library {
    /// Forgets a cover whose file is gone or damaged: its books keep every
    /// other field and show no cover; the next import of the file restores it.
    pub fn forget_cover(&mut self, cover_hash: &str) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let books = tx.execute(
            "UPDATE books SET cover_hash = NULL, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE cover_hash = ?1",
            [cover_hash],
        )?;
        tx.execute("DELETE FROM covers WHERE cover_hash = ?1", [cover_hash])?;
        tx.commit()?;
        Ok(books)
    }
}

/// The distinct non-empty categories among `names`, sorted: the label order
/// of every run and every table.
pub fn sorted_categories<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut sorted: Vec<String> = names
        .into_iter()
        .filter(|name| !name.is_empty())
        .cloned()
        .collect();
    sorted.sort();
    sorted.dedup();
    sorted
}

const BOOK_TEXT_COLUMNS: &str =
    "book_id, language, title, author, synopsis, detected_language, category, cover_hash";

fn book_text_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<BookText> {
    Ok(BookText {
        book_id: BookId(row.get(0)?),
        language: row.get(1)?,
        title: row.get(2)?,
        author: row.get(3)?,
        synopsis: row.get(4)?,
        detected_language: row.get(5)?,
        category: row.get(6)?,
        cover_hash: row.get(7)?,
    })
}
