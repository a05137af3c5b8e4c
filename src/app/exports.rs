//! Taking results out of the window: tables as CSV and plots as PNG, into the
//! library's `exports/` folder, each file named by what it holds and when.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use super::ShelfwiseApp;

/// Where each exportable plot was drawn last frame, and a plot export
/// waiting for its screenshot.
#[derive(Default)]
pub struct Exports {
    pub plot_rects: HashMap<&'static str, egui::Rect>,
    /// The library's books being written out in the import format.
    pub books_job: Option<crate::jobs::Job<crate::export::ExportReport>>,
    /// A sweep's HTML report being written; it ends with the page's path.
    pub report_job: Option<crate::jobs::Job<PathBuf>>,
    pending_png: Option<(&'static str, egui::Rect, Receiver<Arc<egui::ColorImage>>)>,
}

fn export_path(library_dir: &Path, name: &str, extension: &str) -> std::io::Result<PathBuf> {
    let folder = library_dir.join("exports");
    std::fs::create_dir_all(&folder)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(folder.join(format!("{name}-{stamp}.{extension}")))
}

/// Writes `rows` (a header first) as CSV into the library's `exports/`
/// folder; returns the file's path.
pub fn export_csv(library_dir: &Path, name: &str, rows: &[Vec<String>]) -> anyhow::Result<PathBuf> {
    let path = export_path(library_dir, name, "csv")?;
    let mut writer = csv::Writer::from_path(&path)?;
    for row in rows {
        writer.write_record(row)?;
    }
    writer.flush()?;
    Ok(path)
}

fn save_region(image: &egui::ColorImage, path: &Path) -> anyhow::Result<()> {
    image::RgbaImage::from_raw(
        image.size[0] as u32,
        image.size[1] as u32,
        image.as_raw().to_vec(),
    )
    .ok_or_else(|| anyhow::anyhow!("empty screenshot"))?
    .save(path)?;
    Ok(())
}

impl ShelfwiseApp {
    /// Writes a table as CSV into the library's exports folder and says where.
    pub fn export_csv(&mut self, name: &str, rows: &[Vec<String>]) {
        self.status = Some(match export_csv(&self.library_dir, name, rows) {
            Ok(path) => format!("Exported {}", path.display()),
            Err(error) => format!("Export failed: {}", crate::jobs::error_message(&error)),
        });
    }

    /// Asks for a screenshot; the plot's part of it is saved when it arrives.
    pub(crate) fn request_plot_png(&mut self, ctx: &egui::Context, name: &'static str) {
        let Some(rect) = self.exports.plot_rects.get(name).copied() else {
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
        self.exports.pending_png = Some((name, rect, receiver));
    }

    pub(crate) fn save_png_if_ready(&mut self, ctx: &egui::Context) {
        let Some((name, rect, receiver)) = &self.exports.pending_png else {
            return;
        };
        let Ok(image) = receiver.try_recv() else {
            return;
        };
        let (name, rect) = (*name, *rect);
        self.exports.pending_png = None;
        let region = image.region(&rect, Some(ctx.pixels_per_point()));
        let saved = export_path(&self.library_dir, name, "png")
            .map_err(anyhow::Error::from)
            .and_then(|path| save_region(&region, &path).map(|()| path));
        self.status = Some(match saved {
            Ok(path) => format!("Exported {}", path.display()),
            Err(error) => format!("PNG export failed: {}", crate::jobs::error_message(&error)),
        });
    }
}
