//! Shelves: named, ordered lists of books (a display, a reading list). A
//! shelf is made when a book is first put on it; each put or take is one
//! history entry (undone like any other change). Books in the trash stay on
//! their shelves but are not shown there until restored.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::curation::CurationError;
use super::history::{FieldChange, SHELF_FIELD, apply_and_record};
use super::{BookId, EntryId, Library, StoreError};

/// A shelf as `shelfwise shelf list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shelf {
    pub shelf_id: i64,
    pub name: String,
    /// Books on it that are not in the trash.
    pub books: usize,
}

/// A book on a shelf, in the shelf's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShelvedBook {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub position: i64,
}

fn shelf_id(tx: &Transaction<'_>, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT shelf_id FROM shelves WHERE name = ?1",
            [name],
            |row| row.get(0),
        )
        .optional()?)
}

fn title_of(tx: &Transaction<'_>, book: BookId) -> Result<String, CurationError> {
    tx.query_row(
        "SELECT title FROM books WHERE book_id = ?1",
        [book.0],
        |row| row.get(0),
    )
    .optional()
    .map_err(StoreError::from)?
    .ok_or_else(|| CurationError::UnknownBook(book.to_string()))
}

fn place(tx: &Transaction<'_>, shelf: i64, book: BookId) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT position FROM shelf_books WHERE shelf_id = ?1 AND book_id = ?2",
            params![shelf, book.0],
            |row| row.get(0),
        )
        .optional()?)
}

impl Library {
    /// Every shelf, by name.
    pub fn shelves(&self) -> Result<Vec<Shelf>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.shelf_id, s.name,
                    (SELECT COUNT(*) FROM shelf_books sb JOIN books b ON b.book_id = sb.book_id
                     WHERE sb.shelf_id = s.shelf_id AND b.deleted_at IS NULL)
             FROM shelves s ORDER BY s.name COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(Shelf {
                shelf_id: row.get(0)?,
                name: row.get(1)?,
                books: row.get::<_, i64>(2)? as usize,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The books on shelf `name` (not in the trash), in its order; `None`
    /// when there is no such shelf.
    pub fn shelf_books(&self, name: &str) -> Result<Option<Vec<ShelvedBook>>, StoreError> {
        let Some(shelf) = self
            .conn
            .query_row(
                "SELECT shelf_id FROM shelves WHERE name = ?1",
                [name],
                |row| row.get::<_, i64>(0),
            )
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT b.book_id, b.external_id, b.title, b.author, sb.position
             FROM shelf_books sb JOIN books b ON b.book_id = sb.book_id
             WHERE sb.shelf_id = ?1 AND b.deleted_at IS NULL ORDER BY sb.position, b.book_id",
        )?;
        let rows = stmt.query_map([shelf], |row| {
            Ok(ShelvedBook {
                book_id: BookId(row.get(0)?),
                external_id: row.get(1)?,
                title: row.get(2)?,
                author: row.get(3)?,
                position: row.get(4)?,
            })
        })?;
        Ok(Some(rows.collect::<Result<_, _>>()?))
    }

    /// Puts `books` at the end of shelf `name` (made when new), in the order
    /// given, as one history entry; books already on it stay where they are.
    pub fn add_to_shelf(
        &mut self,
        name: &str,
        books: &[BookId],
    ) -> Result<Option<EntryId>, CurationError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CurationError::EmptyShelfName);
        }
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let shelf = match shelf_id(&tx, name)? {
            Some(shelf) => shelf,
            None => {
                tx.execute("INSERT INTO shelves (name) VALUES (?1)", [name])
                    .map_err(StoreError::from)?;
                tx.last_insert_rowid()
            }
        };
        let mut next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM shelf_books WHERE shelf_id = ?1",
                [shelf],
                |row| row.get(0),
            )
            .map_err(StoreError::from)?;
        let mut changes = Vec::new();
        let mut titles = Vec::new();
        for &book in books {
            let title = title_of(&tx, book)?;
            let on_shelf = changes.iter().any(|c: &FieldChange| c.book_id == book);
            if on_shelf || place(&tx, shelf, book)?.is_some() {
                continue;
            }
            changes.push(FieldChange {
                book_id: book,
                external_id: String::new(),
                field: format!("{SHELF_FIELD}{shelf}"),
                old: None,
                new: Some(next.to_string()),
            });
            next += 1;
            titles.push(title);
        }
        if changes.is_empty() {
            tx.commit().map_err(StoreError::from)?;
            return Ok(None);
        }
        let summary = format!("put {} on shelf '{name}'", quoted(&titles));
        let entry = apply_and_record(&tx, "shelf_add", &summary, &changes)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(entry))
    }

    /// Takes `books` off shelf `name`, as one history entry.
    pub fn remove_from_shelf(
        &mut self,
        name: &str,
        books: &[BookId],
    ) -> Result<Option<EntryId>, CurationError> {
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let shelf =
            shelf_id(&tx, name)?.ok_or_else(|| CurationError::UnknownShelf(name.to_string()))?;
        let mut changes = Vec::new();
        let mut titles = Vec::new();
        for &book in books {
            let title = title_of(&tx, book)?;
            if let Some(position) = place(&tx, shelf, book)? {
                changes.push(FieldChange {
                    book_id: book,
                    external_id: String::new(),
                    field: format!("{SHELF_FIELD}{shelf}"),
                    old: Some(position.to_string()),
                    new: None,
                });
                titles.push(title);
            }
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let summary = format!("took {} off shelf '{name}'", quoted(&titles));
        let entry = apply_and_record(&tx, "shelf_remove", &summary, &changes)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(entry))
    }
}

fn quoted(titles: &[String]) -> String {
    match titles {
        [one] => format!("'{one}'"),
        many => format!("{} books", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewBook;

    #[test]
    fn a_shelf_keeps_its_order_and_each_change_is_undone_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let books: Vec<NewBook> = ["A", "B", "C"]
            .iter()
            .map(|t| NewBook {
                external_id: t.to_lowercase(),
                title: t.to_string(),
                author: String::new(),
                synopsis: String::new(),
                category: "Drama".into(),
                language: None,
                cover: None,
            })
            .collect();
        library.upsert_books(&books, "t").unwrap();
        let id = |b: &str| library.find_book(b).unwrap();
        let (a, b, c) = (id("a"), id("b"), id("c"));
        library.add_to_shelf("Display", &[c, a]).unwrap().unwrap();
        library.add_to_shelf("Display", &[a, b]).unwrap().unwrap();
        let titles = |library: &Library| -> Vec<String> {
            library
                .shelf_books("Display")
                .unwrap()
                .unwrap()
                .into_iter()
                .map(|b| b.title)
                .collect()
        };
        assert_eq!(titles(&library), ["C", "A", "B"]);
        assert_eq!(library.shelves().unwrap()[0].books, 3);
        library.remove_from_shelf("Display", &[a]).unwrap().unwrap();
        assert_eq!(titles(&library), ["C", "B"]);
        library.undo().unwrap();
        assert_eq!(titles(&library), ["C", "A", "B"]);
        library.undo().unwrap();
        assert_eq!(titles(&library), ["C", "A"]);
        // A trashed book is not shown on its shelf until restored.
        library.trash_books(&[c]).unwrap();
        assert_eq!(titles(&library), ["A"]);
        assert!(library.shelf_books("Nowhere").unwrap().is_none());
        assert!(matches!(
            library.remove_from_shelf("Nowhere", &[a]),
            Err(CurationError::UnknownShelf(_))
        ));
    }
}
