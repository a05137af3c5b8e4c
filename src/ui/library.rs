//! The Library view: the wall of covers, the detail panel of the selected
//! book, and what an empty library offers.

use std::path::Path;

use egui::{FontId, Rect, Role, Sense, Stroke, StrokeKind, Vec2, WidgetInfo};

use super::widgets::placeholder_cover;
use crate::app::commands::HubAction;
use crate::app::{Command, LibraryState, file_uri};
use crate::store::BookSummary;

const THUMB_SIZE: Vec2 = Vec2::new(120.0, 180.0);
const CELL_SIZE: Vec2 = Vec2::new(132.0, 204.0);

/// What the Library view shows beside its own state.
pub struct LibraryContext<'a> {
    pub importing: bool,
    /// The bundled demo library, when it was found.
    pub demo_csv: Option<&'a Path>,
    pub library_dir: &'a Path,
}

pub fn show(ui: &mut egui::Ui, state: &mut LibraryState, context: &LibraryContext) -> Vec<Command> {
    let mut commands = Vec::new();
    if state.selected.is_some() {
        detail_panel(ui, state, &mut commands);
    }
    egui::CentralPanel::default().show(ui, |ui| {
        if let Some(doubtful) = &state.doubtful {
            super::curation::doubtful_panel(ui, doubtful, &mut commands);
        } else if let Some(pairs) = &state.duplicates {
            super::curation::duplicates_panel(ui, pairs, &mut commands);
        } else if let Some(review) = &state.review {
            super::curation::review_panel(ui, review, &state.categories, &mut commands);
        } else if let Some(trash) = &state.trash {
            super::curation::trash_panel(ui, trash, &mut commands);
        } else if state.books.is_empty() {
            empty_library(ui, context, &mut commands);
        } else {
            cover_grid(ui, state, &mut commands);
        }
    });
    commands
}

fn empty_library(ui: &mut egui::Ui, context: &LibraryContext, commands: &mut Vec<Command>) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        if context.importing {
            ui.heading("Importing…");
            return;
        }
        ui.heading("This library has no books yet.");
        ui.label(format!("Library folder: {}", context.library_dir.display()));
        ui.add_space(8.0);
        if let Some(demo) = context.demo_csv
            && ui.button("Load the demo library").clicked()
        {
            commands.push(Command::Import(demo.to_path_buf()));
        }
        if ui.button("Import a CSV…").clicked() {
            commands.push(Command::PickImportSource { folder: false });
        }
        if ui.button("Import a Calibre library…").clicked() {
            commands.push(Command::PickImportSource { folder: true });
        }
        ui.label("Or drop a CSV file or a folder on this window.");
    });
}

/// One cover of the grid: its thumbnail (or a placeholder), a ring when
/// selected or hovered, and its title; returns whether it was clicked and the
/// thumbnail drawn.
fn cover_cell(
    ui: &mut egui::Ui,
    book: &BookSummary,
    is_selected: bool,
) -> (egui::Response, Option<String>) {
    let (rect, response) = ui.allocate_exact_size(CELL_SIZE, Sense::click_and_drag());
    let title = book.title.clone();
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, is_selected, &title));
    let response = response.on_hover_text(format!(
        "{}\n{}\n{}",
        book.title, book.author, book.category
    ));
    if !ui.is_rect_visible(rect) {
        return (response, None);
    }
    let thumb_rect = Rect::from_min_size(
        rect.min + Vec2::new((CELL_SIZE.x - THUMB_SIZE.x) / 2.0, 0.0),
        THUMB_SIZE,
    );
    let mut drawn = None;
    match &book.thumb_path {
        Some(path) => {
            let uri = file_uri(path);
            egui::Image::new(uri.as_str())
                .fit_to_exact_size(THUMB_SIZE)
                .maintain_aspect_ratio(true)
                .corner_radius(3.0)
                .paint_at(ui, thumb_rect);
            drawn = Some(uri);
        }
        None => placeholder_cover(ui, thumb_rect, &book.title, &book.category),
    }
    if is_selected || response.hovered() {
        let colour = if is_selected {
            ui.visuals().selection.stroke.color
        } else {
            ui.visuals().widgets.hovered.fg_stroke.color
        };
        let ring = Stroke::new(2.0, colour);
        ui.painter()
            .rect_stroke(thumb_rect.expand(2.0), 4.0, ring, StrokeKind::Outside);
    }
    let text_colour = ui.visuals().text_color();
    let mut job = egui::text::LayoutJob::simple_singleline(
        book.title.clone(),
        FontId::proportional(12.0),
        text_colour,
    );
    job.wrap = egui::text::TextWrapping::truncate_at_width(CELL_SIZE.x);
    let galley = ui.fonts_mut(|fonts| fonts.layout_job(job));
    let text_pos = egui::pos2(
        rect.center().x - galley.size().x / 2.0,
        thumb_rect.bottom() + 4.0,
    );
    ui.painter().galley(text_pos, galley, text_colour);
    (response, drawn)
}

