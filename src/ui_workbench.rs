//! Drawing the workbench views from their state: Train (form, live curves,
//! runs and their tables), Attention (CBAM heatmaps over covers), Projection
//! (the 2D scatter), Recommend (explained suggestions) and Settings.

use egui::{Color32, Rect, RichText, Sense, Stroke, StrokeKind, Vec2};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points};

use crate::app::{ShelfwiseApp, file_uri};
use crate::project::Method;
use crate::store::BookId;
use crate::workbench::{self, DeviceChoice, QueryKind, TrainForm, View, smooth};

/// A palette that tells ten categories (or runs) apart.
pub fn palette(index: usize) -> Color32 {
    const COLOURS: [Color32; 10] = [
        Color32::from_rgb(31, 119, 180),
        Color32::from_rgb(255, 127, 14),
        Color32::from_rgb(44, 160, 44),
        Color32::from_rgb(214, 39, 40),
        Color32::from_rgb(148, 103, 189),
        Color32::from_rgb(140, 86, 75),
        Color32::from_rgb(227, 119, 194),
        Color32::from_rgb(127, 127, 127),
        Color32::from_rgb(188, 189, 34),
        Color32::from_rgb(23, 190, 207),
    ];
    COLOURS[index % COLOURS.len()]
}

/// The tabs that switch views.
pub fn view_tabs(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    for view in View::ALL {
        if ui
            .selectable_label(app.workbench.view == view, view.title())
            .clicked()
        {
            app.switch_view(view);
        }
    }
}

/// The current workbench view (every view but Library).
pub fn show_view(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    if let Some(message) = app.workbench.message.clone() {
        ui.horizontal(|ui| {
            ui.colored_label(Color32::from_rgb(200, 120, 0), message);
            if ui.small_button("Dismiss").clicked() {
                app.workbench.message = None;
            }
        });
    }
    match app.workbench.view {
        View::Library => {}
        View::Train => train_view(app, ui),
        View::Attention => attention_view(app, ui),
        View::Projection => projection_view(app, ui),
        View::Recommend => recommend_view(app, ui),
        View::Settings => settings_view(app, ui),
    }
}

fn train_view(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    let running = app.workbench.train_job.is_some();
    egui::Panel::left("train_form")
        .resizable(false)
        .default_size(260.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("train_side")
                .show(ui, |ui| train_side(app, ui, running));
        });
    train_plots(app, ui);
}

