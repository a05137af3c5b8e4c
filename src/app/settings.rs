//! What the window remembers between sessions, and its views.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::device::Compute;
pub use crate::model::device::DeviceChoice;

/// The key of the remembered settings in eframe's storage.
pub const SETTINGS_KEY: &str = "shelfwise-settings";

/// The views the window can open on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OpenView {
    Library,
    Train,
    /// The Train view's evaluation panel of the best run.
    Evaluation,
    Attention,
    Projection,
    Recommend,
    Settings,
}

/// The window's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum View {
    Library,
    Train,
    Attention,
    Projection,
    Recommend,
    Settings,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Library,
        View::Train,
        View::Attention,
        View::Projection,
        View::Recommend,
        View::Settings,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Library => "Library",
            View::Train => "Train",
            View::Attention => "Attention",
            View::Projection => "Projection",
            View::Recommend => "Recommend",
            View::Settings => "Settings",
        }
    }
}

/// What the window remembers between sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The library folder to open next time (`--library` overrides it).
    pub library: Option<PathBuf>,
    pub device: DeviceChoice,
    /// libtorch's CPU threads; 0 = all cores but one.
    pub threads: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            library: None,
            device: DeviceChoice::Auto,
            threads: 0,
        }
    }
}

impl Settings {
    /// Where the window's jobs compute.
    pub fn compute(&self) -> Compute {
        Compute {
            choice: self.device,
            threads: self.threads,
        }
    }
}
