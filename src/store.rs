//! The library on disk: one SQLite file (WAL, foreign keys on, migrations by
//! `user_version`) plus content-addressed cover files and their thumbnails.
//!
//! This is the only module that writes SQL. Every multi-row write runs in one
//! transaction, so a process killed in the middle leaves whole rows only.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

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
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("writing {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The schema, one migration per entry; entry `i` takes `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: books, covers, readers, reading history, import records.
    r#"
    CREATE TABLE covers (
        cover_hash  TEXT PRIMARY KEY,
        file_name   TEXT NOT NULL,
        thumb_name  TEXT NOT NULL,
        width       INTEGER NOT NULL,
        height      INTEGER NOT NULL
    );
    CREATE TABLE books (
        book_id      INTEGER PRIMARY KEY,
        external_id  TEXT NOT NULL UNIQUE,
        title        TEXT NOT NULL,
        author       TEXT NOT NULL DEFAULT '',
        synopsis     TEXT NOT NULL DEFAULT '',
        category     TEXT NOT NULL DEFAULT '',
        language     TEXT,
        cover_hash   TEXT REFERENCES covers(cover_hash),
        source       TEXT NOT NULL,
        added_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX books_category ON books(category);
    CREATE TABLE readers (
        reader_id    INTEGER PRIMARY KEY,
        external_id  TEXT NOT NULL UNIQUE
    );
    CREATE TABLE readings (
        reader_id  INTEGER NOT NULL REFERENCES readers(reader_id) ON DELETE CASCADE,
        book_id    INTEGER NOT NULL REFERENCES books(book_id) ON DELETE CASCADE,
        rating     REAL,
        read_on    TEXT,
        PRIMARY KEY (reader_id, book_id)
    );
    CREATE TABLE imports (
        import_id    INTEGER PRIMARY KEY,
        source       TEXT NOT NULL,
        kind         TEXT NOT NULL,
        finished_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        imported     INTEGER NOT NULL,
        updated      INTEGER NOT NULL,
        cancelled    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE import_issues (
        import_id  INTEGER NOT NULL REFERENCES imports(import_id) ON DELETE CASCADE,
        source     TEXT NOT NULL,
        line       INTEGER,
        reason     TEXT NOT NULL
    );
    "#,
    // 2: word vectors, tied to the corpus they were trained on.
    r#"
    CREATE TABLE word_vectors (
        vectors_id   INTEGER PRIMARY KEY,
        corpus_hash  TEXT NOT NULL,
        config       TEXT NOT NULL,
        words        TEXT NOT NULL,
        surfaces     TEXT NOT NULL,
        counts       BLOB NOT NULL,
        dim          INTEGER NOT NULL,
        vectors      BLOB NOT NULL,
        seconds      REAL NOT NULL,
        trained_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    "#,
    // 3: training runs, grouped in sweeps, with every step's loss and every epoch's metrics.
    r#"
    CREATE TABLE sweeps (
        sweep_id    INTEGER PRIMARY KEY,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE TABLE runs (
        run_id        INTEGER PRIMARY KEY,
        sweep_id      INTEGER REFERENCES sweeps(sweep_id) ON DELETE CASCADE,
        beta          REAL NOT NULL,
        modalities    TEXT NOT NULL,
        config        TEXT NOT NULL,
        status        TEXT NOT NULL,
        trunk         TEXT,
        best_epoch    INTEGER,
        val_accuracy  REAL,
        val_macro_f1  REAL,
        summary       TEXT,
        created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        finished_at   TEXT
    );
    CREATE TABLE run_steps (
        run_id         INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        step           INTEGER NOT NULL,
        epoch          INTEGER NOT NULL,
        loss           REAL NOT NULL,
        cross_entropy  REAL NOT NULL,
        triplet        REAL NOT NULL,
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE run_epochs (
        run_id        INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        epoch         INTEGER NOT NULL,
        train_loss    REAL NOT NULL,
        val_accuracy  REAL NOT NULL,
        val_macro_f1  REAL NOT NULL,
        PRIMARY KEY (run_id, epoch)
    );
    "#,
    // 4: a run's book embeddings (kept fresh by each book's `updated_at`) and its 2D projections.
    r#"
    CREATE TABLE run_embeddings (
        run_id        INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        modalities    TEXT NOT NULL,
        book_id       INTEGER NOT NULL REFERENCES books(book_id) ON DELETE CASCADE,
        book_updated  TEXT NOT NULL,
        embedding     BLOB NOT NULL,
        image_weight  REAL NOT NULL,
        text_weight   REAL NOT NULL,
        PRIMARY KEY (run_id, modalities, book_id)
    );
    CREATE TABLE run_projections (
        run_id           INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        method           TEXT NOT NULL,
        settings         TEXT NOT NULL,
        book_ids         BLOB NOT NULL,
        points           BLOB NOT NULL,
        trustworthiness  REAL NOT NULL,
        neighbours       INTEGER NOT NULL,
        seconds          REAL NOT NULL,
        created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (run_id, method)
    );
    "#,
    // 5: a language the import named apart from one the text was found to be
    // in. Earlier versions stored both in `language` and cannot tell them
    // apart; their guesses took short titles for Dutch or Turkish, so every
    // stored language becomes a detection, redone on the next corpus build
    // (importing a file that names languages again restores those).
    r#"
    ALTER TABLE books ADD COLUMN detected_language TEXT;
    UPDATE books SET detected_language = language, language = NULL;
    "#,
];

/// One book's embedding in a run, with the stamp of the book it was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    pub book_id: BookId,
    pub book_updated: String,
    pub embedding: Vec<f32>,
    pub image_weight: f32,
    pub text_weight: f32,
}

/// A run's books laid out in 2D by one method.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProjection {
    pub method: String,
    /// The method's settings, as JSON.
    pub settings: String,
    pub book_ids: Vec<BookId>,
    /// `x, y` per book, in `book_ids` order.
    pub points: Vec<f32>,
    pub trustworthiness: f64,
    /// The neighbourhood size trustworthiness was measured at.
    pub neighbours: usize,
    pub seconds: f64,
}

fn f32s_to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32s_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect()
}

/// Database row id of a book; the external id is what import files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct BookId(pub i64);

/// A cover stored in the library: original bytes and thumbnail, named by content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCover {
    pub cover_hash: String,
    pub file_name: String,
    pub thumb_name: String,
    pub width: u32,
    pub height: u32,
}

/// One book as an importer hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBook {
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub synopsis: String,
    pub category: String,
    pub language: Option<String>,
    /// `None` keeps the cover a re-imported book already has.
    pub cover: Option<StoredCover>,
}

