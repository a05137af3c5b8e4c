//! The evaluation panel of a run: its confusion matrix on the held-out books
//! as a grid whose cells open the books behind them (covers, true and
//! predicted category, the model's confidence), the per-category table
//! (the paper's Table 3) and the retrieval table (Table 2) with chance beside.

use egui::{Color32, Vec2};

use super::widgets::book_hub;
use crate::app::train::EvaluationState;
use crate::app::{Command, LibraryState, RunsState, file_uri};
use crate::store::{RunId, RunStatus};
use crate::train::cover_classifier::CoverClassifierChoice;
use crate::train::word_classifier::WordClassifierChoice;
use crate::train::{RunSummary, ValidationTables};

pub fn show(
    ui: &mut egui::Ui,
    runs: &RunsState,
    evaluation: &mut EvaluationState,
    library: &LibraryState,
    commands: &mut Vec<Command>,
) {
    let Some(listing) = runs.chosen.and_then(|id| runs.listing(id)) else {
        ui.label("Choose a run in the run table to see its evaluation.");
        return;
    };
    ui.heading(format!(
        "Run {}: {}",
        listing.run_id,
        crate::app::runs::run_label(listing)
    ));
    let summary = match RunSummary::of_listing(listing) {
        Ok(Some(summary)) => summary,
        Ok(None) if listing.status != RunStatus::Finished => {
            ui.label("No evaluation yet (the run has not finished).");
            return;
        }
        Ok(None) => {
            ui.label("No tables were kept with this run.");
            return;
        }
        Err(error) => {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The run's stored summary cannot be read: {error}"),
            );
            return;
        }
    };
    if let Some(words) = &summary.word_classifier {
        ui.label(word_classifier_line(words));
    }
    if let Some(covers) = &summary.cover_classifier {
        ui.label(cover_classifier_line(covers));
    }
    let Some(tables) = &summary.validation else {
        ui.label("No tables were kept with this run.");
        return;
    };
    // Both ways: a library of many categories makes a wide matrix.
    egui::ScrollArea::both()
        .id_salt("evaluation_scroll")
        .show(ui, |ui| {
            ui.strong(format!(
                "Held-out books: macro-F1 {:.3}, accuracy {:.3}, {} books",
                tables.confusion.macro_f1(),
                tables.confusion.accuracy(),
                tables.confusion.total()
            ));
            confusion_grid(ui, tables, &summary.categories, evaluation);
            if let Some(cell) = evaluation.cell {
                cell_books(ui, evaluation, cell, &summary.categories, library, commands);
            }
            ui.separator();
            run_tables(ui, listing.run_id, tables, commands);
        });
}

/// The confusion matrix, rows the true category and columns the predicted
/// one; each cell a button with its count, shaded by its share of the row.
fn confusion_grid(
    ui: &mut egui::Ui,
    tables: &ValidationTables,
    categories: &[String],
    evaluation: &mut EvaluationState,
) {
    let matrix = &tables.confusion;
    ui.label("Confusion matrix: rows are the true category, columns the predicted one. Click a cell to see its books.");
    egui::Grid::new("confusion_grid")
        .spacing(Vec2::new(2.0, 2.0))
        .show(ui, |ui| {
            ui.label("true \\ predicted");
            for name in categories {
                ui.label(egui::RichText::new(short(name)).small())
                    .on_hover_text(name);
            }
            ui.end_row();
            for (actual, name) in categories.iter().enumerate().take(matrix.classes) {
                ui.label(short(name)).on_hover_text(name);
                let row_total: u64 = (0..matrix.classes).map(|p| matrix.count(actual, p)).sum();
                for predicted in 0..matrix.classes {
                    let count = matrix.count(actual, predicted);
                    let share = count as f32 / row_total.max(1) as f32;
                    let base = if actual == predicted {
                        Color32::from_rgb(40, 140, 70)
                    } else {
                        Color32::from_rgb(190, 60, 50)
                    };
                    let fill = if count == 0 {
                        Color32::TRANSPARENT
                    } else {
                        base.gamma_multiply(0.25 + 0.75 * share)
                    };
                    let open = evaluation.cell == Some((actual, predicted));
                    let button = egui::Button::new(count.to_string())
                        .fill(fill)
                        .selected(open)
                        .min_size(Vec2::new(44.0, 24.0));
                    let response = ui.add(button).on_hover_text(format!(
                        "{count} {} book(s) predicted {}",
                        name,
                        categories.get(predicted).map_or("?", String::as_str)
                    ));
                    if response.clicked() {
                        evaluation.cell = if open {
                            None
                        } else {
                            Some((actual, predicted))
                        };
                    }
                }
                ui.end_row();
            }
        });
}

