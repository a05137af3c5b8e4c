//! Typed ids and statuses: what crosses a module boundary names what it is,
//! so a run id cannot be handed where a book id is wanted, and a status or a
//! modality has exactly one spelling (the one stored and printed).

use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// Declares a row-id newtype stored as an SQLite integer and printed as its number.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map(Self)
            }
        }
    };
}

/// Book ids as one JSON array, the one parameter a statement reads them
/// from (`IN (SELECT value FROM json_each(?))`): a statement per book began a
/// read of the database per book.
pub(crate) fn id_list(book_ids: &[BookId]) -> String {
    let numbers: Vec<String> = book_ids.iter().map(|id| id.0.to_string()).collect();
    format!("[{}]", numbers.join(","))
}

row_id!(
    /// Database row id of a book; the external id is what import files use.
    BookId
);
row_id!(
    /// A training run: its row in `runs` and its folder under `runs/`.
    RunId
);
row_id!(
    /// One entry of the library's history: a librarian's change, undone and
    /// redone whole.
    EntryId
);
row_id!(
    /// A group of runs started together (one per beta, plus single-modal runs).
    SweepId
);
row_id!(
    /// One import, with its report lines.
    ImportId
);

/// Declares a closed set of names stored as text, with one string form each.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The one spelling: stored, printed and in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} `{text}`", stringify!($name)).into())
                })
            }
        }
    };
}

text_enum!(
    /// Where a run stands.
    RunStatus {
        Running = "running",
        Finished = "finished",
        Failed = "failed",
        Cancelled = "cancelled",
        /// Its process died while training (a kill, a crash, a power cut).
        Interrupted = "interrupted",
    }
);

impl RunStatus {
    /// A run that stopped before its last epoch, which `--resume` goes on with.
    pub fn can_resume(self) -> bool {
        matches!(self, RunStatus::Cancelled | RunStatus::Interrupted)
    }
}

text_enum!(
    /// Which inputs a run sees: both (the paper's model) or one alone (the
    /// baselines a sweep draws beside it).
    Modalities {
        Fused = "fused",
        Image = "image",
        Text = "text",
    }
);

impl Modalities {
    /// A run's label as curves and tables show it.
    pub fn run_label(self, beta: f64) -> String {
        match self {
            Modalities::Fused => format!("fused, β {beta}"),
            other => format!("{other} only"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_has_one_spelling_in_sql_json_and_text() {
        for &status in RunStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(
            serde_json::to_string(&Modalities::Image).unwrap(),
            "\"image\""
        );
        assert_eq!(Modalities::parse("fused"), Some(Modalities::Fused));
        assert_eq!(Modalities::parse("both"), None);
        assert_eq!(serde_json::to_string(&RunId(7)).unwrap(), "7");
        assert_eq!(Modalities::Text.run_label(0.3), "text only");
        assert_eq!(Modalities::Fused.run_label(0.3), "fused, β 0.3");
    }

    #[test]
    fn a_stored_status_round_trips_and_an_unknown_one_is_an_error() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (s TEXT)").unwrap();
        conn.execute("INSERT INTO t VALUES (?1)", [RunStatus::Cancelled])
            .unwrap();
        let back: RunStatus = conn.query_row("SELECT s FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(back, RunStatus::Cancelled);
        conn.execute("UPDATE t SET s = 'lost'", []).unwrap();
        assert!(
            conn.query_row("SELECT s FROM t", [], |r| r.get::<_, RunStatus>(0))
                .is_err()
        );
    }
}