fn train_side(app: &mut ShelfwiseApp, ui: &mut egui::Ui, running: bool) {
    {
        {
            ui.heading("Sweep");
            let mut pick_weights = false;
            let weights = app
                .workbench
                .settings
                .weights
                .as_ref()
                .and_then(|p| p.file_name())
                .map_or("random (no file)".to_string(), |n| {
                    n.to_string_lossy().into_owned()
                });
            let workbench = &mut app.workbench;
            ui.add_enabled_ui(!running, |ui| {
                let form = &mut workbench.form;
                egui::Grid::new("train_form_grid")
                    .num_columns(2)
                    .show(ui, |ui| {
                        form_row(
                            ui,
                            "Betas",
                            egui::TextEdit::singleline(&mut form.betas).desired_width(120.0),
                        );
                        form_row(
                            ui,
                            "Single-modal runs",
                            egui::Checkbox::without_text(&mut form.single_modal),
                        );
                        form_row(
                            ui,
                            "Epochs",
                            egui::DragValue::new(&mut form.epochs).range(1..=500),
                        );
                        form_row(
                            ui,
                            "P (categories)",
                            egui::DragValue::new(&mut form.categories_per_batch).range(1..=64),
                        );
                        form_row(
                            ui,
                            "K (books each)",
                            egui::DragValue::new(&mut form.books_per_category).range(1..=128),
                        );
                        form_row(
                            ui,
                            "Learning rate",
                            egui::DragValue::new(&mut form.learning_rate)
                                .speed(1e-4)
                                .range(1e-5..=1e-1)
                                .max_decimals(5),
                        );
                        form_row(
                            ui,
                            "Input size (px)",
                            egui::DragValue::new(&mut form.image_size).range(32..=448),
                        );
                        form_row(
                            ui,
                            "Trunk width",
                            egui::DragValue::new(&mut form.width)
                                .speed(0.05)
                                .range(0.125..=1.0),
                        );
                    });
                ui.horizontal(|ui| {
                    ui.label("Backbone:");
                    ui.label(weights);
                });
                pick_weights = ui.button("Choose VGG16 weights…").clicked();
                ui.horizontal(|ui| {
                    ui.label("Device:");
                    ui.radio_value(&mut workbench.settings.device, DeviceChoice::Auto, "auto");
                    ui.radio_value(&mut workbench.settings.device, DeviceChoice::Cpu, "CPU");
                });
            });
            if pick_weights {
                app.pick_weights(ui.ctx());
            }
            ui.separator();
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!running, egui::Button::new("Start"))
                    .clicked()
                {
                    app.start_sweep(ui.ctx());
                }
                if let Some(job) = &app.workbench.train_job
                    && ui
                        .add_enabled(!job.is_cancelling(), egui::Button::new("Stop"))
                        .clicked()
                {
                    job.cancel();
                }
            });
            if ui
                .add_enabled(!running, egui::Button::new("Demo sweep (about 2 min)"))
                .on_hover_text(
                    "Three betas and both single-modal runs, small and quick: for a live demo",
                )
                .clicked()
            {
                app.workbench.form = TrainForm::demo();
                app.start_sweep(ui.ctx());
            }
            if let Some(job) = &app.workbench.train_job {
                let (fraction, rate, eta) = job.rate_and_eta();
                let eta = eta.map_or(String::new(), |s| format!(", {s:.0} s left"));
                ui.add(egui::ProgressBar::new(fraction).text(format!(
                    "step {} of {} ({rate:.1}/s{eta})",
                    job.done, job.total
                )));
            }
            ui.separator();
            runs_table(app, ui);
        }
    }
}

fn train_plots(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default().show(ui, |ui| {
        let curves = app.workbench.curves();
        ui.horizontal(|ui| {
            let label = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut app.workbench.smoothing, 0.0..=0.99))
                .labelled_by(label.id);
            ui.checkbox(&mut app.workbench.log_scale, "log scale");
            if ui.button("Export curves (CSV)").clicked() {
                let mut rows = vec![vec![
                    "run".to_string(),
                    "label".into(),
                    "step".into(),
                    "loss".into(),
                ]];
                for curve in &curves {
                    for [step, loss] in &curve.losses {
                        rows.push(vec![
                            curve.run_id.to_string(),
                            curve.label.clone(),
                            step.to_string(),
                            loss.to_string(),
                        ]);
                    }
                }
                app.export("curves", &rows);
            }
            if ui.button("Export loss plot (PNG)").clicked() {
                app.request_plot_png(ui.ctx(), "loss");
            }
            if ui.button("Export accuracy plot (PNG)").clicked() {
                app.request_plot_png(ui.ctx(), "accuracy");
            }
        });
        if curves.is_empty() {
            ui.label("No curves yet: start a sweep, or choose a past run in the table.");
        }
        let log = app.workbench.log_scale;
        let smoothing = app.workbench.smoothing;
        let height = (ui.available_height() * 0.55).max(160.0);
        let loss_plot = Plot::new("loss_curves")
            .legend(Legend::default())
            .height(height)
            .x_axis_label("step")
            .y_axis_label(if log { "log10 loss" } else { "loss" })
            .show(ui, |plot| {
                for (index, curve) in curves.iter().enumerate() {
                    let points: Vec<[f64; 2]> = smooth(&curve.losses, smoothing)
                        .into_iter()
                        .map(|[x, y]| [x, if log { y.max(1e-9).log10() } else { y }])
                        .collect();
                    plot.line(
                        Line::new(curve.label.clone(), PlotPoints::from(points))
                            .color(palette(index)),
                    );
                }
            });
        app.remember_plot_rect("loss", loss_plot.response.rect);
        let accuracy_plot = Plot::new("accuracy_curves")
            .legend(Legend::default())
            .height((ui.available_height() - 60.0).max(120.0))
            .x_axis_label("epoch")
            .y_axis_label("validation accuracy")
            .show(ui, |plot| {
                for (index, curve) in curves.iter().enumerate() {
                    plot.line(
                        Line::new(
                            curve.label.clone(),
                            PlotPoints::from(curve.accuracy.clone()),
                        )
                        .color(palette(index)),
                    );
                }
            });
        app.remember_plot_rect("accuracy", accuracy_plot.response.rect);
        // The numbers behind the curves, readable (and testable) as text.
        ui.horizontal_wrapped(|ui| {
            for curve in &curves {
                let last = curve.losses.last().map_or(f64::NAN, |p| p[1]);
                ui.label(format!(
                    "{}: {} steps, loss {last:.3}",
                    curve.label,
                    curve.losses.len()
                ));
            }
        });
    });
}

