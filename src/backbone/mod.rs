//! The library's VGG16 backbone: the paper's ImageNet weights, fetched
//! ([`get_vgg16`]) or imported from a file the librarian has ([`import`]) once,
//! kept in the library folder as safetensors, and used by every run that names
//! no other weights file. Without one the trunk is random, and the views say so.

pub mod convert;
pub mod download;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::jobs::{Cancel, OnProgress};
use crate::store::write_file_atomically;
pub use download::{DownloadRequest, sha256_of};

/// torchvision's ImageNet VGG16 (`VGG16_Weights.IMAGENET1K_V1`).
pub const VGG16_URL: &str = "https://download.pytorch.org/models/vgg16-397923af.pth";

/// SHA-256 of the file at [`VGG16_URL`] (torchvision names the file by its first 8 digits).
pub const VGG16_SHA256: &str = "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0";

/// Size of the file at [`VGG16_URL`], for the size shown before the download starts.
pub const VGG16_BYTES: u64 = 553_433_881;

/// The folder under the library root that holds the backbone.
/// The folder of the library that holds its backbone.
pub(crate) const FOLDER: &str = "backbone";

const WEIGHTS_FILE: &str = "vgg16.safetensors";

const RECORD_FILE: &str = "backbone.json";

/// Why a backbone could not be fetched, read or installed.
#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    #[error("downloading {url}: {reason}")]
    Download { url: String, reason: String },
    #[error(
        "{origin}: the SHA-256 is {found}, {expected} was expected; the file was removed (a damaged download, or another file at that address)"
    )]
    Checksum {
        origin: String,
        expected: String,
        found: String,
    },
    #[error("{file}: {reason}")]
    NotVgg16 { file: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("writing {file}: {source}")]
    Write {
        file: PathBuf,
        source: tch::TchError,
    },
    #[error(
        "the download was stopped after {kept} bytes; they are kept, and the same command resumes it"
    )]
    Cancelled { kept: u64 },
}

/// Where the library's backbone came from; kept beside its weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackboneRecord {
    /// The address it was downloaded from, or the file it was imported from.
    pub source: String,
    /// SHA-256 of that source file.
    pub source_sha256: String,
    /// True for torchvision's ImageNet checkpoint (its checksum matched).
    pub imagenet: bool,
    /// When it was installed, in seconds since 1970 (UTC).
    pub installed_at_unix: u64,
}

/// The library's installed backbone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backbone {
    /// The trunk's weights, torchvision-named safetensors.
    pub weights: PathBuf,
    pub record: BackboneRecord,
}

impl Backbone {
    /// What the views say about it, in a few words.
    pub fn describe(&self) -> String {
        if self.record.imagenet {
            "VGG16 pretrained on ImageNet (torchvision)".into()
        } else {
            format!("VGG16 weights imported from {}", self.record.source)
        }
    }
}

fn folder(library_root: &Path) -> PathBuf {
    library_root.join(FOLDER)
}

/// The library's backbone, or `None` when its trunk is random.
pub fn current(library_root: &Path) -> Option<Backbone> {
    let dir = folder(library_root);
    let weights = dir.join(WEIGHTS_FILE);
    let text = std::fs::read_to_string(dir.join(RECORD_FILE)).ok()?;
    let record = serde_json::from_str(&text).ok()?;
    weights.is_file().then_some(Backbone { weights, record })
}

/// What a library backbone's weights file is, from the record beside it;
/// `None` for any other weights file.
pub fn describe_weights_file(weights: &Path) -> Option<String> {
    let library_root = weights.parent()?.parent()?;
    current(library_root)
        .filter(|b| b.weights == weights)
        .map(|b| b.describe())
}

/// Downloads torchvision's VGG16 checkpoint (or the one at `request`'s
/// address: a mirror, a test server), verifies it, converts its trunk and
/// makes it the library's backbone. A cut or cancelled download is resumed by
/// the next call; the checkpoint itself is removed once converted.
pub fn get_vgg16(
    library_root: &Path,
    request: &DownloadRequest,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<Backbone, BackboneError> {
    let dir = folder(library_root);
    std::fs::create_dir_all(&dir).map_err(|source| BackboneError::Io {
        path: dir.clone(),
        source,
    })?;
    let part = dir.join("download.pth.part");
    download::download(request, &part, on_progress, cancel)?;
    let record = BackboneRecord {
        source: request.url.to_string(),
        source_sha256: request.sha256.to_ascii_lowercase(),
        imagenet: request.sha256.eq_ignore_ascii_case(VGG16_SHA256),
        installed_at_unix: now(),
    };
    let installed = install(library_root, &part, record);
    // Whole and verified: once converted (or found not to be VGG16) it is not needed.
    let _ = std::fs::remove_file(&part);
    installed
}

/// Makes a weights file the librarian already has (a torchvision `.pth`,
/// safetensors or tch `.ot`) the library's backbone.
pub fn import(library_root: &Path, file: &Path) -> Result<Backbone, BackboneError> {
    let source_sha256 = sha256_of(file)?;
    let record = BackboneRecord {
        source: file.display().to_string(),
        imagenet: source_sha256 == VGG16_SHA256,
        source_sha256,
        installed_at_unix: now(),
    };
    install(library_root, file, record)
}

/// Forgets the library's backbone: runs from now on use a random trunk.
pub fn clear(library_root: &Path) -> Result<bool, BackboneError> {
    let dir = folder(library_root);
    let had = current(library_root).is_some();
    for name in [RECORD_FILE, WEIGHTS_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(BackboneError::Io {
                    path: dir.join(name),
                    source,
                });
            }
        }
    }
    Ok(had)
}

/// Converts `source` and writes the weights, then the record (the record
/// last: a crash in between leaves the old backbone or none, never half of one).
fn install(
    library_root: &Path,
    source: &Path,
    record: BackboneRecord,
) -> Result<Backbone, BackboneError> {
    let tensors = convert::read_trunk_tensors(source)?;
    let dir = folder(library_root);
    std::fs::create_dir_all(&dir).map_err(|e| BackboneError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let weights = dir.join(WEIGHTS_FILE);
    let temporary = crate::store::temporary::temporary_path(&weights);
    let written = tch::Tensor::write_safetensors(&tensors, &temporary)
        .map_err(|e| BackboneError::Write {
            file: weights.clone(),
            source: e,
        })
        .and_then(|()| {
            std::fs::rename(&temporary, &weights).map_err(|e| BackboneError::Io {
                path: weights.clone(),
                source: e,
            })
        });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    let text = serde_json::to_string_pretty(&record).expect("a record serialises");
    write_file_atomically(&dir.join(RECORD_FILE), text.as_bytes())?;
    Ok(Backbone { weights, record })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
