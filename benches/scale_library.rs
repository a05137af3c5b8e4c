//! Writes a large generated library in the import format, for the scale
//! benchmark (`benches/scale.sh`): the books of `../shared/data` (every set
//! with a `books.csv`) repeated until there are `--books` of them, each copy
//! with its own id and a varied title, and its own cover: the source's cover
//! (or, for a book without one, a cover borrowed from a set that has them)
//! cropped, flipped and recoloured by a seed of its own, so that no two covers
//! are the same image. Also a reading history of `--readers` readers, each
//! reading mostly in one or two categories.
//!
//! `cargo bench --bench scale_library -- --books 100000 --readers 5000 --out DIR`
//! (`--no-covers` for the stages that do not read covers; `--data DIR` for
//! another shared-data folder). Covers already written are kept, so an
//! interrupted run picks up where it stopped.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use image::imageops::{self, FilterType};
use image::{DynamicImage, RgbImage};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use rayon::prelude::*;

/// One book of the shared data, with its cover's path when it has one.
#[derive(Clone)]
struct SourceBook {
    id: String,
    title: String,
    author: String,
    category: String,
    synopsis: String,
    cover: Option<PathBuf>,
}

struct Settings {
    books: usize,
    readers: usize,
    out: PathBuf,
    data: PathBuf,
    covers: bool,
}

fn settings() -> Settings {
    let mut settings = Settings {
        books: 100_000,
        readers: 5_000,
        out: PathBuf::from("scale-library"),
        data: PathBuf::from("../shared/data"),
        covers: true,
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--books" => settings.books = value().parse().unwrap_or_else(|_| usage("--books N")),
            "--readers" => {
                settings.readers = value().parse().unwrap_or_else(|_| usage("--readers N"))
            }
            "--out" => settings.out = PathBuf::from(value()),
            "--data" => settings.data = PathBuf::from(value()),
            "--no-covers" => settings.covers = false,
            other => usage(&format!("unknown argument {other}")),
        }
    }
    settings
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "scale_library: {problem}\nusage: scale_library --books N --readers N --out DIR [--data DIR] [--no-covers]"
    );
    std::process::exit(2)
}

/// Every book of every set under `data` (sorted by set name, so the pool is
/// the same on every machine).
fn source_books(data: &Path) -> anyhow::Result<Vec<SourceBook>> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(data)
        .map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("books.csv").is_file())
        .collect();
    sets.sort();
    let mut books = Vec::new();
    for set in sets {
        let csv_path = set.join("books.csv");
        let mut reader = csv::Reader::from_path(&csv_path)?;
        for (line, record) in reader
            .deserialize::<std::collections::HashMap<String, String>>()
            .enumerate()
        {
            let row = record
                .map_err(|e| anyhow::anyhow!("{} row {}: {e}", csv_path.display(), line + 2))?;
            let field = |name: &str| row.get(name).cloned().unwrap_or_default();
            let cover = Some(field("cover"))
                .filter(|c| !c.is_empty())
                .map(|c| set.join(c))
                .filter(|c| c.is_file());
            books.push(SourceBook {
                id: field("id"),
                title: field("title"),
                author: field("author"),
                category: field("category"),
                synopsis: field("synopsis"),
                cover,
            });
        }
    }
    anyhow::ensure!(!books.is_empty(), "no books.csv under {}", data.display());
    Ok(books)
}

/// Words that vary the copies' titles.
const TITLE_WORDS: &[&str] = &[
    "Revisited",
    "Collected",
    "Illustrated",
    "Abridged",
    "Annotated",
    "Companion",
    "Reader",
    "Anniversary",
    "Second",
    "Complete",
    "Pocket",
    "Omnibus",
    "Library",
    "Classic",
    "New",
];

