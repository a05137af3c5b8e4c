//! The two CSV formats: books (`id,title,author,category,synopsis,cover`) and
//! reading history (`reader,book_id,rating,date`). Columns are found by name, so
//! their order and extra columns do not matter.

use std::collections::HashMap;
use std::path::Path;

use encoding_rs::Encoding;

use super::encoding::{self, DecodedText};
use super::{
    ImportError, ImportOptions, ImportReport, PendingBook, Source, Written, cover, finish_import,
};
use crate::jobs::{Cancel, OnProgress, Progress, is_cancelled};
use crate::store::{ImportIssue, Library, NewBook, NewReading, WriteCounts};

const BOOK_COLUMNS: &[&str] = &["id", "title", "author", "category", "synopsis", "cover"];
const READING_COLUMNS: &[&str] = &["reader", "book_id", "rating", "date"];

pub(crate) fn is_books_header(names: &[&str]) -> bool {
    ["id", "title"].iter().all(|c| names.contains(c))
}

pub(crate) fn is_readings_header(names: &[&str]) -> bool {
    ["reader", "book_id"].iter().all(|c| names.contains(c))
}

/// A CSV file read in its encoding, with its header's column names.
pub(crate) struct CsvFile {
    pub text: DecodedText,
    /// The header's column names, trimmed and lower-cased.
    pub columns: Vec<String>,
}

