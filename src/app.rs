//! The window's state and its logic: jobs drained into state, dropped files and
//! file dialogs turned into imports. Drawing lives in `ui`; no SQL here beyond
//! calls into `store`, no tch at all.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};

use crate::import::{self, ImportOptions, ImportReport};
use crate::jobs::{Job, JobOutcome};
use crate::project::Method;
use crate::store::{BookDetail, BookId, BookSummary, Library};
use crate::workbench::{Settings, View, Workbench};

/// The key of the remembered settings in eframe's storage.
pub const SETTINGS_KEY: &str = "shelfwise-settings";

/// Thumbnail textures kept alive; beyond this the least recently drawn are freed,
/// so scrolling through 10,000 covers does not hold 10,000 textures.
const MAX_LIVE_THUMBNAILS: usize = 600;

/// The shelfwise window.
pub struct ShelfwiseApp {
    pub(crate) library_dir: PathBuf,
    pub(crate) library: Option<Library>,
    pub(crate) books: Vec<BookSummary>,
    /// Lower-cased "title author" per book, for search.
    search_keys: Vec<String>,
    pub(crate) categories: Vec<(String, usize)>,
    pub(crate) query: String,
    pub(crate) category: Option<String>,
    /// Indices into `books` that pass the search and the category filter.
    pub(crate) visible: Vec<usize>,
    pub selected: Option<BookDetail>,
    pub(crate) import_job: Option<Job<ImportReport>>,
    pub(crate) queued_imports: VecDeque<PathBuf>,
    pub(crate) last_report: Option<ImportReport>,
    pub(crate) report_open: bool,
    pub(crate) status: Option<String>,
    pub(crate) path_entry: String,
    pub(crate) demo_csv: Option<PathBuf>,
    file_pick: Option<Receiver<Option<PathBuf>>>,
    thumbnails_drawn: HashMap<String, u64>,
    /// Training, attention, projection, suggestions, settings.
    pub workbench: Workbench,
    pub(crate) library_entry: String,
    weights_pick: Option<Receiver<Option<PathBuf>>>,
    image_pick: Option<Receiver<Option<PathBuf>>>,
    /// Where each exportable plot was drawn last frame.
    plot_rects: HashMap<&'static str, egui::Rect>,
    /// A plot export waiting for its screenshot: name, where it was, the image.
    pending_png: Option<(
        &'static str,
        egui::Rect,
        Receiver<std::sync::Arc<egui::ColorImage>>,
    )>,
}

impl ShelfwiseApp {
    /// Opens the library in `library_dir`; when `import_demo_if_empty` is set and
    /// the library has no books, imports the demo library in the background.
    pub fn new(
        ctx: &egui::Context,
        library_dir: PathBuf,
        demo_csv: Option<PathBuf>,
        import_demo_if_empty: bool,
    ) -> Self {
        egui_extras::install_image_loaders(ctx);
        let mut app = Self {
            library_dir,
            library: None,
            books: Vec::new(),
            search_keys: Vec::new(),
            categories: Vec::new(),
            query: String::new(),
            category: None,
            visible: Vec::new(),
            selected: None,
            import_job: None,
            queued_imports: VecDeque::new(),
            last_report: None,
            report_open: false,
            status: None,
            path_entry: String::new(),
            demo_csv,
            file_pick: None,
            thumbnails_drawn: HashMap::new(),
            workbench: Workbench::default(),
            library_entry: String::new(),
            weights_pick: None,
            image_pick: None,
            plot_rects: HashMap::new(),
            pending_png: None,
        };
        app.library_entry = app.library_dir.display().to_string();
        match Library::open(&app.library_dir) {
            Ok(library) => app.library = Some(library),
            Err(error) => {
                app.status = Some(format!(
                    "Cannot open the library in {}: {error}",
                    app.library_dir.display()
                ));
            }
        }
        app.reload_books();
        if let Some(library) = &app.library {
            app.workbench.reload_runs(library);
        }
        if import_demo_if_empty
            && app.books.is_empty()
            && app.library.is_some()
            && let Some(demo) = app.demo_csv.clone()
        {
            app.start_import(ctx, demo);
        }
        app
    }

