//! Import: books CSVs, Calibre libraries and reading-history CSVs become library
//! rows and cover files. Bad input never stops an import: each bad row or cover
//! becomes one line of the report (file, row, reason), and the rest goes on.

pub mod calibre;
pub mod cover;
pub mod csv_files;
pub mod encoding;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::import::cover::CoverError;
use crate::jobs::{Cancel, OnProgress, Progress, is_cancelled};
use crate::store::{ImportId, ImportIssue, Library, NewBook, StoreError, StoredCover, WriteCounts};
use crate::text::preprocess;

/// Books written per transaction: small enough for steady progress, large
/// enough that SQLite's per-commit cost stays small.
pub const DEFAULT_BATCH_SIZE: usize = 64;

/// What an import path holds, told apart by a CSV's header or a folder's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `id,title,author,category,synopsis,cover`
    BooksCsv(PathBuf),
    /// `reader,book_id,rating,date`
    ReadingsCsv(PathBuf),
    /// A folder with Calibre's `metadata.db`.
    Calibre(PathBuf),
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::BooksCsv(_) => "books-csv",
            Source::ReadingsCsv(_) => "readings-csv",
            Source::Calibre(_) => "calibre",
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Source::BooksCsv(path) | Source::ReadingsCsv(path) | Source::Calibre(path) => path,
        }
    }
}

/// Errors that stop an import before or outside its rows; row-level problems go
/// into the report instead.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    #[error("{path}: {reason}")]
    Unrecognised { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Calibre library {path}: {source}")]
    Calibre {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "--encoding: unknown text encoding `{label}`; use a name such as utf-8, utf-16le, utf-16be, windows-1252 or latin1"
    )]
    UnknownEncoding { label: String },
    /// A write to the library failed part-way (a full disk, a folder that
    /// cannot be written); what was committed before stays.
    #[error("{}", library_write_message(library, *kept, *total, cause))]
    LibraryWrite {
        library: PathBuf,
        kept: usize,
        total: usize,
        cause: Box<StoreError>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Knobs for an import; the defaults are what the app and the CLI use.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Decode covers on all cores (rayon); off only to measure what rayon buys.
    pub parallel: bool,
    pub batch_size: usize,
    /// The text encoding of CSV files; detected when `None` (see [`encoding`]).
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            parallel: true,
            batch_size: DEFAULT_BATCH_SIZE,
            encoding: None,
        }
    }
}

/// The outcome of one import, as printed, stored and sent as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    pub source: String,
    pub kind: &'static str,
    pub imported: usize,
    pub updated: usize,
    pub skipped: Vec<ImportIssue>,
    pub cancelled: bool,
    pub import_id: ImportId,
    /// The encoding a CSV was read in and how it was chosen, e.g.
    /// `windows-1252 (detected)`; `None` for a Calibre library.
    pub encoding: Option<String>,
    /// Books updated whose fields the librarian had edited: those fields kept
    /// the librarian's values (by external id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_edits: Vec<String>,
    /// Books the import names that are in the trash: left there, not brought
    /// back (by external id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trashed: Vec<String>,
}

/// What an import wrote, before it is recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Written {
    pub counts: WriteCounts,
    pub cancelled: bool,
    pub encoding: Option<String>,
    /// Books whose librarian-edited fields were kept, by external id.
    pub kept_edits: Vec<String>,
    /// Books in the trash that the import named and left there.
    pub trashed: Vec<String>,
}

/// A parsed row waiting for its cover: `cover` is the resolved file, or the
/// reason it cannot be used.
#[derive(Debug, Clone)]
pub struct PendingBook {
    pub line: u64,
    pub book: NewBook,
    pub cover: Result<Option<PathBuf>, String>,
}

/// Tells what `path` holds, reading a CSV's header in the encoding its bytes suggest.
pub fn detect(path: &Path) -> Result<Source, ImportError> {
    detect_in(path, None)
}

