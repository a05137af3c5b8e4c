//! The Library view's state: every book's summary, the search and category
//! filter and what passes them, the book shown in the detail panel, and which
//! thumbnails were drawn lately (the rest are freed).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::store::{BookDetail, BookId, BookSummary, Shelf, TrashedBook};

/// Thumbnail textures kept alive; beyond this the least recently drawn are freed,
/// so scrolling through 10,000 covers does not hold 10,000 textures.
const MAX_LIVE_THUMBNAILS: usize = 600;

#[derive(Default)]
pub struct LibraryState {
    pub books: Vec<BookSummary>,
    /// Lower-cased "title author" per book, for search.
    search_keys: Vec<String>,
    /// Each category (the empty one too) with its number of books, sorted.
    pub categories: Vec<(String, usize)>,
    pub query: String,
    pub category: Option<String>,
    /// Indices into `books` that pass the search and the category filter.
    pub visible: Vec<usize>,
    pub selected: Option<BookDetail>,
    /// The Import menu's typed path.
    pub path_entry: String,
    /// The detail panel's form, while the shown book is being edited.
    pub draft: Option<EditDraft>,
    /// The trash, while the Library view shows it.
    pub trash: Option<Vec<TrashedBook>>,
    /// The books selected in the grid (click, Ctrl-click, Shift-click, a
    /// dragged box) or sent from a projection, to act on at once.
    pub chosen: BTreeSet<BookId>,
    /// Where a Shift-click's range starts: the book clicked last.
    pub anchor: Option<BookId>,
    /// The category the selection bar sets.
    pub bulk_category: String,
    /// Where a box being dragged over the grid started.
    pub box_origin: Option<egui::Pos2>,
    /// The library's shelves.
    pub shelves: Vec<Shelf>,
    /// The shelf whose wall the grid shows, with its books in order.
    pub shelf: Option<String>,
    pub shelf_order: Option<Vec<BookId>>,
    /// Only these books pass the filters (a projection's selection made a
    /// filter); `None`: every book.
    pub only: Option<BTreeSet<BookId>>,
    /// The shelf the selection bar puts books on.
    pub shelf_target: String,
    /// The review queue of categories the model suggests for books without one.
    pub review: Option<Vec<crate::inference::CategorySuggestion>>,
    pub review_job: Option<crate::jobs::Job<Vec<crate::inference::CategorySuggestion>>>,
    /// Books whose category the model disputes, while the Library view lists them.
    pub doubtful: Option<Vec<crate::train::doubtful::DoubtfulLabel>>,
    pub doubtful_job: Option<crate::jobs::Job<Vec<crate::train::doubtful::DoubtfulLabel>>>,
    /// Pairs of books that may be one, while the Library view lists them.
    pub duplicates: Option<Vec<crate::duplicates::DuplicatePair>>,
    pub duplicates_job: Option<crate::jobs::Job<Vec<crate::duplicates::DuplicatePair>>>,
    thumbnails_drawn: HashMap<String, u64>,
    /// Each book's index in `books`, made when the books are set (a view
    /// that looks books up every frame does not rebuild it for 100,000).
    by_id: HashMap<BookId, usize>,
    /// Counts the times the books were set: what a view keys its own
    /// per-book work on, to redo it only when the books changed.
    pub books_version: u64,
}

/// The detail panel's edit form: every field as text, a cover path typed,
/// picked or dropped, and why the last save was refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditDraft {
    pub book_id: BookId,
    pub title: String,
    pub author: String,
    pub category: String,
    pub synopsis: String,
    pub language: String,
    /// A new cover's path; empty keeps the cover.
    pub cover: String,
    pub error: Option<String>,
}

impl EditDraft {
    /// A form holding `detail` as it is.
    pub fn of(detail: &BookDetail) -> Self {
        Self {
            book_id: detail.book_id,
            title: detail.title.clone(),
            author: detail.author.clone(),
            category: detail.category.clone(),
            synopsis: detail.synopsis.clone(),
            language: detail.language.clone().unwrap_or_default(),
            cover: String::new(),
            error: None,
        }
    }
}

