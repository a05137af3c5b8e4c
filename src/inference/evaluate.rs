//! A run evaluated on labelled books that were never imported (`shelfwise eval
//! --csv`): classification with both modalities, text ↔ cover retrieval from
//! single-modality embeddings, and the books as queries against the library.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use tch::Device;

use super::TrainedRun;
use crate::eval::{ClassMetrics, ConfusionMatrix, CrossModalRecall, RankingQuality};
use crate::jobs::{Cancel, Progress};
use crate::store::{BookId, BookText, ImportIssue, Library, Modalities, RunId};
use crate::train::TrainError;
use crate::train::covers::CoverMaps;
use crate::train::data::Example;

/// One category's row of the evaluation table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryReport {
    #[serde(flatten)]
    pub metrics: ClassMetrics,
    pub f1: f64,
}

/// Where CBAM looked on the held-out covers, and how much they counted: a
/// map that peaks on its edge far more often than the edge's share of cells
/// is reading the padding, not the cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverAttention {
    pub covers: usize,
    /// Mean `S_c / (S_c + S_u)` over the held-out books with a cover.
    pub mean_cover_share: f64,
    /// Covers below [`super::attention::MIN_COVER_SHARE`]: said not to count.
    pub not_counted: usize,
    /// Share of covers whose map peaks in an edge cell.
    pub border_peaks: f64,
    /// Share of the map's cells on its edge: what `border_peaks` would be by chance.
    pub border_cells: f64,
}

/// `shelfwise eval`'s report on a labelled CSV.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub run: RunId,
    pub books: usize,
    pub skipped: Vec<ImportIssue>,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_category: BTreeMap<String, CategoryReport>,
    pub categories: Vec<String>,
    pub confusion: ConfusionMatrix,
    /// Text ↔ cover retrieval among the books with both a cover and a text;
    /// `None` when fewer than two have both (a set without covers).
    pub retrieval: Option<CrossModalRecall>,
    /// How many books that retrieval ranked (its chance level is 16 / (3 x this)).
    pub retrieval_gallery: usize,
    /// The CSV's books as queries against the library's books, relevant when
    /// of the same category (a query's own book, if in the library, left out).
    pub recommendation: RankingQuality,
    /// `None` when no held-out book had a cover.
    pub attention: Option<CoverAttention>,
}

/// The CSV's books of categories the run knows, as examples; the others, and
/// covers that cannot be read, as report lines.
fn csv_examples(
    run: &TrainedRun,
    library: &Library,
    csv: &Path,
) -> Result<(Vec<Example>, Vec<ImportIssue>), TrainError> {
    let crate::import::csv_files::BooksFile {
        pending,
        issues: mut skipped,
        ..
    } = crate::import::csv_files::read_books(csv, None)?;
    let mut report = |line, reason| {
        skipped.push(ImportIssue {
            source: csv.display().to_string(),
            line: Some(line),
            reason,
        })
    };
    let mut examples = Vec::new();
    for item in pending {
        let category = &item.book.category;
        let Some(label) = run.categories.iter().position(|c| c == category) else {
            let reason = format!(
                "category `{category}` was not trained on by run {}",
                run.run_id
            );
            report(item.line, reason);
            continue;
        };
        let text = BookText {
            book_id: BookId(0),
            language: item.book.language.clone(),
            detected_language: None,
            title: item.book.title.clone(),
            author: item.book.author.clone(),
            synopsis: item.book.synopsis.clone(),
            category: item.book.category.clone(),
            cover_hash: None,
        };
        let cover = match &item.cover {
            Ok(Some(path)) => match run.cover_maps(path) {
                Ok(maps) => Some(CoverMaps::Loaded(maps)),
                Err(error) => {
                    report(item.line, format!("{error}; evaluated without a cover"));
                    None
                }
            },
            _ => None,
        };
        let (word_ids, bag) = run.words(&run.tokens(&text));
        examples.push(Example {
            book_id: library.book_id_by_external(&item.book.external_id)?,
            label,
            word_ids,
            bag,
            cover,
        });
    }
    Ok((examples, skipped))
}

