//! The Recommend view: ask for books like the selected one, like a typed
//! description, like an image or for a reader, and see each suggestion with
//! why (similarity, how much cover and text counted, shared words, and a ring
//! where the model looked on its cover).

use egui::{Color32, Sense, Stroke, Vec2};

use super::widgets::{chip, explore_view, job_line};
use crate::app::{Command, LibraryState, QueryKind, RecommendState, RunsState, file_uri};
use crate::inference::attention::cover_counted;
use crate::recommend::Suggestion;

pub fn show(
    ui: &mut egui::Ui,
    state: &mut RecommendState,
    library: &LibraryState,
    runs: &RunsState,
) -> Vec<Command> {
    let controls = |ui: &mut egui::Ui, state: &mut RecommendState, _: &mut Vec<Command>| {
        let label = ui.label("Suggestions:");
        ui.add(egui::DragValue::new(&mut state.count).range(1..=100))
            .labelled_by(label.id);
        ui.checkbox(&mut state.diverse, "diverse");
    };
    let body = |ui: &mut egui::Ui, state: &mut RecommendState, commands: &mut Vec<Command>| {
        query_form(ui, state, library, commands);
        ui.horizontal(|ui| {
            let suggest = egui::Button::new("Suggest");
            if ui.add_enabled(state.job.is_none(), suggest).clicked() {
                commands.push(Command::Suggest);
            }
            if !state.suggestions.is_empty() && ui.button("Export list (CSV)").clicked() {
                commands.push(Command::ExportCsv {
                    name: "suggestions".into(),
                    rows: suggestions_csv(&state.suggestions),
                });
            }
            let label = ui.label("Shelf for \"Add to shelf\":");
            ui.add(egui::TextEdit::singleline(&mut state.shelf).desired_width(140.0))
                .labelled_by(label.id);
        });
        if let Some(job) = &state.job {
            job_line(ui, job);
        }
        ui.separator();
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (rank, suggestion) in state.suggestions.iter().enumerate() {
                suggestion_row(ui, rank, suggestion, library, commands);
                if ui
                    .small_button("Add to shelf")
                    .on_hover_text(format!(
                        "Put '{}' on shelf '{}'",
                        suggestion.title, state.shelf
                    ))
                    .clicked()
                {
                    commands.push(Command::AddToShelf(
                        vec![suggestion.book_id],
                        state.shelf.clone(),
                    ));
                }
                ui.separator();
            }
        });
    };
    explore_view(ui, runs, state, controls, body)
}

fn query_form(
    ui: &mut egui::Ui,
    state: &mut RecommendState,
    library: &LibraryState,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let kind = &mut state.kind;
        ui.radio_value(kind, QueryKind::SelectedBook, "More like the selected book");
        ui.radio_value(kind, QueryKind::Description, "A description");
        ui.radio_value(kind, QueryKind::Image, "An image");
        ui.radio_value(kind, QueryKind::Reader, "A reader");
    });
    match state.kind {
        QueryKind::SelectedBook => {
            ui.label(
                library
                    .selected
                    .as_ref()
                    .map_or("Pick a book in the Library view.".to_string(), |b| {
                        format!("Like \"{}\" by {}", b.title, b.author)
                    }),
            );
        }
        QueryKind::Description => {
            ui.horizontal(|ui| {
                let label = ui.label("Description:");
                let entry = egui::TextEdit::singleline(&mut state.text)
                    .hint_text("a seafaring adventure with mutiny")
                    .desired_width(420.0);
                ui.add(entry).labelled_by(label.id);
            });
        }
        QueryKind::Image => {
            ui.horizontal(|ui| {
                ui.label(
                    state
                        .image
                        .as_ref()
                        .map_or("Drop an image on the window, or".to_string(), |p| {
                            p.display().to_string()
                        }),
                );
                if ui.button("Choose an image…").clicked() {
                    commands.push(Command::PickQueryImage);
                }
            });
        }
        QueryKind::Reader => {
            ui.horizontal(|ui| {
                let label = ui.label("Reader:");
                let entry = egui::TextEdit::singleline(&mut state.reader)
                    .hint_text("reader id")
                    .desired_width(160.0);
                ui.add(entry).labelled_by(label.id);
                ui.label("(books they read are left out)");
            });
        }
    }
}

