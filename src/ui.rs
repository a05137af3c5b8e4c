//! Drawing the window from the app's state: toolbar, cover grid, detail panel,
//! import progress and report. Nothing here blocks: long work is a job.

use egui::{Align2, Color32, FontId, Rect, Role, Sense, Stroke, StrokeKind, Vec2, WidgetInfo};

use crate::app::{ShelfwiseApp, file_uri};
use crate::store::BookId;

const THUMB_SIZE: Vec2 = Vec2::new(120.0, 180.0);
const CELL_SIZE: Vec2 = Vec2::new(132.0, 204.0);

/// Draws the whole window.
pub fn show(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    toolbar(app, ui);
    status_bar(app, ui);
    if app.workbench.view != crate::workbench::View::Library {
        crate::ui_workbench::show_view(app, ui);
        report_window(app, ui);
        return;
    }
    if app.selected.is_some() {
        detail_panel(app, ui);
    }
    egui::CentralPanel::default().show(ui, |ui| {
        if app.books.is_empty() {
            empty_library(app, ui);
        } else {
            cover_grid(app, ui);
        }
    });
    report_window(app, ui);
    drop_hint(ui);
}

fn toolbar(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    egui::Panel::top("toolbar").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.strong("shelfwise");
            ui.separator();
            crate::ui_workbench::view_tabs(app, ui);
            ui.separator();
            ui.menu_button("Import", |ui| import_menu(app, ui));
            ui.separator();
            let search = ui.add(
                egui::TextEdit::singleline(&mut app.query)
                    .hint_text("Search title or author")
                    .desired_width(220.0),
            );
            if search.changed() {
                app.apply_filters();
            }
            let selected_text = app
                .category
                .clone()
                .unwrap_or_else(|| "All categories".into());
            let mut category = app.category.clone();
            egui::ComboBox::from_label("Category")
                .selected_text(selected_text)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut category, None, "All categories");
                    for (name, count) in &app.categories {
                        let label = if name.is_empty() {
                            "(none)"
                        } else {
                            name.as_str()
                        };
                        ui.selectable_value(
                            &mut category,
                            Some(name.clone()),
                            format!("{label} ({count})"),
                        );
                    }
                });
            if category != app.category {
                app.category = category;
                app.apply_filters();
            }
            ui.separator();
            ui.label(format!(
                "{} of {} books",
                app.visible.len(),
                app.books.len()
            ));
        });
    });
}

fn import_menu(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    if ui.button("Books or reading-history CSV…").clicked() {
        app.pick_import_source(ui.ctx(), false);
        ui.close();
    }
    if ui
        .button("Calibre library or folder with books.csv…")
        .clicked()
    {
        app.pick_import_source(ui.ctx(), true);
        ui.close();
    }
    if let Some(demo) = app.demo_csv.clone()
        && ui.button("The bundled demo library").clicked()
    {
        app.start_import(ui.ctx(), demo);
        ui.close();
    }
    ui.separator();
    ui.label("Or type a path:");
    ui.horizontal(|ui| {
        let entry =
            ui.add(egui::TextEdit::singleline(&mut app.path_entry).hint_text("/path/to/books.csv"));
        let submitted = entry.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Import path").clicked() || submitted) && !app.path_entry.trim().is_empty() {
            let path = std::path::PathBuf::from(app.path_entry.trim());
            app.start_import(ui.ctx(), path);
            app.path_entry.clear();
            ui.close();
        }
    });
    ui.label("You can also drop files or folders on the window.");
}

fn status_bar(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    let busy = app.import_job.is_some();
    if !busy && app.status.is_none() && app.last_report.is_none() {
        return;
    }
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            if let Some(job) = &app.import_job {
                let (fraction, rate, eta) = job.rate_and_eta();
                let eta = eta.map_or(String::new(), |s| format!(", {s:.0} s left"));
                let queued = match app.queued_imports.len() {
                    0 => String::new(),
                    n => format!(" (+{n} queued)"),
                };
                ui.add(
                    egui::ProgressBar::new(fraction)
                        .desired_width(ui.available_width() - 120.0)
                        .text(format!(
                            "Importing {}: {} of {} ({rate:.0}/s{eta}){queued}",
                            job.name, job.done, job.total
                        )),
                );
                let cancelling = job.is_cancelling();
                if ui
                    .add_enabled(
                        !cancelling,
                        egui::Button::new(if cancelling {
                            "Cancelling…"
                        } else {
                            "Cancel"
                        }),
                    )
                    .clicked()
                {
                    job.cancel();
                    app.queued_imports.clear();
                }
            } else if let Some(status) = &app.status {
                ui.colored_label(ui.visuals().warn_fg_color, status);
            } else if let Some(report) = &app.last_report {
                ui.label(format!(
                    "Last import: {} imported, {} updated, {} skipped",
                    report.imported,
                    report.updated,
                    report.skipped.len()
                ));
                if ui.button("Show report").clicked() {
                    app.report_open = true;
                }
            }
        });
    });
}

fn empty_library(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        if app.import_job.is_some() {
            ui.heading("Importing…");
            return;
        }
        ui.heading("This library has no books yet.");
        ui.label(format!("Library folder: {}", app.library_dir().display()));
        ui.add_space(8.0);
        if let Some(demo) = app.demo_csv.clone()
            && ui.button("Load the demo library").clicked()
        {
            app.start_import(ui.ctx(), demo);
        }
        if ui.button("Import a CSV…").clicked() {
            app.pick_import_source(ui.ctx(), false);
        }
        if ui.button("Import a Calibre library…").clicked() {
            app.pick_import_source(ui.ctx(), true);
        }
        ui.label("Or drop a CSV file or a folder on this window.");
    });
}

