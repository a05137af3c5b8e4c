//! The library on disk: one SQLite file (WAL, foreign keys on, migrations by
//! `user_version`) plus content-addressed cover files and their thumbnails.
//!
//! This is the only module that writes SQL. Every multi-row write runs in one
//! transaction, so a process killed in the middle leaves whole rows only.

mod book_words;
mod books;
mod curation;
mod embeddings;
mod history;
mod ids;
mod imports;
mod readers;
mod runs;
mod schema;
mod shelves;
pub mod temporary;
mod vectors;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use book_words::*;
pub use books::*;
pub use curation::*;
pub use embeddings::*;
pub use history::{FieldChange, HistoryEntry};
pub use ids::*;
pub use imports::*;
pub use readers::*;
pub use runs::*;
use schema::MIGRATIONS;
pub use shelves::*;
pub use vectors::*;

/// File name of the SQLite database inside a library folder.
pub const DATABASE_FILE: &str = "library.sqlite";

/// Errors of the library store; callers at the edges add context with anyhow.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the library folder {path}: {source}")]
    CreateFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("library database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "library database is at schema version {found}, newer than this shelfwise knows ({known}); update shelfwise"
    )]
    TooNew { found: i64, known: i64 },
    #[error(
        "the library folder {root} is read-only (a read-only disk or no write permission): {action} would write to it; copy the folder somewhere writable, or open it with write permission"
    )]
    ReadOnly { root: PathBuf, action: String },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// A history entry names a change shelfwise cannot apply (a library
    /// written by a newer version, or edited by hand).
    #[error("library history: {0}")]
    History(String),
    #[error("writing {}: {}", path.display(), write_problem(path, source))]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What went wrong writing `path`, saying which folder's disk is full when it is.
fn write_problem(path: &Path, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::StorageFull {
        let folder = path.parent().unwrap_or(path);
        format!("the disk holding {} is full ({error})", folder.display())
    } else {
        error.to_string()
    }
}

impl StoreError {
    /// True when the write failed because the disk is full, whether SQLite or
    /// a file write found it so.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::WriteFile { source, .. } | StoreError::CreateFolder { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
            }
            StoreError::Sql(error) | StoreError::Open { source: error, .. } => {
                error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
            }
            _ => false,
        }
    }

    /// True when the library's folder or database refused a write (read-only
    /// or without permission).
    pub fn is_write_refused(&self) -> bool {
        match self {
            StoreError::WriteFile { source, .. } | StoreError::CreateFolder { source, .. } => {
                matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                )
            }
            StoreError::Sql(error) => {
                error.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly)
            }
            StoreError::ReadOnly { .. } => true,
            _ => false,
        }
    }
}

pub(crate) fn f32s_to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn f32s_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect()
}

/// An open library folder.
pub struct Library {
    root: PathBuf,
    conn: Connection,
    /// Temporary files of writers that died, removed when the library opened.
    removed_temporaries: Vec<PathBuf>,
    read_only: bool,
}

/// True when a file can be made in `root` (a probe file, removed at once).
/// Each probe has a name of its own: two threads opening the library at once
/// (a sweep's runs side by side) made the same file, and the one that lost
/// the race opened the library read-only.
fn folder_is_writable(root: &Path) -> bool {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let probe_number = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = root.join(format!(
        ".write-probe.{}.{probe_number}.tmp",
        std::process::id()
    ));
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .is_ok();
    if made {
        let _ = std::fs::remove_file(&probe);
    }
    made
}

fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// A path as SQLite's `file:` URIs spell it (`?`, `#` and `%` escaped).
fn uri_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            '%' => out.push_str("%25"),
            other => out.push(other),
        }
    }
    out
}