impl LibraryState {
    /// Takes a freshly read book list and re-applies the filters.
    pub fn set_books(&mut self, books: Vec<BookSummary>) {
        self.search_keys = books
            .iter()
            .map(|b| format!("{} {}", b.title, b.author).to_lowercase())
            .collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for book in &books {
            *counts.entry(book.category.clone()).or_default() += 1;
        }
        self.categories = counts.into_iter().collect();
        self.by_id = books
            .iter()
            .enumerate()
            .map(|(i, b)| (b.book_id, i))
            .collect();
        self.books = books;
        self.books_version += 1;
        self.keep_chosen_in_library();
        if let Some(category) = &self.category
            && !self.categories.iter().any(|(c, _)| c == category)
        {
            self.category = None;
        }
        self.apply_filters();
    }

    /// Recomputes which books the grid shows.
    pub fn apply_filters(&mut self) {
        let needle = self.query.trim().to_lowercase();
        let words: Vec<&str> = needle.split_whitespace().collect();
        let passes = |i: usize| {
            self.only
                .as_ref()
                .is_none_or(|only| only.contains(&self.books[i].book_id))
                && self
                    .category
                    .as_ref()
                    .is_none_or(|category| &self.books[i].category == category)
                && words.iter().all(|w| self.search_keys[i].contains(w))
        };
        self.visible = match &self.shelf_order {
            // A shelf's wall: its books in its order.
            Some(order) => {
                let index = self.index_by_id();
                order
                    .iter()
                    .filter_map(|id| index.get(id).copied())
                    .filter(|&i| passes(i))
                    .collect()
            }
            None => (0..self.books.len()).filter(|&i| passes(i)).collect(),
        };
    }

    /// A click on `book` in the grid, with the keyboard's modifiers: alone
    /// it selects the book only, with Ctrl (Cmd) it adds or removes it, with
    /// Shift it selects the grid's books from the last one clicked to it.
    pub fn click(&mut self, book: BookId, modifiers: egui::Modifiers) {
        let position = |id: BookId| {
            self.visible
                .iter()
                .position(|&i| self.books[i].book_id == id)
        };
        if modifiers.shift
            && let (Some(from), Some(to)) = (self.anchor.and_then(position), position(book))
        {
            let (low, high) = (from.min(to), from.max(to));
            let range: Vec<BookId> = self.visible[low..=high]
                .iter()
                .map(|&i| self.books[i].book_id)
                .collect();
            if !modifiers.command {
                self.chosen.clear();
            }
            self.chosen.extend(range);
            return;
        }
        if modifiers.command {
            if !self.chosen.remove(&book) {
                self.chosen.insert(book);
            }
        } else {
            self.chosen = BTreeSet::from([book]);
        }
        self.anchor = Some(book);
    }

    /// A book decided on (accepted, changed or skipped) leaves the review
    /// queue and the doubtful list.
    pub fn leave_queues(&mut self, book: BookId) {
        if let Some(review) = &mut self.review {
            review.retain(|s| s.book_id != book);
        }
        if let Some(doubtful) = &mut self.doubtful {
            doubtful.retain(|d| d.book_id != book);
        }
    }

    /// Books no longer in the library leave the selection.
    fn keep_chosen_in_library(&mut self) {
        let present: BTreeSet<BookId> = self.books.iter().map(|b| b.book_id).collect();
        self.chosen.retain(|id| present.contains(id));
    }

    pub fn book(&self, book_id: BookId) -> Option<&BookSummary> {
        self.books.iter().find(|b| b.book_id == book_id)
    }

    /// Books by id, for views that look many up.
    pub fn index_by_id(&self) -> &HashMap<BookId, usize> {
        &self.by_id
    }