/// The wall of covers. Only the rows in view are laid out and only their
/// thumbnails are loaded, so 10,000 books scroll as smoothly as 10.
fn cover_grid(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    if app.visible.is_empty() {
        ui.label("No book matches the search and category.");
        return;
    }
    let spacing = ui.spacing().item_spacing;
    let columns =
        (((ui.available_width() + spacing.x) / (CELL_SIZE.x + spacing.x)).floor() as usize).max(1);
    let rows = app.visible.len().div_ceil(columns);
    let frame = ui.ctx().cumulative_pass_nr();
    let mut clicked: Option<BookId> = None;
    let mut drawn_uris = Vec::new();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, CELL_SIZE.y, rows, |ui, row_range| {
            for row in row_range {
                ui.horizontal(|ui| {
                    for column in 0..columns {
                        let Some(&book_index) = app.visible.get(row * columns + column) else {
                            break;
                        };
                        let book = &app.books[book_index];
                        let is_selected = app
                            .selected
                            .as_ref()
                            .is_some_and(|d| d.book_id == book.book_id);
                        let (rect, response) = ui.allocate_exact_size(CELL_SIZE, Sense::click());
                        let title = book.title.clone();
                        response.widget_info(|| {
                            WidgetInfo::selected(Role::Button, true, is_selected, &title)
                        });
                        let response = response.on_hover_text(format!(
                            "{}\n{}\n{}",
                            book.title, book.author, book.category
                        ));
                        if response.clicked() {
                            clicked = Some(book.book_id);
                        }
                        if !ui.is_rect_visible(rect) {
                            continue;
                        }
                        let thumb_rect = Rect::from_min_size(
                            rect.min + Vec2::new((CELL_SIZE.x - THUMB_SIZE.x) / 2.0, 0.0),
                            THUMB_SIZE,
                        );
                        match &book.thumb_path {
                            Some(path) => {
                                let uri = file_uri(path);
                                egui::Image::new(uri.as_str())
                                    .fit_to_exact_size(THUMB_SIZE)
                                    .maintain_aspect_ratio(true)
                                    .corner_radius(3.0)
                                    .paint_at(ui, thumb_rect);
                                drawn_uris.push(uri);
                            }
                            None => placeholder_cover(ui, thumb_rect, &book.title, &book.category),
                        }
                        if is_selected || response.hovered() {
                            let colour = if is_selected {
                                ui.visuals().selection.stroke.color
                            } else {
                                ui.visuals().widgets.hovered.fg_stroke.color
                            };
                            ui.painter().rect_stroke(
                                thumb_rect.expand(2.0),
                                4.0,
                                Stroke::new(2.0, colour),
                                StrokeKind::Outside,
                            );
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
                    }
                });
            }
        });
    for uri in drawn_uris {
        app.thumbnail_drawn(&uri, frame);
    }
    if let Some(book_id) = clicked {
        app.select(book_id);
    }
}

/// A cover for a book without one: a tinted card with its title.
fn placeholder_cover(ui: &egui::Ui, rect: Rect, title: &str, category: &str) {
    let hash = category
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let tint = Color32::from_rgb(
        60 + (hash % 90) as u8,
        60 + ((hash / 90) % 90) as u8,
        60 + ((hash / 8100) % 90) as u8,
    );
    let painter = ui.painter();
    painter.rect_filled(rect, 3.0, tint);
    let galley = painter.layout(
        title.to_string(),
        FontId::proportional(13.0),
        Color32::WHITE,
        rect.width() - 12.0,
    );
    let pos = rect.center() - galley.size() / 2.0;
    painter.galley(pos, galley, Color32::WHITE);
}

fn detail_panel(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    let mut close = false;
    egui::Panel::right("book-detail")
        .resizable(true)
        .default_size(340.0)
        .show(ui, |ui| {
            let Some(detail) = &app.selected else {
                return;
            };
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("Close").clicked() {
                        close = true;
                    }
                });
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
                        let (rect, _) =
                            ui.allocate_exact_size(Vec2::new(width, width * 1.5), Sense::hover());
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
    if close {
        app.selected = None;
    }
}

fn report_window(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    let Some(report) = &app.last_report else {
        return;
    };
    let mut open = app.report_open;
    egui::Window::new("Import report")
        .open(&mut open)
        .default_width(640.0)
        .show(ui.ctx(), |ui| {
            ui.label(format!(
                "{}: {} imported, {} updated, {} skipped{}",
                report.source,
                report.imported,
                report.updated,
                report.skipped.len(),
                if report.cancelled { " (cancelled)" } else { "" }
            ));
            if report.skipped.is_empty() {
                ui.label("Every row was imported.");
                return;
            }
            ui.separator();
            let row_height = ui.text_style_height(&egui::TextStyle::Body);
            egui::ScrollArea::vertical().max_height(360.0).show_rows(
                ui,
                row_height,
                report.skipped.len(),
                |ui, range| {
                    for issue in &report.skipped[range] {
                        let place = match issue.line {
                            Some(line) => format!("{} line {line}", short_name(&issue.source)),
                            None => short_name(&issue.source),
                        };
                        ui.label(format!("{place}: {}", issue.reason));
                    }
                },
            );
        });
    app.report_open = open;
}

fn short_name(source: &str) -> String {
    std::path::Path::new(source)
        .file_name()
        .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned())
}

fn drop_hint(ui: &egui::Ui) {
    let hovering = ui.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let screen = ui.ctx().content_rect();
    let painter = ui.ctx().layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop-hint"),
    ));
    painter.rect_filled(screen, 0.0, Color32::from_black_alpha(160));
    painter.text(
        screen.center(),
        Align2::CENTER_CENTER,
        "Drop to import",
        FontId::proportional(28.0),
        Color32::WHITE,
    );
}