impl Library {
    /// Opens the library in `root`, creating the folder and the schema when
    /// missing. A library whose folder cannot be written (a read-only mount, a
    /// shared folder without write permission) opens read-only: what is stored
    /// can be read, and every write is refused by [`Library::ensure_writable`].
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let db_path = root.join(DATABASE_FILE);
        if db_path.is_file() && !folder_is_writable(root) {
            return Self::open_read_only(root);
        }
        for dir in [root.to_path_buf(), root.join("covers"), root.join("thumbs")] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| StoreError::CreateFolder { path: dir, source })?;
        }
        let open_err = |source| StoreError::Open {
            path: db_path.clone(),
            source,
        };
        let mut conn = Connection::open(&db_path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        migrate(&mut conn)?;
        Ok(Self {
            root: root.to_path_buf(),
            conn,
            removed_temporaries: temporary::remove_leftovers(root),
            read_only: false,
        })
    }

    /// Opens a library that cannot be written. SQLite needs to write a WAL
    /// database's shared-memory file even to read it, so the database is opened
    /// as immutable: nothing else can change it while the folder is read-only.
    fn open_read_only(root: &Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let db_path = root.join(DATABASE_FILE);
        let open_err = |source| StoreError::Open {
            path: db_path.clone(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let plain = Connection::open_with_flags(&db_path, flags)
            .and_then(|conn| schema_version(&conn).map(|_| conn));
        let conn = match plain {
            Ok(conn) => conn,
            Err(_) => {
                let uri = format!("file:{}?immutable=1", uri_path(&db_path));
                Connection::open_with_flags(uri, flags).map_err(open_err)?
            }
        };
        let found = schema_version(&conn).map_err(open_err)?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        if found < known {
            return Err(StoreError::ReadOnly {
                root: root.to_path_buf(),
                action: format!("bringing its database from schema version {found} to {known}"),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            conn,
            removed_temporaries: Vec::new(),
            read_only: true,
        })
    }

    /// True when the library folder cannot be written (see [`Library::open`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Refuses `action` (`import`, `train`...) on a read-only library with a
    /// message that says so, before anything starts.
    pub fn ensure_writable(&self, action: &str) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                root: self.root.clone(),
                action: action.to_string(),
            });
        }
        Ok(())
    }

    /// The temporary files left by writers that died (a kill, a full disk),
    /// which opening the library removed; `shelfwise check` lists them.
    pub fn removed_temporaries(&self) -> &[PathBuf] {
        &self.removed_temporaries
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a cover's original bytes live, by file name from [`StoredCover`].
    pub fn cover_path(&self, file_name: &str) -> PathBuf {
        self.root.join("covers").join(file_name)
    }

    pub fn thumb_path(&self, thumb_name: &str) -> PathBuf {
        self.root.join("thumbs").join(thumb_name)
    }

    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))?)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a
