//! The Attention view: where the model looked on a cover (CBAM's spatial map
//! over the cover, per scale or their mean), how much the cover and the text
//! counted, and the channel attention, for up to two books side by side.

use egui::{Rect, Sense, Vec2};
use egui_plot::{Bar, BarChart, Plot};

use super::widgets::{explore_view, heat_colour, job_line};
use crate::app::{AttentionState, Command, LibraryState, RunsState, file_uri};
use crate::inference::AttentionMaps;
use crate::inference::attention::{MIN_COVER_SHARE, cover_counted};
use crate::store::BookId;

pub fn show(
    ui: &mut egui::Ui,
    state: &mut AttentionState,
    library: &LibraryState,
    runs: &RunsState,
) -> Vec<Command> {
    let controls =
        |ui: &mut egui::Ui, state: &mut AttentionState, commands: &mut Vec<Command>| match &library
            .selected
        {
            Some(book) => {
                let button = egui::Button::new(format!("Show \"{}\"", book.title));
                if ui.add_enabled(state.job.is_none(), button).clicked() {
                    commands.push(Command::ShowAttention(book.book_id));
                }
            }
            None => {
                ui.label("Pick a book in the Library view (a second pick shows beside the first).");
            }
        };
    let body = |ui: &mut egui::Ui, state: &mut AttentionState, _: &mut Vec<Command>| {
        ui.horizontal(|ui| {
            ui.label("Scale");
            for scale in 1..=3 {
                ui.radio_value(&mut state.scale, scale, format!("{scale}"));
            }
            ui.radio_value(&mut state.scale, 0, "mean");
            let label = ui.label("Opacity");
            ui.add(egui::Slider::new(&mut state.opacity, 0.0..=1.0))
                .labelled_by(label.id);
        });
        if let Some(job) = &state.job {
            job_line(ui, job);
        }
        ui.columns(state.shown.len().max(1), |columns| {
            for (column, (book_id, maps)) in columns.iter_mut().zip(&state.shown) {
                attention_panel(column, state, library, *book_id, maps);
            }
        });
    };
    explore_view(ui, runs, state, controls, body)
}

/// The heatmap to draw: one scale's, or the mean of the three.
fn heat(maps: &AttentionMaps, scale: usize) -> Vec<f32> {
    if scale == 0 {
        let scales = maps.heatmaps.len().max(1) as f32;
        (0..maps.grid * maps.grid)
            .map(|i| maps.heatmaps.iter().map(|m| m[i]).sum::<f32>() / scales)
            .collect()
    } else {
        maps.heatmaps[scale - 1].clone()
    }
}

fn colour_bar(ui: &mut egui::Ui, low: f32, high: f32) {
    ui.horizontal(|ui| {
        ui.label(format!("{low:.2}"));
        let (bar, _) = ui.allocate_exact_size(Vec2::new(160.0, 12.0), Sense::hover());
        for step in 0..32 {
            let t = step as f32 / 31.0;
            let x = bar.min.x + t * (bar.width() - 5.0);
            let cell = Rect::from_min_size(egui::pos2(x, bar.min.y), Vec2::new(5.0, bar.height()));
            ui.painter().rect_filled(cell, 0.0, heat_colour(t));
        }
        ui.label(format!("{high:.2}"));
    });
}