impl CsvFile {
    /// Reads `path` in `encoding` (detected when `None`) and parses its header.
    pub(crate) fn open(
        path: &Path,
        encoding: Option<&'static Encoding>,
    ) -> Result<Self, ImportError> {
        let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = encoding::decode(bytes, encoding);
        let unrecognised = |reason: String| ImportError::Unrecognised {
            path: path.to_path_buf(),
            reason,
        };
        let header = reader(&text.bytes)
            .byte_records()
            .next()
            .ok_or_else(|| unrecognised("the file is empty".into()))?
            .map_err(|e| unrecognised(format!("not a CSV file: {e}")))?;
        let columns = header
            .iter()
            .map(|raw| {
                std::str::from_utf8(raw)
                    .map(|name| name.trim().to_lowercase())
                    .map_err(|_| {
                        unrecognised(format!(
                            "the header is not {} text; not a CSV file? (--encoding names the file's encoding)",
                            text.encoding.name()
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { text, columns })
    }

    fn names(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// Line numbers by byte offset, counting `\n`, `\r\n` and a lone `\r` as one
/// line break each (the csv crate's own line count runs one short with `\r\n`).
struct LineIndex {
    /// The byte offset where each line starts; line 1 at 0.
    starts: Vec<u64>,
    /// Where a line break ends, by the offset of its first byte.
    break_ends: std::collections::HashMap<u64, u64>,
}

impl LineIndex {
    fn new(bytes: &[u8]) -> Self {
        let mut starts = vec![0];
        let mut break_ends = std::collections::HashMap::new();
        for (offset, byte) in bytes.iter().enumerate() {
            let lone_cr = *byte == b'\r' && bytes.get(offset + 1) != Some(&b'\n');
            if *byte == b'\n' || lone_cr {
                starts.push(offset as u64 + 1);
                let crlf = *byte == b'\n' && offset > 0 && bytes[offset - 1] == b'\r';
                if crlf {
                    break_ends.insert(offset as u64 - 1, offset as u64 + 1);
                    break_ends.insert(offset as u64, offset as u64 + 1);
                } else {
                    break_ends.insert(offset as u64, offset as u64 + 1);
                }
            }
        }
        Self { starts, break_ends }
    }

    /// The 1-based line that holds byte `offset`.
    fn line_at(&self, offset: u64) -> u64 {
        self.starts.partition_point(|start| *start <= offset) as u64
    }

    /// The line a record starting at `offset` is on. The csv crate ends a record
    /// at the `\r` of `\r\n` and starts the next one on its `\n`: a record
    /// that seems to start on a line break starts after it.
    fn record_line(&self, offset: u64) -> u64 {
        self.line_at(self.break_ends.get(&offset).copied().unwrap_or(offset))
    }
}

/// The rows of a books file waiting for their covers, the rows refused, and
/// the encoding the file was read in.
#[derive(Debug)]
pub struct BooksFile {
    pub pending: Vec<PendingBook>,
    pub issues: Vec<ImportIssue>,
    /// `None` for a source that is not a CSV (a Calibre library).
    pub encoding: Option<String>,
}

/// A parsed data row: its line in the file and its fields by column name.
struct Row<'a> {
    line: u64,
    fields: HashMap<&'a str, String>,
}

/// Reads every data row of text already turned into UTF-8. Rows with the wrong
/// number of fields or invalid UTF-8 (damage in a UTF-8 file) become issues instead.
fn read_rows<'a>(
    path: &Path,
    bytes: &[u8],
    columns: &'a [String],
    issues: &mut Vec<ImportIssue>,
) -> Vec<Row<'a>> {
    let label = path.display().to_string();
    let lines = LineIndex::new(bytes);
    let line_of = |position: Option<&csv::Position>, index: usize| {
        position.map_or(index as u64 + 1, |p| lines.record_line(p.byte()))
    };
    let mut rows = Vec::new();
    for (index, record) in reader(bytes).byte_records().enumerate().skip(1) {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                issues.push(ImportIssue {
                    source: label.clone(),
                    line: Some(line_of(e.position(), index)),
                    reason: format!("malformed CSV row: {e}"),
                });
                continue;
            }
        };
        let line = line_of(record.position(), index);
        if record.len() == 1
            && record
                .get(0)
                .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
        {
            continue; // a blank line
        }
        if record.len() != columns.len() {
            issues.push(ImportIssue {
                source: label.clone(),
                line: Some(line),
                reason: format!(
                    "malformed CSV row: {} fields where the header has {}",
                    record.len(),
                    columns.len()
                ),
            });
            continue;
        }
        let mut fields = HashMap::with_capacity(columns.len());
        let mut bad_column = None;
        for (name, raw) in columns.iter().zip(record.iter()) {
            match std::str::from_utf8(raw) {
                Ok(text) => {
                    fields.insert(name.as_str(), text.trim().to_string());
                }
                Err(e) => {
                    bad_column = Some((name.clone(), e.valid_up_to()));
                    break;
                }
            }
        }
        if let Some((column, valid_up_to)) = bad_column {
            issues.push(ImportIssue {
                source: label.clone(),
                line: Some(line),
                reason: format!(
                    "invalid UTF-8 in column `{column}` after byte {valid_up_to} (the file was read as UTF-8; --encoding names another)"
                ),
            });
            continue;
        }
        rows.push(Row { line, fields });
    }
    rows
}

/// Parses a books CSV, read in `encoding` (detected when `None`), into rows
/// waiting for their covers, plus the rows refused.
pub fn read_books(
    path: &Path,
    encoding: Option<&'static Encoding>,
) -> Result<BooksFile, ImportError> {
    let file = CsvFile::open(path, encoding)?;
    if !is_books_header(&file.names()) {
        return Err(ImportError::Unrecognised {
            path: path.to_path_buf(),
            reason: format!("a books CSV needs the columns {}", BOOK_COLUMNS.join(",")),
        });
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let label = path.display().to_string();
    let mut issues = Vec::new();
    let rows = read_rows(path, &file.text.bytes, &file.columns, &mut issues);
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    let mut pending = Vec::with_capacity(rows.len());
    for mut row in rows {
        let mut take = |name: &str| row.fields.remove(name).unwrap_or_default();
        let external_id = take("id");
        let title = take("title");
        let reason = if external_id.is_empty() {
            Some("empty id".to_string())
        } else if title.is_empty() {
            Some(format!("book `{external_id}` has an empty title"))
        } else {
            first_line_of.get(&external_id).map(|first| {
                format!("duplicate id `{external_id}` (first on line {first}); row skipped")
            })
        };
        if let Some(reason) = reason {
            issues.push(ImportIssue {
                source: label.clone(),
                line: Some(row.line),
                reason,
            });
            continue;
        }
        first_line_of.insert(external_id.clone(), row.line);
        let cover_field = take("cover");
        let language = take("language");
        let book = NewBook {
            external_id,
            title,
            author: take("author"),
            synopsis: take("synopsis"),
            category: take("category"),
            language: (!language.is_empty()).then_some(language),
            cover: None,
        };
        let cover = if cover_field.is_empty() {
            Ok(None)
        } else {
            cover::resolve_inside(base_dir, &cover_field).map(Some)
        };
        pending.push(PendingBook {
            line: row.line,
            book,
            cover,
        });
    }
    Ok(BooksFile {
        pending,
        issues,
        encoding: Some(file.text.describe()),
    })
}

fn parse_rating(text: &str) -> Result<Option<f64>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && (0.0..=10.0).contains(&value) => Ok(Some(value)),
        _ => Err(format!(
            "rating `{text}` is not a number from 0 to 10 (leave it empty for read, not rated)"
        )),
    }
}

/// The reading-history rows that can be written; the others as report lines
/// (empty fields, a bad rating, a repeated reading, a book not in the library).
fn valid_readings(
    library: &Library,
    rows: Vec<Row<'_>>,
    label: &str,
    issues: &mut Vec<ImportIssue>,
) -> Result<Vec<NewReading>, ImportError> {
    let mut first_line_of: HashMap<(String, String), u64> = HashMap::new();
    let mut readings = Vec::with_capacity(rows.len());
    for mut row in rows {
        let mut take = |name: &str| row.fields.remove(name).unwrap_or_default();
        let (reader, book_external_id) = (take("reader"), take("book_id"));
        let (rating, date) = (parse_rating(&take("rating")), take("date"));
        let key = (reader.clone(), book_external_id.clone());
        let reason = if reader.is_empty() {
            Some("empty reader".to_string())
        } else if book_external_id.is_empty() {
            Some("empty book_id".to_string())
        } else if let Err(reason) = &rating {
            Some(reason.clone())
        } else if let Some(first) = first_line_of.get(&key) {
            Some(format!(
                "duplicate reading of `{book_external_id}` by `{reader}` (first on line {first}); row skipped"
            ))
        } else if library.book_id_by_external(&book_external_id)?.is_none() {
            Some(format!(
                "unknown book_id `{book_external_id}`: import the book first"
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            let line = Some(row.line);
            issues.push(ImportIssue {
                source: label.to_string(),
                line,
                reason,
            });
            continue;
        }
        first_line_of.insert(key, row.line);
        readings.push(NewReading {
            reader,
            book_external_id,
            rating: rating.ok().flatten(),
            read_on: (!date.is_empty()).then_some(date),
        });
    }
    Ok(readings)
}

/// Imports a reading-history CSV. Every row must name a book already in the
/// library; rows are written a batch per transaction.
pub fn import_readings(
    library: &mut Library,
    path: &Path,
    label: &str,
    options: ImportOptions,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<ImportReport, ImportError> {
    let file = CsvFile::open(path, options.encoding)?;
    if !is_readings_header(&file.names()) {
        return Err(ImportError::Unrecognised {
            path: path.to_path_buf(),
            reason: format!(
                "a reading-history CSV needs the columns {}",
                READING_COLUMNS.join(",")
            ),
        });
    }
    let mut issues = Vec::new();
    let rows = read_rows(path, &file.text.bytes, &file.columns, &mut issues);
    let readings = valid_readings(library, rows, label, &mut issues)?;
    let total = readings.len();
    let batch_size = options.batch_size.max(1) * 8;
    let mut counts = WriteCounts::default();
    let mut cancelled = false;
    on_progress(Progress::new(0, total));
    for (batch_index, batch) in readings.chunks(batch_size).enumerate() {
        if is_cancelled(cancel) {
            cancelled = true;
            break;
        }
        let written = library
            .upsert_readings(batch)
            .map_err(|cause| super::write_failed(library.root(), counts, total, cause))?;
        counts.imported += written.imported;
        counts.updated += written.updated;
        let done = (batch_index * batch_size + batch.len()).min(total);
        on_progress(Progress::new(done, total));
    }
    let source = Source::ReadingsCsv(path.to_path_buf());
    let written = Written {
        counts,
        cancelled,
        encoding: Some(file.text.describe()),
        ..Written::default()
    };
    finish_import(library, &source, label, written, issues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn rows_are_read_by_column_name_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "books.csv",
            "\u{feff}title,id,author,category,synopsis,cover\n\"Two\nLines\",b1,Ann,Drama,\"A, B\",\nThree,b2,Bo,Poetry,,\n".as_bytes(),
        );
        let BooksFile {
            pending, issues, ..
        } = read_books(&path, None).unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].book.external_id, "b1");
        assert_eq!(pending[0].book.title, "Two\nLines");
        assert_eq!(pending[0].book.synopsis, "A, B");
        assert_eq!(pending[0].line, 2);
        assert_eq!(pending[1].line, 4);
        assert_eq!(pending[1].book.category, "Poetry");
        assert!(matches!(pending[1].cover, Ok(None)));
    }

    #[test]
    fn bad_rows_become_issues_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = b"id,title,author,category,synopsis,cover\n".to_vec();
        bytes.extend_from_slice(b"a,Good,,,,\n"); // line 2
        bytes.extend_from_slice(b"b,Too,few\n"); // line 3
        bytes.extend_from_slice(b"c,Bad \xff\xfe title,,,,\n"); // line 4
        bytes.extend_from_slice(b"a,Again,,,,\n"); // line 5
        bytes.extend_from_slice(b",No id,,,,\n"); // line 6
        bytes.extend_from_slice(b"d,,,,,\n"); // line 7
        bytes.extend_from_slice(b"e,Escapes,,,,../../etc/passwd\n"); // line 8
        bytes.extend_from_slice("f,Schön — gut,,,,\n".as_bytes()); // line 9
        let path = write(dir.path(), "books.csv", &bytes);
        let BooksFile {
            pending,
            issues,
            encoding,
        } = read_books(&path, None).unwrap();
        assert_eq!(encoding.as_deref(), Some("UTF-8 (detected)"));
        let ids: Vec<_> = pending
            .iter()
            .map(|p| p.book.external_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "e", "f"]);
        let lines: Vec<_> = issues.iter().map(|i| i.line.unwrap()).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7]);
        assert!(issues[0].reason.contains("3 fields where the header has 6"));
        assert!(issues[1].reason.contains("invalid UTF-8 in column `title`"));
        assert!(
            issues[2]
                .reason
                .contains("duplicate id `a` (first on line 2)")
        );
        assert!(issues[3].reason.contains("empty id"));
        assert!(issues[4].reason.contains("empty title"));
        assert!(
            pending[1]
                .cover
                .as_ref()
                .unwrap_err()
                .contains("leaves the import folder")
        );
    }

    #[test]
    fn lines_are_counted_the_same_with_any_line_ending() {
        for ending in ["\n", "\r\n", "\r"] {
            let text = ["a", "b", "", "c"].join(ending);
            let lines = LineIndex::new(text.as_bytes());
            let offset_of_c = text.find('c').unwrap() as u64;
            assert_eq!(lines.line_at(0), 1, "{ending:?}");
            assert_eq!(lines.line_at(offset_of_c), 4, "{ending:?}");
            // The csv crate starts the record after `\r\n` on its `\n`.
            let break_before_c = offset_of_c - 1;
            assert_eq!(lines.record_line(break_before_c), 4, "{ending:?}");
        }
    }

    #[test]
    fn headers_tell_the_kinds_apart() {
        let dir = tempfile::tempdir().unwrap();
        let books = write(
            dir.path(),
            "a.csv",
            b"id,title,author,category,synopsis,cover\n",
        );
        let readings = write(dir.path(), "b.csv", b"reader,book_id,rating,date\n");
        let other = write(dir.path(), "c.csv", b"name,value\n");
        let binary = write(dir.path(), "d.csv", b"\xff\xd8\xff\xe0\x00\x10JFIF");
        assert!(matches!(
            super::super::detect(&books),
            Ok(Source::BooksCsv(_))
        ));
        assert!(matches!(
            super::super::detect(&readings),
            Ok(Source::ReadingsCsv(_))
        ));
        let err = super::super::detect(&other).unwrap_err().to_string();
        assert!(
            err.contains("unrecognised CSV header `name,value`"),
            "{err}"
        );
        assert!(super::super::detect(&binary).is_err());
    }
}
