//! Drawing the window from the app's state, one file per view ([`library`],
//! [`train`], [`attention`], [`projection`], [`recommend`], [`settings`]) plus
//! the toolbar, imports ([`imports`]) and small [`widgets`]. A view draws its
//! own state and returns the [`Command`]s the user asked for; they are applied
//! once the frame is drawn. Nothing here blocks: long work is a job.

pub mod attention;
pub mod curation;
pub mod evaluation;
pub mod imports;
pub mod library;
pub mod projection;
pub mod recommend;
pub mod run_table;
pub mod settings;
pub mod sweep_plots;
pub mod train;
pub mod widgets;

use crate::app::{Command, SETTINGS_KEY, ShelfwiseApp, View};

impl eframe::App for ShelfwiseApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.run_logic(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let commands = show(self, ui);
        self.apply_all(&ui.ctx().clone(), commands);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

/// Draws the whole window; returns what the user asked for.
pub fn show(app: &mut ShelfwiseApp, ui: &mut egui::Ui) -> Vec<Command> {
    let mut commands = Vec::new();
    curation::shortcuts(
        ui.ctx(),
        &app.library,
        app.view == View::Library,
        &mut commands,
    );
    toolbar(app, ui, &mut commands);
    let status = app.status.as_deref();
    imports::status_bar(ui, &app.imports, status, &mut commands);
    if app.view != View::Library
        && let Some(message) = &app.message
    {
        ui.horizontal(|ui| {
            ui.colored_label(egui::Color32::from_rgb(200, 120, 0), message);
            if ui.small_button("Dismiss").clicked() {
                commands.push(Command::DismissMessage);
            }
        });
    }
    let from_view = match app.view {
        View::Library => {
            let context = library::LibraryContext {
                importing: app.imports.job.is_some(),
                demo_csv: app.demo_csv.as_deref(),
                library_dir: &app.library_dir,
            };
            library::show(ui, &mut app.library, &context)
        }
        View::Train => {
            let context = train::TrainContext {
                runs: &app.runs,
                backbone: &app.backbone,
                library: &app.library,
            };
            train::show(ui, &mut app.train, &mut app.settings, &context)
        }
        View::Attention => attention::show(ui, &mut app.attention, &app.library, &app.runs),
        View::Projection => projection::show(ui, &mut app.projection, &app.library, &app.runs),
        View::Recommend => recommend::show(ui, &mut app.recommend, &app.library, &app.runs),
        View::Settings => settings::show(
            ui,
            &mut app.settings,
            &app.backbone,
            &mut app.library_entry,
            &app.library_dir,
        ),
    };
    commands.extend(from_view);
    imports::report_window(ui, &mut app.imports);
    if app.view == View::Library {
        imports::drop_hint(ui);
    }
    commands
}

fn toolbar(app: &mut ShelfwiseApp, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
    egui::Panel::top("toolbar").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.strong("shelfwise");
            ui.separator();
            for view in View::ALL {
                if ui
                    .selectable_label(app.view == view, view.title())
                    .clicked()
                {
                    commands.push(Command::SwitchView(view));
                }
            }
            ui.separator();
            let demo = app.demo_csv.as_deref();
            ui.menu_button("Import", |ui| {
                imports::import_menu(ui, &mut app.library, demo, commands)
            });
            ui.separator();
            search_and_filter(ui, &mut app.library);
        });
    });
}

fn search_and_filter(ui: &mut egui::Ui, library: &mut crate::app::LibraryState) {
    let search = ui.add(
        egui::TextEdit::singleline(&mut library.query)
            .hint_text("Search title or author")
            .desired_width(220.0),
    );
    if search.changed() {
        library.apply_filters();
    }
    let selected_text = library
        .category
        .clone()
        .unwrap_or_else(|| "All categories".into());
    let mut category = library.category.clone();
    egui::ComboBox::from_label("Category")
        .selected_text(selected_text)
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut category, None, "All categories");
            for (name, count) in &library.categories {
                let label = if name.is_empty() {
                    "(none)"
                } else {
                    name.as_str()
                };
                ui.selectable_value(
                    &mut category,
                    Some(name.clone()),
                    format!("{label} ({count})"),
                );
            }
        });
    if category != library.category {
        library.category = category;
        library.apply_filters();
    }
    ui.separator();
    ui.label(format!(
        "{} of {} books",
        library.visible.len(),
        library.books.len()
    ));
}

/// Drawing one view alone in egui_kittest, from a state the test makes.
#[cfg(test)]
pub(crate) mod testing {
    use egui_kittest::Harness;

    use crate::app::{Command, LibraryState, RunsState};

    /// A view's state, what it reads, and every command it returned.
    pub struct Fixture<S> {
        pub state: S,
        pub library: LibraryState,
        pub runs: RunsState,
        pub commands: Vec<Command>,
    }

    impl<S> Fixture<S> {
        /// The commands asked for, without the plots' "drawn here" notes.
        pub fn asked(&self) -> Vec<Command> {
            self.commands
                .iter()
                .filter(|c| !matches!(c, Command::PlotDrawn(..)))
                .cloned()
                .collect()
        }
    }

    /// The shape of the views that explore a run.
    pub type ExploreView<S> = fn(&mut egui::Ui, &mut S, &LibraryState, &RunsState) -> Vec<Command>;

    pub fn explore_harness<S: 'static>(
        view: ExploreView<S>,
        state: S,
        library: LibraryState,
    ) -> Harness<'static, Fixture<S>> {
        let fixture = Fixture {
            state,
            library,
            runs: RunsState::default(),
            commands: Vec::new(),
        };
        Harness::builder()
            .with_size(egui::vec2(1000.0, 800.0))
            .build_ui_state(
                move |ui, f: &mut Fixture<S>| {
                    let commands = view(ui, &mut f.state, &f.library, &f.runs);
                    f.commands.extend(commands);
                },
                fixture,
            )
    }
}