fn attention_panel(
    ui: &mut egui::Ui,
    state: &AttentionState,
    library: &LibraryState,
    book_id: BookId,
    maps: &AttentionMaps,
) {
    let book = library.book(book_id);
    ui.strong(book.map_or("?".into(), |b| b.title.clone()));
    let heat = heat(maps, state.scale);
    let (rect, response) = ui.allocate_exact_size(Vec2::new(240.0, 360.0), Sense::hover());
    if let Some(path) = book.and_then(|b| b.thumb_path.as_ref()) {
        egui::Image::new(file_uri(path)).paint_at(ui, rect);
    }
    let share = maps.image_share();
    if !cover_counted(share) {
        // The map of a cover that did not count says nothing about the cover.
        response.on_hover_text("No map: the cover did not count for this book");
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "The cover did not count ({:.0}% of the fusion, below {:.0}%): this book was placed by its text alone, so there is no place on the cover the model looked.",
                100.0 * share,
                100.0 * MIN_COVER_SHARE
            ),
        );
        return;
    }
    let (low, high) = heat
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = (high - low).max(1e-6);
    let grid = maps.grid as f32;
    let cell = Vec2::new(rect.width() / grid, rect.height() / grid);
    let painter = ui.painter_at(rect);
    for (i, value) in heat.iter().enumerate() {
        let (x, y) = (i % maps.grid, i / maps.grid);
        let min = rect.min + Vec2::new(x as f32 * cell.x, y as f32 * cell.y);
        let colour = heat_colour((value - low) / span).gamma_multiply(state.opacity);
        painter.rect_filled(Rect::from_min_size(min, cell), 0.0, colour);
    }
    response.on_hover_text("CBAM's spatial attention Ms: red where the model looked most");
    colour_bar(ui, low, high);
    let mean = |values: &[f32]| values.iter().sum::<f32>() / values.len().max(1) as f32;
    ui.label(format!(
        "S_c (cover) {:.2}, S_u (text) {:.2}: the cover counted {:.0}%",
        mean(&maps.image_weights),
        mean(&maps.text_weights),
        100.0 * maps.image_share()
    ));
    let channels = &maps.channel_weights[state.scale.max(1) - 1];
    let bars: Vec<Bar> = channels
        .iter()
        .enumerate()
        .map(|(i, v)| Bar::new(i as f64, f64::from(*v)).width(0.8))
        .collect();
    Plot::new(("channels", book_id.0))
        .height(120.0)
        .x_axis_label("channel")
        .y_axis_label("Mc")
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("channel attention", bars))
        });
}

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::store::BookDetail;
    use crate::ui::testing::explore_harness;

    fn maps() -> AttentionMaps {
        AttentionMaps {
            grid: 2,
            heatmaps: vec![vec![0.1, 0.9, 0.2, 0.3]; 3],
            channel_weights: vec![vec![0.5; 4]; 3],
            image_weights: vec![0.25; 3],
            text_weights: vec![0.75; 3],
        }
    }

    #[test]
    fn the_selected_book_can_be_shown_and_shown_maps_say_what_the_cover_counted() {
        let mut library = LibraryState::default();
        library.selected = Some(BookDetail {
            book_id: BookId(5),
            external_id: "b5".into(),
            title: "Book 05".into(),
            author: String::new(),
            synopsis: String::new(),
            category: String::new(),
            language: None,
            cover_path: None,
            thumb_path: None,
            source: String::new(),
            added_at: String::new(),
            deleted_at: None,
        });
        let mut state = AttentionState::default();
        state.show((BookId(5), maps()));
        let mut harness = explore_harness(show, state, library);
        harness.get_by_label_contains("Show \"Book 05\"").click();
        harness.run();
        assert_eq!(harness.state().asked(), [Command::ShowAttention(BookId(5))]);
        assert!(
            harness
                .query_by_label_contains("the cover counted 25%")
                .is_some()
        );
    }

    #[test]
    fn a_cover_that_did_not_count_gets_no_map_and_says_so() {
        let mut state = AttentionState::default();
        let text_only = AttentionMaps {
            image_weights: vec![0.01; 3],
            text_weights: vec![0.99; 3],
            ..maps()
        };
        state.show((BookId(5), text_only.clone()));
        assert_eq!(text_only.counted_focus(), None);
        assert!(maps().counted_focus().is_some());
        let mut harness = explore_harness(show, state, LibraryState::default());
        harness.run();
        assert!(
            harness
                .query_by_label_contains("The cover did not count (1% of the fusion")
                .is_some()
        );
        assert!(
            harness
                .query_by_label_contains("the cover counted")
                .is_none()
        );
    }
}
