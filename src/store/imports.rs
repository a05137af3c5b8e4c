//! Import records and their report lines.

use rusqlite::params;
use serde::Serialize;

use super::{ImportId, Library, StoreError, WriteCounts};

/// One line of an import report, as stored with the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ImportIssue {
    pub source: String,
    pub line: Option<u64>,
    pub reason: String,
}

impl Library {
    /// Stores an import's outcome and its report lines together.
    pub fn record_import(
        &mut self,
        source: &str,
        kind: &str,
        counts: WriteCounts,
        cancelled: bool,
        encoding: Option<&str>,
        issues: &[ImportIssue],
    ) -> Result<ImportId, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO imports (source, kind, imported, updated, cancelled, encoding) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![source, kind, counts.imported, counts.updated, cancelled, encoding],
        )?;
        let import_id = ImportId(tx.last_insert_rowid());
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
    pub fn import_issues(&self, import_id: ImportId) -> Result<Vec<ImportIssue>, StoreError> {
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
}