fn runs_table(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    ui.heading("Runs");
    if app.workbench.runs.is_empty() {
        ui.label("No runs yet.");
        return;
    }
    let mut chosen = None;
    let mut resume = None;
    egui::ScrollArea::vertical()
        .id_salt("runs_scroll")
        .max_height(220.0)
        .show(ui, |ui| {
            egui::Grid::new("runs_grid").striped(true).show(ui, |ui| {
                ui.strong("run");
                ui.strong("kind");
                ui.strong("status");
                ui.strong("F1");
                ui.end_row();
                for run in &app.workbench.runs {
                    let label = format!("{}", run.run_id);
                    if ui
                        .selectable_label(app.workbench.chosen_run == Some(run.run_id), label)
                        .clicked()
                    {
                        chosen = Some(run.run_id);
                    }
                    ui.label(workbench::run_label(run.beta, &run.modalities));
                    if run.status == "cancelled" || run.status == "running" {
                        if ui
                            .small_button(format!("resume ({})", run.status))
                            .clicked()
                        {
                            resume = Some(run.run_id);
                        }
                    } else {
                        ui.label(&run.status);
                    }
                    ui.label(run.val_macro_f1.map_or("—".into(), |f| format!("{f:.3}")));
                    ui.end_row();
                }
            });
        });
    if let Some(run) = chosen {
        app.choose_run(run);
    }
    if let Some(run) = resume {
        app.resume_run(ui.ctx(), run);
    }
    let Some(run_id) = app.workbench.chosen_run else {
        return;
    };
    let Some(listing) = app
        .workbench
        .runs
        .iter()
        .find(|r| r.run_id == run_id)
        .cloned()
    else {
        return;
    };
    ui.separator();
    ui.strong(format!(
        "Run {run_id}: {}",
        workbench::run_label(listing.beta, &listing.modalities)
    ));
    let Some(tables) = workbench::run_tables(&listing) else {
        ui.label("No tables (the run has not finished).");
        return;
    };
    let mut rows = vec![vec![
        "category".to_string(),
        "sensitivity".into(),
        "specificity".into(),
        "ppv".into(),
        "iou".into(),
        "dice".into(),
    ]];
    egui::Grid::new("category_table")
        .striped(true)
        .show(ui, |ui| {
            for header in &rows[0] {
                ui.strong(header.as_str());
            }
            ui.end_row();
            if let Some(categories) = tables["per_category"].as_object() {
                for (name, m) in categories {
                    let values: Vec<f64> = ["sensitivity", "specificity", "ppv", "iou", "dice"]
                        .iter()
                        .map(|k| m[*k].as_f64().unwrap_or(f64::NAN))
                        .collect();
                    ui.label(name);
                    for v in &values {
                        ui.label(format!("{v:.3}"));
                    }
                    ui.end_row();
                    let mut row = vec![name.clone()];
                    row.extend(values.iter().map(|v| v.to_string()));
                    rows.push(row);
                }
            }
        });
    let retrieval = &tables["retrieval"];
    if retrieval.is_object() {
        let value = |side: &str, k: &str| retrieval[side][k].as_f64().unwrap_or(f64::NAN);
        egui::Grid::new("retrieval_table")
            .striped(true)
            .show(ui, |ui| {
                ui.strong("retrieval");
                ui.strong("R@1");
                ui.strong("R@5");
                ui.strong("R@10");
                ui.end_row();
                for (side, name) in [("text", "text to cover"), ("image", "cover to text")] {
                    ui.label(name);
                    for k in ["r1", "r5", "r10"] {
                        ui.label(format!("{:.3}", value(side, k)));
                    }
                    ui.end_row();
                }
                ui.label("mR");
                ui.label(format!(
                    "{:.3}",
                    retrieval["mR"].as_f64().unwrap_or(f64::NAN)
                ));
                ui.end_row();
            });
    }
    if ui.button("Export table (CSV)").clicked() {
        app.export(&format!("run{run_id}-categories"), &rows);
    }
}

