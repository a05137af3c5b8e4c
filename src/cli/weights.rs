//! `shelfwise weights`: the library's VGG16 backbone, shown, fetched from the
//! PyTorch download site, imported from a file, or cleared.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::Context;
use super::progress::ProgressPrinter;
use crate::backbone::{self, Backbone, DownloadRequest};

/// What `shelfwise weights` does besides showing the backbone.
#[derive(Debug, clap::Subcommand)]
pub enum WeightsAction {
    /// Download torchvision's ImageNet VGG16 checkpoint (528 MB; a cut download resumes),
    /// verify its SHA-256, convert its trunk and make it the library's backbone.
    Get {
        /// The network (only vgg16).
        #[arg(value_parser = ["vgg16"])]
        network: String,
        /// Another address for the same file (a mirror).
        #[arg(long)]
        url: Option<String>,
        /// The SHA-256 the file must have (default: that of torchvision's ImageNet file).
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Make a weights file the library's backbone: a torchvision VGG16 .pth, safetensors or .ot.
    Import { file: PathBuf },
    /// Forget the library's backbone: runs from now on use a random trunk.
    Clear,
}

#[derive(Serialize)]
struct BackboneOutput {
    weights: Option<PathBuf>,
    description: String,
    source: Option<String>,
    source_sha256: Option<String>,
    imagenet: bool,
}

impl BackboneOutput {
    fn of(backbone: Option<&Backbone>) -> Self {
        match backbone {
            Some(b) => Self {
                weights: Some(b.weights.clone()),
                description: b.describe(),
                source: Some(b.record.source.clone()),
                source_sha256: Some(b.record.source_sha256.clone()),
                imagenet: b.record.imagenet,
            },
            None => Self {
                weights: None,
                description:
                    "random trunk (no weights: `shelfwise weights get vgg16` fetches ImageNet's)"
                        .into(),
                source: None,
                source_sha256: None,
                imagenet: false,
            },
        }
    }
}

pub fn weights(context: &Context, action: Option<&WeightsAction>) -> anyhow::Result<ExitCode> {
    let root = &context.library_dir;
    if let Some(action) = action {
        let doing = match action {
            WeightsAction::Get { .. } => "weights get",
            WeightsAction::Import { .. } => "weights import",
            WeightsAction::Clear => "weights clear",
        };
        context.open()?.ensure_writable(doing)?;
    }
    let backbone = match action {
        None => backbone::current(root),
        Some(WeightsAction::Get { url, sha256, .. }) => {
            let request = DownloadRequest {
                url: url.as_deref().unwrap_or(backbone::VGG16_URL),
                sha256: sha256.as_deref().unwrap_or(backbone::VGG16_SHA256),
            };
            eprintln!("downloading {} (bytes below)", request.url);
            let printer = ProgressPrinter::new("download");
            Some(backbone::get_vgg16(
                root,
                &request,
                &printer.callback(),
                context.cancel,
            )?)
        }
        Some(WeightsAction::Import { file }) => Some(backbone::import(root, file)?),
        Some(WeightsAction::Clear) => {
            backbone::clear(root)?;
            None
        }
    };
    let output = BackboneOutput::of(backbone.as_ref());
    context.out.print(&output, |o| {
        println!("backbone: {}", o.description);
        if let Some(weights) = &o.weights {
            println!("weights: {}", weights.display());
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
