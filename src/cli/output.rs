//! Where results go: JSON on stdout with `--json`, else lines for people. The
//! one place `--json` is decided, so every command answers the same way.

use std::io::Write as _;

use serde::Serialize;

use crate::check::CheckError;
use crate::embed::EmbedError;
use crate::import::ImportError;
use crate::recommend::RecommendError;
use crate::store::{CurationError, StoreError};
use crate::text::corpus::CorpusError;
use crate::train::TrainError;

/// How a command prints its result.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// `value` as one line of JSON with `--json`, else as `human` writes it.
    pub fn print<T: Serialize + ?Sized>(
        &self,
        value: &T,
        human: impl FnOnce(&T),
    ) -> anyhow::Result<()> {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, value)?;
            writeln!(stdout)?;
        } else {
            human(value);
        }
        Ok(())
    }
}

/// What went wrong, in a word a script can match on: the first error of the
/// chain that shelfwise knows.
pub fn error_kind(error: &anyhow::Error) -> &'static str {
    // A library that cannot be written, or a full disk, is said so whichever
    // stage met it.
    for cause in error.chain() {
        if let Some(store) = wrapped_store_error(cause)
            && (store.is_disk_full() || store.is_write_refused())
        {
            return store_error_kind(store);
        }
    }
    for cause in error.chain() {
        if let Some(train) = cause.downcast_ref::<TrainError>() {
            return match train {
                TrainError::InvalidSetting(_) => "invalid_setting",
                TrainError::RunNotFound(_) => "run_not_found",
                TrainError::RunNotUsable { .. } => "run_not_usable",
                TrainError::TooFewBooks(_) => "too_few_books",
                TrainError::Cancelled => "cancelled",
                _ => "training",
            };
        }
        if let Some(curation) = cause.downcast_ref::<CurationError>() {
            return match curation {
                CurationError::UnknownBook(_) => "unknown_book",
                CurationError::UnknownShelf(_) => "unknown_shelf",
                CurationError::EmptyShelfName | CurationError::MergeWithItself(_) => "invalid_edit",
                CurationError::EmptyTitle => "invalid_edit",
                CurationError::Trashed(_) => "in_trash",
                CurationError::NotTrashed(_) => "not_in_trash",
                CurationError::Store(store) => store_error_kind(store),
            };
        }
        if let Some(recommend) = cause.downcast_ref::<RecommendError>() {
            return match recommend {
                RecommendError::UnknownBook(_) => "unknown_book",
                RecommendError::UnknownReader(_) => "unknown_reader",
                RecommendError::EmptyProfile(_) => "empty_profile",
                RecommendError::NoKnownWords(_) => "no_known_words",
                _ => "recommend",
            };
        }
        if let Some(import) = cause.downcast_ref::<ImportError>() {
            return match import {
                ImportError::LibraryWrite { cause, .. } => store_error_kind(cause),
                _ => "import",
            };
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return store_error_kind(store);
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return "io";
        }
    }
    "error"
}

/// The store error a stage's error wraps (transparently, so it is not in the
/// chain of sources itself).
fn wrapped_store_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a StoreError> {
    if let Some(store) = cause.downcast_ref::<StoreError>() {
        return Some(store);
    }
    if let Some(import) = cause.downcast_ref::<ImportError>() {
        return import_store_error(import);
    }
    if let Some(train) = cause.downcast_ref::<TrainError>() {
        return train_store_error(train);
    }
    if let Some(corpus) = cause.downcast_ref::<CorpusError>() {
        return corpus_store_error(corpus);
    }
    if let Some(CheckError::Store(store)) = cause.downcast_ref::<CheckError>() {
        return Some(store);
    }
    if let Some(EmbedError::Store(store)) = cause.downcast_ref::<EmbedError>() {
        return Some(store);
    }
    if let Some(RecommendError::Store(store)) = cause.downcast_ref::<RecommendError>() {
        return Some(store);
    }
    if let Some(CurationError::Store(store)) = cause.downcast_ref::<CurationError>() {
        return Some(store);
    }
    None
}

fn import_store_error(import: &ImportError) -> Option<&StoreError> {
    match import {
        ImportError::Store(store) => Some(store),
        ImportError::LibraryWrite { cause, .. } => Some(cause),
        _ => None,
    }
}

/// Training wraps the stages it runs (the word vectors, the feature cache, an
/// import) transparently, so their store errors are found through it.
fn train_store_error(train: &TrainError) -> Option<&StoreError> {
    match train {
        TrainError::Store(store) | TrainError::Embed(EmbedError::Store(store)) => Some(store),
        TrainError::Corpus(corpus) => corpus_store_error(corpus),
        TrainError::Import(import) => import_store_error(import),
        _ => None,
    }
}

fn corpus_store_error(corpus: &CorpusError) -> Option<&StoreError> {
    match corpus {
        CorpusError::Store(store) => Some(store),
        _ => None,
    }
}

fn store_error_kind(error: &StoreError) -> &'static str {
    if error.is_disk_full() {
        "disk_full"
    } else if error.is_write_refused() {
        "read_only"
    } else {
        "library"
    }
}

/// An error as `--json` prints it: one object, `{"error": {"kind", "message"}}`,
/// the message with its causes as the plain error names them.
pub fn error_json(error: &anyhow::Error) -> serde_json::Value {
    serde_json::json!({
        "error": {
            "kind": error_kind(error),
            "message": crate::jobs::error_message(error),
        }
    })
}

impl Output {
    /// Reports a command's error: always on stderr, and with `--json` as one
    /// JSON object on stdout too.
    pub fn print_error(&self, error: &anyhow::Error) {
        eprintln!("shelfwise: {}", crate::jobs::error_message(error));
        if self.json {
            let _ = self.print(&error_json(error), |_| {});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_ends_with_is_said_once() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let error = anyhow::Error::from(StoreError::WriteFile {
            path: "/lib/covers/ab/x.jpg".into(),
            source: full,
        })
        .context("importing books.csv");
        let message = crate::jobs::error_message(&error);
        assert_eq!(message.matches("no storage space").count(), 1, "{message}");
        assert!(
            message.starts_with("importing books.csv: writing /lib/covers/ab/x.jpg"),
            "{message}"
        );
        assert!(
            message.contains("the disk holding /lib/covers/ab is full"),
            "{message}"
        );
    }

    #[test]
    fn a_full_disk_met_by_the_feature_cache_during_training_is_disk_full() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let cache_write = StoreError::WriteFile {
            path: "/lib/features/ab/x.f16".into(),
            source: full,
        };
        let error = anyhow::Error::from(TrainError::from(EmbedError::Store(cache_write)));
        assert_eq!(error_kind(&error), "disk_full");
        let refused = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let words = CorpusError::Store(StoreError::WriteFile {
            path: "/lib/words.bin".into(),
            source: refused,
        });
        let error = anyhow::Error::from(TrainError::from(words)).context("training");
        assert_eq!(error_kind(&error), "read_only");
    }

    #[test]
    fn an_error_names_its_kind_through_its_context() {
        let refused = crate::train::TrainConfig {
            beta: f64::INFINITY,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        let error = anyhow::Error::from(TrainError::from(refused)).context("training");
        let json = error_json(&error);
        assert_eq!(json["error"]["kind"], "invalid_setting");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("training: --beta inf is not allowed"),
            "{message}"
        );
        assert_eq!(error_kind(&anyhow::anyhow!("odd")), "error");
    }
}
