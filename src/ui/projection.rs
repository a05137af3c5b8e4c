//! The Projection view: a run's books laid out in 2D (PCA or t-SNE),
//! coloured by category, the run's verdict, training or held-out, cover
//! share, language or reader (legend entries hide and show); hover a point
//! for its book, click it to open the book, or drag a box or a lasso to
//! select many, and make the selection a library filter, a shelf or a CSV.

use std::collections::HashMap;
use std::sync::Arc;

use egui::{Color32, Rect, RichText, Stroke, StrokeKind, Vec2};
use egui_plot::{Legend, Plot, PlotPoints, PlotTransform, Points};

use super::widgets::{book_hub, explore_view, job_line, palette};
use crate::app::commands::HubAction;
use crate::app::explore::{DrawnPoints, GroupsKey, PointGroups, SelectMode};
use crate::app::projection_facts::{ColourBy, inside};
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
        ui.separator();
        ui.label("Drag:");
        ui.radio_value(&mut state.select_mode, SelectMode::Pan, "pan");
        ui.radio_value(&mut state.select_mode, SelectMode::Box, "box select");
        ui.radio_value(&mut state.select_mode, SelectMode::Lasso, "lasso");
        ui.separator();
        colour_controls(ui, state);
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
        // Taken out and put back rather than cloned: at 100,000 books a
        // clone per frame took longer than the frame.
        let Some(projection) = state.projection.take() else {
            ui.label("No projection yet: press Compute.");
            return;
        };
        scatter(ui, state, library, &projection, commands);
        state.projection.get_or_insert(projection);
    };
    explore_view(ui, runs, state, controls, body)
}

/// What the points are coloured by (and, by reader, whose books).
fn colour_controls(ui: &mut egui::Ui, state: &mut ProjectionState) {
    egui::ComboBox::from_label("colour by")
        .selected_text(state.colour_by.name())
        .show_ui(ui, |ui| {
            for colour_by in ColourBy::ALL {
                ui.selectable_value(&mut state.colour_by, colour_by, colour_by.name());
            }
        });
    if state.colour_by == ColourBy::Reader {
        let readers: Vec<String> = state.facts.readers.keys().cloned().collect();
        if state.reader.is_empty()
            && let Some(first) = readers.first()
        {
            state.reader = first.clone();
        }
        egui::ComboBox::from_id_salt("projection_reader")
            .selected_text(state.reader.clone())
            .show_ui(ui, |ui| {
                for reader in readers {
                    ui.selectable_value(&mut state.reader, reader.clone(), reader);
                }
            });
    }
}

fn scatter(
    ui: &mut egui::Ui,
    state: &mut ProjectionState,
    library: &LibraryState,
    projection: &StoredProjection,
    commands: &mut Vec<Command>,
) {
    let index_of = library.index_by_id();
    let groups = point_groups(state, library, projection);
    let drawn = drawn_sample(state, &groups);
    let extent = match state.extent {
        Some((points, extent)) if points == projection.points.as_ptr() as usize => extent,
        _ => extent(&projection.points),
    };
    state.extent = Some((projection.points.as_ptr() as usize, extent));
    let drag = state.select_mode == SelectMode::Pan;
    let response = draw_points(ui, state, library, projection, (&drawn, extent), drag);
    commands.push(Command::PlotDrawn("projection", response.response.rect));
    let transform = response.transform;
    // Where each book sits on screen: for hovering, clicking and tests;
    // placed again only when the plot moved or the layout changed.
    let placed_for = (
        *transform.bounds(),
        *transform.frame(),
        projection.points.as_ptr() as usize,
    );
    if state.last_bounds.as_ref() != Some(&placed_for.0)
        || state.screen_frame != Some(placed_for.1)
        || state.screen_points != placed_for.2
        || state.screen.len() != projection.book_ids.len()
    {
        state.screen = projection
            .book_ids
            .iter()
            .zip(projection.points.chunks(2))
            .map(|(id, xy)| {
                let point = egui_plot::PlotPoint::new(xy[0], xy[1]);
                (*id, transform.position_from_point(&point))
            })
            .collect();
    }
    (state.last_bounds, state.screen_frame, state.screen_points) =
        (Some(placed_for.0), Some(placed_for.1), placed_for.2);
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
        hover_card(ui, &library.books[i], response.response.id);
        if response.response.clicked() && state.select_mode == SelectMode::Pan {
            commands.push(Command::OpenBook(book_id));
        }
    }
    match state.select_mode {
        SelectMode::Box => box_selection(ui, state, projection, &transform, response.response.rect),
        SelectMode::Lasso => {
            lasso_selection(ui, state, projection, &transform, response.response.rect)
        }
        SelectMode::Pan => {}
    }
    selection_window(ui, state, library, index_of, commands);
}