fn run_picker(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    let finished: Vec<(i64, String)> = app
        .workbench
        .finished_runs()
        .iter()
        .map(|r| {
            (
                r.run_id,
                format!(
                    "run {}: {}",
                    r.run_id,
                    workbench::run_label(r.beta, &r.modalities)
                ),
            )
        })
        .collect();
    let current = app.workbench.explore_run();
    let text = finished
        .iter()
        .find(|(id, _)| Some(*id) == current)
        .map_or("no trained run".to_string(), |(_, t)| t.clone());
    let mut picked = None;
    egui::ComboBox::from_label("Model")
        .selected_text(text)
        .show_ui(ui, |ui| {
            for (id, label) in &finished {
                if ui.selectable_label(current == Some(*id), label).clicked() {
                    picked = Some(*id);
                }
            }
        });
    if let Some(run) = picked {
        app.choose_run(run);
    }
}

fn job_line<T: Send + 'static>(ui: &mut egui::Ui, job: &crate::jobs::Job<T>) {
    ui.horizontal(|ui| {
        ui.spinner();
        let (fraction, _, eta) = job.rate_and_eta();
        let eta = eta.map_or(String::new(), |s| format!(", {s:.0} s left"));
        ui.add(
            egui::ProgressBar::new(fraction)
                .desired_width(240.0)
                .text(format!("{}{eta}", job.name)),
        );
        if ui.button("Cancel").clicked() {
            job.cancel();
        }
    });
}

fn attention_view(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            run_picker(app, ui);
            let selected = app.selected.as_ref().map(|b| (b.book_id, b.title.clone()));
            match selected {
                Some((book_id, title)) => {
                    if ui
                        .add_enabled(
                            app.workbench.attention_job.is_none(),
                            egui::Button::new(format!("Show \"{title}\"")),
                        )
                        .clicked()
                    {
                        app.start_attention(ui.ctx(), book_id);
                    }
                }
                None => {
                    ui.label(
                        "Pick a book in the Library view (a second pick shows beside the first).",
                    );
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("Scale");
            for scale in 1..=3 {
                ui.radio_value(
                    &mut app.workbench.attention_scale,
                    scale,
                    format!("{scale}"),
                );
            }
            ui.radio_value(&mut app.workbench.attention_scale, 0, "mean");
            let label = ui.label("Opacity");
            ui.add(egui::Slider::new(
                &mut app.workbench.attention_opacity,
                0.0..=1.0,
            ))
            .labelled_by(label.id);
        });
        if let Some(job) = &app.workbench.attention_job {
            job_line(ui, job);
        }
        let shown = app.workbench.attention.clone();
        ui.columns(shown.len().max(1), |columns| {
            for (column, (book_id, maps)) in columns.iter_mut().zip(&shown) {
                attention_panel(app, column, *book_id, maps);
            }
        });
    });
}

