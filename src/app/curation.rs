//! The librarian's changes from the window: an edit saved from the detail
//! panel, a cover picked or dropped, books deleted to the trash or restored,
//! the trash emptied, and undo and redo. Each is one history entry in the
//! store; these are quick SQLite writes, done in the frame that asked.

use std::path::PathBuf;

use super::ShelfwiseApp;
use super::library::EditDraft;
use crate::import::cover::{CoverError, store_cover};
use crate::store::{BookEdit, BookId, CurationError, EntryId, Library, StoredCover};

/// Stores the image at `path` as a cover of the library; the error names
/// the file and why it is not a cover.
fn stored_cover(store: &Library, path: &std::path::Path) -> Result<StoredCover, String> {
    let known = store.stored_covers().map_err(|e| e.to_string())?;
    store_cover(store.root(), path, |hash| known.get(hash).cloned()).map_err(|error| {
        let reason = match error {
            CoverError::Refused(reason) => reason,
            CoverError::Write(store) => store.to_string(),
        };
        format!("{}: {reason}", path.display())
    })
}

/// The edit a draft asks for: every text field, and the typed cover.
fn draft_edit(store: &Library, draft: &EditDraft) -> Result<BookEdit, String> {
    let mut edit = BookEdit {
        title: Some(draft.title.clone()),
        author: Some(draft.author.clone()),
        category: Some(draft.category.clone()),
        synopsis: Some(draft.synopsis.clone()),
        language: Some(draft.language.clone()),
        cover: None,
    };
    edit.validate().map_err(|e| e.to_string())?;
    let cover = draft.cover.trim();
    if !cover.is_empty() {
        edit.cover = Some(stored_cover(store, std::path::Path::new(cover))?);
    }
    Ok(edit)
}

impl ShelfwiseApp {
    fn writable_store(&mut self, action: &str) -> Option<&mut Library> {
        let store = self.store.as_mut()?;
        match store.ensure_writable(action) {
            Ok(()) => Some(store),
            Err(error) => {
                self.status = Some(error.to_string());
                None
            }
        }
    }

    /// After a change: the grid, the shown book (gone when it left for the
    /// trash) and the trash list read again.
    fn after_change(&mut self, done: Result<Option<EntryId>, CurationError>, what: &str) {
        match done {
            Ok(Some(_)) => self.status = Some(format!("{what} (Ctrl+Z undoes it)")),
            Ok(None) => self.status = Some("Nothing changed.".into()),
            Err(error) => self.status = Some(format!("Not changed: {error}")),
        }
        self.refresh_after_change();
    }

    fn refresh_after_change(&mut self) {
        self.reload_books();
        self.reload_shelves();
        if let Some(book_id) = self.library.selected.as_ref().map(|d| d.book_id) {
            self.select(book_id);
            if self
                .library
                .selected
                .as_ref()
                .is_some_and(|d| d.deleted_at.is_some())
            {
                self.library.selected = None;
            }
        }
        if self.library.trash.is_some() {
            self.show_trash(true);
        }
    }

    /// Saves the detail panel's form; a refused edit keeps the form open
    /// with the reason, and nothing is changed.
    pub fn save_edit(&mut self) {
        let Some(draft) = self.library.draft.clone() else {
            return;
        };
        let Some(store) = self.writable_store("edit") else {
            return;
        };
        let saved = draft_edit(store, &draft).and_then(|edit| {
            store
                .edit_book(draft.book_id, &edit)
                .map_err(|e| e.to_string())
        });
        match saved {
            Ok(entry) => {
                self.library.draft = None;
                let what = format!("Saved '{}'.", draft.title.trim());
                self.after_change(Ok(entry), &what);
            }
            Err(reason) => {
                if let Some(open) = &mut self.library.draft {
                    open.error = Some(reason);
                }
            }
        }
    }

    /// A cover picked in the file dialog or dropped on the window: the
    /// form's new cover while editing, else the shown book's cover at once.
    pub fn cover_picked(&mut self, path: PathBuf) {
        if let Some(draft) = &mut self.library.draft {
            draft.cover = path.display().to_string();
            return;
        }
        let Some(book_id) = self.library.selected.as_ref().map(|d| d.book_id) else {
            return;
        };
        let Some(store) = self.writable_store("change the cover") else {
            return;
        };
        let done = stored_cover(store, &path).and_then(|cover| {
            let edit = BookEdit {
                cover: Some(cover),
                ..BookEdit::default()
            };
            store.edit_book(book_id, &edit).map_err(|e| e.to_string())
        });
        match done {
            Ok(entry) => self.after_change(Ok(entry), "Cover changed."),
            Err(reason) => self.status = Some(format!("Cover not changed: {reason}")),
        }
    }

    pub fn delete_books(&mut self, books: &[BookId]) {
        let Some(store) = self.writable_store("delete") else {
            return;
        };
        let done = store.trash_books(books);
        let what = format!("Moved {} book(s) to the trash.", books.len());
        self.after_change(done, &what);
    }

