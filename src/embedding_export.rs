//! A run's placements of the library's books, written for tools analysts
//! load elsewhere: TensorBoard Projector's TSV pair with a sprite of cover
//! thumbnails and its config, or NumPy's `.npy` with a metadata CSV.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::inference::TrainedRun;
use crate::jobs::{Cancel, OnProgress};
use crate::store::{BookId, BookSummary, Library, RunId};
use crate::train::RunDir;

/// The largest sprite TensorBoard Projector reads, in pixels a side.
const SPRITE_LIMIT: u32 = 8192;
/// A thumbnail's side in the sprite, at most.
const SPRITE_CELL: u32 = 64;

/// Which files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbeddingFormat {
    /// `vectors.tsv`, `metadata.tsv`, `sprite.png`, `projector_config.pbtxt`.
    Projector,
    /// `embeddings.npy` (float32, books × dimensions) and `metadata.csv`.
    Npy,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddingExport {
    pub run: RunId,
    pub books: usize,
    pub dimensions: usize,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddingExportError {
    #[error(transparent)]
    Recommend(#[from] crate::recommend::RecommendError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error("writing {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("{} is not empty: give a new or empty folder", .0.display())]
    NotEmpty(PathBuf),
}

/// One row of the metadata: what an analyst colours and searches by.
struct BookRow {
    external_id: String,
    title: String,
    author: String,
    category: String,
    split: &'static str,
    thumb: Option<PathBuf>,
}

/// Writes `run`'s placement of every book in `format` into `out` (a new or
/// empty folder).
pub fn export_embeddings(
    library: &mut Library,
    library_root: &Path,
    run: &TrainedRun,
    (run_id, format, out): (RunId, EmbeddingFormat, &Path),
    progress: OnProgress,
    cancel: &Cancel,
) -> Result<EmbeddingExport, EmbeddingExportError> {
    let written = |path: &Path, reason: String| EmbeddingExportError::Write {
        path: path.to_path_buf(),
        reason,
    };
    if out
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(EmbeddingExportError::NotEmpty(out.to_path_buf()));
    }
    std::fs::create_dir_all(out).map_err(|e| written(out, e.to_string()))?;
    let index = crate::recommend::library_index(library, run, progress, cancel)?;
    let rows = book_rows(library, library_root, run_id, &index.book_ids)?;
    let files = match format {
        EmbeddingFormat::Projector => write_projector(out, &index.embeddings, index.dim, &rows)?,
        EmbeddingFormat::Npy => write_npy(out, &index.embeddings, index.dim, &rows)?,
    };
    Ok(EmbeddingExport {
        run: run_id,
        books: index.book_ids.len(),
        dimensions: index.dim,
        files,
    })
}

fn book_rows(
    library: &Library,
    library_root: &Path,
    run_id: RunId,
    book_ids: &[BookId],
) -> Result<Vec<BookRow>, EmbeddingExportError> {
    let summaries: HashMap<BookId, BookSummary> = library
        .book_summaries()?
        .into_iter()
        .map(|b| (b.book_id, b))
        .collect();
    let split = RunDir::new(library_root, run_id).load_split()?;
    let trained: HashSet<BookId> = split
        .as_ref()
        .map_or_else(HashSet::new, |s| s.train.iter().copied().collect());
    let held_out: HashSet<BookId> = split
        .as_ref()
        .map_or_else(HashSet::new, |s| s.validation.iter().copied().collect());
    Ok(book_ids
        .iter()
        .map(|id| {
            let book = summaries.get(id);
            let text =
                |f: fn(&BookSummary) -> &String| book.map_or(String::new(), |b| f(b).clone());
            BookRow {
                external_id: text(|b| &b.external_id),
                title: text(|b| &b.title),
                author: text(|b| &b.author),
                category: text(|b| &b.category),
                split: if trained.contains(id) {
                    "trained on"
                } else if held_out.contains(id) {
                    "held out"
                } else {
                    "not in the run"
                },
                thumb: book.and_then(|b| b.thumb_path.clone()),
            }
        })
        .collect())
}

/// A TSV cell: tabs and line breaks would break the row.
fn cell(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

fn write_projector(
    out: &Path,
    embeddings: &[f32],
    dim: usize,
    rows: &[BookRow],
) -> Result<Vec<PathBuf>, EmbeddingExportError> {
    let vectors: String = embeddings
        .chunks(dim.max(1))
        .map(|row| {
            let values: Vec<String> = row.iter().map(f32::to_string).collect();
            values.join("\t") + "\n"
        })
        .collect();
    let mut metadata = String::from("id\ttitle\tauthor\tcategory\tsplit\n");
    for row in rows {
        metadata.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            cell(&row.external_id),
            cell(&row.title),
            cell(&row.author),
            cell(if row.category.is_empty() {
                "(none)"
            } else {
                &row.category
            }),
            row.split
        ));
    }
    let (sprite, side) = sprite(rows);
    let sprite_path = out.join("sprite.png");
    sprite
        .save(&sprite_path)
        .map_err(|e| EmbeddingExportError::Write {
            path: sprite_path.clone(),
            reason: e.to_string(),
        })?;
    let config = format!(
        "embeddings {{\n  tensor_name: \"shelfwise\"\n  tensor_path: \"vectors.tsv\"\n  metadata_path: \"metadata.tsv\"\n  sprite {{\n    image_path: \"sprite.png\"\n    single_image_dim: {side}\n    single_image_dim: {side}\n  }}\n}}\n"
    );
    let mut files = Vec::new();
    for (name, text) in [
        ("vectors.tsv", vectors),
        ("metadata.tsv", metadata),
        ("projector_config.pbtxt", config),
    ] {
        let path = out.join(name);
        write_text(&path, &text)?;
        files.push(path);
    }
    files.push(sprite_path);
    Ok(files)
}