/// The points in their legend groups, made again only when the projection,
/// the books, the run's facts or the colouring changed.
fn point_groups(
    state: &mut ProjectionState,
    library: &LibraryState,
    projection: &StoredProjection,
) -> std::sync::Arc<PointGroups> {
    let key = GroupsKey {
        points: (projection.points.as_ptr() as usize, projection.points.len()),
        books_version: library.books_version,
        facts_run: state.facts.run,
        colour_by: state.colour_by,
        reader: state.reader.clone(),
    };
    if let Some((kept, groups)) = &state.groups
        && *kept == key
    {
        return std::sync::Arc::clone(groups);
    }
    let index_of = library.index_by_id();
    let category_of = |book: BookId| {
        index_of
            .get(&book)
            .map_or(String::new(), |&i| library.books[i].category.clone())
    };
    let groups = std::sync::Arc::new(state.facts.groups(
        projection,
        category_of,
        state.colour_by,
        &state.reader,
    ));
    state.groups = Some((key, std::sync::Arc::clone(&groups)));
    groups
}

/// The points in their legend groups (each group's colour: its category's
/// when colouring by category), the book a hub link asked for ringed;
/// returns the plot with the pointer's place in plot coordinates.
fn draw_points(
    ui: &mut egui::Ui,
    state: &ProjectionState,
    library: &LibraryState,
    projection: &StoredProjection,
    (drawn, extent): (&DrawnPoints, [(f64, f64); 2]),
    drag: bool,
) -> egui_plot::PlotResponse<Option<egui_plot::PlotPoint>> {
    let category_colours = library.category_colours();
    let focus = state.focus.and_then(|book| {
        let at = projection.book_ids.iter().position(|id| *id == book)?;
        Some([
            f64::from(projection.points[2 * at]),
            f64::from(projection.points[2 * at + 1]),
        ])
    });
    let colour_by = state.colour_by;
    let [(min_x, max_x), (min_y, max_y)] = extent;
    Plot::new("projection")
        .legend(Legend::default())
        .data_aspect(1.0)
        .allow_drag(drag)
        // The whole layout, whatever sample is drawn.
        .include_x(min_x)
        .include_x(max_x)
        .include_y(min_y)
        .include_y(max_y)
        .show(ui, |plot| {
            for (index, (group, points)) in drawn.iter().enumerate() {
                let colour = match colour_by {
                    ColourBy::Category => {
                        palette(category_colours.get(group).copied().unwrap_or(0))
                    }
                    _ => palette(index),
                };
                let points = Points::new(group.clone(), PlotPoints::from(points.clone()));
                plot.points(points.radius(2.5).color(colour));
            }
            if let Some(at) = focus {
                plot.points(
                    Points::new("the book asked for", PlotPoints::from(vec![at]))
                        .radius(8.0)
                        .filled(false)
                        .color(Color32::WHITE),
                );
            }
            plot.pointer_coordinate()
        })
}

/// Points drawn in a frame at most: beyond, an even sample of the points in
/// view (as last drawn) is drawn; hovering, clicking and selecting still
/// reach every book. 100,000 points drawn one by one took 30 ms a frame.
pub const MAX_DRAWN_POINTS: usize = 15_000;

/// The points drawn, kept while the plot's bounds and the groups stay (a
/// frame that only moves the pointer does not look at 1,000,000 points).
fn drawn_sample(state: &mut ProjectionState, groups: &Arc<PointGroups>) -> Arc<DrawnPoints> {
    let key = (state.last_bounds, Arc::as_ptr(groups) as usize);
    if let Some((kept, drawn)) = &state.drawn
        && *kept == key
    {
        return Arc::clone(drawn);
    }
    let drawn = Arc::new(drawn_points(groups, state.last_bounds.as_ref()));
    state.drawn = Some((key, Arc::clone(&drawn)));
    drawn
}