/// One reading-history row; the book is named by its external id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReading {
    pub reader: String,
    pub book_external_id: String,
    /// `None`: read, not rated.
    pub rating: Option<f64>,
    pub read_on: Option<String>,
}

/// How many rows a write added and how many it changed in place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteCounts {
    pub imported: usize,
    pub updated: usize,
}

/// One line of an import report, as stored with the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ImportIssue {
    pub source: String,
    pub line: Option<u64>,
    pub reason: String,
}

/// One stored reading, as per-reader suggestions will read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingRecord {
    pub book_external_id: String,
    /// `None`: read, not rated.
    pub rating: Option<f64>,
    pub read_on: Option<String>,
}

/// A book's text fields, for building the text corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct BookText {
    pub book_id: BookId,
    /// As the import named it.
    pub language: Option<String>,
    /// As the last corpus build found it, when the import named none.
    pub detected_language: Option<String>,
    pub title: String,
    pub author: String,
    pub synopsis: String,
}

/// Word vectors as stored: the vocabulary in id order and a row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWordVectors {
    pub corpus_hash: String,
    /// The training settings, as JSON.
    pub config: String,
    pub words: Vec<String>,
    pub surfaces: Vec<String>,
    pub counts: Vec<u64>,
    pub dim: usize,
    pub vectors: Vec<f32>,
    pub seconds: f64,
    pub trained_at: String,
}