    /// Re-reads the book list after an import and re-applies the filters.
    pub(crate) fn reload_books(&mut self) {
        let Some(library) = &self.library else {
            return;
        };
        match library.book_summaries() {
            Ok(books) => {
                self.search_keys = books
                    .iter()
                    .map(|b| format!("{} {}", b.title, b.author).to_lowercase())
                    .collect();
                let mut counts: HashMap<&str, usize> = HashMap::new();
                for book in &books {
                    *counts.entry(book.category.as_str()).or_default() += 1;
                }
                let mut categories: Vec<(String, usize)> = counts
                    .into_iter()
                    .map(|(c, n)| (c.to_string(), n))
                    .collect();
                categories.sort();
                self.categories = categories;
                self.books = books;
            }
            Err(error) => self.status = Some(format!("Cannot read the library: {error}")),
        }
        if let Some(category) = &self.category
            && !self.categories.iter().any(|(c, _)| c == category)
        {
            self.category = None;
        }
        self.apply_filters();
    }

    /// Recomputes which books the grid shows.
    pub(crate) fn apply_filters(&mut self) {
        let needle = self.query.trim().to_lowercase();
        let words: Vec<&str> = needle.split_whitespace().collect();
        self.visible = (0..self.books.len())
            .filter(|&i| {
                self.category
                    .as_ref()
                    .is_none_or(|category| &self.books[i].category == category)
                    && words.iter().all(|w| self.search_keys[i].contains(w))
            })
            .collect();
    }

    pub(crate) fn select(&mut self, book_id: BookId) {
        let Some(library) = &self.library else {
            return;
        };
        match library.book_detail(book_id) {
            Ok(detail) => self.selected = detail,
            Err(error) => self.status = Some(format!("Cannot read book {}: {error}", book_id.0)),
        }
    }

    /// Starts importing `path` in the background, or queues it behind a running import.
    pub fn start_import(&mut self, ctx: &egui::Context, path: PathBuf) {
        if self.import_job.is_some() {
            self.queued_imports.push_back(path);
            return;
        }
        let library_dir = self.library_dir.clone();
        let repaint_ctx = ctx.clone();
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.status = None;
        self.import_job = Some(Job::spawn(
            name,
            move || repaint_ctx.request_repaint(),
            move |job| {
                let mut library = Library::open(&library_dir)?;
                let mut on_progress = |p: import::Progress| job.progress(p.done, p.total, "");
                let report = import::import_path(
                    &mut library,
                    &path,
                    ImportOptions::default(),
                    &mut on_progress,
                    job.cancel_flag(),
                )?;
                Ok(report)
            },
        ));
    }

    /// Opens a native file dialog on its own thread, so the window keeps drawing.
    pub(crate) fn pick_import_source(&mut self, ctx: &egui::Context, folder: bool) {
        let (sender, receiver) = sync_channel(1);
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("shelfwise-file-dialog".into())
            .spawn(move || {
                let dialog = rfd::FileDialog::new().set_title("Import into shelfwise");
                let picked = if folder {
                    dialog.pick_folder()
                } else {
                    dialog
                        .add_filter("CSV (books or reading history)", &["csv"])
                        .pick_file()
                };
                let _ = sender.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.file_pick = Some(receiver),
            Err(error) => self.status = Some(format!("Cannot open the file dialog: {error}")),
        }
    }

    /// Drains events: job progress and results, dialog answers, dropped files.
    pub fn run_logic(&mut self, ctx: &egui::Context) {
        if let Some(job) = &mut self.import_job
            && let Some(outcome) = job.poll()
        {
            self.import_job = None;
            match outcome {
                JobOutcome::Finished(report) => {
                    self.last_report = Some(report);
                    self.report_open = true;
                }
                JobOutcome::Failed(reason) => {
                    self.status = Some(format!("Import failed: {reason}"))
                }
            }
            self.reload_books();
            if let Some(next) = self.queued_imports.pop_front() {
                self.start_import(ctx, next);
            }
        }
        if let Some(receiver) = &self.file_pick
            && let Ok(picked) = receiver.try_recv()
        {
            self.file_pick = None;
            match picked {
                Some(path) => self.start_import(ctx, path),
                None => {
                    self.status = Some(
                        "Nothing was chosen. If no file dialog appeared (it needs xdg-desktop-portal or zenity), \
                         type the path under Import, or drop the file on the window."
                            .into(),
                    );
                }
            }
        }
        if self.workbench.poll()
            && let Some(library) = &self.library
        {
            self.workbench.reload_runs(library);
        }
        for (receiver, is_weights) in [
            (&mut self.weights_pick, true),
            (&mut self.image_pick, false),
        ] {
            if let Some(rx) = receiver
                && let Ok(picked) = rx.try_recv()
            {
                *receiver = None;
                if let Some(path) = picked {
                    if is_weights {
                        self.workbench.settings.weights = Some(path);
                    } else {
                        self.workbench.query_image = Some(path);
                    }
                }
            }
        }
        self.save_png_if_ready(ctx);
        let dropped: Vec<PathBuf> = ctx.input(|input| {
            input
                .raw
                .dropped_files
                .iter()
                .map(|file| file.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            // In the Recommend view an image is a query, not an import.
            let is_image = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "jpg" | "jpeg" | "png" | "webp" | "gif" | "bmp"
                )
            });
            if self.workbench.view == View::Recommend && is_image {
                self.workbench.query_kind = crate::workbench::QueryKind::Image;
                self.workbench.query_image = Some(path);
            } else {
                self.start_import(ctx, path);
            }
        }
        self.free_unused_thumbnails(ctx);
    }