/// Each group's points to draw this frame: those in `bounds` (all, before
/// the first frame), every n-th of them when there are more than
/// [`MAX_DRAWN_POINTS`], so each group keeps its share.
fn drawn_points(groups: &PointGroups, bounds: Option<&egui_plot::PlotBounds>) -> DrawnPoints {
    let in_view = |[x, y]: [f64; 2]| {
        bounds.is_none_or(|b| {
            (b.min()[0]..=b.max()[0]).contains(&x) && (b.min()[1]..=b.max()[1]).contains(&y)
        })
    };
    let total: usize = groups
        .values()
        .map(|points| points.iter().filter(|&&p| in_view(p)).count())
        .sum();
    let stride = total.div_ceil(MAX_DRAWN_POINTS).max(1);
    let mut seen = 0usize;
    groups
        .iter()
        .map(|(group, points)| {
            let kept = points
                .iter()
                .copied()
                .filter(|&p| in_view(p))
                .filter(|_| {
                    seen += 1;
                    (seen - 1).is_multiple_of(stride)
                })
                .collect();
            (group.clone(), kept)
        })
        .collect()
}

/// The layout's smallest and largest x and y.
fn extent(points: &[f32]) -> [(f64, f64); 2] {
    let mut extent = [(f64::INFINITY, f64::NEG_INFINITY); 2];
    for point in points.chunks(2) {
        for (axis, &value) in extent.iter_mut().zip(point) {
            axis.0 = axis.0.min(f64::from(value));
            axis.1 = axis.1.max(f64::from(value));
        }
    }
    extent.map(|(low, high)| if low <= high { (low, high) } else { (0.0, 0.0) })
}

/// The card of the book under the pointer: its cover, title and category.
fn hover_card(ui: &egui::Ui, book: &crate::store::BookSummary, plot: egui::Id) {
    egui::Tooltip::always_open(
        ui.ctx().clone(),
        ui.layer_id(),
        plot,
        egui::PopupAnchor::Pointer,
    )
    .show(|ui| {
        if let Some(path) = &book.thumb_path {
            ui.add(egui::Image::new(file_uri(path)).fit_to_exact_size(Vec2::new(60.0, 90.0)));
        }
        ui.label(format!("{} — {}", book.title, book.author));
        ui.label(RichText::new(&book.category).weak());
    });
}

/// The pointer's press, position, whether it is down and whether it was
/// released this frame.
fn pointer(ui: &egui::Ui) -> (Option<egui::Pos2>, Option<egui::Pos2>, bool, bool) {
    ui.input(|i| {
        (
            i.pointer.press_origin(),
            i.pointer.interact_pos(),
            i.pointer.primary_down(),
            i.pointer.primary_released(),
        )
    })
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
    let (pressed_at, position, down, released) = pointer(ui);
    if down && state.box_origin.is_none() {
        state.box_origin = pressed_at.filter(|a| plot_rect.contains(*a));
    }
    if let (Some(a), Some(b)) = (state.box_origin, position) {
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
            state.selection = points_where(projection, |x, y| {
                (x0..=x1).contains(&x) && (y0..=y1).contains(&y)
            });
            state.focus = None;
        }
    }
    if !down {
        state.box_origin = None;
    }
}

/// Lasso selection: the outline follows the pointer while it is down; on
/// release the points inside it are selected.
fn lasso_selection(
    ui: &mut egui::Ui,
    state: &mut ProjectionState,
    projection: &StoredProjection,
    transform: &PlotTransform,
    plot_rect: Rect,
) {
    let (pressed_at, position, down, released) = pointer(ui);
    if down
        && state.lasso.is_empty()
        && let Some(start) = pressed_at.filter(|a| plot_rect.contains(*a))
    {
        state.lasso.push(start);
    }
    if !state.lasso.is_empty()
        && let Some(at) = position
        && down
        && state
            .lasso
            .last()
            .is_none_or(|last| last.distance(at) > 2.0)
    {
        state.lasso.push(at);
    }
    if state.lasso.len() > 1 {
        let mut outline = state.lasso.clone();
        outline.push(state.lasso[0]);
        ui.painter()
            .add(egui::Shape::line(outline, Stroke::new(1.5, Color32::WHITE)));
    }
    if released || !down {
        if state.lasso.len() >= 3 {
            let outline: Vec<[f64; 2]> = state
                .lasso
                .iter()
                .map(|p| {
                    let value = transform.value_from_position(*p);
                    [value.x, value.y]
                })
                .collect();
            state.selection = points_where(projection, |x, y| inside(&outline, [x, y]));
            state.focus = None;
        }
        state.lasso.clear();
    }
}

/// The projected books whose point passes `keep`.
fn points_where(projection: &StoredProjection, keep: impl Fn(f64, f64) -> bool) -> Vec<BookId> {
    projection
        .book_ids
        .iter()
        .zip(projection.points.chunks(2))
        .filter(|(_, xy)| keep(f64::from(xy[0]), f64::from(xy[1])))
        .map(|(id, _)| *id)
        .collect()
}