fn attention_panel(
    app: &ShelfwiseApp,
    ui: &mut egui::Ui,
    book_id: BookId,
    maps: &crate::inference::AttentionMaps,
) {
    let book = app.books.iter().find(|b| b.book_id == book_id);
    ui.strong(book.map_or("?".into(), |b| b.title.clone()));
    let scale = app.workbench.attention_scale;
    let cells = maps.grid * maps.grid;
    let heat: Vec<f32> = if scale == 0 {
        (0..cells)
            .map(|i| maps.heatmaps.iter().map(|m| m[i]).sum::<f32>() / maps.heatmaps.len() as f32)
            .collect()
    } else {
        maps.heatmaps[scale - 1].clone()
    };
    let size = Vec2::new(240.0, 360.0);
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    if let Some(path) = book.and_then(|b| b.thumb_path.as_ref()) {
        egui::Image::new(file_uri(path)).paint_at(ui, rect);
    }
    let (low, high) = heat
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = (high - low).max(1e-6);
    let cell = Vec2::new(
        rect.width() / maps.grid as f32,
        rect.height() / maps.grid as f32,
    );
    let painter = ui.painter_at(rect);
    for (i, value) in heat.iter().enumerate() {
        let (x, y) = (i % maps.grid, i / maps.grid);
        let min = rect.min + Vec2::new(x as f32 * cell.x, y as f32 * cell.y);
        let t = (value - low) / span;
        painter.rect_filled(
            Rect::from_min_size(min, cell),
            0.0,
            heat_colour(t).gamma_multiply(app.workbench.attention_opacity),
        );
    }
    response.on_hover_text("CBAM's spatial attention Ms: red where the model looked most");
    // The colour bar.
    ui.horizontal(|ui| {
        ui.label(format!("{low:.2}"));
        let (bar, _) = ui.allocate_exact_size(Vec2::new(160.0, 12.0), Sense::hover());
        for step in 0..32 {
            let t = step as f32 / 31.0;
            let x = bar.min.x + t * (bar.width() - 5.0);
            ui.painter().rect_filled(
                Rect::from_min_size(egui::pos2(x, bar.min.y), Vec2::new(5.0, bar.height())),
                0.0,
                heat_colour(t),
            );
        }
        ui.label(format!("{high:.2}"));
    });
    let mean = |values: &[f32]| values.iter().sum::<f32>() / values.len().max(1) as f32;
    let (image_weight, text_weight) = (mean(&maps.image_weights), mean(&maps.text_weights));
    ui.label(format!(
        "S_c (cover) {image_weight:.2}, S_u (text) {text_weight:.2}: the cover counted {:.0}%",
        100.0 * image_weight / (image_weight + text_weight).max(1e-6)
    ));
    let channels = &maps.channel_weights[scale.max(1) - 1];
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

/// Blue (cold) through yellow to red (hot).
fn heat_colour(t: f32) -> Color32 {
    let t = t.clamp(0.0, 1.0);
    let (r, g, b) = if t < 0.5 {
        let u = t * 2.0;
        (u, u, 1.0 - u)
    } else {
        let u = (t - 0.5) * 2.0;
        (1.0, 1.0 - u, 0.0)
    };
    Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
}

fn projection_view(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            run_picker(app, ui);
            ui.radio_value(&mut app.workbench.projection_method, Method::Pca, "PCA");
            ui.radio_value(&mut app.workbench.projection_method, Method::Tsne, "t-SNE");
            if ui
                .add_enabled(
                    app.workbench.projection_job.is_none(),
                    egui::Button::new("Compute"),
                )
                .clicked()
            {
                let method = app.workbench.projection_method;
                app.start_projection(ui.ctx(), method);
            }
            ui.checkbox(&mut app.workbench.box_select, "box select (drag)");
            if ui.button("Export (PNG)").clicked() {
                app.request_plot_png(ui.ctx(), "projection");
            }
            if let Some(p) = &app.workbench.projection {
                ui.label(format!(
                    "{} of {} books, trustworthiness@{} {:.3}",
                    p.method,
                    p.book_ids.len(),
                    p.neighbours,
                    p.trustworthiness
                ));
            }
        });
        if let Some(job) = &app.workbench.projection_job {
            job_line(ui, job);
        }
        let Some(projection) = app.workbench.projection.clone() else {
            ui.label("No projection yet: press Compute.");
            return;
        };
        scatter(app, ui, &projection);
    });
}

