//! What a librarian changes by hand, each change one history entry
//! ([`super::history`]): a book's fields (marked as the librarian's, so that
//! a re-import keeps them), categories set on many books at once, and the
//! trash (deleted books leave the grid, suggestions and training, and come
//! back on restore; emptying the trash is the only thing that removes them
//! and their cover files).

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::history::{FieldChange, READING_FIELD, ReadingValue, apply_and_record};
use super::{BookId, EntryId, Library, StoreError, StoredCover};

/// A field of a book the librarian can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookField {
    Title,
    Author,
    Category,
    Synopsis,
    Language,
    Cover,
}

impl BookField {
    pub const ALL: [BookField; 6] = [
        BookField::Title,
        BookField::Author,
        BookField::Category,
        BookField::Synopsis,
        BookField::Language,
        BookField::Cover,
    ];

    /// Its name in `edited_fields`, the history and messages.
    pub fn name(self) -> &'static str {
        match self {
            BookField::Title => "title",
            BookField::Author => "author",
            BookField::Category => "category",
            BookField::Synopsis => "synopsis",
            BookField::Language => "language",
            BookField::Cover => "cover",
        }
    }

    /// The `books` column it is stored in.
    fn column(self) -> &'static str {
        match self {
            BookField::Cover => "cover_hash",
            other => other.name(),
        }
    }
}

/// The fields an edit sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookEdit {
    pub title: Option<String>,
    pub author: Option<String>,
    pub category: Option<String>,
    pub synopsis: Option<String>,
    /// An empty language forgets the one the book had.
    pub language: Option<String>,
    /// A cover already stored under `covers/` (see `import::cover::store_cover`).
    pub cover: Option<StoredCover>,
}

impl BookEdit {
    /// Refuses what no book may hold (an empty title), before anything is
    /// written: a cover file is stored only for an edit that can be made.
    pub fn validate(&self) -> Result<(), CurationError> {
        if self.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(CurationError::EmptyTitle);
        }
        Ok(())
    }

    /// Each field this edit sets, with its new stored value.
    fn values(&self) -> Vec<(BookField, Option<String>)> {
        let text = |value: &Option<String>| value.as_ref().map(|v| v.trim().to_string());
        let mut values = Vec::new();
        for (field, value) in [
            (BookField::Title, text(&self.title)),
            (BookField::Author, text(&self.author)),
            (BookField::Category, text(&self.category)),
            (BookField::Synopsis, self.synopsis.clone()),
        ] {
            if let Some(value) = value {
                values.push((field, Some(value)));
            }
        }
        if let Some(language) = text(&self.language) {
            values.push((
                BookField::Language,
                (!language.is_empty()).then_some(language),
            ));
        }
        if let Some(cover) = &self.cover {
            values.push((BookField::Cover, Some(cover.cover_hash.clone())));
        }
        values
    }
}

