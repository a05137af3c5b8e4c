//! The Train view: the sweep form with Start, Stop and the demo sweep, the run
//! table with the chosen run's per-category and retrieval tables, and the loss
//! and validation curves of the sweep drawn live.

use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::widgets::{backbone_controls, form_row, palette};
use crate::app::runs::run_label;
use crate::app::{
    BackboneState, Command, DeviceChoice, RunCurve, RunsState, Settings, TrainState, smooth,
};
use crate::store::{RunId, RunListing, RunStatus};
use crate::train::word_classifier::WordClassifierChoice;
use crate::train::{RunSummary, ValidationTables};

pub fn show(
    ui: &mut egui::Ui,
    state: &mut TrainState,
    runs: &RunsState,
    settings: &mut Settings,
    backbone: &BackboneState,
) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::Panel::left("train_form")
        .resizable(false)
        .default_size(260.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("train_side")
                .show(ui, |ui| {
                    sweep_form(ui, state, settings, backbone, &mut commands);
                    ui.separator();
                    runs_table(ui, runs, state.job.is_some(), &mut commands);
                });
        });
    egui::CentralPanel::default().show(ui, |ui| {
        let curves = state.curves(runs.chosen);
        plot_controls(ui, state, &curves, &mut commands);
        plots(ui, state, &curves, &mut commands);
    });
    commands
}

fn form_grid(ui: &mut egui::Ui, state: &mut TrainState) {
    let form = &mut state.form;
    egui::Grid::new("train_form_grid")
        .num_columns(2)
        .show(ui, |ui| {
            let betas = egui::TextEdit::singleline(&mut form.betas).desired_width(120.0);
            form_row(ui, "Betas", betas);
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
            let p = egui::DragValue::new(&mut form.categories_per_batch).range(1..=64);
            form_row(ui, "P (categories)", p);
            let k = egui::DragValue::new(&mut form.books_per_category).range(1..=128);
            form_row(ui, "K (books each)", k);
            let rate = egui::DragValue::new(&mut form.learning_rate)
                .speed(1e-4)
                .range(1e-5..=1e-1)
                .max_decimals(5);
            form_row(ui, "Learning rate", rate);
            let size = egui::DragValue::new(&mut form.image_size).range(32..=448);
            form_row(ui, "Input size (px)", size);
            let width = egui::DragValue::new(&mut form.width)
                .speed(0.05)
                .range(0.125..=1.0);
            form_row(ui, "Trunk width", width);
            form_row(
                ui,
                "Train block 5",
                egui::Checkbox::without_text(&mut form.train_block5),
            );
        });
}

fn sweep_form(
    ui: &mut egui::Ui,
    state: &mut TrainState,
    settings: &mut Settings,
    backbone: &BackboneState,
    commands: &mut Vec<Command>,
) {
    ui.heading("Sweep");
    let running = state.job.is_some();
    ui.add_enabled_ui(!running, |ui| {
        form_grid(ui, state);
        backbone_controls(ui, backbone, commands);
        ui.horizontal(|ui| {
            ui.label("Device:");
            ui.radio_value(&mut settings.device, DeviceChoice::Auto, "auto");
            ui.radio_value(&mut settings.device, DeviceChoice::Cpu, "CPU");
        });
    });
    ui.separator();
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!running, egui::Button::new("Start"))
            .clicked()
        {
            commands.push(Command::StartSweep);
        }
        if let Some(job) = &state.job
            && ui
                .add_enabled(!job.is_cancelling(), egui::Button::new("Stop"))
                .clicked()
        {
            job.cancel();
        }
    });
    if ui
        .add_enabled(!running, egui::Button::new("Demo sweep (about 2 min)"))
        .on_hover_text("Three betas and both single-modal runs, small and quick: for a live demo")
        .clicked()
    {
        commands.push(Command::DemoSweep);
    }
    if let Some(job) = &state.job {
        let (fraction, rate, eta) = job.rate_and_eta();
        let eta = eta.map_or(String::new(), |s| format!(", {s:.0} s left"));
        ui.add(egui::ProgressBar::new(fraction).text(format!(
            "step {} of {} ({rate:.1}/s{eta})",
            job.done, job.total
        )));
    }
}

