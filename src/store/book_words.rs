//! Each book's distinct words as the text preprocessing read them, kept so
//! that a query's reasons read them instead of tokenising and stemming the
//! suggested books (and a reader's books) again: on a 100,000-book library
//! that tokenising was most of a whole query's time past the search.

use std::collections::HashMap;

use rusqlite::params;

use super::ids::id_list;
use super::{BookId, Library, StoreError};

/// One book's words to keep, in the text layer's encoding, with the stamp of
/// the book they were read from.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptWords {
    pub book_id: BookId,
    /// The book's `updated_at` when its text was read: an edit since makes
    /// the row stale.
    pub book_updated_at: String,
    pub words: String,
}

impl Library {
    /// Keeps `rows` (replacing a book's older row) in one transaction.
    pub fn keep_book_words(
        &mut self,
        rows: &[KeptWords],
        preprocess_version: u32,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO book_words (book_id, book_updated_at, preprocess_version, words)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for row in rows {
                put.execute(params![
                    row.book_id.0,
                    row.book_updated_at,
                    preprocess_version,
                    row.words
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The books whose kept words are current: read by `preprocess_version`
    /// since the book last changed.
    pub fn books_with_current_words(
        &self,
        preprocess_version: u32,
    ) -> Result<Vec<BookId>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT w.book_id FROM book_words w JOIN books b ON b.book_id = w.book_id
             WHERE w.book_updated_at = b.updated_at AND w.preprocess_version = ?1",
        )?;
        let rows = stmt.query_map([preprocess_version], |row| Ok(BookId(row.get(0)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every book's current kept words (books in the trash left out), for
    /// an index that keeps them beside the placements.
    pub fn all_current_words(
        &self,
        preprocess_version: u32,
    ) -> Result<Vec<(BookId, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT w.book_id, w.words FROM book_words w JOIN books b ON b.book_id = w.book_id
             WHERE w.book_updated_at = b.updated_at
               AND w.preprocess_version = ?1 AND b.deleted_at IS NULL",
        )?;
        let rows = stmt.query_map([preprocess_version], |row| {
            Ok((BookId(row.get(0)?), row.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The current kept words of those of `book_ids` that have them; a book
    /// edited since, or read by another preprocessing version, is left out
    /// (its text is read again by the caller).
    pub fn current_words_of(
        &self,
        book_ids: &[BookId],
        preprocess_version: u32,
    ) -> Result<HashMap<BookId, String>, StoreError> {
        // One statement for all of them: a reader's query asks for thirty
        // books or more, and each statement of its own began a read of the
        // database anew.
        let mut stmt = self.conn.prepare_cached(
            "SELECT w.book_id, w.words FROM book_words w JOIN books b ON b.book_id = w.book_id
             WHERE w.book_id IN (SELECT value FROM json_each(?1))
               AND w.book_updated_at = b.updated_at
               AND w.preprocess_version = ?2 AND b.deleted_at IS NULL",
        )?;
        let mut found = HashMap::with_capacity(book_ids.len());
        let rows = stmt.query_map(params![id_list(book_ids), preprocess_version], |row| {
            Ok((BookId(row.get(0)?), row.get(1)?))
        })?;
        for row in rows {
            let (book_id, words) = row?;
            found.insert(book_id, words);
        }
        Ok(found)
    }
}
