//! Calibre libraries, read through their `metadata.db` without ever writing to
//! the user's folder: the database is opened immutable and read-only.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{ImportError, PendingBook, cover};
use crate::store::{ImportIssue, NewBook};

/// External ids of Calibre books are their Calibre uuid under this prefix, so
/// that re-importing the same library updates instead of duplicating.
pub const EXTERNAL_ID_PREFIX: &str = "calibre:";

const BOOKS_QUERY: &str = r#"
SELECT b.id, b.uuid, b.title, b.path, b.has_cover,
    (SELECT group_concat(name, ' & ') FROM
        (SELECT a.name AS name FROM books_authors_link l JOIN authors a ON a.id = l.author
         WHERE l.book = b.id ORDER BY l.id)),
    (SELECT t.name FROM books_tags_link l JOIN tags t ON t.id = l.tag
     WHERE l.book = b.id ORDER BY l.id LIMIT 1),
    (SELECT c.text FROM comments c WHERE c.book = b.id),
    (SELECT g.lang_code FROM books_languages_link l JOIN languages g ON g.id = l.lang_code
     WHERE l.book = b.id ORDER BY l.item_order LIMIT 1)
FROM books b ORDER BY b.id
"#;

/// Reads every book of the Calibre library in `dir`. The category is the book's
/// first tag, the synopsis its comments as plain text, the cover its `cover.jpg`.
pub fn read_library(dir: &Path) -> Result<(Vec<PendingBook>, Vec<ImportIssue>), ImportError> {
    let db_path = dir.join("metadata.db");
    let sql_err = |source| ImportError::Calibre {
        path: dir.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        sqlite_uri_immutable(&db_path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err)?;
    let mut stmt = conn.prepare(BOOKS_QUERY).map_err(sql_err)?;
    let label = db_path.display().to_string();
    let mut pending = Vec::new();
    let mut issues = Vec::new();
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<bool>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, Option<String>>(8)?,
            ))
        })
        .map_err(sql_err)?;
    for row in rows {
        let (calibre_id, uuid, title, book_path, has_cover, authors, first_tag, comments, language) =
            row.map_err(sql_err)?;
        let line = calibre_id.max(0) as u64;
        let title = title.unwrap_or_default().trim().to_string();
        let Some(uuid) = uuid.filter(|u| !u.trim().is_empty()) else {
            issues.push(ImportIssue {
                source: label.clone(),
                line: Some(line),
                reason: format!("Calibre book {calibre_id} has no uuid; skipped"),
            });
            continue;
        };
        if title.is_empty() {
            issues.push(ImportIssue {
                source: label.clone(),
                line: Some(line),
                reason: format!("Calibre book {calibre_id} has an empty title; skipped"),
            });
            continue;
        }
        let cover = match (has_cover.unwrap_or(false), book_path) {
            (true, Some(book_path)) => {
                cover::resolve_inside(dir, &format!("{book_path}/cover.jpg")).map(Some)
            }
            _ => Ok(None),
        };
        pending.push(PendingBook {
            line,
            book: NewBook {
                external_id: format!("{EXTERNAL_ID_PREFIX}{}", uuid.trim()),
                title,
                author: authors.unwrap_or_default(),
                synopsis: comments.as_deref().map(html_to_text).unwrap_or_default(),
                category: first_tag.unwrap_or_default(),
                language,
                cover: None,
            },
            cover,
        });
    }
    Ok((pending, issues))
}

/// Calibre stores comments as HTML; the synopsis is its text, whitespace collapsed.
pub fn html_to_text(html: &str) -> String {
    let text = nanohtml2text::html2text(html);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `file:` URI with `immutable=1`: SQLite then takes no locks and creates no
/// journal or WAL files next to the user's database.
fn sqlite_uri_immutable(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut encoded = String::new();
    for ch in absolute.to_string_lossy().chars() {
        match ch {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3f"),
            '#' => encoded.push_str("%23"),
            other => encoded.push(other),
        }
    }
    format!("file:{encoded}?mode=ro&immutable=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_lose_their_markup() {
        let html =
            "<div><p>A <b>bold</b> tale &amp; a <i>long</i>\n journey.</p><p>Second.</p></div>";
        let text = html_to_text(html);
        assert!(!text.contains('<') && !text.contains("&amp;"), "{text}");
        assert!(text.contains("A bold tale & a long journey."), "{text}");
        assert!(text.contains("Second."), "{text}");
    }

    #[test]
    fn uri_escapes_what_sqlite_would_read_as_query() {
        let uri = sqlite_uri_immutable(Path::new("/a b/50%?#/metadata.db"));
        assert_eq!(uri, "file:/a b/50%25%3f%23/metadata.db?mode=ro&immutable=1");
    }
}
