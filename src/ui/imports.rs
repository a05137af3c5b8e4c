//! Imports as the window shows them: the Import menu, the status bar with the
//! running import's progress and Cancel, the import report, and the hint shown
//! while files are dragged over the window.

use egui::{Align2, Color32, FontId};

use super::widgets::short_name;
use crate::app::{Command, ImportState, LibraryState};
use crate::import::ImportReport;

pub fn import_menu(
    ui: &mut egui::Ui,
    library: &mut LibraryState,
    demo_csv: Option<&std::path::Path>,
    commands: &mut Vec<Command>,
) {
    if ui.button("Books or reading-history CSV…").clicked() {
        commands.push(Command::PickImportSource { folder: false });
        ui.close();
    }
    if ui
        .button("Calibre library or folder with books.csv…")
        .clicked()
    {
        commands.push(Command::PickImportSource { folder: true });
        ui.close();
    }
    if let Some(demo) = demo_csv
        && ui.button("The bundled demo library").clicked()
    {
        commands.push(Command::Import(demo.to_path_buf()));
        ui.close();
    }
    ui.separator();
    ui.label("Or type a path:");
    ui.horizontal(|ui| {
        let entry =
            egui::TextEdit::singleline(&mut library.path_entry).hint_text("/path/to/books.csv");
        let entry = ui.add(entry);
        let submitted = entry.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let path = library.path_entry.trim();
        if (ui.button("Import path").clicked() || submitted) && !path.is_empty() {
            commands.push(Command::Import(path.into()));
            library.path_entry.clear();
            ui.close();
        }
    });
    ui.label("You can also drop files or folders on the window.");
}

fn import_progress(ui: &mut egui::Ui, imports: &ImportState, commands: &mut Vec<Command>) {
    let Some(job) = &imports.job else {
        return;
    };
    let (fraction, rate, eta) = job.rate_and_eta();
    let eta = eta.map_or(String::new(), |s| format!(", {s:.0} s left"));
    let queued = match imports.queued.len() {
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
    let label = if cancelling {
        "Cancelling…"
    } else {
        "Cancel"
    };
    if ui
        .add_enabled(!cancelling, egui::Button::new(label))
        .clicked()
    {
        commands.push(Command::CancelImport);
    }
}

/// The bottom bar: a running import, else the status line, else the last report.
pub fn status_bar(
    ui: &mut egui::Ui,
    imports: &ImportState,
    status: Option<&str>,
    commands: &mut Vec<Command>,
) {
    if imports.job.is_none() && status.is_none() && imports.last_report.is_none() {
        return;
    }
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            if imports.job.is_some() {
                import_progress(ui, imports, commands);
            } else if let Some(status) = status {
                ui.colored_label(ui.visuals().warn_fg_color, status);
            } else if let Some(report) = &imports.last_report {
                ui.label(format!(
                    "Last import: {} imported, {} updated, {} skipped",
                    report.imported,
                    report.updated,
                    report.skipped.len()
                ));
                if ui.button("Show report").clicked() {
                    commands.push(Command::ShowImportReport);
                }
            }
        });
    });
}

fn report_lines(ui: &mut egui::Ui, report: &ImportReport) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body);
    let lines = report.skipped.len();
    egui::ScrollArea::vertical()
        .max_height(360.0)
        .show_rows(ui, row_height, lines, |ui, range| {
            for issue in &report.skipped[range] {
                let place = match issue.line {
                    Some(line) => format!("{} line {line}", short_name(&issue.source)),
                    None => short_name(&issue.source),
                };
                ui.label(format!("{place}: {}", issue.reason));
            }
        });
}

pub fn report_window(ui: &mut egui::Ui, imports: &mut ImportState) {
    let Some(report) = &imports.last_report else {
        return;
    };
    let mut open = imports.report_open;
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
            if let Some(encoding) = &report.encoding {
                ui.label(format!("Read as {encoding}."));
            }
            if !report.kept_edits.is_empty() {
                ui.label(format!(
                    "Kept the librarian's edits of {} book(s): {}",
                    report.kept_edits.len(),
                    report.kept_edits.join(", ")
                ));
            }
            if !report.trashed.is_empty() {
                ui.label(format!(
                    "{} book(s) in the trash were left there: {} (restore them from the Trash)",
                    report.trashed.len(),
                    report.trashed.join(", ")
                ));
            }
            if report.skipped.is_empty() {
                ui.label("Every row was imported.");
                return;
            }
            ui.separator();
            report_lines(ui, report);
        });
    imports.report_open = open;
}

pub fn drop_hint(ui: &egui::Ui) {
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

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::import::ImportReport;
    use crate::store::ImportId;

    /// A re-import says which books kept the librarian's edits and which it
    /// left in the trash.
    #[test]
    fn the_report_names_kept_edits_and_trashed_books() {
        let report = ImportReport {
            source: "books.csv".into(),
            kind: "books-csv",
            imported: 0,
            updated: 2,
            skipped: Vec::new(),
            cancelled: false,
            import_id: ImportId(1),
            encoding: None,
            kept_edits: vec!["b1".into()],
            trashed: vec!["b4".into()],
        };
        let state = ImportState {
            last_report: Some(report),
            report_open: true,
            ..ImportState::default()
        };
        let mut harness = Harness::builder()
            .with_size(egui::vec2(900.0, 600.0))
            .build_ui_state(
                |ui, state: &mut ImportState| report_window(ui, state),
                state,
            );
        harness.run();
        harness.get_by_label("Kept the librarian's edits of 1 book(s): b1");
        harness.get_by_label(
            "1 book(s) in the trash were left there: b4 (restore them from the Trash)",
        );
    }
}