fn write_text(path: &Path, text: &str) -> Result<(), EmbeddingExportError> {
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    write().map_err(|e| EmbeddingExportError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The books' thumbnails in a square grid, in the rows' order (a grey cell
/// for a book without a cover), each cell small enough for the sprite to
/// stay within what the Projector reads; returns the sprite and a cell's side.
fn sprite(rows: &[BookRow]) -> (image::RgbImage, u32) {
    let across = (rows.len() as f64).sqrt().ceil().max(1.0) as u32;
    let side = (SPRITE_LIMIT / across).clamp(1, SPRITE_CELL);
    let cells: Vec<image::RgbImage> = rows
        .par_iter()
        .map(|row| {
            row.thumb
                .as_ref()
                .and_then(|path| image::open(path).ok())
                .map_or_else(
                    || image::RgbImage::from_pixel(side, side, image::Rgb([200, 200, 200])),
                    |thumb| {
                        thumb
                            .resize_exact(side, side, image::imageops::FilterType::Triangle)
                            .to_rgb8()
                    },
                )
        })
        .collect();
    let mut sprite = image::RgbImage::new(across * side, across * side);
    for (index, cell) in cells.iter().enumerate() {
        let (x, y) = (index as u32 % across, index as u32 / across);
        image::imageops::replace(&mut sprite, cell, i64::from(x * side), i64::from(y * side));
    }
    (sprite, side)
}

fn write_npy(
    out: &Path,
    embeddings: &[f32],
    dim: usize,
    rows: &[BookRow],
) -> Result<Vec<PathBuf>, EmbeddingExportError> {
    let npy = out.join("embeddings.npy");
    let tensor = tch::Tensor::from_slice(embeddings).reshape([rows.len() as i64, dim as i64]);
    tensor
        .write_npy(&npy)
        .map_err(|e| EmbeddingExportError::Write {
            path: npy.clone(),
            reason: e.to_string(),
        })?;
    let csv_path = out.join("metadata.csv");
    let write_csv = || -> Result<(), csv::Error> {
        let mut writer = csv::Writer::from_path(&csv_path)?;
        writer.write_record(["row", "id", "title", "author", "category", "split"])?;
        for (index, row) in rows.iter().enumerate() {
            writer.write_record([
                &index.to_string(),
                &row.external_id,
                &row.title,
                &row.author,
                &row.category,
                row.split,
            ])?;
        }
        writer.flush()?;
        Ok(())
    };
    write_csv().map_err(|e| EmbeddingExportError::Write {
        path: csv_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(vec![npy, csv_path])
}