/// The CSV's books (`queries`, with their labels and library books) ranked
/// against the library's books, embedded by the same run.
fn library_ranking(
    run: &TrainedRun,
    library: &mut Library,
    queries: &[f32],
    labels: &[usize],
    query_books: &[Option<BookId>],
) -> Result<RankingQuality, TrainError> {
    let shelf = run.embed_library(library, &|_: Progress| {}, &Cancel::new(false))?;
    let category_of: BTreeMap<BookId, String> = library
        .book_summaries()?
        .into_iter()
        .map(|b| (b.book_id, b.category))
        .collect();
    let categories = &run.categories;
    let shelf_labels: Vec<usize> = shelf
        .iter()
        .map(|(book_id, _)| {
            category_of
                .get(book_id)
                .and_then(|name| categories.iter().position(|c| c == name))
                .unwrap_or(categories.len())
        })
        .collect();
    let shelf_embeddings: Vec<f32> = shelf
        .iter()
        .flat_map(|(_, placement)| placement.embedding.iter().copied())
        .collect();
    let own_rows: Vec<usize> = query_books
        .iter()
        .map(|book| {
            book.and_then(|id| shelf.iter().position(|(book_id, _)| *book_id == id))
                .unwrap_or(usize::MAX)
        })
        .collect();
    crate::eval::ranking_quality(
        queries,
        labels,
        &shelf_embeddings,
        &shelf_labels,
        run.embedding_dim,
        10,
        Some(&own_rows),
    )
    .map_err(|e| TrainError::RunNotUsable {
        run: run.run_id,
        reason: e.to_string(),
    })
}

/// Where the run looked on each held-out cover (see [`CoverAttention`]).
fn cover_attention(run: &TrainedRun, examples: &[Example]) -> Option<CoverAttention> {
    let maps: Vec<_> = examples
        .iter()
        .filter(|example| example.cover.is_some())
        .map(|example| {
            run.attention_of(Example {
                cover: example.cover.clone(),
                word_ids: example.word_ids.clone(),
                bag: example.bag.clone(),
                ..*example
            })
        })
        .collect();
    let first = maps.first()?;
    let covers = maps.len();
    let side = first.grid as f64;
    let inner = (side - 2.0).max(0.0);
    let shares: Vec<f64> = maps.iter().map(|m| f64::from(m.image_share())).collect();
    Some(CoverAttention {
        covers,
        mean_cover_share: shares.iter().sum::<f64>() / covers as f64,
        not_counted: maps.iter().filter(|m| m.counted_focus().is_none()).count(),
        border_peaks: maps.iter().filter(|m| m.peaks_on_border()).count() as f64 / covers as f64,
        border_cells: 1.0 - (inner * inner) / (side * side),
    })
}

/// Evaluates run `run_id`'s best checkpoint on the labelled books of `csv`
/// (the import format) without adding them to the library. Books of a
/// category the run never saw are skipped and reported.
pub fn evaluate_csv(
    library: &mut Library,
    run_id: RunId,
    csv: &Path,
    device: Device,
) -> Result<EvalReport, TrainError> {
    let run = TrainedRun::load(library, run_id, device)?;
    let (examples, skipped) = csv_examples(&run, library, csv)?;
    let dataset = run.dataset(examples);
    let fused = run.predict(&dataset, run.config.modalities);
    let text_only = run.predict(&dataset, Modalities::Text);
    let image_only = run.predict(&dataset, Modalities::Image);
    let actual = dataset.labels();
    let categories = run.categories.clone();
    let confusion = ConfusionMatrix::from_labels(&actual, &fused.predicted, categories.len())
        .expect("labels in range");
    // A book without a cover (or without a text) has no placement of that
    // kind to be found by: ranking it would count ties of empty placements.
    let paired: Vec<usize> = (0..dataset.examples.len())
        .filter(|&i| dataset.examples[i].has_cover_and_text())
        .collect();
    let rows = |embeddings: &[f32]| -> Vec<f32> {
        paired
            .iter()
            .flat_map(|&i| embeddings[i * run.embedding_dim..(i + 1) * run.embedding_dim].iter())
            .copied()
            .collect()
    };
    let retrieval = if paired.len() >= 2 {
        let recall = crate::eval::cross_modal_recall(
            &rows(&text_only.embeddings),
            &rows(&image_only.embeddings),
            run.embedding_dim,
        )
        .map_err(|e| TrainError::RunNotUsable {
            run: run_id,
            reason: e.to_string(),
        })?;
        Some(recall)
    } else {
        None
    };
    let query_books: Vec<Option<BookId>> = dataset.examples.iter().map(|e| e.book_id).collect();
    let attention = cover_attention(&run, &dataset.examples);
    let recommendation = library_ranking(&run, library, &fused.embeddings, &actual, &query_books)?;
    let per_category = crate::eval::per_category(&confusion, &categories)
        .into_iter()
        .map(|(name, metrics)| {
            let row = CategoryReport {
                f1: metrics.dice,
                metrics,
            };
            (name, row)
        })
        .collect();
    Ok(EvalReport {
        run: run_id,
        books: actual.len(),
        skipped,
        accuracy: confusion.accuracy(),
        macro_f1: confusion.macro_f1(),
        per_category,
        categories,
        confusion,
        retrieval,
        retrieval_gallery: paired.len(),
        recommendation,
        attention,
    })
}
