//! The librarian's controls in the Library view: the detail panel's edit
//! form and buttons, the trash, and the keyboard shortcuts (Delete, Ctrl+Z,
//! Ctrl+Y) that act on the library.

use egui::{Key, KeyboardShortcut, Modifiers};

use super::widgets::form_row;
use crate::app::{Command, EditDraft, LibraryState};
use crate::inference::CategorySuggestion;
use crate::store::{BookDetail, TrashedBook};

/// The detail panel's buttons for the book shown: edit, a new cover, delete.
pub fn book_actions(
    ui: &mut egui::Ui,
    detail: &BookDetail,
    draft: &mut Option<EditDraft>,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        if ui.button("Edit").clicked() {
            *draft = Some(EditDraft::of(detail));
        }
        if ui.button("Change cover…").clicked() {
            commands.push(Command::PickCover);
        }
        if ui.button("Delete").clicked() {
            commands.push(Command::DeleteBooks(vec![detail.book_id]));
        }
    });
    ui.weak("Drop an image on the window to make it the cover.");
}

/// The edit form; Save asks the app to write it (which may refuse it, and
/// then says why here).
pub fn edit_form(ui: &mut egui::Ui, draft: &mut Option<EditDraft>, commands: &mut Vec<Command>) {
    let Some(form) = draft else {
        return;
    };
    egui::Grid::new("edit_book_grid")
        .num_columns(2)
        .show(ui, |ui| {
            form_row(ui, "Title", egui::TextEdit::singleline(&mut form.title));
            form_row(ui, "Author", egui::TextEdit::singleline(&mut form.author));
            form_row(
                ui,
                "Category",
                egui::TextEdit::singleline(&mut form.category),
            );
            form_row(
                ui,
                "Language",
                egui::TextEdit::singleline(&mut form.language),
            );
            form_row(
                ui,
                "Cover file",
                egui::TextEdit::singleline(&mut form.cover).hint_text("keep the cover"),
            );
        });
    let label = ui.label("Synopsis");
    ui.add(
        egui::TextEdit::multiline(&mut form.synopsis)
            .desired_rows(6)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
    if let Some(error) = &form.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    let mut cancel = false;
    ui.horizontal(|ui| {
        if ui.button("Save").clicked() {
            commands.push(Command::SaveEdit);
        }
        if ui.button("Choose cover…").clicked() {
            commands.push(Command::PickCover);
        }
        cancel = ui.button("Cancel").clicked();
    });
    if cancel {
        *draft = None;
    }
}

/// The trash: each deleted book with Restore, and Empty trash.
pub fn trash_panel(ui: &mut egui::Ui, trash: &[TrashedBook], commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.heading(format!("Trash ({})", trash.len()));
        if ui.button("Back to the library").clicked() {
            commands.push(Command::ShowTrash(false));
        }
        if !trash.is_empty() && ui.button("Empty trash").clicked() {
            commands.push(Command::EmptyTrash);
        }
    });
    ui.weak("Deleted books leave the grid, suggestions and training; emptying the trash removes them and their covers for good.");
    ui.separator();
    if trash.is_empty() {
        ui.label("The trash is empty.");
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("trash_grid").striped(true).show(ui, |ui| {
            for book in trash {
                ui.label(&book.title);
                ui.weak(&book.external_id);
                ui.weak(format!("deleted {}", book.deleted_at));
                if ui
                    .button("Restore")
                    .on_hover_text(format!("Restore '{}'", book.title))
                    .clicked()
                {
                    commands.push(Command::RestoreBooks(vec![book.book_id]));
                }
                ui.end_row();
            }
        });
    });
}

/// Delete (the books chosen, or the book shown, in the Library view), Ctrl+Z and Ctrl+Y or
/// Ctrl+Shift+Z, unless a text field has the keyboard (it undoes its own typing).
pub fn shortcuts(
    ctx: &egui::Context,
    library: &LibraryState,
    in_library_view: bool,
    commands: &mut Vec<Command>,
) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let redo = ctx.input_mut(|input| {
        input.consume_shortcut(&KeyboardShortcut::new(
            Modifiers::COMMAND | Modifiers::SHIFT,
            Key::Z,
        )) || input.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Y))
    });
    if redo {
        commands.push(Command::Redo);
    } else if ctx.input_mut(|input| {
        input.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Z))
    }) {
        commands.push(Command::Undo);
    }
    if !in_library_view {
        return;
    }
    // Several books chosen: all of them; else the book shown.
    let books: Vec<_> = if library.chosen.len() > 1 {
        library.chosen.iter().copied().collect()
    } else {
        library.selected.iter().map(|d| d.book_id).collect()
    };
    if !books.is_empty() && ctx.input_mut(|input| input.consume_key(Modifiers::NONE, Key::Delete)) {
        commands.push(Command::DeleteBooks(books));
    }
}

