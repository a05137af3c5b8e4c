//! The Train view's run table: every run with its seed, kind, trunk, status
//! in plain words and macro-F1; sorted by any column (click its header) and,
//! for sweeps over seeds, grouped by setting with the group's mean and spread.

use crate::app::runs::{RunColumn, RunGroup, RunTableOrder, status_label};
use crate::app::{Command, RunsState};
use crate::store::{RunListing, RunStatus};

pub fn show(
    ui: &mut egui::Ui,
    runs: &RunsState,
    order: &mut RunTableOrder,
    training: bool,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading("Runs");
        ui.checkbox(&mut order.grouped, "group by setting")
            .on_hover_text("The runs of one setting over several seeds together, with their mean");
    });
    if runs.runs.is_empty() {
        ui.label("No runs yet.");
        return;
    }
    let groups = runs.table(order);
    egui::ScrollArea::vertical()
        .id_salt("runs_scroll")
        .max_height(260.0)
        .show(ui, |ui| {
            egui::Grid::new("runs_grid").striped(true).show(ui, |ui| {
                headers(ui, order);
                for group in &groups {
                    if order.grouped {
                        group_row(ui, group);
                    }
                    for run in &group.runs {
                        run_row(ui, run, runs, training, commands);
                        ui.end_row();
                    }
                }
            });
        });
}

/// The column headers, each a button that sorts by its column.
fn headers(ui: &mut egui::Ui, order: &mut RunTableOrder) {
    for column in RunColumn::ALL {
        let arrow = match (order.column == column, order.descending) {
            (false, _) => "",
            (true, true) => " v",
            (true, false) => " ^",
        };
        let header =
            egui::Button::new(egui::RichText::new(format!("{}{arrow}", column.header())).strong())
                .frame(false);
        if ui
            .add(header)
            .on_hover_text(format!("Sort by {}", column.header()))
            .clicked()
        {
            order.click(column);
        }
    }
    ui.label("");
    ui.label("");
    ui.end_row();
}

/// A group's heading row: its setting, how many runs, their mean macro-F1.
fn group_row(ui: &mut egui::Ui, group: &RunGroup<'_>) {
    ui.label("");
    ui.label("");
    ui.strong(&group.setting);
    ui.label("");
    ui.label(format!("{} run(s)", group.runs.len()));
    match group.macro_f1 {
        Some(spread) => ui.strong(spread.text()),
        None => ui.label("—"),
    };
    ui.label("");
    ui.label("");
    ui.end_row();
}

/// One row of the run table: its id (choosing it), seed, kind, trunk, status
/// (and resume when it can go on), F1, fine-tune and delete.
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
    ui.label(run.seed.map_or("—".into(), |s| s.to_string()));
    ui.label(crate::app::runs::run_label(run));
    ui.label(runs.trunk_label(run.run_id).unwrap_or_else(|| "—".into()));
    status_cell(ui, run, runs, training, commands);
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

/// The status in plain words; a run that can go on has a resume button
/// beside it, a finished one says how many of its books changed since.
fn status_cell(
    ui: &mut egui::Ui,
    run: &RunListing,
    runs: &RunsState,
    training: bool,
    commands: &mut Vec<Command>,
) {
    let status = status_label(run);
    ui.horizontal(|ui| {
        match runs.changed_since.get(&run.run_id) {
            Some(&changed) if changed > 0 => {
                ui.label(format!("{status} · {changed} book(s) changed since"))
                    .on_hover_text(
                        "The librarian edited, deleted or recategorised these books after the run \
                         trained; fine-tune it to learn the library as it is now",
                    );
            }
            _ => {
                ui.label(status);
            }
        }
        if run.status.can_resume()
            && ui
                .add_enabled(!training, egui::Button::new("resume").small())
                .on_hover_text("Go on from its last checkpoint")
                .clicked()
        {
            commands.push(Command::ResumeRun(run.run_id));
        }
    });
}
