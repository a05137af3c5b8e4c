//! The library's history: every change a librarian makes (an edit, a delete,
//! a restore, a category set on many books) is one entry of field changes,
//! each with its old and new value, written in the same transaction as the
//! change itself. Undo writes an entry's old values back and redo its new
//! ones; a new change after an undo drops the entries that were undone, as
//! editors do.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::{BookId, EntryId, Library, StoreError};

/// The columns of `books` a history entry may change, and nothing else: a
/// field name read back from the database is checked against this list
/// before it is written into SQL.
const CHANGEABLE: [&str; 8] = [
    "title",
    "author",
    "category",
    "synopsis",
    "language",
    "cover_hash",
    "deleted_at",
    "edited_fields",
];

/// One field of one book, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub book_id: BookId,
    /// The book's id in its import file, as read back (empty when written).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub external_id: String,
    /// The `books` column.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A history entry as `shelfwise history` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub entry: EntryId,
    pub at: String,
    /// `edit`, `delete`, `restore`, `set_category`, ...
    pub action: String,
    pub summary: String,
    /// Undone, waiting for a redo.
    pub undone: bool,
    pub changes: Vec<FieldChange>,
}

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// The history field of a book's place on a shelf: `shelf:<shelf_id>`, its
/// value the position (or none, off the shelf).
pub(super) const SHELF_FIELD: &str = "shelf:";

/// The history field of a reader's reading of a book: `reading:<reader_id>`,
/// its value the reading as JSON (`{"rating": 4.0, "read_on": "2024-05-01"}`),
/// or none when the reader has no reading of it.
pub(super) const READING_FIELD: &str = "reading:";

/// A reading as a history value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct ReadingValue {
    pub rating: Option<f64>,
    pub read_on: Option<String>,
}

fn write_reading(
    tx: &Transaction<'_>,
    book: BookId,
    reader: &str,
    value: Option<&str>,
) -> Result<(), StoreError> {
    let reader: i64 = reader
        .parse()
        .map_err(|_| StoreError::History(format!("no reader `{reader}`")))?;
    match value {
        Some(json) => {
            let reading: ReadingValue = serde_json::from_str(json)
                .map_err(|e| StoreError::History(format!("reading `{json}`: {e}")))?;
            tx.execute(
                "INSERT INTO readings (reader_id, book_id, rating, read_on) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(reader_id, book_id) DO UPDATE SET rating = excluded.rating, read_on = excluded.read_on",
                params![reader, book.0, reading.rating, reading.read_on],
            )?;
        }
        None => {
            tx.execute(
                "DELETE FROM readings WHERE reader_id = ?1 AND book_id = ?2",
                params![reader, book.0],
            )?;
        }
    }
    Ok(())
}

/// Puts `book` at `position` on a shelf, or takes it off with `None`.
fn write_shelf_place(
    tx: &Transaction<'_>,
    book: BookId,
    shelf: &str,
    position: Option<&str>,
) -> Result<(), StoreError> {
    let shelf: i64 = shelf
        .parse()
        .map_err(|_| StoreError::History(format!("no shelf `{shelf}`")))?;
    match position {
        Some(position) => {
            let position: i64 = position
                .parse()
                .map_err(|_| StoreError::History(format!("shelf position `{position}`")))?;
            tx.execute(
                "INSERT INTO shelf_books (shelf_id, book_id, position) VALUES (?1, ?2, ?3)
                 ON CONFLICT(shelf_id, book_id) DO UPDATE SET position = excluded.position",
                params![shelf, book.0, position],
            )?;
        }
        None => {
            tx.execute(
                "DELETE FROM shelf_books WHERE shelf_id = ?1 AND book_id = ?2",
                params![shelf, book.0],
            )?;
        }
    }
    Ok(())
}

/// Writes `value` into `field` of `book`, marking the book as changed (so
/// that stored embeddings of it are placed again).
fn write_field(
    tx: &Transaction<'_>,
    book: BookId,
    field: &str,
    value: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(shelf) = field.strip_prefix(SHELF_FIELD) {
        return write_shelf_place(tx, book, shelf, value);
    }
    if let Some(reader) = field.strip_prefix(READING_FIELD) {
        return write_reading(tx, book, reader, value);
    }
    let column = CHANGEABLE
        .iter()
        .find(|c| **c == field)
        .ok_or_else(|| StoreError::History(format!("a change of `{field}` cannot be applied")))?;
    tx.execute(
        &format!("UPDATE books SET {column} = ?2, updated_at = {NOW} WHERE book_id = ?1"),
        params![book.0, value],
    )?;
    Ok(())
}

