//! What a view asks for, applied in one place after the frame is drawn (the
//! `Command` of egui's `wrap_app.rs`): views draw their own state and return
//! these; [`ShelfwiseApp::apply`] changes the rest and starts the jobs.

use std::path::PathBuf;

use super::settings::View;
use super::train::TrainForm;
use super::{PickPurpose, ShelfwiseApp};
use crate::project::Method;
use crate::store::{BookId, RunId};

/// Where one click takes a book from any view that shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubAction {
    /// Recommend: books like it.
    MoreLikeThis,
    /// Attention: where the model looked on its cover.
    Heatmap,
    /// Projection: the book and its nearest neighbours there, selected.
    InProjection,
    /// Library: its detail panel, in edit mode.
    Edit,
}

impl HubAction {
    pub const ALL: [HubAction; 4] = [
        HubAction::MoreLikeThis,
        HubAction::Heatmap,
        HubAction::InProjection,
        HubAction::Edit,
    ];

    pub fn label(self) -> &'static str {
        match self {
            HubAction::MoreLikeThis => "More like this",
            HubAction::Heatmap => "Heatmap",
            HubAction::InProjection => "In projection",
            HubAction::Edit => "Edit",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// One click from a book to another view of it.
    BookHub(BookId, HubAction),
    /// Shows the Library view with only these books (a projection's selection).
    FilterLibrary(Vec<BookId>),
    ClearLibraryFilter,
    SwitchView(View),
    /// Imports a file or folder (queued behind a running import).
    Import(PathBuf),
    /// Opens a file dialog for an import source.
    PickImportSource {
        folder: bool,
    },
    CancelImport,
    ShowImportReport,
    /// Shows a book in the detail panel.
    SelectBook(BookId),
    CloseBook,
    /// Shows a book in the Library view's detail panel, from any view.
    OpenBook(BookId),
    /// Saves the detail panel's edit form.
    SaveEdit,
    /// Opens a file dialog for a new cover of the book shown.
    PickCover,
    /// Moves books to the trash (one history entry).
    DeleteBooks(Vec<BookId>),
    /// Sets one category on many books (one history entry).
    SetCategory(Vec<BookId>, String),
    /// Chooses these books in the Library view's grid (from a projection).
    ChooseBooks(Vec<BookId>),
    /// Opens the review queue of the categories the model suggests.
    ReviewCategories,
    /// Closes the review queue.
    CloseReview,
    /// Makes a category (the model's, or one the librarian chose instead)
    /// the book's, and takes the book out of the queue.
    AcceptCategory(BookId, String),
    /// Takes a book out of the review queue, unchanged.
    SkipReview(BookId),
    /// Lists the books whose category the model disputes.
    FindDoubtful,
    CloseDoubtful,
    /// Lists the near-duplicates in the Library view.
    FindDuplicates,
    CloseDuplicates,
    /// Keeps the first book with the readings of both; the second goes to the trash.
    Merge(BookId, BookId),
    /// Puts books at the end of a shelf (made when new; one history entry).
    AddToShelf(Vec<BookId>, String),
    /// Takes books off a shelf.
    RemoveFromShelf(Vec<BookId>, String),
    /// Shows a shelf's wall of covers in the Library view (`None`: every book).
    ShowShelf(Option<String>),
    RestoreBooks(Vec<BookId>),
    /// Shows or hides the trash in the Library view.
    ShowTrash(bool),
    EmptyTrash,
    /// Writes the library's books in the import format under `exports/`.
    ExportBooks,
    Undo,
    Redo,
    StartSweep,
    /// Writes the sweep's HTML report under the library's `reports/` folder.
    WriteSweepReport(crate::store::SweepId),
    /// The demo form, then its sweep.
    DemoSweep,
    ResumeRun(RunId),
    /// A new run warm-started from a finished one, on the library as it is now.
    FineTuneRun(RunId),
    DeleteRun(RunId),
    ChooseRun(RunId),
    /// Downloads torchvision's ImageNet VGG16 as the library's backbone.
    DownloadBackbone,
    /// Opens a file dialog for a weights file to import as the backbone.
    PickWeights,
    /// Back to a random trunk.
    ClearBackbone,
    ShowAttention(BookId),
    ComputeProjection(Method),
    Suggest,
    PickQueryImage,
    OpenLibrary(PathBuf),
    ExportCsv {
        name: String,
        rows: Vec<Vec<String>>,
    },
    /// Where an exportable plot was drawn this frame.
    PlotDrawn(&'static str, egui::Rect),
    ExportPlot(&'static str),
    DismissMessage,
}

impl ShelfwiseApp {
    /// Applies one command a view returned.
    pub fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::SwitchView(view) => self.switch_view(view),
            Command::BookHub(book_id, action) => self.book_hub(ctx, book_id, action),
            Command::ClearLibraryFilter => self.filter_library(None),
            Command::FilterLibrary(books) => self.filter_library(Some(books)),
            Command::Import(path) => self.start_import(ctx, path),
            Command::PickImportSource { folder } => {
                self.pick_file(ctx, PickPurpose::ImportSource { folder })
            }
            Command::CancelImport => self.cancel_import(),
            Command::ShowImportReport => self.imports.report_open = true,
            Command::SelectBook(book_id) => self.select(book_id),
            Command::CloseBook => {
                self.library.selected = None;
                self.library.draft = None;
            }
            Command::OpenBook(book_id) => self.open_book(book_id),
            Command::SaveEdit => self.save_edit(),
            Command::PickCover => self.pick_file(ctx, PickPurpose::Cover),
            Command::DeleteBooks(books) => self.delete_books(&books),
            Command::SetCategory(books, category) => self.set_category(&books, &category),
            Command::AddToShelf(books, shelf) => self.shelve(&books, &shelf, true),
            Command::ReviewCategories => self.start_category_review(ctx),
            Command::FindDuplicates => self.start_near_duplicates(ctx),
            Command::FindDoubtful => self.start_doubtful(ctx),
            Command::CloseDoubtful => self.library.doubtful = None,
            Command::CloseDuplicates => self.library.duplicates = None,
            Command::Merge(keep, other) => self.merge(keep, other),
            Command::CloseReview => self.library.review = None,
            Command::AcceptCategory(book, category) => self.accept_category(book, &category),
            Command::SkipReview(book) => self.library.leave_queues(book),
            Command::RemoveFromShelf(books, shelf) => self.shelve(&books, &shelf, false),
            Command::ShowShelf(shelf) => self.show_shelf(shelf),
            Command::ChooseBooks(books) => self.choose_books(books),
            Command::RestoreBooks(books) => self.restore_books(&books),
            Command::ShowTrash(shown) => self.show_trash(shown),
            Command::EmptyTrash => self.empty_trash(),
            Command::ExportBooks => self.start_export_books(ctx),
            Command::Undo => self.undo(false),
            Command::Redo => self.undo(true),
            Command::StartSweep => self.start_sweep(ctx),
            Command::WriteSweepReport(sweep) => self.start_sweep_report(ctx, sweep),
            Command::DemoSweep => {
                self.train.form = TrainForm::demo();
                self.start_sweep(ctx);
            }
            Command::ResumeRun(run_id) => self.resume_run(ctx, run_id),
            Command::FineTuneRun(run_id) => self.fine_tune_run(ctx, run_id),
            Command::DeleteRun(run_id) => self.delete_run(run_id),
            Command::ChooseRun(run_id) => self.choose_run(run_id),
            Command::PickWeights => self.pick_file(ctx, PickPurpose::Weights),
            Command::DownloadBackbone => self.start_backbone_download(ctx),
            Command::ClearBackbone => self.clear_backbone(),
            Command::ShowAttention(book_id) => self.start_attention(ctx, book_id),
            Command::ComputeProjection(method) => self.start_projection(ctx, method),
            Command::Suggest => self.start_recommend(ctx),
            Command::PickQueryImage => self.pick_file(ctx, PickPurpose::QueryImage),
            Command::OpenLibrary(folder) => {
                self.open_library(folder);
                self.start_check(ctx);
            }
            Command::ExportCsv { name, rows } => self.export_csv(&name, &rows),
            Command::PlotDrawn(name, rect) => {
                self.exports.plot_rects.insert(name, rect);
            }
            Command::ExportPlot(name) => self.request_plot_png(ctx, name),
            Command::DismissMessage => self.message = None,
        }
    }

    /// Shows only `books` in the Library view (a projection's selection),
    /// or every book again.
    fn filter_library(&mut self, books: Option<Vec<BookId>>) {
        let shown = books.is_some();
        self.library.only = books.map(|books| books.into_iter().collect());
        self.library.apply_filters();
        if shown {
            self.library.trash = None;
            self.view = View::Library;
        }
    }

    /// Chooses `books` in the Library view's grid, to act on at once.
    fn choose_books(&mut self, books: Vec<BookId>) {
        self.library.chosen = books.into_iter().collect();
        self.library.trash = None;
        self.view = View::Library;
    }

    fn clear_backbone(&mut self) {
        self.status = Some(match crate::backbone::clear(&self.library_dir) {
            Ok(_) => "The library's trunk is random again.".into(),
            Err(error) => format!("Clearing the backbone failed: {error}"),
        });
        self.backbone.refresh(&self.library_dir);
    }

    /// Takes a book to another view of it, in one click.
    fn book_hub(&mut self, ctx: &egui::Context, book_id: BookId, action: HubAction) {
        match action {
            HubAction::MoreLikeThis => {
                self.select(book_id);
                self.recommend.kind = super::QueryKind::SelectedBook;
                self.view = View::Recommend;
                self.start_recommend(ctx);
            }
            HubAction::Heatmap => {
                self.view = View::Attention;
                self.start_attention(ctx, book_id);
            }
            HubAction::InProjection => {
                self.switch_view(View::Projection);
                if !self.projection.focus_on(book_id) {
                    self.message = Some(format!(
                        "Book {book_id} is not in a projection yet: press Compute, then try again."
                    ));
                }
            }
            HubAction::Edit => {
                self.select(book_id);
                self.view = View::Library;
                if let Some(detail) = &self.library.selected {
                    self.library.draft = Some(super::EditDraft::of(detail));
                }
            }
        }
    }

    /// Applies every command of a frame, in order.
    pub fn apply_all(&mut self, ctx: &egui::Context, commands: Vec<Command>) {
        for command in commands {
            self.apply(ctx, command);
        }
    }
}
