//! The Train view: the sweep form with Start, Stop and the demo sweep, the run
//! table, and in the centre either the sweep's curves drawn live (per run or
//! as each setting's mean over seeds with a band, each loss term on its own,
//! macro-F1 against beta) or the chosen run's evaluation panel.

use super::widgets::{backbone_controls, form_row};
use crate::app::curves::{BetaFigure, CurveMode, LossTerm, ValidationFigure};
use crate::app::{
    BackboneState, Command, DeviceChoice, LibraryState, RunCurve, RunsState, Settings, TrainPanel,
    TrainState,
};
use crate::store::{RunListing, SweepId};

/// What the Train view shows beside its own state.
pub struct TrainContext<'a> {
    pub runs: &'a RunsState,
    pub backbone: &'a BackboneState,
    pub library: &'a LibraryState,
}

pub fn show(
    ui: &mut egui::Ui,
    state: &mut TrainState,
    settings: &mut Settings,
    context: &TrainContext<'_>,
) -> Vec<Command> {
    let (runs, backbone) = (context.runs, context.backbone);
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
                    let training = state.job.is_some();
                    super::run_table::show(
                        ui,
                        runs,
                        &mut state.table_order,
                        training,
                        &mut commands,
                    );
                });
        });
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut state.panel, TrainPanel::Curves, "Curves");
            ui.selectable_value(&mut state.panel, TrainPanel::Evaluation, "Evaluation")
                .on_hover_text(
                    "The chosen run's confusion matrix, per-category and retrieval tables",
                );
        });
        ui.separator();
        match state.panel {
            TrainPanel::Curves => {
                if let Some(note) = &state.sweep_note {
                    ui.label(note);
                }
                let curves = state.curves(runs.chosen);
                let sweep = curves
                    .iter()
                    .find_map(|c| runs.listing(c.run_id).and_then(|l| l.sweep_id));
                plot_controls(ui, state, (&curves, sweep), &mut commands);
                let listings: Vec<&RunListing> = curves
                    .iter()
                    .filter_map(|c| runs.listing(c.run_id))
                    .collect();
                let beta_figure = BetaFigure::of(&listings);
                super::sweep_plots::show(ui, state, &curves, &beta_figure, &mut commands);
            }
            TrainPanel::Evaluation => super::evaluation::show(
                ui,
                runs,
                &mut state.evaluation,
                context.library,
                &mut commands,
            ),
        }
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
            let seeds = egui::TextEdit::singleline(&mut form.seeds).desired_width(120.0);
            form_row(ui, "Seeds", seeds);
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
            let image_epochs = egui::DragValue::new(&mut form.image_only_epochs)
                .range(0..=500)
                .custom_formatter(|n, _| {
                    if n == 0.0 {
                        "same".into()
                    } else {
                        format!("{n}")
                    }
                });
            form_row(ui, "Image-only epochs", image_epochs);
            let p = egui::DragValue::new(&mut form.categories_per_batch).range(1..=64);
            form_row(ui, "P (categories)", p);
            let k = egui::DragValue::new(&mut form.books_per_category).range(1..=128);
            form_row(ui, "K (books each)", k);
            let rate = egui::DragValue::new(&mut form.learning_rate)
                .speed(1e-4)
                .range(1e-5..=1e-1)
                .max_decimals(5);
            form_row(ui, "Learning rate", rate);
            let words = egui::DragValue::new(&mut form.max_words).range(1..=2000);
            form_row(ui, "Words read (LSTM)", words);
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
        .on_hover_text(
            "Three betas and both single-modal runs on one seed, 12 epochs each (the image-only \
             run 20) with the LSTM reading 100 words of each text, for a live demo: about 2 minutes on the demo \
             library on a 2-core machine (119 s measured from a fresh import: one core trains, \
             the other fits the word classifier's folds during the first run)",
        )
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
fn curves_csv(curves: &[RunCurve]) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "run",
            "label",
            "seed",
            "step",
            "loss",
            "cross_entropy",
            "triplet",
            "alignment",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for curve in curves {
        for (index, [step, loss]) in curve.losses.iter().enumerate() {
            let term = |points: &[[f64; 2]]| {
                points
                    .get(index)
                    .map_or(String::new(), |p| p[1].to_string())
            };
            rows.push(vec![
                curve.run_id.to_string(),
                curve.setting.clone(),
                curve.seed.map_or(String::new(), |s| s.to_string()),
                step.to_string(),
                loss.to_string(),
                term(&curve.cross_entropy),
                term(&curve.triplet),
                term(&curve.alignment),
            ]);
        }
    }
    rows
}