    /// Remembers that a thumbnail was drawn this frame.
    pub(crate) fn thumbnail_drawn(&mut self, uri: &str, frame: u64) {
        if let Some(last) = self.thumbnails_drawn.get_mut(uri) {
            *last = frame;
        } else {
            self.thumbnails_drawn.insert(uri.to_string(), frame);
        }
    }

    fn free_unused_thumbnails(&mut self, ctx: &egui::Context) {
        if self.thumbnails_drawn.len() <= MAX_LIVE_THUMBNAILS {
            return;
        }
        let mut by_age: Vec<(u64, String)> = self
            .thumbnails_drawn
            .iter()
            .map(|(uri, frame)| (*frame, uri.clone()))
            .collect();
        by_age.sort();
        let excess = by_age.len() - MAX_LIVE_THUMBNAILS * 3 / 4;
        for (_, uri) in by_age.into_iter().take(excess) {
            ctx.forget_image(&uri);
            self.thumbnails_drawn.remove(&uri);
        }
    }

    pub fn library_dir(&self) -> &Path {
        &self.library_dir
    }

    /// Restores remembered settings (the library folder is the caller's to honour).
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.workbench.settings = settings;
        self
    }

    pub fn switch_view(&mut self, view: View) {
        self.workbench.view = view;
        if let Some(library) = &self.library {
            self.workbench.reload_runs(library);
            if view == View::Projection && self.workbench.projection.is_none() {
                self.workbench.load_stored_projection(library);
            }
        }
    }

    pub fn start_sweep(&mut self, ctx: &egui::Context) {
        let books = self.books.iter().filter(|b| !b.category.is_empty()).count();
        let dir = self.library_dir.clone();
        self.workbench.start_sweep(ctx, &dir, books);
    }

    pub fn resume_run(&mut self, ctx: &egui::Context, run_id: i64) {
        let dir = self.library_dir.clone();
        self.workbench.resume(ctx, &dir, run_id);
    }

    pub fn choose_run(&mut self, run_id: i64) {
        if let Some(library) = &self.library {
            self.workbench.choose_run(library, run_id);
        }
        self.workbench.projection = None;
        if let Some(library) = &self.library {
            self.workbench.load_stored_projection(library);
        }
    }

    pub fn start_attention(&mut self, ctx: &egui::Context, book_id: BookId) {
        let dir = self.library_dir.clone();
        self.workbench.start_attention(ctx, &dir, book_id);
    }

    pub fn start_projection(&mut self, ctx: &egui::Context, method: Method) {
        let dir = self.library_dir.clone();
        self.workbench.start_projection(ctx, &dir, method);
    }

    pub fn start_recommend(&mut self, ctx: &egui::Context) {
        let dir = self.library_dir.clone();
        let selected = self.selected.clone();
        self.workbench.start_recommend(ctx, &dir, selected.as_ref());
    }

    /// Shows a book in the Library view's detail panel.
    pub fn open_book(&mut self, book_id: BookId) {
        self.select(book_id);
        self.workbench.view = View::Library;
    }

    /// Re-opens the window on another library folder.
    pub fn open_library(&mut self, folder: PathBuf) {
        match Library::open(&folder) {
            Ok(library) => {
                self.library = Some(library);
                self.library_dir = folder.clone();
                self.workbench.settings.library = Some(folder);
                self.selected = None;
                self.workbench.projection = None;
                self.workbench.suggestions.clear();
                self.workbench.attention.clear();
                self.workbench.chosen_run = None;
                self.reload_books();
                if let Some(library) = &self.library {
                    self.workbench.reload_runs(library);
                }
                self.status = Some(format!("Opened {}", self.library_dir.display()));
            }
            Err(error) => {
                self.status = Some(format!(
                    "Cannot open the library in {}: {error}",
                    folder.display()
                ))
            }
        }
    }

    fn pick_file(
        ctx: &egui::Context,
        title: &str,
        filter: (&str, &[&str]),
    ) -> Option<Receiver<Option<PathBuf>>> {
        let (sender, receiver) = sync_channel(1);
        let ctx = ctx.clone();
        let title = title.to_string();
        let (name, extensions) = (
            filter.0.to_string(),
            filter.1.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        );
        std::thread::Builder::new()
            .name("shelfwise-file-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title(title)
                    .add_filter(name, &extensions)
                    .pick_file();
                let _ = sender.send(picked);
                ctx.request_repaint();
            })
            .ok()
            .map(|_| receiver)
    }

    pub fn pick_weights(&mut self, ctx: &egui::Context) {
        self.weights_pick = Self::pick_file(
            ctx,
            "torchvision VGG16 weights",
            ("safetensors or tch .ot", &["safetensors", "ot"]),
        );
    }

    pub fn pick_query_image(&mut self, ctx: &egui::Context) {
        self.image_pick = Self::pick_file(
            ctx,
            "An image to find covers like",
            ("images", &["jpg", "jpeg", "png", "webp", "gif", "bmp"]),
        );
    }

    /// Writes a table as CSV into the library's exports folder and says where.
    pub fn export(&mut self, name: &str, rows: &[Vec<String>]) {
        self.status = Some(
            match crate::workbench::export_csv(&self.library_dir, name, rows) {
                Ok(path) => format!("Exported {}", path.display()),
                Err(error) => format!("Export failed: {error:#}"),
            },
        );
    }

    pub(crate) fn remember_plot_rect(&mut self, name: &'static str, rect: egui::Rect) {
        self.plot_rects.insert(name, rect);
    }

    /// Asks for a screenshot; the plot's part of it is saved when it arrives.
    pub(crate) fn request_plot_png(&mut self, ctx: &egui::Context, name: &'static str) {
        let Some(rect) = self.plot_rects.get(name).copied() else {
            return;
        };
        let (sender, receiver) = sync_channel(1);
        let repaint = ctx.clone();
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
            egui::ScreenshotCallback::new(move |image| {
                let _ = sender.send(image);
                repaint.request_repaint();
            }),
        ));
        self.pending_png = Some((name, rect, receiver));
    }

    fn save_png_if_ready(&mut self, ctx: &egui::Context) {
        let Some((name, rect, receiver)) = &self.pending_png else {
            return;
        };
        let Ok(image) = receiver.try_recv() else {
            return;
        };
        let (name, rect) = (*name, *rect);
        self.pending_png = None;
        let region = image.region(&rect, Some(ctx.pixels_per_point()));
        let folder = self.library_dir.join("exports");
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path = folder.join(format!("{name}-{stamp}.png"));
        let saved = std::fs::create_dir_all(&folder)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                image::RgbaImage::from_raw(
                    region.size[0] as u32,
                    region.size[1] as u32,
                    region.as_raw().to_vec(),
                )
                .ok_or_else(|| "empty screenshot".to_string())?
                .save(&path)
                .map_err(|e| e.to_string())
            });
        self.status = Some(match saved {
            Ok(()) => format!("Exported {}", path.display()),
            Err(error) => format!("PNG export failed: {error}"),
        });
    }
}

impl eframe::App for ShelfwiseApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.run_logic(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        crate::ui::show(self, ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.workbench.settings);
    }
}

/// A `file://` URI egui's loaders understand.
pub(crate) fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}
