//! The librarian's commands: `edit`, `delete`, `trash`, `undo`, `redo`,
//! `history` and `export`. Each change is one history entry, so `undo` takes back exactly
//! what one command did.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use crate::import::cover::{CoverError, store_cover};
use crate::store::{BookEdit, BookId, EntryId, HistoryEntry, Library};

/// What `shelfwise edit` sets; a flag not given leaves its field as it is.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The book: its id in the import file, or its title. Several books take
    /// --category alone, set on all of them as one change.
    #[arg(required = true)]
    pub books: Vec<String>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub author: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub synopsis: Option<String>,
    /// A language code or name (`en`, `French`); empty forgets the one named.
    #[arg(long)]
    pub language: Option<String>,
    /// An image file to be the book's cover.
    #[arg(long, value_name = "PATH")]
    pub cover: Option<PathBuf>,
}

/// What `shelfwise trash` does; without one, it lists the trash.
#[derive(Debug, clap::Subcommand)]
pub enum TrashAction {
    /// The books in the trash.
    List,
    /// Bring books back from the trash.
    Restore {
        #[arg(required = true)]
        books: Vec<String>,
    },
    /// Remove the trashed books for good, and the cover files nobody else uses.
    Empty,
}

/// What `shelfwise suggest-categories` does.
#[derive(Debug, clap::Args)]
pub struct SuggestCategoriesArgs {
    /// The run whose classifier suggests (see `shelfwise runs`).
    #[arg(long)]
    pub run: crate::store::RunId,
    /// Accept the suggestion for this book (marked as the librarian's category).
    #[arg(long, value_name = "BOOK")]
    pub accept: Option<String>,
    /// With --accept: this category instead of the suggested one.
    #[arg(long, requires = "accept")]
    pub category: Option<String>,
}

/// What `shelfwise shelf` does; without one, it lists the shelves.
#[derive(Debug, clap::Subcommand)]
pub enum ShelfAction {
    /// Every shelf with its number of books.
    List,
    /// Put books at the end of a shelf (made when new).
    Add {
        shelf: String,
        #[arg(required = true)]
        books: Vec<String>,
    },
    /// Take books off a shelf.
    Remove {
        shelf: String,
        #[arg(required = true)]
        books: Vec<String>,
    },
    /// The books on a shelf, in its order.
    Show { shelf: String },
}

#[derive(Serialize)]
struct Changed {
    /// The history entry the change is (`None`: nothing changed).
    entry: Option<EntryId>,
    books: Vec<String>,
}

fn print_changed(context: &Context, changed: &Changed, what: &str) -> anyhow::Result<()> {
    context.out.print(changed, |c| match c.entry {
        Some(entry) => println!(
            "{what} {} (history entry {entry}; `shelfwise undo` takes it back)",
            c.books.join(", ")
        ),
        None => println!("nothing changed"),
    })
}

fn find_all(library: &Library, books: &[String]) -> anyhow::Result<Vec<BookId>> {
    books
        .iter()
        .map(|book| library.find_book(book).map_err(anyhow::Error::from))
        .collect()
}

/// One category on several books, as one history entry.
fn edit_many(context: &Context, args: &EditArgs) -> anyhow::Result<ExitCode> {
    let others = [&args.title, &args.author, &args.synopsis, &args.language];
    let (Some(category), true) = (
        &args.category,
        others.iter().all(|f| f.is_none()) && args.cover.is_none(),
    ) else {
        anyhow::bail!("several books take --category alone; edit other fields one book at a time");
    };
    let mut library = context.open()?;
    library.ensure_writable("edit")?;
    let ids = find_all(&library, &args.books)?;
    let changed = Changed {
        entry: library.set_category(&ids, category, "set_category")?,
        books: args.books.clone(),
    };
    print_changed(context, &changed, &format!("category '{category}' set on"))?;
    Ok(ExitCode::SUCCESS)
}

pub fn edit(context: &Context, args: &EditArgs) -> anyhow::Result<ExitCode> {
    if args.books.len() > 1 {
        return edit_many(context, args);
    }
    let mut library = context.open()?;
    library.ensure_writable("edit")?;
    let name = &args.books[0];
    let book = library.find_book(name)?;
    let mut edit = BookEdit {
        title: args.title.clone(),
        author: args.author.clone(),
        category: args.category.clone(),
        synopsis: args.synopsis.clone(),
        language: args.language.clone(),
        cover: None,
    };
    edit.validate()?;
    if library
        .book_detail(book)?
        .is_some_and(|d| d.deleted_at.is_some())
    {
        return Err(crate::store::CurationError::Trashed(name.clone()).into());
    }
    if let Some(path) = &args.cover {
        let known = library.stored_covers()?;
        let stored = store_cover(library.root(), path, |hash| known.get(hash).cloned())
            .map_err(|error| match error {
                CoverError::Refused(reason) => anyhow::anyhow!("{reason}"),
                CoverError::Write(store) => store.into(),
            })
            .with_context(|| format!("cover {}", path.display()))?;
        edit.cover = Some(stored);
    }
    let entry = library.edit_book(book, &edit)?;
    let changed = Changed {
        entry,
        books: vec![name.clone()],
    };
    print_changed(context, &changed, "edited")?;
    Ok(ExitCode::SUCCESS)
}