/// The books whose cells a dragged box touches.
pub fn books_in_box(
    cells: &[(crate::store::BookId, Rect)],
    dragged: Rect,
) -> Vec<crate::store::BookId> {
    cells
        .iter()
        .filter(|(_, cell)| cell.intersects(dragged))
        .map(|(book, _)| *book)
        .collect()
}

/// The wall of covers. Only the rows in view are laid out and only their
/// thumbnails are loaded, so 10,000 books scroll as smoothly as 10.
fn cover_grid(ui: &mut egui::Ui, state: &mut LibraryState, commands: &mut Vec<Command>) {
    grid_toolbar(ui, state, commands);
    selection_bar(ui, state, commands);
    if state.visible.is_empty() {
        ui.label("No book matches the search and category.");
        return;
    }
    let spacing = ui.spacing().item_spacing;
    let columns =
        (((ui.available_width() + spacing.x) / (CELL_SIZE.x + spacing.x)).floor() as usize).max(1);
    let rows = state.visible.len().div_ceil(columns);
    let frame = ui.ctx().cumulative_pass_nr();
    let mut drawn_uris = Vec::new();
    let mut clicks = Vec::new();
    let mut cells = Vec::new();
    let mut dragging = None;
    let selected = state.selected.as_ref().map(|d| d.book_id);
    let modifiers = ui.input(|input| input.modifiers);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, CELL_SIZE.y, rows, |ui, row_range| {
            for row in row_range {
                ui.horizontal(|ui| {
                    let row_cells = state.visible.iter().skip(row * columns).take(columns);
                    for &book_index in row_cells {
                        let book = &state.books[book_index];
                        let shown =
                            selected == Some(book.book_id) || state.chosen.contains(&book.book_id);
                        let (response, drawn) = cover_cell(ui, book, shown);
                        if response.clicked() {
                            clicks.push(book.book_id);
                        }
                        let book_id = book.book_id;
                        response.context_menu(|ui| {
                            super::widgets::book_hub_menu(ui, book_id, commands)
                        });
                        if response.drag_started() || response.dragged() || response.drag_stopped()
                        {
                            dragging = Some(response.clone());
                        }
                        cells.push((book.book_id, response.rect));
                        drawn_uris.extend(drawn);
                    }
                });
            }
        });
    for book in clicks {
        state.click(book, modifiers);
        // A plain click also shows the book; Ctrl and Shift only choose.
        if !modifiers.command && !modifiers.shift {
            commands.push(Command::SelectBook(book));
        }
    }
    if let Some(response) = dragging {
        box_select(ui, state, &response, &cells, modifiers);
    }
    for uri in drawn_uris {
        state.thumbnail_drawn(&uri, frame);
    }
}

/// A box dragged from a cover: drawn while dragged, and on release the
/// books it touches are chosen (added to the choice with Ctrl).
fn box_select(
    ui: &egui::Ui,
    state: &mut LibraryState,
    response: &egui::Response,
    cells: &[(crate::store::BookId, Rect)],
    modifiers: egui::Modifiers,
) {
    if response.drag_started() {
        state.box_origin = response.interact_pointer_pos();
    }
    let (Some(origin), Some(now)) = (state.box_origin, ui.input(|i| i.pointer.latest_pos())) else {
        return;
    };
    let dragged = Rect::from_two_pos(origin, now);
    let colour = ui.visuals().selection.stroke.color;
    ui.painter()
        .rect_stroke(dragged, 0.0, Stroke::new(1.0, colour), StrokeKind::Inside);
    if response.drag_stopped() {
        if !modifiers.command {
            state.chosen.clear();
        }
        state.chosen.extend(books_in_box(cells, dragged));
        state.box_origin = None;
    }
}