/// One training step's losses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunStep {
    pub step: i64,
    pub epoch: i64,
    pub loss: f64,
    pub cross_entropy: f64,
    pub triplet: f64,
}

/// A run as the run table lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunListing {
    pub run_id: i64,
    pub sweep_id: Option<i64>,
    pub beta: f64,
    pub modalities: String,
    pub status: String,
    pub best_epoch: Option<i64>,
    pub val_accuracy: Option<f64>,
    pub val_macro_f1: Option<f64>,
    /// The final report (JSON), when finished.
    pub summary: Option<String>,
    pub created_at: String,
}

/// One epoch's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEpoch {
    pub epoch: i64,
    pub train_loss: f64,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
}

/// How far a run got; see [`Library::run_progress`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    pub last_epoch: i64,
    pub last_step: i64,
    /// (epoch, validation accuracy, validation macro-F1) of the best epoch.
    pub best: Option<(i64, f64, f64)>,
}

/// How a run ended, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// `finished`, `failed` or `cancelled`.
    pub status: String,
    /// The trunk's provenance, as JSON.
    pub trunk: Option<String>,
    pub best_epoch: Option<i64>,
    pub val_accuracy: Option<f64>,
    pub val_macro_f1: Option<f64>,
    /// The run's summary (or error), as JSON.
    pub summary: String,
}

/// What the grid needs of a book: small, loaded for every book at once.
#[derive(Debug, Clone, PartialEq)]
pub struct BookSummary {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub category: String,
    pub thumb_path: Option<PathBuf>,
}

/// Everything about one book, for the detail panel.
#[derive(Debug, Clone, PartialEq)]
pub struct BookDetail {
    pub book_id: BookId,
    pub external_id: String,
    pub title: String,
    pub author: String,
    pub synopsis: String,
    pub category: String,
    /// As the import named it, else as last detected.
    pub language: Option<String>,
    pub cover_path: Option<PathBuf>,
    pub thumb_path: Option<PathBuf>,
    pub source: String,
    pub added_at: String,
}

/// Counts for `shelfwise stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryStats {
    pub books: u64,
    pub with_cover: u64,
    pub with_synopsis: u64,
    pub categories: std::collections::BTreeMap<String, u64>,
    pub readers: u64,
    pub readings: u64,
}

/// An open library folder.
pub struct Library {
    root: PathBuf,
    conn: Connection,
}

