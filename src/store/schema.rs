//! The library's schema, one migration per entry.

/// The schema, one migration per entry; entry `i` takes `user_version` from `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 6: the text encoding a CSV import was read in (`windows-1252 (detected)`).
    r#"
    ALTER TABLE imports ADD COLUMN encoding TEXT;
    "#,
    // 7: the run a fine-tuned run was warm-started from (kept when the parent
    // is deleted, as NULL: the child's checkpoint stands on its own).
    r#"
    ALTER TABLE runs ADD COLUMN parent_run_id INTEGER REFERENCES runs(run_id) ON DELETE SET NULL;
    "#,
    // 8: what a librarian changes by hand. A book in the trash has
    // `deleted_at`; `edited_fields` names the fields the librarian set (a
    // re-import keeps them); every change is a history entry of field
    // changes, old and new value, which undo and redo walk.
    r#"
    ALTER TABLE books ADD COLUMN deleted_at TEXT;
    ALTER TABLE books ADD COLUMN edited_fields TEXT NOT NULL DEFAULT '';
    CREATE TABLE history (
        entry_id  INTEGER PRIMARY KEY,
        at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        action    TEXT NOT NULL,
        summary   TEXT NOT NULL,
        undone    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE history_changes (
        entry_id   INTEGER NOT NULL REFERENCES history(entry_id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        book_id    INTEGER NOT NULL,
        field      TEXT NOT NULL,
        old_value  TEXT,
        new_value  TEXT,
        PRIMARY KEY (entry_id, seq)
    );
    CREATE INDEX history_changes_book ON history_changes(book_id);
    "#,
    // 9: shelves, named and ordered lists of books (a display, a reading
    // list). A book's place on a shelf is a history change of field
    // `shelf:<shelf_id>` (its position, or NULL when off the shelf).
    r#"
    CREATE TABLE shelves (
        shelf_id    INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE TABLE shelf_books (
        shelf_id  INTEGER NOT NULL REFERENCES shelves(shelf_id) ON DELETE CASCADE,
        book_id   INTEGER NOT NULL REFERENCES books(book_id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        PRIMARY KEY (shelf_id, book_id)
    );
    "#,
    // 10: the alignment term of a step (NULL where the run had none), so
    // each term of the objective can be drawn on its own scale.
    r#"
    ALTER TABLE run_steps ADD COLUMN alignment REAL;
    "#,
    // 11: where the model looked on each placed book's cover (NULL: placed
    // before it was kept; an empty blob: nowhere; else x, y as two f32).
    r#"
    ALTER TABLE run_embeddings ADD COLUMN focus BLOB;
    "#,
    // 12: each book's distinct words as the text preprocessing read it, so
    // that a query's reasons (the words a suggestion shares with it) need not
    // tokenise and stem the suggested books' texts again. A row counts only
    // while the book's `updated_at` and the preprocessing version match it.
    r#"
    CREATE TABLE book_words (
        book_id             INTEGER PRIMARY KEY REFERENCES books(book_id) ON DELETE CASCADE,
        book_updated_at     TEXT NOT NULL,
        preprocess_version  INTEGER NOT NULL,
        words               TEXT NOT NULL
    );
    "#,
    // 13: a count of the changes to the books (added, edited, trashed,
    // restored, removed), kept by triggers: the window checks it before each
    // query to know whether its kept index is current, and reading the
    // newest edit and deletion of every book took 43 ms at 100,000 books.
    r#"
    CREATE TABLE books_version (version INTEGER NOT NULL);
    INSERT INTO books_version (version) VALUES (0);
    CREATE TRIGGER books_version_on_insert AFTER INSERT ON books
    BEGIN UPDATE books_version SET version = version + 1; END;
    CREATE TRIGGER books_version_on_delete AFTER DELETE ON books
    BEGIN UPDATE books_version SET version = version + 1; END;
    CREATE TRIGGER books_version_on_update AFTER UPDATE OF updated_at, deleted_at ON books
    BEGIN UPDATE books_version SET version = version + 1; END;
    "#,
];
