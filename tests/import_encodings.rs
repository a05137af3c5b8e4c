//! CSVs in the encodings librarians' tools write (Latin-1 / Windows-1252 from
//! old spreadsheets, UTF-16 from Excel's "Unicode text", UTF-8 with a BOM) and
//! with any line ending import with their text intact and their report lines
//! on the right rows.

mod common;

use common::{jpeg_cover, shelfwise};
use shelfwise::store::Library;

const HEADER: &str = "id,title,author,category,synopsis,cover\n";

fn titles(library: &std::path::Path) -> Vec<String> {
    let library = Library::open(library).unwrap();
    library
        .book_summaries()
        .unwrap()
        .into_iter()
        .map(|b| b.title)
        .collect()
}

fn import_json(
    library: &std::path::Path,
    csv: &std::path::Path,
    extra: &[&str],
) -> (bool, serde_json::Value, String) {
    let mut args = vec![
        "--library",
        library.to_str().unwrap(),
        "--json",
        "import",
        csv.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (status, stdout, stderr) = shelfwise(&args);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (status.success(), json, stderr)
}

#[test]
fn a_latin1_csv_is_detected_read_and_named_in_the_report() {
    let source = tempfile::tempdir().unwrap();
    let csv = source.path().join("books.csv");
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(
        b"b1,Caf\xe9 de la Gare,Fran\xe7oise Sagan,Roman,Un r\xe9cit d\xe9j\xe0 c\xe9l\xe8bre.,\n",
    );
    bytes.extend_from_slice(
        b"b2,Die Br\xfccke,J\xfcrgen M\xfcller,Roman,Gr\xfc\xdfe aus K\xf6ln.,\n",
    );
    std::fs::write(&csv, bytes).unwrap();
    let library = tempfile::tempdir().unwrap();

    let (ok, json, stderr) = import_json(library.path(), &csv, &[]);

    assert!(ok, "{stderr}");
    assert_eq!(json["imported"], 2, "{json}");
    assert_eq!(json["encoding"], "windows-1252 (detected)", "{json}");
    assert_eq!(titles(library.path()), ["Café de la Gare", "Die Brücke"]);

    // The plain report names the encoding too.
    let again = tempfile::tempdir().unwrap();
    let (status, stdout, _) = shelfwise(&[
        "--library",
        again.path().to_str().unwrap(),
        "import",
        csv.to_str().unwrap(),
    ]);
    assert!(status.success());
    assert!(
        stdout.contains("read as windows-1252 (detected)"),
        "{stdout}"
    );
}

#[test]
fn utf16_with_a_byte_order_mark_is_read() {
    let source = tempfile::tempdir().unwrap();
    let csv = source.path().join("books.csv");
    let text = format!("{HEADER}b1,Ærø — Öland,Åsa,Reise,Ünïcode,\r\nb2,東京物語,小津,映画,,\r\n");
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&csv, bytes).unwrap();
    let library = tempfile::tempdir().unwrap();

    let (ok, json, stderr) = import_json(library.path(), &csv, &[]);

    assert!(ok, "{stderr}");
    assert_eq!(json["encoding"], "UTF-16LE (byte-order mark)", "{json}");
    assert_eq!(titles(library.path()), ["Ærø — Öland", "東京物語"]);
}

#[test]
fn encoding_names_the_files_encoding_and_an_unknown_one_is_refused() {
    let source = tempfile::tempdir().unwrap();
    let csv = source.path().join("books.csv");
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"b1,Caf\xe9,A,Roman,,\n");
    std::fs::write(&csv, bytes).unwrap();

    // Read as UTF-8 on the user's word, the row is refused and nothing is imported.
    let library = tempfile::tempdir().unwrap();
    let (ok, json, _) = import_json(library.path(), &csv, &["--encoding", "utf-8"]);
    assert!(!ok);
    assert_eq!(json["encoding"], "UTF-8 (given)", "{json}");
    let reason = json["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("invalid UTF-8 in column `title`"),
        "{reason}"
    );
    assert!(reason.contains("--encoding"), "{reason}");

    // Read as ISO-8859-1 (WHATWG maps it to windows-1252), it imports.
    let (ok, json, stderr) = import_json(library.path(), &csv, &["--encoding", "latin1"]);
    assert!(ok, "{stderr}");
    assert_eq!(json["encoding"], "windows-1252 (given)");
    assert_eq!(titles(library.path()), ["Café"]);

    let (status, stdout, _) = shelfwise(&[
        "--library",
        library.path().to_str().unwrap(),
        "--json",
        "import",
        csv.to_str().unwrap(),
        "--encoding",
        "klingon",
    ]);
    assert!(!status.success());
    let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("--encoding") && message.contains("`klingon`"),
        "{message}"
    );
}

/// The same rows with LF and with CRLF endings, a quoted field spanning two
/// lines among them, give the same report lines.
#[test]
fn report_lines_are_right_with_any_line_ending() {
    let mut lines_by_ending = Vec::new();
    for ending in ["\n", "\r\n", "\r"] {
        let source = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(source.path().join("covers")).unwrap();
        std::fs::write(source.path().join("covers/good.jpg"), jpeg_cover(1)).unwrap();
        std::fs::write(source.path().join("covers/bad.jpg"), b"not an image").unwrap();
        let rows = [
            "id,title,author,category,synopsis,cover",
            "a,Alpha,A,Drama,One,covers/good.jpg", // 2
            "b,Beta,B,Drama,\"Two{E}lines\",covers/missing.jpg", // 3-4
            "c,Gamma,C,Drama,Three,covers/bad.jpg", // 5
            "d,Too few",                           // 6
            "e,Epsilon,E,Drama,Five,covers/missing.jpg", // 7
        ];
        let text: String = rows
            .iter()
            .map(|row| row.replace("{E}", ending) + ending)
            .collect();
        let csv = source.path().join("books.csv");
        std::fs::write(&csv, text).unwrap();
        let library = tempfile::tempdir().unwrap();
        let (_, json, stderr) = import_json(library.path(), &csv, &[]);
        let lines: Vec<u64> = json["skipped"]
            .as_array()
            .unwrap_or_else(|| panic!("{json} {stderr}"))
            .iter()
            .map(|issue| issue["line"].as_u64().unwrap())
            .collect();
        assert_eq!(json["imported"], 4, "{ending:?}: {json}");
        lines_by_ending.push((ending, lines));
    }
    for (ending, lines) in &lines_by_ending {
        assert_eq!(lines, &[3, 5, 6, 7], "line ending {ending:?}");
    }
}