/// The plots' choices (term, figure, per run or bands, smoothing) and the
/// exports of what they show (`sweep`: the sweep drawn, for its report).
fn plot_controls(
    ui: &mut egui::Ui,
    state: &mut TrainState,
    (curves, sweep): (&[RunCurve], Option<SweepId>),
    commands: &mut Vec<Command>,
) {
    ui.horizontal_wrapped(|ui| {
        egui::ComboBox::from_label("loss")
            .width(150.0)
            .selected_text(state.loss_term.name())
            .show_ui(ui, |ui| {
                for term in LossTerm::ALL {
                    ui.selectable_value(&mut state.loss_term, term, term.name());
                }
            });
        egui::ComboBox::from_label("per epoch")
            .selected_text(state.validation_figure.name())
            .show_ui(ui, |ui| {
                for figure in [ValidationFigure::Accuracy, ValidationFigure::MacroF1] {
                    ui.selectable_value(&mut state.validation_figure, figure, figure.name());
                }
            });
        egui::ComboBox::from_label("draw")
            .selected_text(state.curve_mode.name())
            .show_ui(ui, |ui| {
                for mode in CurveMode::ALL {
                    ui.selectable_value(&mut state.curve_mode, mode, mode.name());
                }
            });
    });
    ui.horizontal_wrapped(|ui| {
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
        if let Some(sweep) = sweep
            && ui
                .button("Sweep report (HTML)")
                .on_hover_text("One page with the sweep's plots, tables and settings, to share")
                .clicked()
        {
            commands.push(Command::WriteSweepReport(sweep));
        }
    });
    if curves.is_empty() {
        ui.label("No curves yet: start a sweep, or choose a past run in the table.");
    }
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::store::{Modalities, RunId, RunStatus};

    /// The curves' CSV has each term beside the objective, step for step;
    /// a term a run did not have is an empty cell.
    #[test]
    fn the_curves_csv_has_every_term_of_every_step() {
        let curve = RunCurve {
            losses: vec![[1.0, 2.5], [2.0, 2.0]],
            cross_entropy: vec![[1.0, 2.3], [2.0, 1.9]],
            triplet: vec![[1.0, 0.4], [2.0, 0.3]],
            alignment: vec![[1.0, 0.7]],
            ..RunCurve::new(RunId(4), "fused, β 0.3".into(), Some(2))
        };
        let rows = curves_csv(&[curve]);
        assert_eq!(
            rows[0],
            [
                "run",
                "label",
                "seed",
                "step",
                "loss",
                "cross_entropy",
                "triplet",
                "alignment"
            ]
        );
        assert_eq!(
            rows[1],
            ["4", "fused, β 0.3", "2", "1", "2.5", "2.3", "0.4", "0.7"]
        );
        assert_eq!(rows[2][7], "", "no alignment at step 2");
        assert_eq!(rows.len(), 3);
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
                    let library = LibraryState::default();
                    let backbone = BackboneState::default();
                    let context = TrainContext {
                        runs: &f.runs,
                        backbone: &backbone,
                        library: &library,
                    };
                    let commands = show(ui, &mut f.state, &mut f.settings, &context);
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
            seed: None,
        };
        let runs = RunsState {
            runs: vec![listing],
            chosen: Some(RunId(4)),
            changed_since: Default::default(),
        };
        let mut harness = harness(runs);
        assert!(harness.query_by_label("stopped").is_some());
        harness.get_by_label("resume").click();
        harness.run();
        harness.get_by_label("delete").click();
        harness.run();
        assert_eq!(
            asked(&harness),
            [Command::ResumeRun(RunId(4)), Command::DeleteRun(RunId(4))]
        );
        harness.get_by_label("Evaluation").click();
        harness.run();
        assert!(
            harness
                .query_by_label("No evaluation yet (the run has not finished).")
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
            seed: None,
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
                cover_classifier: None,
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
                seed: None,
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