fn runs_table(ui: &mut egui::Ui, runs: &RunsState, training: bool, commands: &mut Vec<Command>) {
    ui.heading("Runs");
    if runs.runs.is_empty() {
        ui.label("No runs yet.");
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt("runs_scroll")
        .max_height(220.0)
        .show(ui, |ui| {
            egui::Grid::new("runs_grid").striped(true).show(ui, |ui| {
                for header in ["run", "kind", "trunk", "status", "F1", "", ""] {
                    ui.strong(header);
                }
                ui.end_row();
                for run in &runs.runs {
                    run_row(ui, run, runs, training, commands);
                    ui.end_row();
                }
            });
        });
    let Some(listing) = runs.chosen.and_then(|id| runs.listing(id)) else {
        return;
    };
    ui.separator();
    ui.strong(format!("Run {}: {}", listing.run_id, run_label(listing)));
    if let Ok(Some(RunSummary {
        word_classifier: Some(words),
        ..
    })) = RunSummary::of_listing(listing)
    {
        ui.label(word_classifier_line(&words));
    }
    match RunSummary::of_listing(listing) {
        Ok(Some(RunSummary {
            validation: Some(tables),
            ..
        })) => run_tables(ui, listing.run_id, &tables, commands),
        Ok(_) if listing.status != RunStatus::Finished => {
            ui.label("No tables (the run has not finished).");
        }
        Ok(_) => {
            ui.label("No tables were kept with this run.");
        }
        Err(error) => {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The run's stored summary cannot be read: {error}"),
            );
        }
    }
}

/// One row of the run table: its id (choosing it), kind, trunk, status (a
/// resume button when it can go on), F1, fine-tune and delete.
fn run_row(
    ui: &mut egui::Ui,
    run: &RunListing,
    runs: &RunsState,
    training: bool,
    commands: &mut Vec<Command>,
) {
    let chosen = runs.chosen == Some(run.run_id);
    if ui
        .selectable_label(chosen, run.run_id.to_string())
        .clicked()
    {
        commands.push(Command::ChooseRun(run.run_id));
    }
    ui.label(run_label(run));
    ui.label(runs.trunk_label(run.run_id).unwrap_or_else(|| "—".into()));
    if run.status.can_resume() {
        if ui
            .small_button(format!("resume ({})", run.status))
            .clicked()
        {
            commands.push(Command::ResumeRun(run.run_id));
        }
    } else {
        match runs.changed_since.get(&run.run_id) {
            Some(&changed) if changed > 0 => {
                ui.label(format!("{} · {changed} book(s) changed since", run.status))
                    .on_hover_text(
                        "The librarian edited, deleted or recategorised these books after the run trained;                          fine-tune it to learn the library as it is now",
                    );
            }
            _ => {
                ui.label(run.status.as_str());
            }
        }
    }
    ui.label(run.val_macro_f1.map_or("—".into(), |f| format!("{f:.3}")));
    let finished = run.status == RunStatus::Finished;
    if ui
        .add_enabled(
            finished && !training,
            egui::Button::new("fine-tune").small(),
        )
        .on_hover_text(
            "Train a new run from this one's best checkpoint on the library as it is now: \
                 its held-out books stay held out, new books and categories join",
        )
        .clicked()
    {
        commands.push(Command::FineTuneRun(run.run_id));
    }
    let deletable = run.status != RunStatus::Running;
    let delete = ui
        .add_enabled(deletable, egui::Button::new("delete").small())
        .on_hover_text("Remove the run, its curves, tables and checkpoints");
    if delete.clicked() {
        commands.push(Command::DeleteRun(run.run_id));
    }
}

/// The chosen run's per-category table (Table 3) and retrieval table (Table 2).
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
    if let Some(retrieval) = &tables.retrieval {
        egui::Grid::new("retrieval_table")
            .striped(true)
            .show(ui, |ui| {
                for name in ["retrieval", "R@1", "R@5", "R@10"] {
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
                    ui.end_row();
                }
                ui.label("mR");
                ui.label(format!("{:.3}", retrieval.mean_recall));
                ui.end_row();
            });
    }
    if ui.button("Export table (CSV)").clicked() {
        let name = format!("run{run_id}-categories");
        commands.push(Command::ExportCsv { name, rows });
    }
}

fn curves_csv(curves: &[RunCurve]) -> Vec<Vec<String>> {
    let mut rows = vec![["run", "label", "step", "loss"].map(String::from).to_vec()];
    for curve in curves {
        for [step, loss] in &curve.losses {
            rows.push(vec![
                curve.run_id.to_string(),
                curve.label.clone(),
                step.to_string(),
                loss.to_string(),
            ]);
        }
    }
    rows
}