fn short(name: &str) -> String {
    let mut chars = name.chars();
    let head: String = chars.by_ref().take(14).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// The held-out books of one cell: cover, title, true and predicted
/// category, confidence, and the book's hub.
fn cell_books(
    ui: &mut egui::Ui,
    evaluation: &EvaluationState,
    (actual, predicted): (usize, usize),
    categories: &[String],
    library: &LibraryState,
    commands: &mut Vec<Command>,
) {
    let name = |row: usize| categories.get(row).map_or("?", String::as_str);
    ui.separator();
    if evaluation.held_out.is_none() {
        let why = evaluation.error.clone().unwrap_or_else(|| {
            "this run did not keep its held-out books (it trained before they were kept); \
             train or fine-tune it again to open its cells"
                .into()
        });
        ui.label(format!(
            "The books behind this cell cannot be shown: {why}."
        ));
        return;
    }
    let books = evaluation.cell_books((actual, predicted));
    ui.strong(format!(
        "{} book(s) of {} predicted {}",
        books.len(),
        name(actual),
        name(predicted)
    ));
    let index_of = library.index_by_id();
    for held in books {
        let Some(&i) = index_of.get(&held.book_id) else {
            continue;
        };
        let book = &library.books[i];
        ui.horizontal(|ui| {
            let size = Vec2::new(48.0, 72.0);
            match &book.thumb_path {
                Some(path) => {
                    ui.add(egui::Image::new(file_uri(path)).fit_to_exact_size(size));
                }
                None => {
                    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                    super::widgets::placeholder_cover(ui, rect, &book.title, &book.category);
                }
            }
            ui.vertical(|ui| {
                if ui.link(&book.title).clicked() {
                    commands.push(Command::OpenBook(held.book_id));
                }
                ui.label(format!(
                    "true {} · predicted {} · confidence {:.2}",
                    name(held.actual),
                    name(held.predicted),
                    held.confidence
                ));
                book_hub(ui, held.book_id, &[], commands);
            });
        });
    }
}

/// The chosen run's per-category table (Table 3) and retrieval table
/// (Table 2) with chance beside it.
fn run_tables(
    ui: &mut egui::Ui,
    run_id: RunId,
    tables: &ValidationTables,
    commands: &mut Vec<Command>,
) {
    let header = [
        "category",
        "sensitivity",
        "specificity",
        "ppv",
        "iou",
        "dice",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    egui::Grid::new("category_table")
        .striped(true)
        .show(ui, |ui| {
            for name in header {
                ui.strong(name);
            }
            ui.end_row();
            for (name, m) in &tables.per_category {
                let values = [m.sensitivity, m.specificity, m.ppv, m.iou, m.dice];
                ui.label(name);
                for v in &values {
                    ui.label(format!("{v:.3}"));
                }
                ui.end_row();
                let mut row = vec![name.clone()];
                row.extend(values.iter().map(|v| v.to_string()));
                rows.push(row);
            }
        });
    retrieval_table(ui, tables);
    if ui.button("Export table (CSV)").clicked() {
        let name = format!("run{run_id}-categories");
        commands.push(Command::ExportCsv { name, rows });
    }
}

/// Text-to-cover and cover-to-text recall (the paper's Table 2), with
/// chance beside it.
fn retrieval_table(ui: &mut egui::Ui, tables: &ValidationTables) {
    let Some(retrieval) = &tables.retrieval else {
        return;
    };
    egui::Grid::new("retrieval_table")
        .striped(true)
        .show(ui, |ui| {
            for name in ["retrieval", "R@1", "R@5", "R@10", "mR"] {
                ui.strong(name);
            }
            ui.end_row();
            for (side, name) in [
                (&retrieval.text, "text to cover"),
                (&retrieval.image, "cover to text"),
            ] {
                ui.label(name);
                for value in [side.r1, side.r5, side.r10] {
                    ui.label(format!("{value:.3}"));
                }
                ui.label("");
                ui.end_row();
            }
            ui.label("both ways");
            for _ in 0..3 {
                ui.label("");
            }
            ui.label(format!("{:.3}", retrieval.mean_recall));
            ui.end_row();
            match tables.retrieval_gallery {
                Some(gallery) => {
                    let chance = |k: f64| k / gallery as f64;
                    ui.label(format!("chance ({gallery} books)"));
                    for k in [1.0, 5.0, 10.0] {
                        ui.label(format!("{:.4}", chance(k)));
                    }
                    ui.label(format!(
                        "{:.4}",
                        (chance(1.0) + chance(5.0) + chance(10.0)) / 3.0
                    ));
                    ui.end_row();
                }
                None => {
                    ui.label("chance: not recorded (run from an older version)");
                    ui.end_row();
                }
            }
        });
}

/// How a fitted classifier weighted its books, in words.
fn weighting(balanced: bool) -> &'static str {
    if balanced {
        "categories balanced"
    } else {
        "books weighted alike"
    }
}

/// What the cover classifier beside the network was, and how strongly it
/// counted.
fn cover_classifier_line(covers: &CoverClassifierChoice) -> String {
    let alone = format!(
        "alone it scored macro-F1 {:.3} over the folds of {} covers",
        covers.cv_macro_f1, covers.covers
    );
    if covers.mix == 0.0 {
        return format!(
            "Cover classifier: not used (it did not help on the validation books; {alone})"
        );
    }
    format!(
        "Cover classifier beside the network: C {}, {}, power {} ({alone})",
        covers.c,
        weighting(covers.balanced),
        covers.mix,
    )
}

/// What the word classifier beside the network was, and what it changed on
/// the validation books.
fn word_classifier_line(words: &WordClassifierChoice) -> String {
    if words.mix == 0.0 {
        return format!(
            "Word classifier: not used (it did not help on the validation books; network macro-F1 {:.3})",
            words.network_macro_f1
        );
    }
    format!(
        "Word classifier beside the network: C {}, {}, weight {}; validation macro-F1 {:.3} for the network, {:.3} with the fitted classifiers",
        words.c,
        weighting(words.balanced),
        words.mix,
        words.network_macro_f1,
        words.val_macro_f1
    )
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::app::commands::HubAction;
    use crate::eval::ConfusionMatrix;
    use crate::store::{BookId, BookSummary, Modalities, RunListing};
    use crate::train::HeldOutBook;

    struct Fixture {
        runs: RunsState,
        evaluation: EvaluationState,
        library: LibraryState,
        commands: Vec<Command>,
    }

    /// A finished run whose 4 held-out books were: Drama taken for Drama
    /// (twice), Drama taken for Poetry, Poetry for Poetry.
    fn fixture() -> Fixture {
        let categories = vec!["Drama".to_string(), "Poetry".to_string()];
        let (actual, predicted) = ([0, 0, 0, 1], [0, 0, 1, 1]);
        let matrix = ConfusionMatrix::from_labels(&actual, &predicted, 2).unwrap();
        let summary = RunSummary {
            trunk: crate::model::weights::TrunkProvenance::Random,
            block5_trained: false,
            best_epoch: 2,
            val_accuracy: 0.75,
            val_macro_f1: 0.73,
            train_accuracy: 0.9,
            categories: categories.clone(),
            validation: Some(ValidationTables {
                per_category: crate::eval::per_category(&matrix, &categories),
                confusion: matrix,
                retrieval: None,
                retrieval_gallery: None,
            }),
            averaged_from: None,
            word_classifier: None,
            cover_classifier: None,
        };
        let listing = RunListing {
            run_id: RunId(3),
            sweep_id: None,
            beta: 0.3,
            modalities: Modalities::Fused,
            status: RunStatus::Finished,
            best_epoch: Some(2),
            val_accuracy: Some(0.75),
            val_macro_f1: Some(0.73),
            summary: Some(serde_json::to_string(&summary).unwrap()),
            created_at: String::new(),
            epochs_done: 2,
            parent_run_id: None,
            seed: Some(1),
        };
        let held_out: Vec<HeldOutBook> = (0..4)
            .map(|i| HeldOutBook {
                book_id: BookId(i),
                actual: actual[i as usize],
                predicted: predicted[i as usize],
                confidence: 0.6 + 0.1 * i as f32,
            })
            .collect();
        let mut library = LibraryState::default();
        library.set_books(
            (0..4)
                .map(|i| BookSummary {
                    book_id: BookId(i),
                    external_id: i.to_string(),
                    title: format!("Play {i}"),
                    author: String::new(),
                    category: categories[actual[i as usize]].clone(),
                    thumb_path: None,
                })
                .collect(),
        );
        Fixture {
            runs: RunsState {
                runs: vec![listing],
                chosen: Some(RunId(3)),
                changed_since: Default::default(),
            },
            evaluation: EvaluationState {
                run: Some(RunId(3)),
                held_out: Some(held_out),
                ..EvaluationState::default()
            },
            library,
            commands: Vec::new(),
        }
    }

    #[test]
    fn a_confusion_cell_opens_its_books_and_each_book_its_hub() {
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1000.0, 900.0))
            .build_ui_state(
                |ui, f: &mut Fixture| {
                    show(ui, &f.runs, &mut f.evaluation, &f.library, &mut f.commands);
                },
                fixture(),
            );
        assert!(harness.query_by_label_contains("macro-F1 0.733").is_some());
        // The Drama row: 2 taken for Drama, 1 for Poetry.
        harness.get_by_label("2").click();
        harness.run();
        assert_eq!(harness.state().evaluation.cell, Some((0, 0)));
        assert!(
            harness
                .query_by_label("2 book(s) of Drama predicted Drama")
                .is_some()
        );
        assert!(
            harness.query_by_label("Play 0").is_some()
                && harness.query_by_label("Play 1").is_some()
        );
        // The error: Drama taken for Poetry, with the model's confidence.
        harness.get_all_by_label("1").next().unwrap().click();
        harness.run();
        assert_eq!(harness.state().evaluation.cell, Some((0, 1)));
        assert!(
            harness
                .query_by_label("true Drama · predicted Poetry · confidence 0.80")
                .is_some()
        );
        harness.get_by_label("Heatmap").click();
        harness.run();
        assert_eq!(
            harness.state().commands,
            [Command::BookHub(BookId(2), HubAction::Heatmap)]
        );
    }

    #[test]
    fn the_word_classifier_line_says_what_was_chosen_and_what_it_changed() {
        let mut words = WordClassifierChoice {
            c: 0.3,
            balanced: true,
            mix: 1.0,
            network_macro_f1: 0.615,
            val_macro_f1: 0.727,
            cv_macro_f1: 0.7,
        };
        let line = word_classifier_line(&words);
        assert!(
            line.contains("C 0.3, categories balanced, weight 1"),
            "{line}"
        );
        assert!(
            line.contains("0.615 for the network, 0.727 with the fitted classifiers"),
            "{line}"
        );
        // The test harness's font has no arrows: a "→" here made the GUI test panic
        // whenever the word classifier was used.
        assert!(line.is_ascii(), "{line}");
        words.mix = 0.0;
        assert!(word_classifier_line(&words).starts_with("Word classifier: not used"));
    }

    #[test]
    fn the_cover_classifier_line_says_how_strongly_the_covers_counted() {
        let mut covers = CoverClassifierChoice {
            c: 0.003,
            balanced: false,
            mix: 0.3,
            cv_macro_f1: 0.443,
            covers: 5953,
        };
        let line = cover_classifier_line(&covers);
        assert!(
            line.contains("C 0.003, books weighted alike, power 0.3"),
            "{line}"
        );
        assert!(
            line.contains("macro-F1 0.443 over the folds of 5953 covers"),
            "{line}"
        );
        assert!(line.is_ascii(), "{line}");
        covers.mix = 0.0;
        assert!(cover_classifier_line(&covers).starts_with("Cover classifier: not used"));
    }
}