/// Why a librarian's change was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum CurationError {
    #[error("a book's title cannot be empty")]
    EmptyTitle,
    #[error("book {0} is in the trash; restore it first (`shelfwise trash restore {0}`)")]
    Trashed(String),
    #[error("book {0} is not in the trash")]
    NotTrashed(String),
    #[error("there is no book {0}")]
    UnknownBook(String),
    #[error("there is no shelf '{0}' (`shelfwise shelf list` lists them)")]
    UnknownShelf(String),
    #[error("a shelf needs a name")]
    EmptyShelfName,
    #[error("book {0} cannot be merged with itself")]
    MergeWithItself(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A book in the trash, as `shelfwise trash list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrashedBook {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub deleted_at: String,
}

/// What emptying the trash removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EmptiedTrash {
    pub books: usize,
    /// Cover files (and their thumbnails) no other book or history entry names.
    pub cover_files: usize,
    /// History entries that changed the removed books, which can no longer be undone.
    pub history_entries: usize,
}

/// A book's row as an edit reads it.
struct BookRow {
    external_id: String,
    title: String,
    values: Vec<(BookField, Option<String>)>,
    edited_fields: String,
    deleted_at: Option<String>,
}

fn read_row(tx: &Transaction<'_>, book: BookId) -> Result<Option<BookRow>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT external_id, title, author, category, synopsis, language, cover_hash,
                    edited_fields, deleted_at
             FROM books WHERE book_id = ?1",
            [book.0],
            |row| {
                let title: String = row.get(1)?;
                Ok(BookRow {
                    external_id: row.get(0)?,
                    values: vec![
                        (BookField::Title, Some(title.clone())),
                        (BookField::Author, row.get(2)?),
                        (BookField::Category, row.get(3)?),
                        (BookField::Synopsis, row.get(4)?),
                        (BookField::Language, row.get(5)?),
                        (BookField::Cover, row.get(6)?),
                    ],
                    title,
                    edited_fields: row.get(7)?,
                    deleted_at: row.get(8)?,
                })
            },
        )
        .optional()?)
}

/// The names in an `edited_fields` value, with `added` among them.
fn with_edited(edited_fields: &str, added: &[BookField]) -> String {
    let mut names: BTreeSet<&str> = edited_fields.split(',').filter(|n| !n.is_empty()).collect();
    names.extend(added.iter().map(|f| f.name()));
    names.into_iter().collect::<Vec<_>>().join(",")
}

/// Whether `field` is among a book's `edited_fields`.
pub fn is_edited(edited_fields: &str, field: BookField) -> bool {
    edited_fields.split(',').any(|name| name == field.name())
}

fn put_cover(tx: &Transaction<'_>, cover: &StoredCover) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO covers (cover_hash, file_name, thumb_name, width, height)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(cover_hash) DO NOTHING",
        params![
            cover.cover_hash,
            cover.file_name,
            cover.thumb_name,
            cover.width,
            cover.height
        ],
    )?;
    Ok(())
}

/// The field changes that set `values` on `row` and mark them as edited.
fn edit_changes(
    book: BookId,
    row: &BookRow,
    values: &[(BookField, Option<String>)],
) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut edited = Vec::new();
    for (field, new) in values {
        let old = row
            .values
            .iter()
            .find(|(f, _)| f == field)
            .and_then(|(_, v)| v.clone());
        if &old != new {
            changes.push(FieldChange {
                book_id: book,
                external_id: row.external_id.clone(),
                field: field.column().to_string(),
                old,
                new: new.clone(),
            });
            edited.push(*field);
        }
    }
    let marked = with_edited(&row.edited_fields, &edited);
    if marked != row.edited_fields {
        changes.push(FieldChange {
            book_id: book,
            external_id: row.external_id.clone(),
            field: "edited_fields".into(),
            old: Some(row.edited_fields.clone()),
            new: Some(marked),
        });
    }
    changes
}

fn quoted_titles(titles: &[String]) -> String {
    match titles {
        [one] => format!("'{one}'"),
        many => format!("{} books", many.len()),
    }
}

impl Library {
    /// Sets the fields `edit` names on `book`, as one history entry; fields
    /// that already hold those values are left alone. `None` when nothing
    /// changed. A trashed book, or an empty title, is refused whole.
    pub fn edit_book(
        &mut self,
        book: BookId,
        edit: &BookEdit,
    ) -> Result<Option<EntryId>, CurationError> {
        edit.validate()?;
        let values = edit.values();
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let row =
            read_row(&tx, book)?.ok_or_else(|| CurationError::UnknownBook(book.to_string()))?;
        if row.deleted_at.is_some() {
            return Err(CurationError::Trashed(row.external_id));
        }
        let changes = edit_changes(book, &row, &values);
        if changes.is_empty() {
            return Ok(None);
        }
        if let Some(cover) = &edit.cover {
            put_cover(&tx, cover)?;
        }
        let fields: Vec<&str> = changes
            .iter()
            .filter_map(|c| {
                BookField::ALL
                    .into_iter()
                    .find(|f| f.column() == c.field)
                    .map(BookField::name)
            })
            .collect();
        let summary = format!("edited {} of '{}'", fields.join(", "), row.title);
        let entry = apply_and_record(&tx, "edit", &summary, &changes)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(entry))
    }

    /// Sets `category` on every one of `books` that is not in the trash, as
    /// one history entry (one undo); each is marked as the librarian's.
    pub fn set_category(
        &mut self,
        books: &[BookId],
        category: &str,
        action: &str,
    ) -> Result<Option<EntryId>, CurationError> {
        let category = category.trim().to_string();
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let mut changes = Vec::new();
        let mut titles = Vec::new();
        for &book in books {
            let row =
                read_row(&tx, book)?.ok_or_else(|| CurationError::UnknownBook(book.to_string()))?;
            if row.deleted_at.is_some() {
                continue;
            }
            let before = changes.len();
            changes.extend(edit_changes(
                book,
                &row,
                &[(BookField::Category, Some(category.clone()))],
            ));
            if changes.len() > before {
                titles.push(row.title);
            }
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let summary = format!("set category '{category}' on {}", quoted_titles(&titles));
        let entry = apply_and_record(&tx, action, &summary, &changes)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(entry))
    }

    /// Moves `books` to the trash, as one history entry; books already there
    /// are left as they are. `None` when none moved.
    pub fn trash_books(&mut self, books: &[BookId]) -> Result<Option<EntryId>, CurationError> {
        self.move_trash(books, true)
    }

    /// Brings `books` back from the trash, as one history entry; a book not
    /// in the trash is refused.
    pub fn restore_books(&mut self, books: &[BookId]) -> Result<Option<EntryId>, CurationError> {
        self.move_trash(books, false)
    }

    fn move_trash(
        &mut self,
        books: &[BookId],
        into: bool,
    ) -> Result<Option<EntryId>, CurationError> {
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let now: String = tx
            .query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |row| {
                row.get(0)
            })
            .map_err(StoreError::from)?;
        let mut changes = Vec::new();
        let mut titles = Vec::new();
        for &book in books {
            let row =
                read_row(&tx, book)?.ok_or_else(|| CurationError::UnknownBook(book.to_string()))?;
            match (into, &row.deleted_at) {
                (true, Some(_)) => continue,
                (false, None) => return Err(CurationError::NotTrashed(row.external_id)),
                _ => {}
            }
            changes.push(FieldChange {
                book_id: book,
                external_id: row.external_id.clone(),
                field: "deleted_at".into(),
                old: row.deleted_at.clone(),
                new: into.then(|| now.clone()),
            });
            titles.push(row.title);
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let (action, verb) = if into {
            ("delete", "deleted")
        } else {
            ("restore", "restored")
        };
        let summary = format!("{verb} {}", quoted_titles(&titles));
        let entry = apply_and_record(&tx, action, &summary, &changes)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(entry))
    }

    /// Merges `other` into `keep`: `keep` gains the readings of `other` (a
    /// reader who read both keeps the reading of `keep`), and `other` goes to
    /// the trash, all as one history entry (one undo brings `other` and its
    /// readings back).
    pub fn merge_books(&mut self, keep: BookId, other: BookId) -> Result<EntryId, CurationError> {
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let keep_row =
            read_row(&tx, keep)?.ok_or_else(|| CurationError::UnknownBook(keep.to_string()))?;
        let other_row =
            read_row(&tx, other)?.ok_or_else(|| CurationError::UnknownBook(other.to_string()))?;
        for row in [&keep_row, &other_row] {
            if row.deleted_at.is_some() {
                return Err(CurationError::Trashed(row.external_id.clone()));
            }
        }
        if keep == other {
            return Err(CurationError::MergeWithItself(keep_row.external_id));
        }
        let readings = |book: BookId| -> Result<Vec<(i64, ReadingValue)>, StoreError> {
            let mut stmt = tx.prepare(
                "SELECT reader_id, rating, read_on FROM readings WHERE book_id = ?1 ORDER BY reader_id",
            )?;
            let rows = stmt.query_map([book.0], |row| {
                Ok((
                    row.get(0)?,
                    ReadingValue {
                        rating: row.get(1)?,
                        read_on: row.get(2)?,
                    },
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let kept_readers: BTreeSet<i64> = readings(keep)?.into_iter().map(|(r, _)| r).collect();
        let mut changes = Vec::new();
        for (reader, reading) in readings(other)? {
            let value = serde_json::to_string(&reading).expect("a reading serialises");
            if !kept_readers.contains(&reader) {
                changes.push(FieldChange {
                    book_id: keep,
                    external_id: keep_row.external_id.clone(),
                    field: format!("{READING_FIELD}{reader}"),
                    old: None,
                    new: Some(value.clone()),
                });
            }
            changes.push(FieldChange {
                book_id: other,
                external_id: other_row.external_id.clone(),
                field: format!("{READING_FIELD}{reader}"),
                old: Some(value),
                new: None,
            });
        }
        let now: String = tx
            .query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |row| {
                row.get(0)
            })
            .map_err(StoreError::from)?;
        changes.push(FieldChange {
            book_id: other,
            external_id: other_row.external_id.clone(),
            field: "deleted_at".into(),
            old: None,
            new: Some(now),
        });
        let summary = format!(
            "merged '{}' ({}) into '{}' ({})",
            other_row.title, other_row.external_id, keep_row.title, keep_row.external_id
        );
        let entry = apply_and_record(&tx, "merge", &summary, &changes)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(entry)
    }

    /// The books in the trash, most recently deleted first.
    pub fn trashed_books(&self) -> Result<Vec<TrashedBook>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, external_id, title, deleted_at FROM books
             WHERE deleted_at IS NOT NULL ORDER BY deleted_at DESC, book_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(TrashedBook {
                book_id: BookId(row.get(0)?),
                external_id: row.get(1)?,
                title: row.get(2)?,
                deleted_at: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes the trashed books for good, with the history entries that
    /// changed them (they could not be undone any more) and the cover files
    /// that no remaining book or history entry names. The database is
    /// committed before any file is removed, so a crash leaves at worst a
    /// stray file for `check --repair`.
    pub fn empty_trash(&mut self) -> Result<EmptiedTrash, StoreError> {
        let tx = self.conn.transaction()?;
        let history_entries = tx.execute(
            "DELETE FROM history WHERE entry_id IN (
                SELECT c.entry_id FROM history_changes c JOIN books b ON b.book_id = c.book_id
                WHERE b.deleted_at IS NOT NULL)",
            [],
        )?;
        let books = tx.execute("DELETE FROM books WHERE deleted_at IS NOT NULL", [])?;
        let unused: Vec<(String, String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT cover_hash, file_name, thumb_name FROM covers c
                 WHERE NOT EXISTS (SELECT 1 FROM books b WHERE b.cover_hash = c.cover_hash)
                   AND NOT EXISTS (SELECT 1 FROM history_changes h WHERE h.field = 'cover_hash'
                                   AND (h.old_value = c.cover_hash OR h.new_value = c.cover_hash))",
            )?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (hash, _, _) in &unused {
            tx.execute("DELETE FROM covers WHERE cover_hash = ?1", [hash])?;
        }
        tx.commit()?;
        for (_, file_name, thumb_name) in &unused {
            let _ = std::fs::remove_file(self.cover_path(file_name));
            let _ = std::fs::remove_file(self.thumb_path(thumb_name));
        }
        Ok(EmptiedTrash {
            books,
            cover_files: unused.len(),
            history_entries,
        })
    }

    /// A book by its external id or, failing that, its title (any case);
    /// books in the trash are found too (to restore them).
    pub fn find_book(&self, book: &str) -> Result<BookId, CurationError> {
        let by_id = self
            .conn
            .query_row(
                "SELECT book_id FROM books WHERE external_id = ?1",
                [book],
                |row| row.get(0).map(BookId),
            )
            .optional()
            .map_err(StoreError::from)?;
        if let Some(id) = by_id {
            return Ok(id);
        }
        let by_title: Vec<BookId> = {
            let mut stmt = self
                .conn
                .prepare("SELECT book_id FROM books WHERE title = ?1 COLLATE NOCASE")
                .map_err(StoreError::from)?;
            let rows = stmt
                .query_map([book], |row| row.get(0).map(BookId))
                .map_err(StoreError::from)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::from)?
        };
        match by_title.as_slice() {
            [one] => Ok(*one),
            _ => Err(CurationError::UnknownBook(book.to_string())),
        }
    }

    /// The fields of `book` the librarian set by hand.
    pub fn edited_fields(&self, book: BookId) -> Result<Vec<BookField>, StoreError> {
        let edited: String = self.conn.query_row(
            "SELECT edited_fields FROM books WHERE book_id = ?1",
            [book.0],
            |row| row.get(0),
        )?;
        Ok(BookField::ALL
            .into_iter()
            .filter(|f| is_edited(&edited, *f))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewBook;

    fn library_with(titles: &[&str]) -> (tempfile::TempDir, Library, Vec<BookId>) {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let books: Vec<NewBook> = titles
            .iter()
            .enumerate()
            .map(|(i, title)| NewBook {
                external_id: format!("b{i}"),
                title: title.to_string(),
                author: "Ann".into(),
                synopsis: "A storm.".into(),
                category: "Drama".into(),
                language: None,
                cover: None,
            })
            .collect();
        library.upsert_books(&books, "test").unwrap();
        let ids = (0..titles.len())
            .map(|i| library.find_book(&format!("b{i}")).unwrap())
            .collect();
        (dir, library, ids)
    }

    fn title(library: &Library, book: BookId) -> String {
        library.book_detail(book).unwrap().unwrap().title
    }

    #[test]
    fn an_edit_is_one_entry_undone_and_redone_whole() {
        let (_dir, mut library, ids) = library_with(&["Dracula"]);
        let edit = BookEdit {
            title: Some("Dracula (1897)".into()),
            category: Some("Horror".into()),
            author: Some("Ann".into()),
            ..Default::default()
        };
        library.edit_book(ids[0], &edit).unwrap().unwrap();
        assert_eq!(title(&library, ids[0]), "Dracula (1897)");
        assert_eq!(
            library.edited_fields(ids[0]).unwrap(),
            [BookField::Title, BookField::Category]
        );
        let history = library.history(Some(ids[0])).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].summary, "edited title, category of 'Dracula'");
        // The author was already "Ann": not a change.
        assert_eq!(history[0].changes.len(), 3);

        let undone = library.undo().unwrap().unwrap();
        assert!(undone.undone);
        let detail = library.book_detail(ids[0]).unwrap().unwrap();
        assert_eq!(
            (detail.title.as_str(), detail.category.as_str()),
            ("Dracula", "Drama")
        );
        assert!(library.edited_fields(ids[0]).unwrap().is_empty());
        assert!(library.undo().unwrap().is_none());
        library.redo().unwrap().unwrap();
        assert_eq!(title(&library, ids[0]), "Dracula (1897)");
        assert!(library.redo().unwrap().is_none());
        // Nothing changes: no entry.
        assert!(library.edit_book(ids[0], &edit).unwrap().is_none());
    }

    #[test]
    fn an_empty_title_or_a_trashed_book_is_refused_with_nothing_changed() {
        let (_dir, mut library, ids) = library_with(&["Emma"]);
        let blank = BookEdit {
            title: Some("  ".into()),
            category: Some("Romance".into()),
            ..Default::default()
        };
        assert!(matches!(
            library.edit_book(ids[0], &blank),
            Err(CurationError::EmptyTitle)
        ));
        assert_eq!(
            library.book_detail(ids[0]).unwrap().unwrap().category,
            "Drama"
        );
        library.trash_books(&ids).unwrap();
        let retitle = BookEdit {
            title: Some("Emma!".into()),
            ..Default::default()
        };
        let error = library.edit_book(ids[0], &retitle).unwrap_err();
        assert!(error.to_string().contains("trash restore b0"), "{error}");
        assert!(library.history(None).unwrap().len() == 1);
    }

    #[test]
    fn a_trashed_book_leaves_the_library_and_comes_back_on_restore_or_undo() {
        let (_dir, mut library, ids) = library_with(&["Emma", "Persuasion", "Ivanhoe"]);
        library.trash_books(&ids[..2]).unwrap().unwrap();
        let titles: Vec<String> = library
            .book_summaries()
            .unwrap()
            .into_iter()
            .map(|b| b.title)
            .collect();
        assert_eq!(titles, ["Ivanhoe"]);
        assert_eq!(library.book_texts().unwrap().len(), 1);
        assert_eq!(library.stats().unwrap().books, 1);
        assert_eq!(library.book_update_stamps().unwrap().len(), 1);
        assert_eq!(library.trashed_books().unwrap().len(), 2);
        // Deleting again changes nothing; restoring a book not there is refused.
        assert!(library.trash_books(&ids[..1]).unwrap().is_none());
        assert!(matches!(
            library.restore_books(&ids[2..]),
            Err(CurationError::NotTrashed(_))
        ));
        library.restore_books(&ids[..1]).unwrap().unwrap();
        assert_eq!(library.book_summaries().unwrap().len(), 2);
        // Undo the restore, then the delete: both books back.
        library.undo().unwrap();
        assert_eq!(library.book_summaries().unwrap().len(), 1);
        library.undo().unwrap();
        assert_eq!(library.book_summaries().unwrap().len(), 3);
    }

    #[test]
    fn a_category_on_many_books_is_one_undo() {
        let (_dir, mut library, ids) = library_with(&["A", "B", "C"]);
        library
            .set_category(&ids, "Poetry", "set_category")
            .unwrap()
            .unwrap();
        let categories = |library: &Library| -> Vec<String> {
            ids.iter()
                .map(|id| library.book_detail(*id).unwrap().unwrap().category)
                .collect()
        };
        assert_eq!(categories(&library), ["Poetry"; 3]);
        assert_eq!(
            library.history(None).unwrap()[0].summary,
            "set category 'Poetry' on 3 books"
        );
        library.undo().unwrap();
        assert_eq!(categories(&library), ["Drama"; 3]);
    }

    #[test]
    fn a_new_change_after_an_undo_ends_the_redo() {
        let (_dir, mut library, ids) = library_with(&["A"]);
        let retitle = |t: &str| BookEdit {
            title: Some(t.into()),
            ..Default::default()
        };
        library.edit_book(ids[0], &retitle("B")).unwrap();
        library.undo().unwrap();
        library.edit_book(ids[0], &retitle("C")).unwrap();
        assert!(library.redo().unwrap().is_none());
        assert_eq!(library.history(None).unwrap().len(), 1);
        assert_eq!(title(&library, ids[0]), "C");
    }

    #[test]
    fn emptying_the_trash_removes_the_books_their_history_and_unused_covers() {
        let (dir, mut library, ids) = library_with(&["A", "B"]);
        library.trash_books(&ids[..1]).unwrap();
        library
            .edit_book(
                ids[1],
                &BookEdit {
                    title: Some("B2".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let emptied = library.empty_trash().unwrap();
        assert_eq!((emptied.books, emptied.history_entries), (1, 1));
        assert!(library.trashed_books().unwrap().is_empty());
        assert_eq!(library.history(None).unwrap().len(), 1);
        assert!(library.find_book("b0").is_err());
        drop(dir);
    }
}
