//! The Settings view: the library folder, where jobs compute, and the
//! backbone's weights, remembered between sessions.

use std::path::{Path, PathBuf};

use crate::app::{Command, DeviceChoice, Settings};

pub fn show(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    library_entry: &mut String,
    library_dir: &Path,
) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::CentralPanel::default().show(ui, |ui| {
        ui.heading("Settings (remembered between sessions)");
        egui::Grid::new("settings_grid")
            .num_columns(2)
            .show(ui, |ui| {
                let label = ui.label("Library folder");
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(library_entry).desired_width(360.0))
                        .labelled_by(label.id);
                    if ui.button("Open").clicked() {
                        commands.push(Command::OpenLibrary(PathBuf::from(library_entry.trim())));
                    }
                });
                ui.end_row();
                ui.label("Device");
                ui.horizontal(|ui| {
                    ui.radio_value(
                        &mut settings.device,
                        DeviceChoice::Auto,
                        "auto (CUDA if present)",
                    );
                    ui.radio_value(&mut settings.device, DeviceChoice::Cpu, "CPU");
                });
                ui.end_row();
                let label = ui.label("CPU threads (0 = all but one)");
                ui.add(egui::DragValue::new(&mut settings.threads).range(0..=256))
                    .labelled_by(label.id);
                ui.end_row();
                ui.label("Backbone weights");
                ui.horizontal(|ui| {
                    ui.label(
                        settings
                            .weights
                            .as_ref()
                            .map_or("none (random trunk)".into(), |p| p.display().to_string()),
                    );
                    if ui.button("Choose…").clicked() {
                        commands.push(Command::PickWeights);
                    }
                    if settings.weights.is_some() && ui.button("Clear").clicked() {
                        commands.push(Command::ClearWeights);
                    }
                });
                ui.end_row();
            });
        ui.label(format!(
            "Exports go to {}",
            library_dir.join("exports").display()
        ));
    });
    commands
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;

    struct Fixture {
        settings: Settings,
        entry: String,
        commands: Vec<Command>,
    }

    #[test]
    fn the_device_changes_in_place_and_open_asks_for_the_typed_folder() {
        let fixture = Fixture {
            settings: Settings {
                weights: Some("/w/vgg16.safetensors".into()),
                ..Settings::default()
            },
            entry: "/other/library ".into(),
            commands: Vec::new(),
        };
        let mut harness = Harness::new_ui_state(
            |ui, f: &mut Fixture| {
                let commands = show(ui, &mut f.settings, &mut f.entry, Path::new("/library"));
                f.commands.extend(commands);
            },
            fixture,
        );
        harness.get_by_label("CPU").click();
        harness.run();
        harness.get_by_label("Open").click();
        harness.run();
        harness.get_by_label("Clear").click();
        harness.run();
        let state = harness.state();
        assert_eq!(state.settings.device, DeviceChoice::Cpu);
        assert_eq!(
            state.commands,
            [
                Command::OpenLibrary("/other/library".into()),
                Command::ClearWeights
            ]
        );
        assert!(
            harness
                .query_by_label("Exports go to /library/exports")
                .is_some()
        );
    }
}