/// Over the grid: the shelf shown, the trash, what the model offers to
/// check (categories, doubtful labels, near-duplicates), export.
fn grid_toolbar(ui: &mut egui::Ui, state: &LibraryState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        shelf_picker(ui, state, commands);
        if ui.small_button("Trash").clicked() {
            commands.push(Command::ShowTrash(true));
        }
        let reviewing = state.review_job.is_some();
        if ui
            .add_enabled(!reviewing, egui::Button::new("Suggest categories").small())
            .on_hover_text("The chosen run's categories for the books that have none, to accept or change")
            .clicked()
        {
            commands.push(Command::ReviewCategories);
        }
        if reviewing {
            ui.spinner();
        }
        let judging = state.doubtful_job.is_some();
        if ui
            .add_enabled(!judging, egui::Button::new("Doubtful labels").small())
            .on_hover_text("Books whose category the model disputes, each judged by a model that did not see it")
            .clicked()
        {
            commands.push(Command::FindDoubtful);
        }
        if judging {
            ui.spinner();
        }
        let finding = state.duplicates_job.is_some();
        if ui
            .add_enabled(!finding, egui::Button::new("Near-duplicates").small())
            .on_hover_text("Books with the same cover, covers alike, or the same title and author")
            .clicked()
        {
            commands.push(Command::FindDuplicates);
        }
        if finding {
            ui.spinner();
        }
        if ui
            .small_button("Export books")
            .on_hover_text("Write the chosen books (else the shelf shown, else the library) as a books CSV with their covers, under the library's exports/ folder")
            .clicked()
        {
            commands.push(Command::ExportBooks);
        }
    });
    if let Some(only) = &state.only {
        ui.horizontal(|ui| {
            ui.label(format!(
                "Showing the {} books selected in the projection.",
                only.len()
            ));
            if ui.small_button("Show all books").clicked() {
                commands.push(Command::ClearLibraryFilter);
            }
        });
    }
}

/// Every book, or one shelf's wall of covers.
fn shelf_picker(ui: &mut egui::Ui, state: &LibraryState, commands: &mut Vec<Command>) {
    let shown = state.shelf.clone();
    let mut picked = shown.clone();
    egui::ComboBox::from_label("Shelf")
        .selected_text(shown.clone().unwrap_or_else(|| "All books".into()))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut picked, None, "All books");
            for shelf in &state.shelves {
                ui.selectable_value(
                    &mut picked,
                    Some(shelf.name.clone()),
                    format!("{} ({})", shelf.name, shelf.books),
                );
            }
        });
    if picked != shown {
        commands.push(Command::ShowShelf(picked));
    }
}

/// Over the grid while books are chosen: put them on a shelf (or take them
/// off the shelf shown), and with two or more, set their category or delete
/// them, in one step (one history entry, one undo).
fn selection_bar(ui: &mut egui::Ui, state: &mut LibraryState, commands: &mut Vec<Command>) {
    if state.chosen.is_empty() {
        return;
    }
    let chosen: Vec<crate::store::BookId> = state.chosen.iter().copied().collect();
    ui.horizontal(|ui| {
        let target = ui.add(
            egui::TextEdit::singleline(&mut state.shelf_target)
                .hint_text("shelf")
                .desired_width(120.0),
        );
        let named = !state.shelf_target.trim().is_empty();
        if ui
            .add_enabled(named, egui::Button::new("Put on shelf"))
            .on_hover_text("Put the chosen books at the end of this shelf (made when new)")
            .clicked()
            || (named && target.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)))
        {
            commands.push(Command::AddToShelf(
                chosen.clone(),
                state.shelf_target.trim().to_string(),
            ));
        }
        if let Some(shelf) = &state.shelf
            && ui.button("Take off this shelf").clicked()
        {
            commands.push(Command::RemoveFromShelf(chosen.clone(), shelf.clone()));
        }
    });
    if state.chosen.len() < 2 {
        return;
    }
    let chosen: Vec<crate::store::BookId> = state.chosen.iter().copied().collect();
    ui.horizontal(|ui| {
        ui.strong(format!("{} selected", chosen.len()));
        let category = ui.add(
            egui::TextEdit::singleline(&mut state.bulk_category)
                .hint_text("category")
                .desired_width(140.0),
        );
        let typed = !state.bulk_category.trim().is_empty();
        if ui
            .add_enabled(typed, egui::Button::new("Set category"))
            .clicked()
            || (typed && category.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)))
        {
            commands.push(Command::SetCategory(
                chosen.clone(),
                state.bulk_category.trim().to_string(),
            ));
        }
        if ui.button("Delete selected").clicked() {
            commands.push(Command::DeleteBooks(chosen.clone()));
        }
        if ui.button("Clear selection").clicked() {
            state.chosen.clear();
        }
    });
}