fn scatter(app: &mut ShelfwiseApp, ui: &mut egui::Ui, projection: &crate::store::StoredProjection) {
    let colours = workbench::category_colours(&app.categories);
    let index_of: std::collections::HashMap<BookId, usize> = app
        .books
        .iter()
        .enumerate()
        .map(|(i, b)| (b.book_id, i))
        .collect();
    let mut by_category: std::collections::BTreeMap<String, Vec<[f64; 2]>> = Default::default();
    for (book_id, point) in projection.book_ids.iter().zip(projection.points.chunks(2)) {
        let category = index_of
            .get(book_id)
            .map_or(String::new(), |&i| app.books[i].category.clone());
        by_category
            .entry(category)
            .or_default()
            .push([f64::from(point[0]), f64::from(point[1])]);
    }
    let box_select = app.workbench.box_select;
    let response = Plot::new("projection")
        .legend(Legend::default())
        .data_aspect(1.0)
        .allow_drag(!box_select)
        .show(ui, |plot| {
            for (category, points) in &by_category {
                let name = if category.is_empty() {
                    "(none)"
                } else {
                    category.as_str()
                };
                plot.points(
                    Points::new(name.to_string(), PlotPoints::from(points.clone()))
                        .radius(2.5)
                        .color(palette(colours.get(category).copied().unwrap_or(0))),
                );
            }
            (
                plot.pointer_coordinate(),
                plot.pointer_coordinate_drag_delta(),
            )
        });
    app.remember_plot_rect("projection", response.response.rect);
    let (pointer, _) = response.inner;
    let transform = response.transform;
    // Where each book sits on screen this frame: for hovering, clicking and tests.
    let on_screen: Vec<(BookId, egui::Pos2)> = projection
        .book_ids
        .iter()
        .zip(projection.points.chunks(2))
        .map(|(id, xy)| {
            let at = transform.position_from_point(&egui_plot::PlotPoint::new(xy[0], xy[1]));
            (*id, at)
        })
        .collect();
    // The book under the pointer: the nearest point within 8 pixels.
    let hovered = pointer.and_then(|p| {
        let screen = transform.position_from_point(&p);
        on_screen
            .iter()
            .map(|(id, at)| (*id, at.distance(screen)))
            .filter(|(_, d)| *d < 8.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| id)
    });
    app.workbench.projection_screen = on_screen;
    if let Some(book_id) = hovered
        && let Some(&i) = index_of.get(&book_id)
    {
        let book = &app.books[i];
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
        if response.response.clicked() && !box_select {
            app.open_book(book_id);
        }
    }
    // Box selection from the raw pointer (the plot itself does not drag then);
    // the corner pressed is kept, as egui forgets it on release.
    let plot_rect = response.response.rect;
    let (pressed_at, position, down, released) = ui.input(|i| {
        (
            i.pointer.press_origin(),
            i.pointer.interact_pos(),
            i.pointer.primary_down(),
            i.pointer.primary_released(),
        )
    });
    if box_select && down && app.workbench.box_origin.is_none() {
        app.workbench.box_origin = pressed_at.filter(|a| plot_rect.contains(*a));
    }
    if let (true, Some(a), Some(b)) = (box_select, app.workbench.box_origin, position) {
        if down {
            ui.painter().rect_stroke(
                Rect::from_two_pos(a, b),
                0.0,
                Stroke::new(1.5, Color32::WHITE),
                StrokeKind::Inside,
            );
        }
        if released && a.distance(b) > 4.0 {
            let (a, b) = (
                transform.value_from_position(a),
                transform.value_from_position(b),
            );
            let (x0, x1) = (a.x.min(b.x), a.x.max(b.x));
            let (y0, y1) = (a.y.min(b.y), a.y.max(b.y));
            app.workbench.projection_selection = projection
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
        app.workbench.box_origin = None;
    }
    let selection = app.workbench.projection_selection.clone();
    if !selection.is_empty() {
        egui::Window::new(format!("{} selected", selection.len()))
            .default_pos(egui::pos2(40.0, 120.0))
            .show(ui.ctx(), |ui| {
                egui::ScrollArea::vertical()
                    .max_height(300.0)
                    .show(ui, |ui| {
                        for book_id in &selection {
                            if let Some(&i) = index_of.get(book_id) {
                                let book = &app.books[i];
                                if ui
                                    .link(format!("{} — {}", book.title, book.category))
                                    .clicked()
                                {
                                    app.open_book(*book_id);
                                }
                            }
                        }
                    });
            });
    }
}

fn recommend_view(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            run_picker(app, ui);
            let label = ui.label("Suggestions:");
            ui.add(egui::DragValue::new(&mut app.workbench.suggestion_count).range(1..=100))
                .labelled_by(label.id);
            ui.checkbox(&mut app.workbench.diverse, "diverse");
        });
        ui.horizontal(|ui| {
            let kind = &mut app.workbench.query_kind;
            ui.radio_value(kind, QueryKind::SelectedBook, "More like the selected book");
            ui.radio_value(kind, QueryKind::Description, "A description");
            ui.radio_value(kind, QueryKind::Image, "An image");
            ui.radio_value(kind, QueryKind::Reader, "A reader");
        });
        match app.workbench.query_kind {
            QueryKind::SelectedBook => {
                ui.label(
                    app.selected
                        .as_ref()
                        .map_or("Pick a book in the Library view.".to_string(), |b| {
                            format!("Like \"{}\" by {}", b.title, b.author)
                        }),
                );
            }
            QueryKind::Description => {
                ui.horizontal(|ui| {
                    let label = ui.label("Description:");
                    ui.add(
                        egui::TextEdit::singleline(&mut app.workbench.query_text)
                            .hint_text("a seafaring adventure with mutiny")
                            .desired_width(420.0),
                    )
                    .labelled_by(label.id);
                });
            }
            QueryKind::Image => {
                ui.horizontal(|ui| {
                    ui.label(
                        app.workbench
                            .query_image
                            .as_ref()
                            .map_or("Drop an image on the window, or".to_string(), |p| {
                                p.display().to_string()
                            }),
                    );
                    if ui.button("Choose an image…").clicked() {
                        app.pick_query_image(ui.ctx());
                    }
                });
            }
            QueryKind::Reader => {
                ui.horizontal(|ui| {
                    let label = ui.label("Reader:");
                    ui.add(
                        egui::TextEdit::singleline(&mut app.workbench.query_reader)
                            .hint_text("reader id")
                            .desired_width(160.0),
                    )
                    .labelled_by(label.id);
                    ui.label("(books they read are left out)");
                });
            }
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    app.workbench.recommend_job.is_none(),
                    egui::Button::new("Suggest"),
                )
                .clicked()
            {
                app.start_recommend(ui.ctx());
            }
            if !app.workbench.suggestions.is_empty() && ui.button("Export list (CSV)").clicked() {
                let mut rows = vec![vec![
                    "rank".to_string(),
                    "book_id".into(),
                    "title".into(),
                    "author".into(),
                    "category".into(),
                    "score".into(),
                    "cover_share".into(),
                    "shared_words".into(),
                ]];
                for (rank, s) in app.workbench.suggestions.iter().enumerate() {
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
                app.export("suggestions", &rows);
            }
        });
        if let Some(job) = &app.workbench.recommend_job {
            job_line(ui, job);
        }
        ui.separator();
        let suggestions = app.workbench.suggestions.clone();
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (rank, s) in suggestions.iter().enumerate() {
                ui.horizontal(|ui| {
                    let (rect, response) =
                        ui.allocate_exact_size(Vec2::new(60.0, 90.0), Sense::click());
                    if let Some(path) = app
                        .books
                        .iter()
                        .find(|b| b.book_id.0 == s.book_id)
                        .and_then(|b| b.thumb_path.clone())
                    {
                        egui::Image::new(file_uri(&path)).paint_at(ui, rect);
                    }
                    if let Some([x, y]) = s.focus {
                        let at = rect.min + Vec2::new(x * rect.width(), y * rect.height());
                        ui.painter()
                            .circle_stroke(at, 6.0, Stroke::new(2.0, Color32::RED));
                    }
                    if response.clicked() {
                        app.open_book(BookId(s.book_id));
                    }
                    ui.vertical(|ui| {
                        ui.strong(format!("{}. {}", rank + 1, s.title));
                        ui.label(format!("{} · {}", s.author, s.category));
                        ui.horizontal_wrapped(|ui| {
                            chip(ui, &format!("similarity {:.3}", s.score));
                            chip(
                                ui,
                                &format!(
                                    "cover {:.0}% · text {:.0}%",
                                    100.0 * s.image_share,
                                    100.0 * (1.0 - s.image_share)
                                ),
                            );
                            if !s.shared_words.is_empty() {
                                chip(ui, &format!("shares: {}", s.shared_words.join(", ")));
                            }
                            if s.focus.is_some() {
                                chip(ui, "red ring: where the model looked");
                            }
                        });
                    });
                });
                ui.separator();
            }
        });
    });
}