    /// Each category with a stable colour index.
    pub fn category_colours(&self) -> BTreeMap<String, usize> {
        self.categories
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect()
    }

    /// Remembers that a thumbnail was drawn in `frame`.
    pub fn thumbnail_drawn(&mut self, uri: &str, frame: u64) {
        if let Some(last) = self.thumbnails_drawn.get_mut(uri) {
            *last = frame;
        } else {
            self.thumbnails_drawn.insert(uri.to_string(), frame);
        }
    }

    /// The thumbnails drawn longest ago, to free, once too many are alive.
    pub fn thumbnails_to_free(&mut self) -> Vec<String> {
        if self.thumbnails_drawn.len() <= MAX_LIVE_THUMBNAILS {
            return Vec::new();
        }
        let mut by_age: Vec<(u64, String)> = self
            .thumbnails_drawn
            .iter()
            .map(|(uri, frame)| (*frame, uri.clone()))
            .collect();
        by_age.sort();
        let excess = by_age.len() - MAX_LIVE_THUMBNAILS * 3 / 4;
        let freed: Vec<String> = by_age
            .into_iter()
            .take(excess)
            .map(|(_, uri)| uri)
            .collect();
        for uri in &freed {
            self.thumbnails_drawn.remove(uri);
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(id: i64, title: &str, category: &str) -> BookSummary {
        BookSummary {
            book_id: BookId(id),
            external_id: id.to_string(),
            title: title.into(),
            author: "Ann Archer".into(),
            category: category.into(),
            thumb_path: None,
        }
    }

    #[test]
    fn search_and_category_narrow_the_grid_and_a_gone_category_is_dropped() {
        let mut state = LibraryState::default();
        state.set_books(vec![
            book(1, "Sea Voyage", "Adventure"),
            book(2, "Dark Manor", "Horror"),
        ]);
        assert_eq!(state.visible, [0, 1]);
        assert_eq!(
            state.categories,
            [("Adventure".into(), 1), ("Horror".into(), 1)]
        );
        state.query = "voyage ARCHER".into();
        state.apply_filters();
        assert_eq!(state.visible, [0]);
        state.query.clear();
        state.category = Some("Horror".into());
        state.apply_filters();
        assert_eq!(state.visible, [1]);
        state.set_books(vec![book(1, "Sea Voyage", "Adventure")]);
        assert_eq!(
            (state.category.clone(), state.visible.clone()),
            (None, vec![0])
        );
    }

    #[test]
    fn click_ctrl_click_and_shift_click_choose_books_as_file_managers_do() {
        let mut state = LibraryState::default();
        state.set_books(
            (1..=5)
                .map(|i| book(i, &format!("Book {i}"), "Drama"))
                .collect(),
        );
        let ids = |state: &LibraryState| state.chosen.iter().map(|b| b.0).collect::<Vec<_>>();
        let ctrl = egui::Modifiers::COMMAND;
        state.click(BookId(2), egui::Modifiers::NONE);
        assert_eq!(ids(&state), [2]);
        state.click(BookId(4), ctrl);
        assert_eq!(ids(&state), [2, 4]);
        state.click(BookId(2), ctrl);
        assert_eq!(ids(&state), [4]);
        // Shift: from the book clicked last (2, even when that click let it go).
        state.click(BookId(1), egui::Modifiers::SHIFT);
        assert_eq!(ids(&state), [1, 2]);
        state.click(BookId(4), egui::Modifiers::NONE);
        state.click(BookId(2), egui::Modifiers::SHIFT);
        assert_eq!(ids(&state), [2, 3, 4]);
        state.click(BookId(5), egui::Modifiers::NONE);
        assert_eq!(ids(&state), [5]);
        // A book that leaves the library leaves the selection.
        state.set_books(
            (1..=4)
                .map(|i| book(i, &format!("Book {i}"), "Drama"))
                .collect(),
        );
        assert!(state.chosen.is_empty());
    }
}
