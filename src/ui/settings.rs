//! The Settings view: the library folder and where jobs compute, remembered
//! between sessions, and the library's VGG16 backbone.

use std::path::{Path, PathBuf};

use super::widgets::backbone_controls;
use crate::app::{BackboneState, Command, DeviceChoice, Settings};

pub fn show(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    backbone: &BackboneState,
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
                ui.label("VGG16 trunk (this library's)");
                ui.vertical(|ui| backbone_controls(ui, backbone, &mut commands));
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
        backbone: BackboneState,
        entry: String,
        commands: Vec<Command>,
    }

    fn settings_view(backbone: BackboneState) -> Harness<'static, Fixture> {
        let fixture = Fixture {
            settings: Settings::default(),
            backbone,
            entry: "/other/library ".into(),
            commands: Vec::new(),
        };
        Harness::new_ui_state(
            |ui, f: &mut Fixture| {
                let commands = show(
                    ui,
                    &mut f.settings,
                    &f.backbone,
                    &mut f.entry,
                    Path::new("/library"),
                );
                f.commands.extend(commands);
            },
            fixture,
        )
    }

    #[test]
    fn the_device_changes_in_place_and_open_asks_for_the_typed_folder() {
        let mut harness = settings_view(BackboneState::default());
        harness.get_by_label("CPU").click();
        harness.run();
        harness.get_by_label("Open").click();
        harness.run();
        let state = harness.state();
        assert_eq!(state.settings.device, DeviceChoice::Cpu);
        assert_eq!(
            state.commands,
            [Command::OpenLibrary("/other/library".into())]
        );
        assert!(
            harness
                .query_by_label("Exports go to /library/exports")
                .is_some()
        );
    }

    #[test]
    fn a_random_trunk_is_said_and_imagenet_is_one_click_away() {
        let mut harness = settings_view(BackboneState::default());
        assert!(
            harness
                .query_by_label("Backbone: random (untrained VGG16)")
                .is_some()
        );
        harness
            .get_by_label("Download ImageNet VGG16 (553 MB)")
            .click();
        harness.run();
        harness.get_by_label("Import weights file…").click();
        harness.run();
        assert!(harness.query_by_label("Use a random trunk").is_none());
        assert_eq!(
            harness.state().commands,
            [Command::DownloadBackbone, Command::PickWeights]
        );

        let installed = BackboneState {
            current: Some(crate::backbone::Backbone {
                weights: "/library/backbone/vgg16.safetensors".into(),
                record: crate::backbone::BackboneRecord {
                    source: crate::backbone::VGG16_URL.into(),
                    source_sha256: crate::backbone::VGG16_SHA256.into(),
                    imagenet: true,
                    installed_at_unix: 0,
                },
            }),
            job: None,
        };
        let mut harness = settings_view(installed);
        assert!(
            harness
                .query_by_label("Backbone: VGG16 pretrained on ImageNet (torchvision)")
                .is_some()
        );
        assert!(
            harness
                .query_by_label("Download ImageNet VGG16 (553 MB)")
                .is_none()
        );
        harness.get_by_label("Use a random trunk").click();
        harness.run();
        assert_eq!(harness.state().commands, [Command::ClearBackbone]);
    }
}