/// A seeded generator per (book, purpose), independent of thread order.
fn rng_for(book: usize, purpose: u64) -> SmallRng {
    SmallRng::seed_from_u64((book as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ purpose)
}

fn unit(rng: &mut SmallRng) -> f32 {
    rng.next_u32() as f32 / u32::MAX as f32
}

/// The source cover, cropped to 80-100% of each side at a seeded place,
/// flipped half the time, hue-rotated, brightened or darkened, contrast
/// changed, and brought back to the source's size.
fn varied_cover(source: &DynamicImage, book: usize) -> RgbImage {
    let mut rng = rng_for(book, 1);
    let image = source.to_rgb8();
    let (width, height) = image.dimensions();
    let crop_w = ((width as f32) * (0.8 + 0.2 * unit(&mut rng))).max(8.0) as u32;
    let crop_h = ((height as f32) * (0.8 + 0.2 * unit(&mut rng))).max(8.0) as u32;
    let x = ((width - crop_w.min(width)) as f32 * unit(&mut rng)) as u32;
    let y = ((height - crop_h.min(height)) as f32 * unit(&mut rng)) as u32;
    let mut cover =
        imageops::crop_imm(&image, x, y, crop_w.min(width), crop_h.min(height)).to_image();
    if rng.next_u32() % 2 == 1 {
        imageops::flip_horizontal_in_place(&mut cover);
    }
    let cover = imageops::huerotate(&cover, (unit(&mut rng) * 120.0 - 60.0) as i32);
    let cover = imageops::colorops::brighten(&cover, (unit(&mut rng) * 40.0 - 20.0) as i32);
    let cover = imageops::contrast(&cover, unit(&mut rng) * 30.0 - 15.0);
    imageops::resize(&cover, width, height, FilterType::Triangle)
}

fn write_cover(path: &Path, cover: &RgbImage) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(BufWriter::new(file), 85);
    encoder.encode_image(cover)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let settings = settings();
    let started = Instant::now();
    let pool = source_books(&settings.data)?;
    let with_covers: Vec<&SourceBook> = pool.iter().filter(|b| b.cover.is_some()).collect();
    anyhow::ensure!(
        !settings.covers || !with_covers.is_empty(),
        "no set under {} has covers (use --no-covers)",
        settings.data.display()
    );
    std::fs::create_dir_all(settings.out.join("covers"))?;
    eprintln!(
        "scale_library: {} books from a pool of {} ({} with covers) into {}",
        settings.books,
        pool.len(),
        with_covers.len(),
        settings.out.display()
    );

    // The books: copy `copy` of source `index % pool`.
    let books_path = settings.out.join("books.csv");
    let mut books_csv = csv::Writer::from_path(&books_path)?;
    books_csv.write_record(["id", "title", "author", "category", "synopsis", "cover"])?;
    let mut categories: Vec<String> = pool.iter().map(|b| b.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let mut book_categories = Vec::with_capacity(settings.books);
    for index in 0..settings.books {
        let source = &pool[index % pool.len()];
        let copy = index / pool.len();
        let title = if copy == 0 {
            source.title.clone()
        } else {
            let word = TITLE_WORDS[(index * 7 + copy) % TITLE_WORDS.len()];
            format!("{} ({word} {copy})", source.title)
        };
        let cover = if settings.covers {
            format!("covers/g{index:07}.jpg")
        } else {
            String::new()
        };
        books_csv.write_record([
            &format!("{}-g{index}", source.id),
            &title,
            &source.author,
            &source.category,
            &source.synopsis,
            &cover,
        ])?;
        book_categories.push(categories.binary_search(&source.category).unwrap_or(0));
    }
    books_csv.flush()?;
    eprintln!(
        "scale_library: books.csv written ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    if settings.covers {
        let done = AtomicUsize::new(0);
        let step = (settings.books / 20).max(1);
        (0..settings.books)
            .into_par_iter()
            .try_for_each(|index| -> anyhow::Result<()> {
                let path = settings.out.join(format!("covers/g{index:07}.jpg"));
                if !path.is_file() {
                    let source = &pool[index % pool.len()];
                    let cover_path = source.cover.clone().unwrap_or_else(|| {
                        let borrowed = (index.wrapping_mul(7919)) % with_covers.len();
                        with_covers[borrowed].cover.clone().expect("a cover")
                    });
                    let image = image::open(&cover_path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", cover_path.display()))?;
                    write_cover(&path, &varied_cover(&image, index))?;
                }
                let count = done.fetch_add(1, Ordering::Relaxed) + 1;
                if count.is_multiple_of(step) {
                    eprintln!(
                        "scale_library: {count} of {} covers ({:.0} s)",
                        settings.books,
                        started.elapsed().as_secs_f64()
                    );
                }
                Ok(())
            })?;
    }

    // Readers: each likes one or two categories and reads 10-60 books, four
    // in five of them from the liked categories.
    let mut by_category: Vec<Vec<usize>> = vec![Vec::new(); categories.len()];
    for (index, category) in book_categories.iter().enumerate() {
        by_category[*category].push(index);
    }
    let mut readings = csv::Writer::from_path(settings.out.join("readings.csv"))?;
    readings.write_record(["reader", "book_id", "rating", "date"])?;
    let mut rows = 0usize;
    for reader in 0..settings.readers {
        let mut rng = rng_for(reader, 2);
        let liked: Vec<usize> = (0..1 + rng.next_u32() as usize % 2)
            .map(|_| rng.next_u32() as usize % categories.len())
            .filter(|c| !by_category[*c].is_empty())
            .collect();
        let count = 10 + rng.next_u32() as usize % 51;
        let mut read = std::collections::BTreeSet::new();
        while read.len() < count.min(settings.books) {
            let book = if !liked.is_empty() && !rng.next_u32().is_multiple_of(5) {
                let shelf = &by_category[liked[rng.next_u32() as usize % liked.len()]];
                shelf[rng.next_u32() as usize % shelf.len()]
            } else {
                rng.next_u32() as usize % settings.books
            };
            read.insert(book);
        }
        for book in read {
            let source = &pool[book % pool.len()];
            let rating = 1 + rng.next_u32() % 5;
            let day = 1 + rng.next_u32() % 28;
            let month = 1 + rng.next_u32() % 12;
            readings.write_record([
                &format!("reader-{reader:05}"),
                &format!("{}-g{book}", source.id),
                &rating.to_string(),
                &format!("2025-{month:02}-{day:02}"),
            ])?;
            rows += 1;
        }
    }
    readings.flush()?;
    eprintln!(
        "scale_library: {} books, {rows} readings of {} readers, in {:.1} s",
        settings.books,
        settings.readers,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