impl Library {
    /// Opens the library in `root`, creating the folder and the schema when missing.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        for dir in [root.to_path_buf(), root.join("covers"), root.join("thumbs")] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| StoreError::CreateFolder { path: dir, source })?;
        }
        let db_path = root.join(DATABASE_FILE);
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
        })
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

    /// Every stored cover by hash, so an import can skip decoding covers it already has.
    pub fn stored_covers(
        &self,
    ) -> Result<std::collections::HashMap<String, StoredCover>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT cover_hash, file_name, thumb_name, width, height FROM covers")?;
        let rows = stmt.query_map([], |row| {
            Ok(StoredCover {
                cover_hash: row.get(0)?,
                file_name: row.get(1)?,
                thumb_name: row.get(2)?,
                width: row.get(3)?,
                height: row.get(4)?,
            })
        })?;
        rows.map(|row| {
            row.map(|c| (c.cover_hash.clone(), c))
                .map_err(StoreError::from)
        })
        .collect()
    }

    /// Adds or updates books by external id, all in one transaction: either every
    /// book of the batch is written whole, or none is.
    pub fn upsert_books(
        &mut self,
        books: &[NewBook],
        source: &str,
    ) -> Result<WriteCounts, StoreError> {
        let tx = self.conn.transaction()?;
        let mut counts = WriteCounts::default();
        {
            let mut find = tx.prepare_cached("SELECT book_id FROM books WHERE external_id = ?1")?;
            let mut put_cover = tx.prepare_cached(
                "INSERT INTO covers (cover_hash, file_name, thumb_name, width, height)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(cover_hash) DO NOTHING",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO books (external_id, title, author, synopsis, category, language, cover_hash, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE books SET title = ?2, author = ?3, synopsis = ?4, category = ?5,
                    language = COALESCE(?6, language), cover_hash = COALESCE(?7, cover_hash),
                    source = ?8, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE book_id = ?1",
            )?;
            for book in books {
                if let Some(cover) = &book.cover {
                    put_cover.execute(params![
                        cover.cover_hash,
                        cover.file_name,
                        cover.thumb_name,
                        cover.width,
                        cover.height
                    ])?;
                }
                let cover_hash = book.cover.as_ref().map(|c| c.cover_hash.as_str());
                let existing: Option<i64> = find
                    .query_row([&book.external_id], |row| row.get(0))
                    .optional()?;
                match existing {
                    Some(book_id) => {
                        update.execute(params![
                            book_id,
                            book.title,
                            book.author,
                            book.synopsis,
                            book.category,
                            book.language,
                            cover_hash,
                            source
                        ])?;
                        counts.updated += 1;
                    }
                    None => {
                        insert.execute(params![
                            book.external_id,
                            book.title,
                            book.author,
                            book.synopsis,
                            book.category,
                            book.language,
                            cover_hash,
                            source
                        ])?;
                        counts.imported += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(counts)
    }

    /// Which of these external ids name books already in the library.
    pub fn book_id_by_external(&self, external_id: &str) -> Result<Option<BookId>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT book_id FROM books WHERE external_id = ?1")?
            .query_row([external_id], |row| row.get(0).map(BookId))
            .optional()?)
    }

    /// Adds or updates reading-history rows in one transaction. Every reading's
    /// book must exist; the importer checks that first.
    pub fn upsert_readings(&mut self, readings: &[NewReading]) -> Result<WriteCounts, StoreError> {
        let tx = self.conn.transaction()?;
        let mut counts = WriteCounts::default();
        {
            let mut put_reader = tx.prepare_cached(
                "INSERT INTO readers (external_id) VALUES (?1) ON CONFLICT(external_id) DO NOTHING",
            )?;
            let mut find_reader =
                tx.prepare_cached("SELECT reader_id FROM readers WHERE external_id = ?1")?;
            let mut find_book =
                tx.prepare_cached("SELECT book_id FROM books WHERE external_id = ?1")?;
            let mut exists =
                tx.prepare_cached("SELECT 1 FROM readings WHERE reader_id = ?1 AND book_id = ?2")?;
            let mut put = tx.prepare_cached(
                "INSERT INTO readings (reader_id, book_id, rating, read_on) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(reader_id, book_id) DO UPDATE SET rating = excluded.rating, read_on = excluded.read_on",
            )?;
            for reading in readings {
                put_reader.execute([&reading.reader])?;
                let reader_id: i64 = find_reader.query_row([&reading.reader], |row| row.get(0))?;
                let book_id: i64 =
                    find_book.query_row([&reading.book_external_id], |row| row.get(0))?;
                let known = exists.exists(params![reader_id, book_id])?;
                put.execute(params![reader_id, book_id, reading.rating, reading.read_on])?;
                if known {
                    counts.updated += 1;
                } else {
                    counts.imported += 1;
                }
            }
        }
        tx.commit()?;
        Ok(counts)
    }

    /// Stores an import's outcome and its report lines together.
    pub fn record_import(
        &mut self,
        source: &str,
        kind: &str,
        counts: WriteCounts,
        cancelled: bool,
        issues: &[ImportIssue],
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO imports (source, kind, imported, updated, cancelled) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![source, kind, counts.imported, counts.updated, cancelled],
        )?;
        let import_id = tx.last_insert_rowid();
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO import_issues (import_id, source, line, reason) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for issue in issues {
                put.execute(params![import_id, issue.source, issue.line, issue.reason])?;
            }
        }
        tx.commit()?;
        Ok(import_id)
    }

    /// The report lines stored with one import.
    pub fn import_issues(&self, import_id: i64) -> Result<Vec<ImportIssue>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT source, line, reason FROM import_issues WHERE import_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([import_id], |row| {
            Ok(ImportIssue {
                source: row.get(0)?,
                line: row.get(1)?,
                reason: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn book_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM books", [], |row| row.get(0))?)
    }

    pub fn stats(&self) -> Result<LibraryStats, StoreError> {
        let (books, with_cover, with_synopsis) = self.conn.query_row(
            "SELECT COUNT(*), COUNT(cover_hash), COALESCE(SUM(synopsis <> ''), 0) FROM books",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT category, COUNT(*) FROM books GROUP BY category ORDER BY category")?;
        let categories = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let readers = self
            .conn
            .query_row("SELECT COUNT(*) FROM readers", [], |row| row.get(0))?;
        let readings = self
            .conn
            .query_row("SELECT COUNT(*) FROM readings", [], |row| row.get(0))?;
        Ok(LibraryStats {
            books,
            with_cover,
            with_synopsis,
            categories,
            readers,
            readings,
        })
    }

    /// Every book, ordered by title, with just what a cover grid needs.
    pub fn book_summaries(&self) -> Result<Vec<BookSummary>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.book_id, b.external_id, b.title, b.author, b.category, c.thumb_name
             FROM books b LEFT JOIN covers c ON c.cover_hash = b.cover_hash
             ORDER BY b.title COLLATE NOCASE, b.book_id",
        )?;
        let rows = stmt.query_map([], |row| {
            let thumb_name: Option<String> = row.get(5)?;
            Ok(BookSummary {
                book_id: BookId(row.get(0)?),
                external_id: row.get(1)?,
                title: row.get(2)?,
                author: row.get(3)?,
                category: row.get(4)?,
                thumb_path: thumb_name.map(|name| self.thumb_path(&name)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn book_detail(&self, book_id: BookId) -> Result<Option<BookDetail>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT b.book_id, b.external_id, b.title, b.author, b.synopsis, b.category,
                        COALESCE(b.language, b.detected_language), c.file_name, c.thumb_name, b.source, b.added_at
                 FROM books b LEFT JOIN covers c ON c.cover_hash = b.cover_hash
                 WHERE b.book_id = ?1",
                [book_id.0],
                |row| {
                    let file_name: Option<String> = row.get(7)?;
                    let thumb_name: Option<String> = row.get(8)?;
                    Ok(BookDetail {
                        book_id: BookId(row.get(0)?),
                        external_id: row.get(1)?,
                        title: row.get(2)?,
                        author: row.get(3)?,
                        synopsis: row.get(4)?,
                        category: row.get(5)?,
                        language: row.get(6)?,
                        cover_path: file_name.map(|name| self.cover_path(&name)),
                        thumb_path: thumb_name.map(|name| self.thumb_path(&name)),
                        source: row.get(9)?,
                        added_at: row.get(10)?,
                    })
                },
            )
            .optional()?)
    }

    /// Reading history of one reader, by book external id.
    pub fn readings_of(&self, reader: &str) -> Result<Vec<ReadingRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.external_id, r.rating, r.read_on FROM readings r
             JOIN readers p ON p.reader_id = r.reader_id JOIN books b ON b.book_id = r.book_id
             WHERE p.external_id = ?1 ORDER BY b.external_id",
        )?;
        let rows = stmt.query_map([reader], |row| {
            Ok(ReadingRecord {
                book_external_id: row.get(0)?,
                rating: row.get(1)?,
                read_on: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checks that every stored book is whole: its cover, when it has one, exists on
    /// disk with its thumbnail. Returns the external ids of books that are not.
    pub fn books_with_missing_cover_files(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.external_id, c.file_name, c.thumb_name FROM books b
             JOIN covers c ON c.cover_hash = b.cover_hash ORDER BY b.book_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut broken = Vec::new();
        for row in rows {
            let (external_id, file_name, thumb_name) = row?;
            if !self.cover_path(&file_name).is_file() || !self.thumb_path(&thumb_name).is_file() {
                broken.push(external_id);
            }
        }
        Ok(broken)
    }

    /// Each book with a cover, and that cover's hash.
    pub fn book_cover_hashes(&self) -> Result<Vec<(BookId, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, cover_hash FROM books WHERE cover_hash IS NOT NULL ORDER BY book_id",
        )?;
        let rows = stmt.query_map([], |row| Ok((BookId(row.get(0)?), row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every book's text, in book id order.
    pub fn book_texts(&self) -> Result<Vec<BookText>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, language, title, author, synopsis, detected_language
             FROM books ORDER BY book_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(BookText {
                book_id: BookId(row.get(0)?),
                language: row.get(1)?,
                title: row.get(2)?,
                author: row.get(3)?,
                synopsis: row.get(4)?,
                detected_language: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores the languages books were found to be in (`None`: no reliable
    /// guess), all in one transaction; the languages imports named stay.
    pub fn set_detected_languages(
        &mut self,
        languages: &[(BookId, Option<String>)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut put =
                tx.prepare_cached("UPDATE books SET detected_language = ?2 WHERE book_id = ?1")?;
            for (book_id, language) in languages {
                put.execute(params![book_id.0, language])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces the stored word vectors (one set per library) in one transaction.
    pub fn save_word_vectors(&mut self, stored: &StoredWordVectors) -> Result<(), StoreError> {
        let counts: Vec<u8> = stored.counts.iter().flat_map(|c| c.to_le_bytes()).collect();
        let vectors: Vec<u8> = stored
            .vectors
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM word_vectors", [])?;
        tx.execute(
            "INSERT INTO word_vectors (corpus_hash, config, words, surfaces, counts, dim, vectors, seconds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                stored.corpus_hash,
                stored.config,
                stored.words.join("\n"),
                stored.surfaces.join("\n"),
                counts,
                stored.dim,
                vectors,
                stored.seconds
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The stored word vectors, if any were trained.
    pub fn load_word_vectors(&self) -> Result<Option<StoredWordVectors>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT corpus_hash, config, words, surfaces, counts, dim, vectors, seconds, trained_at
                 FROM word_vectors ORDER BY vectors_id DESC LIMIT 1",
                [],
                |row| {
                    let split = |text: String| -> Vec<String> {
                        if text.is_empty() {
                            Vec::new()
                        } else {
                            text.split('\n').map(str::to_string).collect()
                        }
                    };
                    let counts: Vec<u8> = row.get(4)?;
                    let vectors: Vec<u8> = row.get(6)?;
                    Ok(StoredWordVectors {
                        corpus_hash: row.get(0)?,
                        config: row.get(1)?,
                        words: split(row.get(2)?),
                        surfaces: split(row.get(3)?),
                        counts: counts
                            .chunks_exact(8)
                            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                            .collect(),
                        dim: row.get(5)?,
                        vectors: vectors
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                            .collect(),
                        seconds: row.get(7)?,
                        trained_at: row.get(8)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn create_sweep(&mut self) -> Result<i64, StoreError> {
        self.conn.execute("INSERT INTO sweeps DEFAULT VALUES", [])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records a run about to start; its status is `running` until finished.
    pub fn create_run(
        &mut self,
        sweep_id: Option<i64>,
        beta: f64,
        modalities: &str,
        config: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO runs (sweep_id, beta, modalities, config, status) VALUES (?1, ?2, ?3, ?4, 'running')",
            params![sweep_id, beta, modalities, config],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores an epoch's steps and metrics together, in one transaction.
    pub fn record_epoch(
        &mut self,
        run_id: i64,
        steps: &[RunStep],
        epoch: &RunEpoch,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO run_steps (run_id, step, epoch, loss, cross_entropy, triplet)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for step in steps {
                put.execute(params![
                    run_id,
                    step.step,
                    step.epoch,
                    step.loss,
                    step.cross_entropy,
                    step.triplet
                ])?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, val_accuracy, val_macro_f1)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, epoch.epoch, epoch.train_loss, epoch.val_accuracy, epoch.val_macro_f1],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a run finished (or failed / cancelled) with its outcome.
    pub fn finish_run(&mut self, run_id: i64, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, trunk = ?3, best_epoch = ?4, val_accuracy = ?5, val_macro_f1 = ?6,
                 summary = ?7, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE run_id = ?1",
            params![
                run_id,
                outcome.status,
                outcome.trunk,
                outcome.best_epoch,
                outcome.val_accuracy,
                outcome.val_macro_f1,
                outcome.summary
            ],
        )?;
        Ok(())
    }

    /// A run's per-epoch metrics, in epoch order.
    pub fn run_epochs(&self, run_id: i64) -> Result<Vec<RunEpoch>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT epoch, train_loss, val_accuracy, val_macro_f1 FROM run_epochs WHERE run_id = ?1 ORDER BY epoch",
        )?;
        let rows = stmt.query_map([run_id], |row| {
            Ok(RunEpoch {
                epoch: row.get(0)?,
                train_loss: row.get(1)?,
                val_accuracy: row.get(2)?,
                val_macro_f1: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<RunListing>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT run_id, sweep_id, beta, modalities, status, best_epoch, val_accuracy, val_macro_f1,
                    summary, created_at
             FROM runs ORDER BY run_id DESC",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(RunListing {
                run_id: row.get(0)?,
                sweep_id: row.get(1)?,
                beta: row.get(2)?,
                modalities: row.get(3)?,
                status: row.get(4)?,
                best_epoch: row.get(5)?,
                val_accuracy: row.get(6)?,
                val_macro_f1: row.get(7)?,
                summary: row.get(8)?,
                created_at: row.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A run's per-step losses, in step order.
    pub fn run_steps(&self, run_id: i64) -> Result<Vec<RunStep>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT step, epoch, loss, cross_entropy, triplet FROM run_steps WHERE run_id = ?1 ORDER BY step",
        )?;
        let rows = stmt.query_map([run_id], |row| {
            Ok(RunStep {
                step: row.get(0)?,
                epoch: row.get(1)?,
                loss: row.get(2)?,
                cross_entropy: row.get(3)?,
                triplet: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A run's settings and summary as stored (JSON), and its status.
    pub fn run_record(
        &self,
        run_id: i64,
    ) -> Result<Option<(String, Option<String>, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT config, summary, status FROM runs WHERE run_id = ?1",
                [run_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?)
    }

    /// How far a run got: its last recorded epoch and step, and its best epoch
    /// (epoch, accuracy, macro-F1) by validation macro-F1.
    pub fn run_progress(&self, run_id: i64) -> Result<RunProgress, StoreError> {
        let (last_epoch, last_step) = self.conn.query_row(
            "SELECT COALESCE((SELECT MAX(epoch) FROM run_epochs WHERE run_id = ?1), 0),
                    COALESCE((SELECT MAX(step) FROM run_steps WHERE run_id = ?1), 0)",
            [run_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let best = self
            .conn
            .query_row(
                "SELECT epoch, val_accuracy, val_macro_f1 FROM run_epochs WHERE run_id = ?1
                 ORDER BY val_macro_f1 DESC, epoch ASC LIMIT 1",
                [run_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        Ok(RunProgress {
            last_epoch,
            last_step,
            best,
        })
    }

    /// Marks a run as running again, with its (possibly longer) settings.
    pub fn restart_run(&mut self, run_id: i64, config: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE runs SET status = 'running', config = ?2, finished_at = NULL WHERE run_id = ?1",
            params![run_id, config],
        )?;
        Ok(())
    }

    /// A run's status and best epoch.
    pub fn run_status(&self, run_id: i64) -> Result<Option<(String, Option<i64>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, best_epoch FROM runs WHERE run_id = ?1",
                [run_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    /// Every book's row id and when it last changed, the stamp a run's stored
    /// embedding is checked against.
    pub fn book_update_stamps(&self) -> Result<Vec<(BookId, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT book_id, updated_at FROM books ORDER BY book_id")?;
        let rows = stmt.query_map([], |row| Ok((BookId(row.get(0)?), row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A run's stored book embeddings from `modalities` ("fused", "image",
    /// "text"), in book id order.
    pub fn run_embeddings(
        &self,
        run_id: i64,
        modalities: &str,
    ) -> Result<Vec<StoredEmbedding>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT book_id, book_updated, embedding, image_weight, text_weight
             FROM run_embeddings WHERE run_id = ?1 AND modalities = ?2 ORDER BY book_id",
        )?;
        let rows = stmt.query_map(params![run_id, modalities], |row| {
            let bytes: Vec<u8> = row.get(2)?;
            Ok(StoredEmbedding {
                book_id: BookId(row.get(0)?),
                book_updated: row.get(1)?,
                embedding: f32s_from_bytes(&bytes),
                image_weight: row.get::<_, f64>(3)? as f32,
                text_weight: row.get::<_, f64>(4)? as f32,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores (or replaces) embeddings of a run, all in one transaction.
    pub fn save_run_embeddings(
        &mut self,
        run_id: i64,
        modalities: &str,
        embeddings: &[StoredEmbedding],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT OR REPLACE INTO run_embeddings
                 (run_id, modalities, book_id, book_updated, embedding, image_weight, text_weight)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for row in embeddings {
                stmt.execute(params![
                    run_id,
                    modalities,
                    row.book_id.0,
                    row.book_updated,
                    f32s_to_bytes(&row.embedding),
                    f64::from(row.image_weight),
                    f64::from(row.text_weight),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores (or replaces) a run's projection by one method.
    pub fn save_projection(
        &mut self,
        run_id: i64,
        projection: &StoredProjection,
    ) -> Result<(), StoreError> {
        let ids: Vec<u8> = projection
            .book_ids
            .iter()
            .flat_map(|id| id.0.to_le_bytes())
            .collect();
        self.conn.execute(
            "INSERT OR REPLACE INTO run_projections
             (run_id, method, settings, book_ids, points, trustworthiness, neighbours, seconds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run_id,
                projection.method,
                projection.settings,
                ids,
                f32s_to_bytes(&projection.points),
                projection.trustworthiness,
                projection.neighbours as i64,
                projection.seconds,
            ],
        )?;
        Ok(())
    }

    /// A run's stored projection by `method`, if it was computed.
    pub fn projection(
        &self,
        run_id: i64,
        method: &str,
    ) -> Result<Option<StoredProjection>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT method, settings, book_ids, points, trustworthiness, neighbours, seconds
                 FROM run_projections WHERE run_id = ?1 AND method = ?2",
                params![run_id, method],
                |row| {
                    let ids: Vec<u8> = row.get(2)?;
                    let points: Vec<u8> = row.get(3)?;
                    Ok(StoredProjection {
                        method: row.get(0)?,
                        settings: row.get(1)?,
                        book_ids: ids
                            .chunks_exact(8)
                            .map(|b| BookId(i64::from_le_bytes(b.try_into().expect("8 bytes"))))
                            .collect(),
                        points: f32s_from_bytes(&points),
                        trustworthiness: row.get(4)?,
                        neighbours: row.get::<_, i64>(5)? as usize,
                        seconds: row.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// Readers' external ids, sorted.
    pub fn reader_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT external_id FROM readers ORDER BY external_id")?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every reading as (reader external id, book row id, rating).
    pub fn all_readings(&self) -> Result<Vec<(String, BookId, Option<f64>)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT p.external_id, r.book_id, r.rating FROM readings r
             JOIN readers p ON p.reader_id = r.reader_id ORDER BY p.external_id, r.book_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get(0)?, BookId(row.get(1)?), row.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(external_id: &str, title: &str) -> NewBook {
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
            .unwrap();
        assert_eq!(
            counts,
            WriteCounts {
                imported: 2,
                updated: 0
            }
        );
        let counts = library
            .upsert_books(&[book("a", "A, revised"), book("c", "C")], "test")
            .unwrap();
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
                std::slice::from_ref(&issue),
            )
            .unwrap();
        assert_eq!(library.import_issues(import_id).unwrap(), vec![issue]);
    }
}
