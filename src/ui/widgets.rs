//! Small pieces every view draws with: colours, chips, a job's progress line,
//! a labelled form row, a placeholder cover, the model picker and the
//! backbone's controls.

use egui::{Color32, FontId, Rect, RichText};

use crate::app::commands::HubAction;
use crate::app::runs::run_label;
use crate::app::{BackboneState, Command, RunsState};
use crate::jobs::Job;
use crate::store::BookId;

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

/// Blue (cold) through yellow to red (hot).
pub fn heat_colour(t: f32) -> Color32 {
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

pub fn chip(ui: &mut egui::Ui, text: &str) {
    egui::Frame::new()
        .fill(ui.visuals().faint_bg_color)
        .corner_radius(8.0)
        .inner_margin(egui::Margin::symmetric(6, 2))
        .show(ui, |ui| ui.label(RichText::new(text).small()));
}

/// A running job: spinner, progress with time left, and Cancel.
pub fn job_line<T: Send + 'static>(ui: &mut egui::Ui, job: &Job<T>) {
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

/// The library's backbone, and the buttons that fetch, import or clear it
/// (the Settings and Train views both show them): while a download runs, its
/// progress and Cancel (a cancelled download resumes on the next click).
pub fn backbone_controls(ui: &mut egui::Ui, backbone: &BackboneState, commands: &mut Vec<Command>) {
    ui.label(format!("Backbone: {}", backbone.describe()));
    if backbone.current.is_none() {
        ui.label(
            RichText::new(
                "With a random trunk the covers carry little; ImageNet's VGG16 is the paper's.",
            )
            .small()
            .weak(),
        );
    }
    if let Some(job) = &backbone.job {
        job_line(ui, job);
        return;
    }
    ui.horizontal_wrapped(|ui| {
        let imagenet = backbone.current.as_ref().is_some_and(|b| b.record.imagenet);
        let size_mb = crate::backbone::VGG16_BYTES / 1_000_000;
        if !imagenet
            && ui
                .button(format!("Download ImageNet VGG16 ({size_mb} MB)"))
                .clicked()
        {
            commands.push(Command::DownloadBackbone);
        }
        if ui.button("Import weights file…").clicked() {
            commands.push(Command::PickWeights);
        }
        if backbone.current.is_some() && ui.button("Use a random trunk").clicked() {
            commands.push(Command::ClearBackbone);
        }
    });
}

/// One row of a form grid: a label and the widget it names (so that tests and
/// screen readers find the widget by its label).
pub fn form_row(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) {
    let label = ui.label(label);
    ui.add(widget).labelled_by(label.id);
    ui.end_row();
}

/// A cover for a book without one: a tinted card with its title.
pub fn placeholder_cover(ui: &egui::Ui, rect: Rect, title: &str, category: &str) {
    let hash = category
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let tint = Color32::from_rgb(
        60 + (hash % 90) as u8,
        60 + ((hash / 90) % 90) as u8,
        60 + ((hash / 8100) % 90) as u8,
    );
    let painter = ui.painter();
    painter.rect_filled(rect, 3.0, tint);
    let galley = painter.layout(
        title.to_string(),
        FontId::proportional(13.0),
        Color32::WHITE,
        rect.width() - 12.0,
    );
    let pos = rect.center() - galley.size() / 2.0;
    painter.galley(pos, galley, Color32::WHITE);
}

/// The "Model" picker of the explore views: the finished runs.
pub fn run_picker(ui: &mut egui::Ui, runs: &RunsState, commands: &mut Vec<Command>) {
    let current = runs.explore_run();
    let finished = runs.finished();
    let text = finished
        .iter()
        .find(|r| Some(r.run_id) == current)
        .map_or("no trained run".to_string(), |r| {
            format!("run {}: {}", r.run_id, run_label(r))
        });
    egui::ComboBox::from_label("Model")
        .selected_text(text)
        .show_ui(ui, |ui| {
            for run in &finished {
                let label = format!("run {}: {}", run.run_id, run_label(run));
                if ui
                    .selectable_label(current == Some(run.run_id), label)
                    .clicked()
                {
                    commands.push(Command::ChooseRun(run.run_id));
                }
            }
        });
}

/// A file's name, for report lines.
pub fn short_name(source: &str) -> String {
    std::path::Path::new(source)
        .file_name()
        .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned())
}

/// What the explore views say under the model picker when the run's covers
/// went through a random trunk (its cover features are not ImageNet's).
pub fn random_trunk_note(runs: &RunsState) -> Option<String> {
    let run = runs.explore_run()?;
    let listing = runs.listing(run)?;
    if listing.modalities == crate::store::Modalities::Text {
        return None;
    }
    matches!(
        runs.trunk(run)?,
        crate::model::weights::TrunkProvenance::Random
    )
    .then(|| {
        format!(
            "Run {run} read its covers through a random VGG16 trunk, not ImageNet's: what it sees on a cover is weak. \
             Settings: Download ImageNet VGG16, then train again."
        )
    })
}

/// The frame of a view that explores a trained run: a central panel whose
/// first row starts with the model picker, then the view's own controls, then
/// a note when the run's trunk was random, then its body.
pub fn explore_view<S>(
    ui: &mut egui::Ui,
    runs: &RunsState,
    state: &mut S,
    controls: impl FnOnce(&mut egui::Ui, &mut S, &mut Vec<Command>),
    body: impl FnOnce(&mut egui::Ui, &mut S, &mut Vec<Command>),
) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| {
            run_picker(ui, runs, &mut commands);
            controls(ui, state, &mut commands);
        });
        if let Some(note) = random_trunk_note(runs) {
            ui.label(
                RichText::new(note)
                    .small()
                    .color(Color32::from_rgb(200, 120, 0)),
            );
        }
        body(ui, state, &mut commands);
    });
    commands
}

/// One click from a book to its other views: books like it, its heatmap, its
/// neighbours in the projection, its edit form (`skip`: those the place
/// drawing it already offers).
pub fn book_hub(
    ui: &mut egui::Ui,
    book_id: BookId,
    skip: &[HubAction],
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        for action in HubAction::ALL.into_iter().filter(|a| !skip.contains(a)) {
            if ui.small_button(action.label()).clicked() {
                commands.push(Command::BookHub(book_id, action));
            }
        }
    });
}

/// The same, as a menu (a cover's right-click menu).
pub fn book_hub_menu(ui: &mut egui::Ui, book_id: BookId, commands: &mut Vec<Command>) {
    for action in HubAction::ALL {
        if ui.button(action.label()).clicked() {
            commands.push(Command::BookHub(book_id, action));
            ui.close();
        }
    }
}
