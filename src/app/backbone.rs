//! The library's VGG16 backbone as the window holds it: what is installed,
//! and the one job that downloads or imports one (started in `tasks`, with
//! progress and cancel; a cancelled download resumes on the next click).

use std::path::Path;

use crate::backbone::{self, Backbone};
use crate::jobs::Job;

/// The backbone's side of the window.
#[derive(Default)]
pub struct BackboneState {
    /// The library's backbone; `None`: the trunk is random.
    pub current: Option<Backbone>,
    /// A download or import in progress.
    pub job: Option<Job<Backbone>>,
}

impl BackboneState {
    /// Re-reads the library folder's backbone.
    pub fn refresh(&mut self, library_dir: &Path) {
        self.current = backbone::current(library_dir);
    }

    /// The weights file runs started now train with: the library's backbone, if any.
    pub fn weights(&self) -> Option<std::path::PathBuf> {
        self.current.as_ref().map(|b| b.weights.clone())
    }

    /// What the views say about the trunk, in a few words.
    pub fn describe(&self) -> String {
        self.current.as_ref().map_or_else(
            || "random (untrained VGG16)".to_string(),
            Backbone::describe,
        )
    }
}