/// rename, so a killed process never leaves a half-written file under that name.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let err = |source| StoreError::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = temporary::temporary_path(path);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // A full disk or a failed rename leaves no half-written temporary behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads opening one library at once all find it writable (a shared
    /// probe file name made the losers of the race open it read-only).
    #[test]
    fn a_folder_probed_by_threads_at_once_is_writable_for_all() {
        let dir = tempfile::tempdir().unwrap();
        let start = std::sync::Barrier::new(4);
        let writable: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        (0..500).all(|_| folder_is_writable(dir.path()))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(writable, [true; 4]);
    }

    /// A book of category "Drama" by "Someone", without synopsis or cover.
    pub(super) fn book(external_id: &str, title: &str) -> NewBook {
        NewBook {
            external_id: external_id.into(),
            title: title.into(),
            author: "Someone".into(),
            synopsis: String::new(),
            category: "Drama".into(),
            language: None,
            cover: None,
        }
    }

    #[test]
    fn languages_stored_before_version_5_become_detections() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("library.sqlite")).unwrap();
            for migration in &MIGRATIONS[..4] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
            conn.execute(
                "INSERT INTO books (external_id, title, language, source) VALUES ('b1', 'Change or Die', 'nl', 'old.csv')",
                [],
            )
            .unwrap();
        }
        let mut library = Library::open(dir.path()).unwrap();
        let text = &library.book_texts().unwrap()[0];
        assert_eq!(text.language, None);
        assert_eq!(text.detected_language.as_deref(), Some("nl"));
        // A later import naming the language keeps it as named.
        library
            .upsert_books(
                &[NewBook {
                    language: Some("en".into()),
                    ..book("b1", "Change or Die")
                }],
                "new.csv",
            )
            .unwrap();
        let text = &library.book_texts().unwrap()[0];
        assert_eq!(text.language.as_deref(), Some("en"));
        let detail = library.book_detail(text.book_id).unwrap().unwrap();
        assert_eq!(detail.language.as_deref(), Some("en"));
    }

    #[test]
    fn schema_is_migrated_once_and_settings_hold() {
        let dir = tempfile::tempdir().unwrap();
        let library = Library::open(dir.path()).unwrap();
        let version: i64 = library
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = library
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = library
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        drop(library);
        // Opening again must not re-run migrations (they would fail on existing tables).
        Library::open(dir.path()).unwrap();
    }

    #[test]
    fn a_write_that_fails_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("cover.jpg");
        std::fs::create_dir_all(target.join("in-the-way")).unwrap();
        let failed = write_file_atomically(&target, b"bytes").unwrap_err();
        assert!(failed.to_string().contains("cover.jpg"), "{failed}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["cover.jpg"], "only the folder in the way is there");
        write_file_atomically(&dir.path().join("other.jpg"), b"bytes").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("other.jpg")).unwrap(),
            b"bytes"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let library = Library::open(dir.path()).unwrap();
        library
            .conn
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(library);
        assert!(matches!(
            Library::open(dir.path()),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn upsert_updates_by_external_id_and_adds_none_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let counts = library
            .upsert_books(&[book("a", "A"), book("b", "B")], "test")
            .unwrap()
            .counts;
        assert_eq!(
            counts,
            WriteCounts {
                imported: 2,
                updated: 0,
            }
        );
        let counts = library
            .upsert_books(&[book("a", "A, revised"), book("c", "C")], "test")
            .unwrap()
            .counts;
        assert_eq!(
            counts,
            WriteCounts {
                imported: 1,
                updated: 1
            }
        );
        assert_eq!(library.book_count().unwrap(), 3);
        let titles: Vec<_> = library
            .book_summaries()
            .unwrap()
            .into_iter()
            .map(|b| b.title)
            .collect();
        assert_eq!(titles, ["A, revised", "B", "C"]);
    }

    /// A list of suggestions reads its books in one statement: each asked
    /// book that exists, as the grid's summary has it, and no other.
    #[test]
    fn summaries_of_some_books_are_those_books_and_skip_unknown_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        library
            .upsert_books(&[book("a", "A"), book("b", "B"), book("c", "C")], "test")
            .unwrap();
        let all = library.book_summaries().unwrap();
        let asked = [all[2].book_id, BookId(999), all[0].book_id];
        let mut found = library.book_summaries_of(&asked).unwrap();
        found.sort_by_key(|summary| summary.title.clone());
        assert_eq!(found, vec![all[0].clone(), all[2].clone()]);
        assert!(library.book_summaries_of(&[]).unwrap().is_empty());
    }

    /// A field the librarian edited keeps the librarian's value when the
    /// same source is imported again, and a trashed book stays in the trash;
    /// the write names both.
    #[test]
    fn a_reimport_keeps_the_librarians_edits_and_the_trash() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        library
            .upsert_books(&[book("a", "A"), book("b", "B")], "test")
            .unwrap();
        let a = library.find_book("a").unwrap();
        let b = library.find_book("b").unwrap();
        let edit = BookEdit {
            category: Some("Poetry".into()),
            ..Default::default()
        };
        library.edit_book(a, &edit).unwrap();
        library.trash_books(&[b]).unwrap();
        let mut revised = book("a", "A, revised");
        revised.category = "Drama".into();
        let written = library
            .upsert_books(&[revised, book("b", "B, revised")], "test")
            .unwrap();
        assert_eq!(written.kept_edits, ["a"]);
        assert_eq!(written.trashed, ["b"]);
        assert_eq!(written.counts.updated, 1);
        let detail = library.book_detail(a).unwrap().unwrap();
        // The title was not edited: the import's; the category was: the librarian's.
        assert_eq!(
            (detail.title.as_str(), detail.category.as_str()),
            ("A, revised", "Poetry")
        );
        assert_eq!(library.trashed_books().unwrap()[0].title, "B");
    }

    /// A reader's books come back as row ids with their ratings, in one
    /// query, as `readings_of` and a lookup per book gave them.
    #[test]
    fn books_read_by_a_reader_are_their_readings_row_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        library
            .upsert_books(&[book("a", "A"), book("b", "B"), book("c", "C")], "test")
            .unwrap();
        let reading = |book: &str, rating| NewReading {
            reader: "r1".into(),
            book_external_id: book.into(),
            rating,
            read_on: None,
        };
        library
            .upsert_readings(&[reading("c", Some(4.0)), reading("a", None)])
            .unwrap();
        let mut expected: Vec<(BookId, Option<f64>)> = library
            .readings_of("r1")
            .unwrap()
            .into_iter()
            .map(|r| {
                let id = library.book_id_by_external(&r.book_external_id).unwrap();
                (id.unwrap(), r.rating)
            })
            .collect();
        expected.sort_by_key(|(id, _)| id.0);
        assert_eq!(library.books_read_by("r1").unwrap(), expected);
        assert_eq!(expected.len(), 2);
        assert!(library.has_reader("r1").unwrap());
        assert!(!library.has_reader("r2").unwrap());
        assert!(library.books_read_by("r2").unwrap().is_empty());
    }

    #[test]
    fn a_reading_of_an_unknown_book_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let reading = NewReading {
            reader: "r1".into(),
            book_external_id: "missing".into(),
            rating: None,
            read_on: None,
        };
        assert!(library.upsert_readings(&[reading]).is_err());
        // The failed transaction left nothing behind, not even the reader.
        assert_eq!(library.stats().unwrap().readers, 0);
    }

    #[test]
    fn import_records_keep_their_issues() {
        let dir = tempfile::tempdir().unwrap();
        let mut library = Library::open(dir.path()).unwrap();
        let issue = ImportIssue {
            source: "books.csv".into(),
            line: Some(3),
            reason: "empty title".into(),
        };
        let import_id = library
            .record_import(
                "books.csv",
                "books-csv",
                WriteCounts::default(),
                false,
                Some("UTF-8 (detected)"),
                std::slice::from_ref(&issue),
            )
            .unwrap();
        assert_eq!(library.import_issues(import_id).unwrap(), vec![issue]);
    }
}