fn suggestions_csv(suggestions: &[Suggestion]) -> Vec<Vec<String>> {
    let header = [
        "rank",
        "book_id",
        "title",
        "author",
        "category",
        "score",
        "cover_share",
        "shared_words",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for (rank, s) in suggestions.iter().enumerate() {
        rows.push(vec![
            (rank + 1).to_string(),
            s.external_id.clone(),
            s.title.clone(),
            s.author.clone(),
            s.category.clone(),
            s.score.to_string(),
            s.image_share.to_string(),
            s.shared_words.join(" "),
        ]);
    }
    rows
}

fn suggestion_row(
    ui: &mut egui::Ui,
    rank: usize,
    s: &Suggestion,
    library: &LibraryState,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let (rect, response) = ui.allocate_exact_size(Vec2::new(60.0, 90.0), Sense::click());
        if let Some(path) = library.book(s.book_id).and_then(|b| b.thumb_path.as_ref()) {
            egui::Image::new(file_uri(path)).paint_at(ui, rect);
        }
        if let Some([x, y]) = s.focus {
            let at = rect.min + Vec2::new(x * rect.width(), y * rect.height());
            ui.painter()
                .circle_stroke(at, 6.0, Stroke::new(2.0, Color32::RED));
        }
        if response.clicked() {
            commands.push(Command::OpenBook(s.book_id));
        }
        ui.vertical(|ui| {
            ui.strong(format!("{}. {}", rank + 1, s.title));
            ui.label(format!("{} · {}", s.author, s.category));
            ui.horizontal_wrapped(|ui| {
                chip(ui, &format!("similarity {:.3}", s.score));
                let cover = 100.0 * s.image_share;
                if cover_counted(s.image_share) {
                    chip(
                        ui,
                        &format!("cover {cover:.0}% · text {:.0}%", 100.0 - cover),
                    );
                } else {
                    chip(
                        ui,
                        &format!("the cover did not count ({cover:.0}%): text only"),
                    );
                }
                if !s.shared_words.is_empty() {
                    chip(ui, &format!("shares: {}", s.shared_words.join(", ")));
                }
                if s.focus.is_some() {
                    chip(ui, "red ring: where the model looked");
                }
            });
            super::widgets::book_hub(ui, s.book_id, &[], commands);
        });
    });
}

#[cfg(test)]
mod tests {
    use egui::Role;
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::store::BookId;
    use crate::ui::testing::explore_harness;

    /// A suggestion whose cover counted a quarter, with a place it looked.
    fn treasure_island() -> Suggestion {
        Suggestion {
            book_id: BookId(3),
            external_id: "b3".into(),
            title: "Treasure Island".into(),
            author: "R. L. Stevenson".into(),
            category: "Adventure".into(),
            score: 0.912,
            image_weight: 0.2,
            text_weight: 0.6,
            image_share: 0.25,
            shared_words: vec!["pirate".into()],
            focus: Some([0.5, 0.5]),
        }
    }

    #[test]
    fn a_typed_description_is_kept_and_suggestions_say_why() {
        let state = RecommendState {
            suggestions: vec![treasure_island()],
            ..RecommendState::default()
        };
        let mut harness = explore_harness(show, state, LibraryState::default());
        harness.get_by_label("A description").click();
        harness.run();
        let entry = harness.get_by_role_and_label(Role::TextInput, "Description:");
        entry.focus();
        harness.run();
        harness
            .get_by_role_and_label(Role::TextInput, "Description:")
            .type_text("pirate ship");
        harness.run();
        harness.get_by_label("Suggest").click();
        harness.run();
        assert_eq!(harness.state().state.text, "pirate ship");
        assert_eq!(harness.state().asked(), [Command::Suggest]);
        assert!(
            harness
                .query_by_label_contains("cover 25% · text 75%")
                .is_some()
        );
        assert!(harness.query_by_label_contains("shares: pirate").is_some());
        assert!(harness.query_by_label_contains("red ring").is_some());
    }

    #[test]
    fn a_suggestion_whose_cover_did_not_count_says_so() {
        let state = RecommendState {
            suggestions: vec![Suggestion {
                image_weight: 0.01,
                text_weight: 0.9,
                image_share: 0.011,
                focus: None,
                ..treasure_island()
            }],
            ..RecommendState::default()
        };
        let mut harness = explore_harness(show, state, LibraryState::default());
        harness.run();
        assert!(
            harness
                .query_by_label_contains("the cover did not count (1%): text only")
                .is_some()
        );
        assert!(harness.query_by_label_contains("red ring").is_none());
    }

    #[test]
    fn a_suggestion_goes_on_the_shelf_named_above_the_list() {
        let state = RecommendState {
            suggestions: vec![treasure_island()],
            shelf: "Summer reads".into(),
            ..RecommendState::default()
        };
        let mut harness = explore_harness(show, state, LibraryState::default());
        harness.get_by_label("Add to shelf").click();
        harness.run();
        let book = treasure_island().book_id;
        assert_eq!(
            harness.state().asked(),
            [Command::AddToShelf(vec![book], "Summer reads".into())]
        );
    }
}