    pub fn set_category(&mut self, books: &[BookId], category: &str) {
        let Some(store) = self.writable_store("set a category") else {
            return;
        };
        let done = store.set_category(books, category, "set_category");
        let what = format!("Set '{category}' on {} book(s).", books.len());
        self.after_change(done, &what);
    }

    /// Puts `books` on shelf `name` (or with `add` false, takes them off).
    pub fn shelve(&mut self, books: &[BookId], name: &str, add: bool) {
        let Some(store) = self.writable_store("change a shelf") else {
            return;
        };
        let (done, what) = if add {
            (
                store.add_to_shelf(name, books),
                format!("Put {} book(s) on shelf '{name}'.", books.len()),
            )
        } else {
            (
                store.remove_from_shelf(name, books),
                format!("Took {} book(s) off shelf '{name}'.", books.len()),
            )
        };
        self.after_change(done, &what);
    }

    /// Shows a shelf's books, in its order, as the Library view's wall (or
    /// with `None`, every book again).
    pub fn show_shelf(&mut self, shelf: Option<String>) {
        self.library.shelf = shelf;
        self.library.trash = None;
        self.reload_shelves();
    }

    /// Re-reads the shelves and the order of the one shown.
    pub(crate) fn reload_shelves(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let read = store.shelves().and_then(|shelves| {
            let order = match &self.library.shelf {
                Some(name) => store
                    .shelf_books(name)?
                    .map(|books| books.into_iter().map(|b| b.book_id).collect()),
                None => None,
            };
            Ok((shelves, order))
        });
        match read {
            Ok((shelves, order)) => {
                self.library.shelves = shelves;
                if order.is_none() {
                    self.library.shelf = None;
                }
                self.library.shelf_order = order;
                self.library.apply_filters();
            }
            Err(error) => self.status = Some(format!("Cannot read the shelves: {error}")),
        }
    }

    /// A suggested (or chosen) category accepted in the review queue: the
    /// librarian's now, and the book leaves the queue.
    pub fn accept_category(&mut self, book: BookId, category: &str) {
        let Some(store) = self.writable_store("accept a category") else {
            return;
        };
        let done = store.set_category(&[book], category, "accept_category");
        if done.is_ok() {
            self.library.leave_queues(book);
        }
        self.after_change(done, &format!("Category '{category}' accepted."));
    }

    /// Merges `other` into `keep`; the pairs listed that named `other` go.
    pub fn merge(&mut self, keep: BookId, other: BookId) {
        let Some(store) = self.writable_store("merge") else {
            return;
        };
        let done = store.merge_books(keep, other).map(Some);
        if done.is_ok()
            && let Some(pairs) = &mut self.library.duplicates
        {
            pairs.retain(|p| p.books.iter().all(|b| b.book_id != other));
        }
        self.after_change(
            done,
            "Merged: the other book is in the trash, its readings kept.",
        );
    }

    pub fn restore_books(&mut self, books: &[BookId]) {
        let Some(store) = self.writable_store("restore") else {
            return;
        };
        let done = store.restore_books(books);
        let what = format!("Restored {} book(s).", books.len());
        self.after_change(done, &what);
    }

    pub fn empty_trash(&mut self) {
        let Some(store) = self.writable_store("empty the trash") else {
            return;
        };
        self.status = Some(match store.empty_trash() {
            Ok(emptied) => format!(
                "Trash emptied: {} book(s) and {} cover file(s) removed for good.",
                emptied.books, emptied.cover_files
            ),
            Err(error) => format!("The trash was not emptied: {error}"),
        });
        self.refresh_after_change();
    }

    /// Shows (reading it again) or hides the trash in the Library view.
    pub fn show_trash(&mut self, shown: bool) {
        self.library.trash = None;
        self.library.review = None;
        self.library.duplicates = None;
        self.library.doubtful = None;
        if !shown {
            return;
        }
        if let Some(store) = &self.store {
            match store.trashed_books() {
                Ok(trashed) => self.library.trash = Some(trashed),
                Err(error) => self.status = Some(format!("Cannot read the trash: {error}")),
            }
        }
    }

    /// Undoes (or with `redo`, redoes) one history entry.
    pub fn undo(&mut self, redo: bool) {
        let Some(store) = self.writable_store(if redo { "redo" } else { "undo" }) else {
            return;
        };
        let walked = if redo { store.redo() } else { store.undo() };
        self.status = Some(match walked {
            Ok(Some(entry)) => format!(
                "{}: {}",
                if redo { "Redone" } else { "Undone" },
                entry.summary
            ),
            Ok(None) => format!("Nothing to {}.", if redo { "redo" } else { "undo" }),
            Err(error) => format!("Cannot {}: {error}", if redo { "redo" } else { "undo" }),
        });
        self.library.draft = None;
        self.refresh_after_change();
    }
}