fn detail_panel(ui: &mut egui::Ui, state: &mut LibraryState, commands: &mut Vec<Command>) {
    egui::Panel::right("book-detail")
        .resizable(true)
        .default_size(340.0)
        .show(ui, |ui| {
            let Some(detail) = &state.selected else {
                return;
            };
            egui::ScrollArea::vertical().show(ui, |ui| {
                if ui.button("Close").clicked() {
                    commands.push(Command::CloseBook);
                }
                if state.draft.is_some() {
                    super::curation::edit_form(ui, &mut state.draft, commands);
                    return;
                }
                super::curation::book_actions(ui, detail, &mut state.draft, commands);
                super::widgets::book_hub(ui, detail.book_id, &[HubAction::Edit], commands);
                let width = ui.available_width().min(320.0);
                match &detail.cover_path {
                    Some(path) => {
                        ui.add(
                            egui::Image::new(file_uri(path))
                                .max_width(width)
                                .max_height(width * 1.6)
                                .corner_radius(4.0),
                        );
                    }
                    None => {
                        let size = Vec2::new(width, width * 1.5);
                        let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
                        placeholder_cover(ui, rect, &detail.title, &detail.category);
                    }
                }
                ui.heading(&detail.title);
                ui.label(egui::RichText::new(&detail.author).italics());
                ui.horizontal(|ui| {
                    if !detail.category.is_empty() {
                        ui.label(egui::RichText::new(&detail.category).strong());
                    }
                    if let Some(language) = &detail.language {
                        ui.label(format!("· {language}"));
                    }
                });
                ui.separator();
                if detail.synopsis.is_empty() {
                    ui.weak("No synopsis.");
                } else {
                    ui.label(&detail.synopsis);
                }
                ui.separator();
                ui.weak(format!("Id: {}", detail.external_id));
                ui.weak(format!("Added {} from {}", detail.added_at, detail.source));
            });
        });
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::store::BookId;

    struct Fixture {
        state: LibraryState,
        commands: Vec<Command>,
    }

    fn book(id: i64, title: &str) -> BookSummary {
        BookSummary {
            book_id: BookId(id),
            external_id: id.to_string(),
            title: title.into(),
            author: "Ann Archer".into(),
            category: "Adventure".into(),
            thumb_path: None,
        }
    }

    fn harness(state: LibraryState) -> Harness<'static, Fixture> {
        let fixture = Fixture {
            state,
            commands: Vec::new(),
        };
        Harness::builder()
            .with_size(egui::vec2(900.0, 600.0))
            .build_ui_state(
                |ui, fixture: &mut Fixture| {
                    let context = LibraryContext {
                        importing: false,
                        demo_csv: Some(Path::new("/demo/books.csv")),
                        library_dir: Path::new("/library"),
                    };
                    let commands = show(ui, &mut fixture.state, &context);
                    fixture.commands.extend(commands);
                },
                fixture,
            )
    }

    #[test]
    fn a_click_on_a_cover_asks_to_select_its_book() {
        let mut state = LibraryState::default();
        state.set_books(vec![book(1, "Sea Voyage"), book(2, "Dark Manor")]);
        let mut harness = harness(state);
        harness.get_by_label("Dark Manor").click();
        harness.run();
        assert_eq!(harness.state().commands, [Command::SelectBook(BookId(2))]);
    }

    #[test]
    fn an_empty_library_offers_the_demo_and_the_file_dialogs() {
        let mut harness = harness(LibraryState::default());
        harness.get_by_label("Load the demo library").click();
        harness.run();
        harness.get_by_label("Import a Calibre library…").click();
        harness.run();
        assert_eq!(
            harness.state().commands,
            [
                Command::Import("/demo/books.csv".into()),
                Command::PickImportSource { folder: true }
            ]
        );
    }

    #[test]
    fn several_chosen_books_get_a_category_or_leave_in_one_step() {
        let mut state = LibraryState::default();
        state.set_books(vec![
            book(1, "Sea Voyage"),
            book(2, "Dark Manor"),
            book(3, "Red Planet"),
        ]);
        state.chosen = [BookId(1), BookId(3)].into_iter().collect();
        state.bulk_category = "Classics".into();
        let mut harness = harness(state);
        harness.get_by_label("2 selected");
        harness.get_by_label("Set category").click();
        harness.run();
        harness.get_by_label("Delete selected").click();
        harness.run();
        assert_eq!(
            harness.state().commands,
            [
                Command::SetCategory(vec![BookId(1), BookId(3)], "Classics".into()),
                Command::DeleteBooks(vec![BookId(1), BookId(3)]),
            ]
        );
        harness.get_by_label("Clear selection").click();
        harness.run();
        assert!(harness.state().state.chosen.is_empty());
    }

    #[test]
    fn a_dragged_box_chooses_the_covers_it_touches() {
        let cell = |x: f32, y: f32| Rect::from_min_size(egui::pos2(x, y), CELL_SIZE);
        let cells = [
            (BookId(1), cell(0.0, 0.0)),
            (BookId(2), cell(140.0, 0.0)),
            (BookId(3), cell(0.0, 210.0)),
        ];
        let dragged = Rect::from_two_pos(egui::pos2(100.0, 50.0), egui::pos2(150.0, 60.0));
        assert_eq!(books_in_box(&cells, dragged), [BookId(1), BookId(2)]);
    }

    #[test]
    fn the_review_queue_accepts_the_suggestion_another_category_or_skips() {
        let mut state = LibraryState::default();
        state.set_books(vec![book(1, "Sea Voyage"), book(2, "Dark Manor")]);
        let suggestion = |id: i64, title: &str| crate::inference::CategorySuggestion {
            book_id: BookId(id),
            external_id: id.to_string(),
            title: title.into(),
            category: "Mystery".into(),
            confidence: 0.82,
        };
        state.review = Some(vec![
            suggestion(5, "Night Train"),
            suggestion(6, "Cold Case"),
        ]);
        let mut harness = harness(state);
        harness.get_by_label("Suggested categories (2)");
        assert_eq!(harness.get_all_by_label("Mystery (82% sure)").count(), 2);
        harness.get_all_by_label("Accept").next().unwrap().click();
        harness.run();
        harness.get_all_by_label("Skip").nth(1).unwrap().click();
        harness.run();
        assert_eq!(
            harness.state().commands,
            [
                Command::AcceptCategory(BookId(5), "Mystery".into()),
                Command::SkipReview(BookId(6)),
            ]
        );
    }

    #[test]
    fn a_near_duplicate_pair_says_why_and_merges_either_way() {
        let book_of = |id: i64, title: &str| crate::duplicates::PairBook {
            book_id: BookId(id),
            external_id: id.to_string(),
            title: title.into(),
            author: "Bram Stoker".into(),
        };
        let mut state = LibraryState::default();
        state.set_books(vec![book(1, "Dracula"), book(2, "Dracula (copy)")]);
        state.duplicates = Some(vec![crate::duplicates::DuplicatePair {
            likeness: crate::duplicates::Likeness::SimilarCover { distance: 2 },
            books: [book_of(1, "Dracula"), book_of(2, "Dracula (copy)")],
        }]);
        let mut harness = harness(state);
        harness.get_by_label("covers alike (2 bits)");
        harness.get_by_label("Keep second").click();
        harness.run();
        assert_eq!(
            harness.state().commands,
            [Command::Merge(BookId(2), BookId(1))]
        );
    }

    #[test]
    fn a_doubtful_label_is_changed_or_kept() {
        let mut state = LibraryState::default();
        state.set_books(vec![book(1, "The Red House Mystery")]);
        state.doubtful = Some(vec![crate::train::doubtful::DoubtfulLabel {
            book_id: BookId(1),
            external_id: "1".into(),
            title: "The Red House Mystery".into(),
            category: "Fiction".into(),
            suggested: "Mystery".into(),
            suggested_probability: 0.61,
            own_probability: 0.12,
        }]);
        let mut harness = harness(state);
        harness.get_by_label("is 'Fiction', the model says 'Mystery' (61% against 12%)");
        harness.get_by_label("Change to Mystery").click();
        harness.run();
        harness.get_by_label("Keep").click();
        harness.run();
        assert_eq!(
            harness.state().commands,
            [
                Command::AcceptCategory(BookId(1), "Mystery".into()),
                Command::SkipReview(BookId(1)),
            ]
        );
    }
}