/// Applies `changes` and records them as one entry, in `tx`; entries that
/// were undone are dropped (a new change ends what could be redone).
pub(super) fn apply_and_record(
    tx: &Transaction<'_>,
    action: &str,
    summary: &str,
    changes: &[FieldChange],
) -> Result<EntryId, StoreError> {
    tx.execute("DELETE FROM history WHERE undone = 1", [])?;
    tx.execute(
        "INSERT INTO history (action, summary) VALUES (?1, ?2)",
        params![action, summary],
    )?;
    let entry = EntryId(tx.last_insert_rowid());
    let mut insert = tx.prepare_cached(
        "INSERT INTO history_changes (entry_id, seq, book_id, field, old_value, new_value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (seq, change) in changes.iter().enumerate() {
        write_field(tx, change.book_id, &change.field, change.new.as_deref())?;
        insert.execute(params![
            entry.0,
            seq as i64,
            change.book_id.0,
            change.field,
            change.old,
            change.new
        ])?;
    }
    Ok(entry)
}

fn changes_of(tx: &Transaction<'_>, entry: EntryId) -> Result<Vec<FieldChange>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT c.book_id, c.field, c.old_value, c.new_value, COALESCE(b.external_id, '')
         FROM history_changes c LEFT JOIN books b ON b.book_id = c.book_id
         WHERE c.entry_id = ?1 ORDER BY c.seq",
    )?;
    let rows = stmt.query_map([entry.0], |row| {
        Ok(FieldChange {
            book_id: BookId(row.get(0)?),
            field: row.get(1)?,
            old: row.get(2)?,
            new: row.get(3)?,
            external_id: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Library {
    /// Undoes the newest entry not yet undone: its old values written back,
    /// last change first. `None` when there is nothing to undo.
    pub fn undo(&mut self) -> Result<Option<HistoryEntry>, StoreError> {
        self.walk_history(
            "SELECT entry_id FROM history WHERE undone = 0 ORDER BY entry_id DESC LIMIT 1",
            true,
        )
    }

    /// Redoes the oldest entry that was undone. `None` when there is nothing
    /// to redo.
    pub fn redo(&mut self) -> Result<Option<HistoryEntry>, StoreError> {
        self.walk_history(
            "SELECT entry_id FROM history WHERE undone = 1 ORDER BY entry_id LIMIT 1",
            false,
        )
    }

    fn walk_history(&mut self, pick: &str, undo: bool) -> Result<Option<HistoryEntry>, StoreError> {
        let tx = self.conn.transaction()?;
        let Some(entry) = tx
            .query_row(pick, [], |row| row.get::<_, i64>(0))
            .optional()?
            .map(EntryId)
        else {
            return Ok(None);
        };
        let changes = changes_of(&tx, entry)?;
        if undo {
            for change in changes.iter().rev() {
                write_field(&tx, change.book_id, &change.field, change.old.as_deref())?;
            }
        } else {
            for change in &changes {
                write_field(&tx, change.book_id, &change.field, change.new.as_deref())?;
            }
        }
        tx.execute(
            "UPDATE history SET undone = ?2 WHERE entry_id = ?1",
            params![entry.0, undo],
        )?;
        let (at, action, summary) = tx.query_row(
            "SELECT at, action, summary FROM history WHERE entry_id = ?1",
            [entry.0],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        tx.commit()?;
        Ok(Some(HistoryEntry {
            entry,
            at,
            action,
            summary,
            undone: undo,
            changes,
        }))
    }

    /// The books a librarian's change (not undone) touched after `at` (a
    /// stored time, as runs and history entries write them).
    pub fn books_changed_since(
        &self,
        at: &str,
    ) -> Result<std::collections::BTreeSet<BookId>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT c.book_id FROM history_changes c JOIN history h ON h.entry_id = c.entry_id
             WHERE h.undone = 0 AND h.at > ?1",
        )?;
        let rows = stmt.query_map([at], |row| row.get(0).map(BookId))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The history, newest first; with `book`, only the entries that changed
    /// it (and of those, only its changes).
    pub fn history(&mut self, book: Option<BookId>) -> Result<Vec<HistoryEntry>, StoreError> {
        let tx = self.conn.transaction()?;
        let entries: Vec<(EntryId, String, String, String, bool)> = {
            let mut stmt = tx.prepare(
                "SELECT entry_id, at, action, summary, undone FROM history h
                 WHERE ?1 IS NULL OR EXISTS (SELECT 1 FROM history_changes c
                                             WHERE c.entry_id = h.entry_id AND c.book_id = ?1)
                 ORDER BY entry_id DESC",
            )?;
            let rows = stmt.query_map([book.map(|b| b.0)], |row| {
                Ok((
                    EntryId(row.get(0)?),
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let mut history = Vec::with_capacity(entries.len());
        for (entry, at, action, summary, undone) in entries {
            let changes = changes_of(&tx, entry)?
                .into_iter()
                .filter(|c| book.is_none_or(|b| c.book_id == b))
                .collect();
            history.push(HistoryEntry {
                entry,
                at,
                action,
                summary,
                undone,
                changes,
            });
        }
        Ok(history)
    }
}
