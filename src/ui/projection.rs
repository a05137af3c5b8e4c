//! The Projection view: a run's books laid out in 2D (PCA or t-SNE) and
//! coloured by category; hover a point for its book, click it to open the
//! book, or drag a box to select many.

use std::collections::{BTreeMap, HashMap};

use egui::{Color32, Rect, RichText, Stroke, StrokeKind, Vec2};
use egui_plot::{Legend, Plot, PlotPoints, PlotTransform, Points};

use super::widgets::{explore_view, job_line, palette};
use crate::app::{Command, LibraryState, ProjectionState, RunsState, file_uri};
use crate::project::Method;
use crate::store::{BookId, StoredProjection};

pub fn show(
    ui: &mut egui::Ui,
    state: &mut ProjectionState,
    library: &LibraryState,
    runs: &RunsState,
) -> Vec<Command> {
    let controls = |ui: &mut egui::Ui, state: &mut ProjectionState, commands: &mut Vec<Command>| {
        ui.radio_value(&mut state.method, Method::Pca, "PCA");
        ui.radio_value(&mut state.method, Method::Tsne, "t-SNE");
        let compute = egui::Button::new("Compute");
        if ui.add_enabled(state.job.is_none(), compute).clicked() {
            commands.push(Command::ComputeProjection(state.method));
        }
        ui.checkbox(&mut state.box_select, "box select (drag)");
        if ui.button("Export (PNG)").clicked() {
            commands.push(Command::ExportPlot("projection"));
        }
        if let Some(p) = &state.projection {
            ui.label(format!(
                "{} of {} books, trustworthiness@{} {:.3}",
                p.method,
                p.book_ids.len(),
                p.neighbours,
                p.trustworthiness
            ));
        }
    };
    let body = |ui: &mut egui::Ui, state: &mut ProjectionState, commands: &mut Vec<Command>| {
        if let Some(job) = &state.job {
            job_line(ui, job);
        }
        let Some(projection) = state.projection.clone() else {
            ui.label("No projection yet: press Compute.");
            return;
        };
        scatter(ui, state, library, &projection, commands);
    };
    explore_view(ui, runs, state, controls, body)
}

fn points_by_category(
    projection: &StoredProjection,
    library: &LibraryState,
    index_of: &HashMap<BookId, usize>,
) -> BTreeMap<String, Vec<[f64; 2]>> {
    let mut by_category: BTreeMap<String, Vec<[f64; 2]>> = BTreeMap::new();
    for (book_id, point) in projection.book_ids.iter().zip(projection.points.chunks(2)) {
        let category = index_of
            .get(book_id)
            .map_or(String::new(), |&i| library.books[i].category.clone());
        by_category
            .entry(category)
            .or_default()
            .push([f64::from(point[0]), f64::from(point[1])]);
    }
    by_category
}

fn scatter(
    ui: &mut egui::Ui,
    state: &mut ProjectionState,
    library: &LibraryState,
    projection: &StoredProjection,
    commands: &mut Vec<Command>,
) {
    let colours = library.category_colours();
    let index_of = library.index_by_id();
    let by_category = points_by_category(projection, library, &index_of);
    let response = Plot::new("projection")
        .legend(Legend::default())
        .data_aspect(1.0)
        .allow_drag(!state.box_select)
        .show(ui, |plot| {
            for (category, points) in &by_category {
                let name = if category.is_empty() {
                    "(none)"
                } else {
                    category
                };
                let colour = palette(colours.get(category).copied().unwrap_or(0));
                let points = Points::new(name.to_string(), PlotPoints::from(points.clone()));
                plot.points(points.radius(2.5).color(colour));
            }
            plot.pointer_coordinate()
        });
    commands.push(Command::PlotDrawn("projection", response.response.rect));
    let transform = response.transform;
    // Where each book sits on screen this frame: for hovering, clicking and tests.
    state.screen = projection
        .book_ids
        .iter()
        .zip(projection.points.chunks(2))
        .map(|(id, xy)| {
            let point = egui_plot::PlotPoint::new(xy[0], xy[1]);
            (*id, transform.position_from_point(&point))
        })
        .collect();
    // The book under the pointer: the nearest point within 8 pixels.
    let hovered = response.inner.and_then(|p| {
        let screen = transform.position_from_point(&p);
        state
            .screen
            .iter()
            .map(|(id, at)| (*id, at.distance(screen)))
            .filter(|(_, d)| *d < 8.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| id)
    });
    if let Some(book_id) = hovered
        && let Some(&i) = index_of.get(&book_id)
    {
        let book = &library.books[i];
        egui::Tooltip::always_open(
            ui.ctx().clone(),
            ui.layer_id(),
            response.response.id,
            egui::PopupAnchor::Pointer,
        )
        .show(|ui| {
            if let Some(path) = &book.thumb_path {
                ui.add(egui::Image::new(file_uri(path)).fit_to_exact_size(Vec2::new(60.0, 90.0)));
            }
            ui.label(format!("{} — {}", book.title, book.author));
            ui.label(RichText::new(&book.category).weak());
        });
        if response.response.clicked() && !state.box_select {
            commands.push(Command::OpenBook(book_id));
        }
    }
    box_selection(ui, state, projection, &transform, response.response.rect);
    selection_window(ui, state, library, &index_of, commands);
}