/// The review queue: each book without a category with the model's
/// suggestion and how sure it is; Accept, another category, or Skip.
pub fn review_panel(
    ui: &mut egui::Ui,
    review: &[CategorySuggestion],
    categories: &[(String, usize)],
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading(format!("Suggested categories ({})", review.len()));
        if ui.button("Back to the library").clicked() {
            commands.push(Command::CloseReview);
        }
    });
    ui.weak("The chosen run's categories for the books that have none, most confident first; an accepted one is the librarian's.");
    ui.separator();
    if review.is_empty() {
        ui.label("Nothing to review: every book has a category.");
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("review_grid").striped(true).show(ui, |ui| {
            for suggestion in review {
                ui.label(&suggestion.title);
                ui.label(format!(
                    "{} ({:.0}% sure)",
                    suggestion.category,
                    100.0 * suggestion.confidence
                ));
                if ui
                    .button("Accept")
                    .on_hover_text(format!(
                        "'{}' for '{}'",
                        suggestion.category, suggestion.title
                    ))
                    .clicked()
                {
                    commands.push(Command::AcceptCategory(
                        suggestion.book_id,
                        suggestion.category.clone(),
                    ));
                }
                egui::ComboBox::new(("other_category", suggestion.book_id), "instead")
                    .selected_text("another…")
                    .show_ui(ui, |ui| {
                        for (name, _) in categories.iter().filter(|(n, _)| !n.is_empty()) {
                            if ui.selectable_label(false, name).clicked() {
                                commands.push(Command::AcceptCategory(
                                    suggestion.book_id,
                                    name.clone(),
                                ));
                            }
                        }
                    });
                if ui.button("Skip").clicked() {
                    commands.push(Command::SkipReview(suggestion.book_id));
                }
                ui.end_row();
            }
        });
    });
}

/// The near-duplicate pairs, each with why, and Merge either way.
pub fn duplicates_panel(
    ui: &mut egui::Ui,
    pairs: &[crate::duplicates::DuplicatePair],
    commands: &mut Vec<Command>,
) {
    use crate::duplicates::Likeness;
    ui.horizontal(|ui| {
        ui.heading(format!("Near-duplicates ({})", pairs.len()));
        if ui.button("Back to the library").clicked() {
            commands.push(Command::CloseDuplicates);
        }
    });
    ui.weak("A merge keeps one book with the readings of both; the other goes to the trash (Ctrl+Z undoes it).");
    ui.separator();
    if pairs.is_empty() {
        ui.label("No near-duplicates.");
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("duplicates_grid")
            .striped(true)
            .show(ui, |ui| {
                for pair in pairs {
                    let [a, b] = &pair.books;
                    ui.label(match pair.likeness {
                        Likeness::SameCover => "same cover".to_string(),
                        Likeness::SimilarCover { distance } => {
                            format!("covers alike ({distance} bits)")
                        }
                        Likeness::SameTitleAndAuthor => "same title and author".to_string(),
                    });
                    ui.label(format!("{} — {}", a.title, a.author));
                    ui.label(format!("{} — {}", b.title, b.author));
                    if ui
                        .button("Keep first")
                        .on_hover_text(format!("Merge '{}' into '{}'", b.title, a.title))
                        .clicked()
                    {
                        commands.push(Command::Merge(a.book_id, b.book_id));
                    }
                    if ui
                        .button("Keep second")
                        .on_hover_text(format!("Merge '{}' into '{}'", a.title, b.title))
                        .clicked()
                    {
                        commands.push(Command::Merge(b.book_id, a.book_id));
                    }
                    ui.end_row();
                }
            });
    });
}

/// The books whose category the model disputes, most doubtful first: take
/// the model's category, or keep the book's.
pub fn doubtful_panel(
    ui: &mut egui::Ui,
    doubtful: &[crate::train::doubtful::DoubtfulLabel],
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading(format!("Doubtful labels ({})", doubtful.len()));
        if ui.button("Back to the library").clicked() {
            commands.push(Command::CloseDoubtful);
        }
    });
    ui.weak("Each book judged by a model fitted on the other fifths of the library, never on the book itself.");
    ui.separator();
    if doubtful.is_empty() {
        ui.label("The model disputes no category.");
        return;
    }
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("doubtful_grid")
            .striped(true)
            .show(ui, |ui| {
                for d in doubtful {
                    ui.label(&d.title);
                    ui.label(format!(
                        "is '{}', the model says '{}' ({:.0}% against {:.0}%)",
                        d.category,
                        d.suggested,
                        100.0 * d.suggested_probability,
                        100.0 * d.own_probability
                    ));
                    if ui.button(format!("Change to {}", d.suggested)).clicked() {
                        commands.push(Command::AcceptCategory(d.book_id, d.suggested.clone()));
                    }
                    if ui.button("Keep").clicked() {
                        commands.push(Command::SkipReview(d.book_id));
                    }
                    ui.end_row();
                }
            });
    });
}
