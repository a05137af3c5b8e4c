//! The library, or some of its books, written out in the import format: a
//! `books.csv` (`id,title,author,category,synopsis,cover,language`) with a
//! `covers/` folder beside it, so that importing the folder into another
//! library gives the same books, fields and covers. Books in the trash are
//! not exported.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::jobs::{Cancel, OnProgress, Progress, is_cancelled};
use crate::store::{BookId, Library, StoreError};

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub books: usize,
    pub covers: usize,
    pub csv: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} already exists; export into an empty folder")]
    Exists(PathBuf),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("the export was cancelled; {0} is incomplete")]
    Cancelled(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const HEADER: [&str; 7] = [
    "id", "title", "author", "category", "synopsis", "cover", "language",
];

/// Copies a stored cover into the export's `covers/` (once); returns its
/// path as the CSV names it and whether it was copied now.
fn copy_cover(
    library: &Library,
    file_name: &str,
    covers_dir: &Path,
) -> Result<(String, bool), ExportError> {
    let name = Path::new(file_name).file_name().map_or_else(
        || file_name.to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let target = covers_dir.join(&name);
    let copied = !target.exists();
    if copied {
        std::fs::copy(library.cover_path(file_name), &target).map_err(|source| {
            ExportError::Write {
                path: target.clone(),
                source,
            }
        })?;
    }
    Ok((format!("covers/{name}"), copied))
}

/// Writes `out/books.csv` and `out/covers/` for the library's books, or for
/// `only` these when given (in the order given). The CSV is written last,
/// under a temporary name then renamed, so an export cut short has no
/// `books.csv` to import by mistake.
pub fn export_books(
    library: &Library,
    only: Option<&[BookId]>,
    out: &Path,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<ExportReport, ExportError> {
    let csv_path = out.join("books.csv");
    if csv_path.exists() {
        return Err(ExportError::Exists(csv_path));
    }
    let covers_dir = out.join("covers");
    std::fs::create_dir_all(&covers_dir).map_err(|source| ExportError::Write {
        path: covers_dir.clone(),
        source,
    })?;
    let mut rows: Vec<_> = library
        .export_rows()?
        .into_iter()
        .filter(|row| only.is_none_or(|books| books.contains(&row.book_id)))
        .collect();
    // Some books (a shelf, a selection): in the order given.
    if let Some(books) = only {
        rows.sort_by_key(|row| books.iter().position(|b| *b == row.book_id));
    }
    let mut records = Vec::with_capacity(rows.len());
    let mut covers = 0;
    on_progress(Progress::new(0, rows.len()));
    for (index, row) in rows.iter().enumerate() {
        if is_cancelled(cancel) {
            return Err(ExportError::Cancelled(out.to_path_buf()));
        }
        let cover = match &row.cover_file {
            Some(file_name) => {
                let (path, copied) = copy_cover(library, file_name, &covers_dir)?;
                covers += usize::from(copied);
                path
            }
            None => String::new(),
        };
        records.push([
            row.external_id.clone(),
            row.title.clone(),
            row.author.clone(),
            row.category.clone(),
            row.synopsis.clone(),
            cover,
            row.language.clone().unwrap_or_default(),
        ]);
        on_progress(Progress::new(index + 1, rows.len()));
    }
    let temporary = crate::store::temporary::temporary_path(&csv_path);
    let csv_error = |source| ExportError::Csv {
        path: csv_path.clone(),
        source,
    };
    let mut writer = csv::Writer::from_path(&temporary).map_err(csv_error)?;
    writer.write_record(HEADER).map_err(csv_error)?;
    for record in &records {
        writer.write_record(record).map_err(csv_error)?;
    }
    writer
        .flush()
        .and_then(|()| std::fs::rename(&temporary, &csv_path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&temporary);
            ExportError::Write {
                path: csv_path.clone(),
                source,
            }
        })?;
    Ok(ExportReport {
        books: records.len(),
        covers,
        csv: csv_path,
    })
}