/// The selection's window: choose its books in the library, show only them
/// there, put them on a shelf, write them as CSV; each book with its hub.
fn selection_window(
    ui: &mut egui::Ui,
    state: &mut ProjectionState,
    library: &LibraryState,
    index_of: &HashMap<BookId, usize>,
    commands: &mut Vec<Command>,
) {
    if state.selection.is_empty() {
        return;
    }
    let selection = state.selection.clone();
    let mut open = true;
    egui::Window::new(format!("{} selected", selection.len()))
        .default_pos(egui::pos2(40.0, 120.0))
        .open(&mut open)
        .show(ui.ctx(), |ui| {
            ui.horizontal_wrapped(|ui| {
                if ui
                    .button("Select in the library")
                    .on_hover_text(
                        "Choose these books in the Library view, to set their category or delete them",
                    )
                    .clicked()
                {
                    commands.push(Command::ChooseBooks(selection.clone()));
                }
                if ui
                    .button("Filter the library")
                    .on_hover_text("Show only these books in the Library view")
                    .clicked()
                {
                    commands.push(Command::FilterLibrary(selection.clone()));
                }
                if ui.button("Export (CSV)").clicked() {
                    let rows = selection_csv(&selection, library, index_of, state);
                    commands.push(Command::ExportCsv {
                        name: "projection-selection".into(),
                        rows,
                    });
                }
            });
            ui.horizontal(|ui| {
                let label = ui.label("Shelf:");
                ui.add(egui::TextEdit::singleline(&mut state.shelf).desired_width(140.0))
                    .labelled_by(label.id);
                if ui.button("Put on shelf").clicked() && !state.shelf.trim().is_empty() {
                    commands.push(Command::AddToShelf(
                        selection.clone(),
                        state.shelf.trim().to_string(),
                    ));
                }
            });
            egui::ScrollArea::vertical()
                .max_height(300.0)
                .show(ui, |ui| {
                    for book_id in &selection {
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
                        book_hub(ui, *book_id, &[HubAction::InProjection], commands);
                    }
                });
        });
    if !open {
        state.selection.clear();
        state.focus = None;
    }
}

/// The selection as CSV rows: each book with its place and the group it is
/// coloured in.
fn selection_csv(
    selection: &[BookId],
    library: &LibraryState,
    index_of: &HashMap<BookId, usize>,
    state: &ProjectionState,
) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "book_id",
            "title",
            "author",
            "category",
            state.colour_by.name(),
        ]
        .map(String::from)
        .to_vec(),
    ];
    for book_id in selection {
        let Some(&i) = index_of.get(book_id) else {
            continue;
        };
        let book = &library.books[i];
        let group = state
            .facts
            .group_of(*book_id, &book.category, state.colour_by, &state.reader);
        rows.push(vec![
            book.external_id.clone(),
            book.title.clone(),
            book.author.clone(),
            book.category.clone(),
            group,
        ]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::store::BookSummary;
    use crate::ui::testing::explore_harness;

    #[test]
    fn a_large_layout_draws_an_even_sample_of_the_points_in_view() {
        let mut groups = PointGroups::new();
        groups.insert("a".into(), (0..60_000).map(|i| [i as f64, 0.0]).collect());
        groups.insert("b".into(), (0..20_000).map(|i| [i as f64, 1.0]).collect());
        let drawn = drawn_points(&groups, None);
        let counts: Vec<usize> = drawn.iter().map(|(_, p)| p.len()).collect();
        // Every 6th point (80,000 over 15,000, rounded up): each group keeps
        // its share, and no more than the cap is drawn.
        assert_eq!(counts, [10_000, 3_334], "each group keeps its share");
        assert!(counts.iter().sum::<usize>() <= MAX_DRAWN_POINTS);
        // Zoomed in on 1,000 points of each: every one drawn, none outside.
        let bounds = egui_plot::PlotBounds::from_min_max([0.0, -1.0], [999.0, 2.0]);
        let drawn = drawn_points(&groups, Some(&bounds));
        assert!(drawn.iter().all(|(_, p)| p.len() == 1_000));
        // A small layout is drawn whole.
        let mut small = PointGroups::new();
        small.insert("c".into(), vec![[0.0, 0.0], [5.0, 5.0]]);
        assert_eq!(drawn_points(&small, None)[0].1.len(), 2);
    }

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
