//! The library's own commands: `import`, `stats`, `info` and `preprocess`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use rayon::prelude::*;
use serde::Serialize;

use super::Context;
use super::progress::ProgressPrinter;
use crate::import::{self, ImportOptions, csv_files};
use crate::model::device::Compute;
use crate::store::{BookId, BookText};
use crate::text::corpus;

#[derive(Serialize)]
struct ImportOutput<'a> {
    imported: usize,
    updated: usize,
    skipped: &'a [crate::store::ImportIssue],
    kind: &'a str,
    import_id: crate::store::ImportId,
    encoding: Option<&'a str>,
    /// Books whose librarian-edited fields the import left as the librarian set them.
    kept_edits: &'a [String],
    /// Books the import names that are in the trash, left there.
    trashed: &'a [String],
}

/// `encoding` is a label from `--encoding` (`latin1`, `utf-16le`...), checked
/// before the library is opened.
pub fn import(context: &Context, path: &Path, encoding: Option<&str>) -> anyhow::Result<ExitCode> {
    let encoding = encoding
        .map(import::encoding::encoding_for_label)
        .transpose()?;
    let mut library = context.open()?;
    let printer = ProgressPrinter::new("importing");
    let options = ImportOptions {
        encoding,
        ..ImportOptions::default()
    };
    let report = import::import_path(
        &mut library,
        path,
        options,
        &printer.callback(),
        context.cancel,
    )
    .with_context(|| format!("importing {}", path.display()))?;
    let output = ImportOutput {
        imported: report.imported,
        updated: report.updated,
        skipped: &report.skipped,
        kind: report.kind,
        import_id: report.import_id,
        encoding: report.encoding.as_deref(),
        kept_edits: &report.kept_edits,
        trashed: &report.trashed,
    };
    context
        .out
        .print(&output, |_| print!("{}", report.to_text()))?;
    if report.cancelled {
        return Ok(ExitCode::from(130));
    }
    if report.imported + report.updated == 0 && !report.skipped.is_empty() {
        eprintln!(
            "shelfwise: nothing was imported from {}: every row had a problem (see the report)",
            path.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn stats(context: &Context) -> anyhow::Result<ExitCode> {
    let stats = context.open()?.stats()?;
    context.out.print(&stats, |stats| {
        println!(
            "{} books, {} with a cover, {} with a synopsis; {} readers, {} readings",
            stats.books, stats.with_cover, stats.with_synopsis, stats.readers, stats.readings
        );
        for (category, count) in &stats.categories {
            let name = if category.is_empty() {
                "(none)"
            } else {
                category
            };
            println!("  {name}: {count}");
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Info {
    library: PathBuf,
    device: String,
    cuda_devices: i64,
    libtorch: &'static str,
}

pub fn info(context: &Context) -> anyhow::Result<ExitCode> {
    let (device, cuda_devices) = Compute::default().describe();
    let info = Info {
        library: context.library_dir.clone(),
        device,
        cuda_devices,
        libtorch: env!("SHELFWISE_LIBTORCH_LIB"),
    };
    context.out.print(&info, |info| {
        println!("library: {}", info.library.display());
        println!("device:  {}", info.device);
        println!("libtorch: {}", info.libtorch);
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `shelfwise check`: the findings, one a line, and exit 1 while any is left.
pub fn check(context: &Context, repair: bool) -> anyhow::Result<ExitCode> {
    let report = crate::check::check_library(&context.library_dir, repair)?;
    context.out.print(&report, |report| {
        for found in &report.findings {
            let mended = if found.repaired { " (repaired)" } else { "" };
            println!(
                "{}: {}: {}{mended}",
                found.kind, found.subject, found.detail
            );
        }
        match report.unrepaired() {
            0 if report.findings.is_empty() => println!("the library is whole"),
            0 => println!("every finding was repaired"),
            left => {
                println!("{left} finding(s) left; `shelfwise check --repair` mends what it can")
            }
        }
    })?;
    Ok(if report.unrepaired() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Each book's tokens, one line per book: the library's books without
/// `paths`, else the books of those CSVs.
pub fn preprocess(context: &Context, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut write_books = |books: &[BookText]| -> anyhow::Result<()> {
        let lines: Vec<String> = books
            .par_iter()
            .map(|book| {
                let language = corpus::book_language(book);
                corpus::book_stems(book, &language).join(" ")
            })
            .collect();
        for line in lines {
            writeln!(stdout, "{line}")?;
        }
        Ok(())
    };
    if paths.is_empty() {
        write_books(&context.open()?.book_texts()?)?;
    }
    for path in paths {
        let csv_files::BooksFile {
            pending, issues, ..
        } = csv_files::read_books(path, None)
            .with_context(|| format!("reading {}", path.display()))?;
        for issue in issues {
            eprintln!(
                "{}:{}: {}",
                issue.source,
                issue.line.unwrap_or(0),
                issue.reason
            );
        }
        let books: Vec<BookText> = pending
            .into_iter()
            .map(|p| BookText {
                book_id: BookId(0),
                language: p.book.language,
                detected_language: None,
                title: p.book.title,
                author: p.book.author,
                synopsis: p.book.synopsis,
                category: p.book.category,
                cover_hash: None,
            })
            .collect();
        write_books(&books)?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