fn plot_controls(
    ui: &mut egui::Ui,
    state: &mut TrainState,
    curves: &[RunCurve],
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let label = ui.label("Smoothing");
        ui.add(egui::Slider::new(&mut state.smoothing, 0.0..=0.99))
            .labelled_by(label.id);
        ui.checkbox(&mut state.log_scale, "log scale");
        if ui.button("Export curves (CSV)").clicked() {
            let rows = curves_csv(curves);
            commands.push(Command::ExportCsv {
                name: "curves".into(),
                rows,
            });
        }
        if ui.button("Export loss plot (PNG)").clicked() {
            commands.push(Command::ExportPlot("loss"));
        }
        if ui.button("Export accuracy plot (PNG)").clicked() {
            commands.push(Command::ExportPlot("accuracy"));
        }
    });
    if curves.is_empty() {
        ui.label("No curves yet: start a sweep, or choose a past run in the table.");
    }
}

fn plots(ui: &mut egui::Ui, state: &TrainState, curves: &[RunCurve], commands: &mut Vec<Command>) {
    let log = state.log_scale;
    let height = (ui.available_height() * 0.55).max(160.0);
    let loss_plot = Plot::new("loss_curves")
        .legend(Legend::default())
        .height(height)
        .x_axis_label("step")
        .y_axis_label(if log { "log10 loss" } else { "loss" })
        .show(ui, |plot| {
            for (index, curve) in curves.iter().enumerate() {
                let points: Vec<[f64; 2]> = smooth(&curve.losses, state.smoothing)
                    .into_iter()
                    .map(|[x, y]| [x, if log { y.max(1e-9).log10() } else { y }])
                    .collect();
                let line = Line::new(curve.label.clone(), PlotPoints::from(points));
                plot.line(line.color(palette(index)));
            }
        });
    commands.push(Command::PlotDrawn("loss", loss_plot.response.rect));
    let accuracy_plot = Plot::new("accuracy_curves")
        .legend(Legend::default())
        .height((ui.available_height() - 60.0).max(120.0))
        .x_axis_label("epoch")
        .y_axis_label("validation accuracy")
        .show(ui, |plot| {
            for (index, curve) in curves.iter().enumerate() {
                let points = PlotPoints::from(curve.accuracy.clone());
                plot.line(Line::new(curve.label.clone(), points).color(palette(index)));
            }
        });
    commands.push(Command::PlotDrawn("accuracy", accuracy_plot.response.rect));
    // The numbers behind the curves, readable (and testable) as text.
    ui.horizontal_wrapped(|ui| {
        for curve in curves {
            let last = curve.losses.last().map_or(f64::NAN, |p| p[1]);
            ui.label(format!(
                "{}: {} steps, loss {last:.3}",
                curve.label,
                curve.losses.len()
            ));
        }
    });
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
        "Word classifier beside the network: C {}, {}, weight {}; validation macro-F1 {:.3} for the network, {:.3} with it",
        words.c,
        if words.balanced {
            "categories balanced"
        } else {
            "books weighted alike"
        },
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
    use crate::store::Modalities;

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
            line.contains("0.615 for the network, 0.727 with it"),
            "{line}"
        );
        // The test harness's font has no arrows: a "→" here made the GUI test panic
        // whenever the word classifier was used.
        assert!(line.is_ascii(), "{line}");
        words.mix = 0.0;
        assert!(word_classifier_line(&words).starts_with("Word classifier: not used"));
    }

    struct Fixture {
        state: TrainState,
        runs: RunsState,
        settings: Settings,
        commands: Vec<Command>,
    }

    fn harness(runs: RunsState) -> Harness<'static, Fixture> {
        let fixture = Fixture {
            state: TrainState::default(),
            runs,
            settings: Settings::default(),
            commands: Vec::new(),
        };
        Harness::builder()
            .with_size(egui::vec2(1200.0, 800.0))
            .build_ui_state(
                |ui, f: &mut Fixture| {
                    let commands = show(
                        ui,
                        &mut f.state,
                        &f.runs,
                        &mut f.settings,
                        &BackboneState::default(),
                    );
                    f.commands.extend(commands);
                },
                fixture,
            )
    }

    fn asked(harness: &Harness<'_, Fixture>) -> Vec<Command> {
        harness
            .state()
            .commands
            .iter()
            .filter(|c| !matches!(c, Command::PlotDrawn(..)))
            .cloned()
            .collect()
    }

    #[test]
    fn start_and_the_demo_sweep_are_asked_for_and_the_device_is_set_in_place() {
        let mut harness = harness(RunsState::default());
        harness.get_by_label("Start").click();
        harness.run();
        harness.get_by_label("Demo sweep (about 2 min)").click();
        harness.run();
        harness.get_by_label("CPU").click();
        harness.run();
        assert_eq!(asked(&harness), [Command::StartSweep, Command::DemoSweep]);
        assert_eq!(harness.state().settings.device, DeviceChoice::Cpu);
        assert!(harness.query_by_label("No runs yet.").is_some());
    }

    #[test]
    fn a_stopped_run_offers_resume_and_delete_and_says_it_has_no_tables() {
        let listing = RunListing {
            run_id: RunId(4),
            sweep_id: None,
            beta: 0.3,
            modalities: Modalities::Fused,
            status: RunStatus::Cancelled,
            best_epoch: None,
            val_accuracy: None,
            val_macro_f1: None,
            summary: None,
            created_at: String::new(),
            epochs_done: 0,
            parent_run_id: None,
        };
        let runs = RunsState {
            runs: vec![listing],
            chosen: Some(RunId(4)),
            changed_since: Default::default(),
        };
        let mut harness = harness(runs);
        harness.get_by_label("resume (cancelled)").click();
        harness.run();
        harness.get_by_label("delete").click();
        harness.run();
        assert_eq!(
            asked(&harness),
            [Command::ResumeRun(RunId(4)), Command::DeleteRun(RunId(4))]
        );
        assert!(
            harness
                .query_by_label("No tables (the run has not finished).")
                .is_some()
        );
    }

    #[test]
    fn a_finished_run_offers_fine_tune_and_a_fine_tuned_one_names_its_parent() {
        let finished = |run: i64, parent: Option<i64>| RunListing {
            run_id: RunId(run),
            sweep_id: None,
            beta: 0.3,
            modalities: Modalities::Fused,
            status: RunStatus::Finished,
            best_epoch: Some(2),
            val_accuracy: Some(0.5),
            val_macro_f1: Some(0.5),
            summary: None,
            created_at: String::new(),
            epochs_done: 2,
            parent_run_id: parent.map(RunId),
        };
        let runs = RunsState {
            runs: vec![finished(5, Some(2)), finished(2, None)],
            chosen: None,
            changed_since: Default::default(),
        };
        let mut harness = harness(runs);
        assert!(harness.query_by_label("fused, β 0.3, from run 2").is_some());
        harness
            .get_all_by_label("fine-tune")
            .nth(1)
            .unwrap()
            .click();
        harness.run();
        assert_eq!(asked(&harness), [Command::FineTuneRun(RunId(2))]);
    }

    /// The analyst ticks "Train block 5" in the form, and the run table tells
    /// a run that trained its block 5 from one that kept the trunk frozen.
    #[test]
    fn block5_is_asked_for_in_the_form_and_named_in_the_run_table() {
        let finished = |run: i64, block5: bool| {
            let summary = crate::train::RunSummary {
                trunk: crate::model::weights::TrunkProvenance::Random,
                block5_trained: block5,
                best_epoch: 2,
                val_accuracy: 0.5,
                val_macro_f1: 0.5,
                train_accuracy: 0.9,
                categories: vec!["a".into(), "b".into()],
                validation: None,
                averaged_from: None,
                word_classifier: None,
            };
            RunListing {
                run_id: RunId(run),
                sweep_id: None,
                beta: 0.3,
                modalities: Modalities::Image,
                status: RunStatus::Finished,
                best_epoch: Some(2),
                val_accuracy: Some(0.5),
                val_macro_f1: Some(0.5),
                summary: Some(serde_json::to_string(&summary).unwrap()),
                created_at: String::new(),
                epochs_done: 2,
                parent_run_id: None,
            }
        };
        let runs = RunsState {
            runs: vec![finished(2, true), finished(1, false)],
            chosen: None,
            changed_since: [(RunId(1), 2)].into_iter().collect(),
        };
        let mut harness = harness(runs);
        assert!(harness.query_by_label("random + block 5 trained").is_some());
        assert!(harness.get_all_by_label("random").count() >= 1);
        // A run trained before the librarian changed some of its books says so.
        assert!(
            harness
                .query_by_label("finished · 2 book(s) changed since")
                .is_some()
        );
        assert!(!harness.state().state.form.train_block5);
        harness.get_by_label("Train block 5").click();
        harness.run();
        let form = &harness.state().state.form;
        assert!(form.train_block5);
        let request = form.request(None).unwrap();
        assert!(request.configs().iter().all(|c| c.trunk.train_block5));
    }
}