/// Box selection from the raw pointer (the plot itself does not drag then);
/// the corner pressed is kept, as egui forgets it on release.
fn box_selection(
    ui: &mut egui::Ui,
    state: &mut ProjectionState,
    projection: &StoredProjection,
    transform: &PlotTransform,
    plot_rect: Rect,
) {
    let (pressed_at, position, down, released) = ui.input(|i| {
        (
            i.pointer.press_origin(),
            i.pointer.interact_pos(),
            i.pointer.primary_down(),
            i.pointer.primary_released(),
        )
    });
    if state.box_select && down && state.box_origin.is_none() {
        state.box_origin = pressed_at.filter(|a| plot_rect.contains(*a));
    }
    if let (true, Some(a), Some(b)) = (state.box_select, state.box_origin, position) {
        if down {
            let outline = Stroke::new(1.5, Color32::WHITE);
            ui.painter()
                .rect_stroke(Rect::from_two_pos(a, b), 0.0, outline, StrokeKind::Inside);
        }
        if released && a.distance(b) > 4.0 {
            let (a, b) = (
                transform.value_from_position(a),
                transform.value_from_position(b),
            );
            let (x0, x1) = (a.x.min(b.x), a.x.max(b.x));
            let (y0, y1) = (a.y.min(b.y), a.y.max(b.y));
            state.selection = projection
                .book_ids
                .iter()
                .zip(projection.points.chunks(2))
                .filter(|(_, xy)| {
                    let (x, y) = (f64::from(xy[0]), f64::from(xy[1]));
                    (x0..=x1).contains(&x) && (y0..=y1).contains(&y)
                })
                .map(|(id, _)| *id)
                .collect();
        }
    }
    if !down {
        state.box_origin = None;
    }
}

fn selection_window(
    ui: &mut egui::Ui,
    state: &ProjectionState,
    library: &LibraryState,
    index_of: &HashMap<BookId, usize>,
    commands: &mut Vec<Command>,
) {
    if state.selection.is_empty() {
        return;
    }
    egui::Window::new(format!("{} selected", state.selection.len()))
        .default_pos(egui::pos2(40.0, 120.0))
        .show(ui.ctx(), |ui| {
            if ui
                .button("Select in the library")
                .on_hover_text(
                    "Choose these books in the Library view, to set their category or delete them",
                )
                .clicked()
            {
                commands.push(Command::ChooseBooks(state.selection.clone()));
            }
            egui::ScrollArea::vertical()
                .max_height(300.0)
                .show(ui, |ui| {
                    for book_id in &state.selection {
                        let Some(&i) = index_of.get(book_id) else {
                            continue;
                        };
                        let book = &library.books[i];
                        if ui
                            .link(format!("{} — {}", book.title, book.category))
                            .clicked()
                        {
                            commands.push(Command::OpenBook(*book_id));
                        }
                    }
                });
        });
}

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::store::BookSummary;
    use crate::ui::testing::explore_harness;

    #[test]
    fn compute_is_asked_for_and_a_stored_layout_is_drawn_point_by_point() {
        let mut library = LibraryState::default();
        library.set_books(
            (0..3)
                .map(|i| BookSummary {
                    book_id: BookId(i),
                    external_id: i.to_string(),
                    title: format!("Book {i}"),
                    author: String::new(),
                    category: "Drama".into(),
                    thumb_path: None,
                })
                .collect(),
        );
        let state = ProjectionState {
            projection: Some(StoredProjection {
                method: "pca".into(),
                settings: "{}".into(),
                book_ids: (0..3).map(BookId).collect(),
                points: vec![0.0, 0.0, 1.0, 1.0, 2.0, 0.5],
                trustworthiness: 0.9,
                neighbours: 10,
                seconds: 0.1,
            }),
            ..ProjectionState::default()
        };
        let mut harness = explore_harness(show, state, library);
        harness.get_by_label("t-SNE").click();
        harness.run();
        harness.get_by_label("Compute").click();
        harness.run();
        assert_eq!(
            harness.state().asked(),
            [Command::ComputeProjection(Method::Tsne)]
        );
        assert_eq!(harness.state().state.screen.len(), 3);
        assert!(
            harness
                .query_by_label_contains("trustworthiness@10 0.900")
                .is_some()
        );
    }
}