/// Tells what `path` holds, reading a CSV's header in `encoding` when given.
pub fn detect_in(
    path: &Path,
    encoding: Option<&'static encoding_rs::Encoding>,
) -> Result<Source, ImportError> {
    if !path.exists() {
        return Err(ImportError::NotFound {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        if path.join("metadata.db").is_file() {
            return Ok(Source::Calibre(path.to_path_buf()));
        }
        let books_csv = path.join("books.csv");
        if books_csv.is_file() {
            return detect_in(&books_csv, encoding);
        }
        return Err(ImportError::Unrecognised {
            path: path.to_path_buf(),
            reason: "a folder to import must hold a Calibre library (metadata.db) or a books.csv"
                .into(),
        });
    }
    let header = csv_files::CsvFile::open(path, encoding)?.columns;
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    if csv_files::is_books_header(&names) {
        Ok(Source::BooksCsv(path.to_path_buf()))
    } else if csv_files::is_readings_header(&names) {
        Ok(Source::ReadingsCsv(path.to_path_buf()))
    } else {
        Err(ImportError::Unrecognised {
            path: path.to_path_buf(),
            reason: format!(
                "unrecognised CSV header `{}`; expected `id,title,author,category,synopsis,cover` (books) or `reader,book_id,rating,date` (reading history)",
                header.join(",")
            ),
        })
    }
}

/// Imports whatever `path` holds into `library`.
///
/// Books are written a batch per transaction, so cancelling (or killing the
/// process) keeps whole books only. `on_progress` is called after each batch.
pub fn import_path(
    library: &mut Library,
    path: &Path,
    options: ImportOptions,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<ImportReport, ImportError> {
    library.ensure_writable("import")?;
    let source = detect_in(path, options.encoding)?;
    let label = path.display().to_string();
    let books = match &source {
        Source::BooksCsv(csv_path) => csv_files::read_books(csv_path, options.encoding)?,
        Source::Calibre(dir) => {
            let (pending, issues) = calibre::read_library(dir)?;
            csv_files::BooksFile {
                pending,
                issues,
                encoding: None,
            }
        }
        Source::ReadingsCsv(csv_path) => {
            return csv_files::import_readings(
                library,
                csv_path,
                &label,
                options,
                on_progress,
                cancel,
            );
        }
    };
    import_books(
        library,
        &source,
        &label,
        books,
        options,
        on_progress,
        cancel,
    )
}

/// One book's cover stored and the language its file names (the text's own is
/// detected when the corpus is built, see `text::corpus`).
type StoredPending = (Result<Option<StoredCover>, CoverError>, Option<String>);

fn store_pending(
    library_root: &Path,
    known: impl Fn(&str) -> Option<StoredCover>,
    item: &PendingBook,
) -> StoredPending {
    let cover = match &item.cover {
        Ok(None) => Ok(None),
        Ok(Some(path)) => cover::store_cover(library_root, path, known).map(Some),
        Err(reason) => Err(CoverError::Refused(reason.clone())),
    };
    let language = item
        .book
        .language
        .as_deref()
        .and_then(preprocess::normalise_language);
    (cover, language)
}

/// A batch's rows, the covers it stored that no earlier row names (`is_new`),
/// and a report line per refused cover; or the write to the library that failed.
fn batch_rows(
    batch: &[PendingBook],
    stored: Vec<StoredPending>,
    label: &str,
    is_new: impl Fn(&str) -> bool,
    issues: &mut Vec<ImportIssue>,
) -> (Vec<NewBook>, Vec<StoredCover>, Option<StoreError>) {
    let mut books = Vec::with_capacity(batch.len());
    let mut new_covers = Vec::new();
    let mut failure = None;
    for (item, (cover, language)) in batch.iter().zip(stored) {
        let mut book = item.book.clone();
        book.language = language;
        match cover {
            Ok(stored) => {
                new_covers.extend(stored.clone().filter(|c| is_new(&c.cover_hash)));
                book.cover = stored;
            }
            Err(CoverError::Write(cause)) => failure = failure.or(Some(cause)),
            Err(CoverError::Refused(reason)) => issues.push(ImportIssue {
                source: label.to_string(),
                line: Some(item.line),
                reason: format!(
                    "{reason}; book `{}` imported without a cover",
                    book.external_id
                ),
            }),
        }
        books.push(book);
    }
    (books, new_covers, failure)
}

fn import_books(
    library: &mut Library,
    source: &Source,
    label: &str,
    books: csv_files::BooksFile,
    options: ImportOptions,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<ImportReport, ImportError> {
    let csv_files::BooksFile {
        pending,
        mut issues,
        encoding,
    } = books;
    let known_covers: HashMap<String, StoredCover> = library.stored_covers()?;
    let library_root = library.root().to_path_buf();
    let store_one =
        |item: &PendingBook| store_pending(&library_root, |h| known_covers.get(h).cloned(), item);
    let batch_size = options.batch_size.max(1);
    let total = pending.len();
    let mut counts = WriteCounts::default();
    let (mut kept_edits, mut trashed) = (Vec::new(), Vec::new());
    let mut cancelled = false;
    // Covers first stored by batches already committed: theirs to keep.
    let mut committed_covers: HashSet<String> = HashSet::new();
    on_progress(Progress::new(0, total));
    for (batch_index, batch) in pending.chunks(batch_size).enumerate() {
        if is_cancelled(cancel) {
            cancelled = true;
            break;
        }
        let stored: Vec<_> = if options.parallel {
            batch.par_iter().map(store_one).collect()
        } else {
            batch.iter().map(store_one).collect()
        };
        let is_new =
            |hash: &str| !known_covers.contains_key(hash) && !committed_covers.contains(hash);
        let (books, new_covers, failure) = batch_rows(batch, stored, label, is_new, &mut issues);
        let written = match failure {
            Some(cause) => Err(cause),
            None => library.upsert_books(&books, label),
        };
        let written = written.map_err(|cause| {
            // The batch is undone: its rows were not written, so its new cover
            // files would belong to nobody.
            remove_cover_files(&library_root, &new_covers);
            write_failed(&library_root, counts, total, cause)
        })?;
        committed_covers.extend(new_covers.into_iter().map(|c| c.cover_hash));
        counts.imported += written.counts.imported;
        counts.updated += written.counts.updated;
        kept_edits.extend(written.kept_edits);
        trashed.extend(written.trashed);
        let done = (batch_index * batch_size + batch.len()).min(total);
        on_progress(Progress::new(done, total));
    }
    let written = Written {
        counts,
        cancelled,
        encoding,
        kept_edits,
        trashed,
    };
    finish_import(library, source, label, written, issues)
}

/// Removes the cover and thumbnail files of covers no committed row names.
fn remove_cover_files(library_root: &Path, covers: &[StoredCover]) {
    for cover in covers {
        let _ = std::fs::remove_file(library_root.join("covers").join(&cover.file_name));
        let _ = std::fs::remove_file(library_root.join("thumbs").join(&cover.thumb_name));
    }
}

/// The error for a write to the library that failed after `kept` rows of `total`
/// were committed: a full disk or a folder that cannot be written says which
/// folder and what was kept; other store errors pass as they are.
pub(crate) fn write_failed(
    library: &Path,
    kept: WriteCounts,
    total: usize,
    cause: StoreError,
) -> ImportError {
    if cause.is_disk_full() || cause.is_write_refused() {
        ImportError::LibraryWrite {
            library: library.to_path_buf(),
            kept: kept.imported + kept.updated,
            total,
            cause: Box::new(cause),
        }
    } else {
        ImportError::Store(cause)
    }
}

fn library_write_message(library: &Path, kept: usize, total: usize, cause: &StoreError) -> String {
    let cause_text = cause.to_string();
    let what = if cause.is_disk_full() && cause_text.contains("is full (") {
        cause_text // a file write names its folder itself
    } else if cause.is_disk_full() {
        format!(
            "the disk holding the library folder {} is full ({cause_text})",
            library.display()
        )
    } else {
        format!(
            "the library folder {} cannot be written ({cause_text})",
            library.display()
        )
    };
    format!(
        "{what}; {kept} of the {total} rows of this import were written before and are kept, the batch being written was undone; free space and import again: rows already imported are updated, not added twice"
    )
}

/// Stores the import with its report lines (sorted by line) and returns the report.
pub(crate) fn finish_import(
    library: &mut Library,
    source: &Source,
    label: &str,
    written: Written,
    mut issues: Vec<ImportIssue>,
) -> Result<ImportReport, ImportError> {
    issues.sort_by_key(|issue| issue.line);
    let import_id = library
        .record_import(
            label,
            source.kind(),
            written.counts,
            written.cancelled,
            written.encoding.as_deref(),
            &issues,
        )
        .map_err(|cause| {
            let total = written.counts.imported + written.counts.updated;
            write_failed(library.root(), written.counts, total, cause)
        })?;
    Ok(ImportReport {
        source: label.to_string(),
        kind: source.kind(),
        imported: written.counts.imported,
        updated: written.counts.updated,
        skipped: issues,
        cancelled: written.cancelled,
        import_id,
        encoding: written.encoding,
        kept_edits: written.kept_edits,
        trashed: written.trashed,
    })
}

impl ImportReport {
    /// A few lines for a terminal: counts, then one line per skipped row.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = format!(
            "{}: {} imported, {} updated, {} skipped{}\n",
            self.source,
            self.imported,
            self.updated,
            self.skipped.len(),
            if self.cancelled { " (cancelled)" } else { "" }
        );
        if let Some(encoding) = &self.encoding {
            let _ = writeln!(out, "  read as {encoding}");
        }
        if !self.kept_edits.is_empty() {
            let _ = writeln!(
                out,
                "  kept the librarian's edits of {} book(s): {}",
                self.kept_edits.len(),
                listed(&self.kept_edits)
            );
        }
        if !self.trashed.is_empty() {
            let _ = writeln!(
                out,
                "  {} book(s) in the trash were left there: {} (`shelfwise trash restore BOOK` brings one back)",
                self.trashed.len(),
                listed(&self.trashed)
            );
        }
        for issue in &self.skipped {
            let _ = match issue.line {
                Some(line) => writeln!(out, "  {}:{}: {}", issue.source, line, issue.reason),
                None => writeln!(out, "  {}: {}", issue.source, issue.reason),
            };
        }
        out
    }
}

/// At most ten ids, then how many more.
fn listed(ids: &[String]) -> String {
    let shown = ids.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    match ids.len() {
        n if n > 10 => format!("{shown} and {} more", n - 10),
        _ => shown,
    }
}
