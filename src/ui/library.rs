//! The Library view: the wall of covers, the detail panel of the selected
//! book, and what an empty library offers.

use std::path::Path;

use egui::{FontId, Rect, Role, Sense, Stroke, StrokeKind, Vec2, WidgetInfo};

use super::widgets::placeholder_cover;
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
        if let Some(trash) = &state.trash {
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
fn cover_cell(ui: &mut egui::Ui, book: &BookSummary, is_selected: bool) -> (bool, Option<String>) {
    let (rect, response) = ui.allocate_exact_size(CELL_SIZE, Sense::click());
    let title = book.title.clone();
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, is_selected, &title));
    let response = response.on_hover_text(format!(
        "{}\n{}\n{}",
        book.title, book.author, book.category
    ));
    let clicked = response.clicked();
    if !ui.is_rect_visible(rect) {
        return (clicked, None);
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
    (clicked, drawn)
}

/// The wall of covers. Only the rows in view are laid out and only their
/// thumbnails are loaded, so 10,000 books scroll as smoothly as 10.
fn cover_grid(ui: &mut egui::Ui, state: &mut LibraryState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if ui.small_button("Trash").clicked() {
            commands.push(Command::ShowTrash(true));
        }
        if ui
            .small_button("Export books")
            .on_hover_text("Write the library as a books CSV with its covers, under the library's exports/ folder")
            .clicked()
        {
            commands.push(Command::ExportBooks);
        }
    });
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
    let selected = state.selected.as_ref().map(|d| d.book_id);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, CELL_SIZE.y, rows, |ui, row_range| {
            for row in row_range {
                ui.horizontal(|ui| {
                    let cells = state.visible.iter().skip(row * columns).take(columns);
                    for &book_index in cells {
                        let book = &state.books[book_index];
                        let (clicked, drawn) = cover_cell(ui, book, selected == Some(book.book_id));
                        if clicked {
                            commands.push(Command::SelectBook(book.book_id));
                        }
                        drawn_uris.extend(drawn);
                    }
                });
            }
        });
    for uri in drawn_uris {
        state.thumbnail_drawn(&uri, frame);
    }
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
}