fn chip(ui: &mut egui::Ui, text: &str) {
    egui::Frame::new()
        .fill(ui.visuals().faint_bg_color)
        .corner_radius(8.0)
        .inner_margin(egui::Margin::symmetric(6, 2))
        .show(ui, |ui| ui.label(RichText::new(text).small()));
}

fn settings_view(app: &mut ShelfwiseApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default().show(ui, |ui| {
        ui.heading("Settings (remembered between sessions)");
        egui::Grid::new("settings_grid")
            .num_columns(2)
            .show(ui, |ui| {
                let label = ui.label("Library folder");
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut app.library_entry).desired_width(360.0))
                        .labelled_by(label.id);
                    if ui.button("Open").clicked() {
                        let folder = std::path::PathBuf::from(app.library_entry.trim());
                        app.open_library(folder);
                    }
                });
                ui.end_row();
                ui.label("Device");
                ui.horizontal(|ui| {
                    ui.radio_value(
                        &mut app.workbench.settings.device,
                        DeviceChoice::Auto,
                        "auto (CUDA if present)",
                    );
                    ui.radio_value(&mut app.workbench.settings.device, DeviceChoice::Cpu, "CPU");
                });
                ui.end_row();
                let label = ui.label("CPU threads (0 = all but one)");
                ui.add(egui::DragValue::new(&mut app.workbench.settings.threads).range(0..=256))
                    .labelled_by(label.id);
                ui.end_row();
                ui.label("Backbone weights");
                ui.horizontal(|ui| {
                    ui.label(
                        app.workbench
                            .settings
                            .weights
                            .as_ref()
                            .map_or("none (random trunk)".into(), |p| p.display().to_string()),
                    );
                    if ui.button("Choose…").clicked() {
                        app.pick_weights(ui.ctx());
                    }
                    if app.workbench.settings.weights.is_some() && ui.button("Clear").clicked() {
                        app.workbench.settings.weights = None;
                    }
                });
                ui.end_row();
            });
        ui.label(format!(
            "Exports go to {}",
            app.library_dir().join("exports").display()
        ));
    });
}

/// One row of a form grid: a label and the widget it names (so that tests and
/// screen readers find the widget by its label).
fn form_row(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) {
    let label = ui.label(label);
    ui.add(widget).labelled_by(label.id);
    ui.end_row();
}