pub fn delete(context: &Context, books: &[String]) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    library.ensure_writable("delete")?;
    let ids = find_all(&library, books)?;
    let changed = Changed {
        entry: library.trash_books(&ids)?,
        books: books.to_vec(),
    };
    print_changed(context, &changed, "moved to the trash:")?;
    Ok(ExitCode::SUCCESS)
}

pub fn trash(context: &Context, action: Option<&TrashAction>) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    match action {
        None | Some(TrashAction::List) => {
            let trashed = library.trashed_books()?;
            context
                .out
                .print(&serde_json::json!({ "trash": trashed }), |_| {
                    if trashed.is_empty() {
                        println!("the trash is empty");
                    }
                    for book in &trashed {
                        println!(
                            "{}: {} (deleted {})",
                            book.external_id, book.title, book.deleted_at
                        );
                    }
                })?;
        }
        Some(TrashAction::Restore { books }) => {
            library.ensure_writable("restore")?;
            let ids = find_all(&library, books)?;
            let changed = Changed {
                entry: library.restore_books(&ids)?,
                books: books.clone(),
            };
            print_changed(context, &changed, "restored")?;
        }
        Some(TrashAction::Empty) => {
            library.ensure_writable("empty the trash")?;
            let emptied = library.empty_trash()?;
            context.out.print(&emptied, |e| {
                println!(
                    "removed {} book(s) for good, {} cover file(s) no other book used, and {} history entr(ies) that changed them",
                    e.books, e.cover_files, e.history_entries
                );
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `undo` (or with `redo`, redo) one history entry.
pub fn undo(context: &Context, redo: bool) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    library.ensure_writable(if redo { "redo" } else { "undo" })?;
    let entry = if redo {
        library.redo()?
    } else {
        library.undo()?
    };
    let verb = if redo { "redid" } else { "undid" };
    context
        .out
        .print(&serde_json::json!({ "entry": entry }), |_| match &entry {
            Some(entry) => println!("{verb}: {} ({})", entry.summary, entry.at),
            None => println!("nothing to {}", if redo { "redo" } else { "undo" }),
        })?;
    Ok(ExitCode::SUCCESS)
}

fn value(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("(none)")
}

fn print_entry(entry: &HistoryEntry) {
    let state = if entry.undone { " (undone)" } else { "" };
    println!("{} {}: {}{state}", entry.entry, entry.at, entry.summary);
    for change in &entry.changes {
        if change.field == "edited_fields" {
            continue;
        }
        println!(
            "    {} {}: {:?} -> {:?}",
            change.external_id,
            change.field,
            value(&change.old),
            value(&change.new)
        );
    }
}

pub fn history(context: &Context, book: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let book = book.map(|b| library.find_book(b)).transpose()?;
    let history = library.history(book)?;
    context
        .out
        .print(&serde_json::json!({ "history": history }), |_| {
            if history.is_empty() {
                println!("no changes yet");
            }
            history.iter().for_each(print_entry);
        })?;
    Ok(ExitCode::SUCCESS)
}

pub fn shelf(context: &Context, action: Option<&ShelfAction>) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    match action {
        None | Some(ShelfAction::List) => {
            let shelves = library.shelves()?;
            context
                .out
                .print(&serde_json::json!({ "shelves": shelves }), |_| {
                    if shelves.is_empty() {
                        println!("no shelves yet (`shelfwise shelf add SHELF BOOK...` makes one)");
                    }
                    for shelf in &shelves {
                        println!("{}: {} book(s)", shelf.name, shelf.books);
                    }
                })?;
        }
        Some(ShelfAction::Add { shelf, books }) => {
            library.ensure_writable("put books on a shelf")?;
            let ids = find_all(&library, books)?;
            let changed = Changed {
                entry: library.add_to_shelf(shelf, &ids)?,
                books: books.clone(),
            };
            print_changed(context, &changed, &format!("put on shelf '{shelf}':"))?;
        }
        Some(ShelfAction::Remove { shelf, books }) => {
            library.ensure_writable("take books off a shelf")?;
            let ids = find_all(&library, books)?;
            let changed = Changed {
                entry: library.remove_from_shelf(shelf, &ids)?,
                books: books.clone(),
            };
            print_changed(context, &changed, &format!("taken off shelf '{shelf}':"))?;
        }
        Some(ShelfAction::Show { shelf }) => {
            let books = library
                .shelf_books(shelf)?
                .ok_or_else(|| crate::store::CurationError::UnknownShelf(shelf.clone()))?;
            context.out.print(
                &serde_json::json!({ "shelf": shelf, "books": books }),
                |_| {
                    for book in &books {
                        println!(
                            "{}. {} - {} ({})",
                            book.position + 1,
                            book.title,
                            book.author,
                            book.external_id
                        );
                    }
                },
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(
    context: &Context,
    out: &std::path::Path,
    shelf: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let library = context.open()?;
    let only: Option<Vec<BookId>> = match shelf {
        Some(name) => Some(
            library
                .shelf_books(name)?
                .ok_or_else(|| crate::store::CurationError::UnknownShelf(name.to_string()))?
                .into_iter()
                .map(|b| b.book_id)
                .collect(),
        ),
        None => None,
    };
    let printer = super::progress::ProgressPrinter::new("exporting");
    let report = crate::export::export_books(
        &library,
        only.as_deref(),
        out,
        &printer.callback(),
        context.cancel,
    )
    .with_context(|| format!("exporting to {}", out.display()))?;
    context.out.print(&report, |r| {
        println!(
            "exported {} book(s) and {} cover file(s) to {} (import it with `shelfwise import {}`)",
            r.books,
            r.covers,
            r.csv.display(),
            out.display()
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn suggest_categories(
    context: &Context,
    args: &SuggestCategoriesArgs,
) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let run =
        crate::inference::TrainedRun::load(&library, args.run, crate::train::headless_device())?;
    let printer = super::progress::ProgressPrinter::new("feature cache");
    let suggestions = run.suggest_categories(&mut library, &printer.callback(), context.cancel)?;
    let Some(book) = &args.accept else {
        context.out.print(
            &serde_json::json!({ "run": args.run, "suggestions": suggestions }),
            |_| {
                if suggestions.is_empty() {
                    println!("every book has a category");
                }
                for s in &suggestions {
                    println!(
                        "{}: {} -> {} ({:.0}% sure)",
                        s.external_id,
                        s.title,
                        s.category,
                        100.0 * s.confidence
                    );
                }
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    };
    library.ensure_writable("accept a category")?;
    let book_id = library.find_book(book)?;
    let category = match &args.category {
        Some(category) => category.clone(),
        None => suggestions
            .iter()
            .find(|s| s.book_id == book_id)
            .map(|s| s.category.clone())
            .ok_or_else(|| {
                anyhow::anyhow!("book {book} has a category already; nothing to accept")
            })?,
    };
    let changed = Changed {
        entry: library.set_category(&[book_id], &category, "accept_category")?,
        books: vec![book.clone()],
    };
    print_changed(
        context,
        &changed,
        &format!("category '{category}' accepted for"),
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn near_duplicates(context: &Context, max_distance: u32) -> anyhow::Result<ExitCode> {
    let library = context.open()?;
    let printer = super::progress::ProgressPrinter::new("hashing covers");
    let pairs = crate::duplicates::near_duplicates(
        &library,
        max_distance,
        &printer.callback(),
        context.cancel,
    )?;
    context
        .out
        .print(&serde_json::json!({ "pairs": pairs }), |_| {
            if pairs.is_empty() {
                println!("no near-duplicates");
            }
            for pair in &pairs {
                let why = match pair.likeness {
                    crate::duplicates::Likeness::SameCover => "same cover".to_string(),
                    crate::duplicates::Likeness::SimilarCover { distance } => {
                        format!("covers alike ({distance} bits apart)")
                    }
                    crate::duplicates::Likeness::SameTitleAndAuthor => {
                        "same title and author".to_string()
                    }
                };
                let [a, b] = &pair.books;
                println!(
                    "{why}: {} ({}) / {} ({})  -> shelfwise merge {} {}",
                    a.title, a.external_id, b.title, b.external_id, a.external_id, b.external_id
                );
            }
        })?;
    Ok(ExitCode::SUCCESS)
}

pub fn merge(context: &Context, keep: &str, other: &str) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    library.ensure_writable("merge")?;
    let (keep_id, other_id) = (library.find_book(keep)?, library.find_book(other)?);
    let changed = Changed {
        entry: Some(library.merge_books(keep_id, other_id)?),
        books: vec![keep.to_string(), other.to_string()],
    };
    print_changed(
        context,
        &changed,
        "merged (the second is in the trash, its readings on the first):",
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn doubtful(context: &Context, folds: usize, seed: u64) -> anyhow::Result<ExitCode> {
    let mut library = context.open()?;
    let printer = super::progress::ProgressPrinter::new("fold models");
    let doubtful = crate::train::doubtful::doubtful_labels(
        &mut library,
        folds,
        seed,
        &printer.callback(),
        context.cancel,
    )?;
    context.out.print(
        &serde_json::json!({ "folds": folds, "doubtful": doubtful }),
        |_| {
            if doubtful.is_empty() {
                println!("no label is in doubt");
            }
            for d in &doubtful {
                println!(
                    "{}: {} is '{}', the model says '{}' ({:.0}% against {:.0}%)",
                    d.external_id,
                    d.title,
                    d.category,
                    d.suggested,
                    100.0 * d.suggested_probability,
                    100.0 * d.own_probability
                );
            }
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
