//! Near-duplicates and merging, from the command line: the same cover bytes,
//! a cover re-encoded (alike by its perceptual hash), the same title and
//! author written differently, and nothing for books that only share a
//! category; a merge keeps one book with the readings of both, and one undo
//! brings the other back with its own.

mod common;

use std::path::Path;

/// A cover of 6 x 9 blocks of pseudo-random brightness: covers of different
/// seeds look different to a perceptual hash.
fn blocks_cover(seed: u32, quality: u8, lighter: u8) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    let levels: Vec<u8> = (0..54)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 200) as u8
        })
        .collect();
    let image = image::RgbImage::from_fn(120, 180, |x, y| {
        let level = levels[(y / 20 * 6 + x / 20) as usize].saturating_add(lighter);
        image::Rgb([level, level, level])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&image)
        .unwrap();
    bytes
}

use common::shelfwise_json as run;

fn readers_of(library: &Path, book: &str) -> Vec<String> {
    let library = shelfwise::store::Library::open(library).unwrap();
    let id = library.find_book(book).unwrap();
    let mut readers: Vec<String> = ["ada", "bob"]
        .into_iter()
        .filter(|reader| {
            library
                .all_readings()
                .unwrap()
                .iter()
                .any(|(r, b, _)| r == reader && *b == id)
        })
        .map(str::to_string)
        .collect();
    readers.sort();
    readers
}

#[test]
fn likely_duplicates_are_found_and_a_merge_keeps_both_books_readings() {
    let source = tempfile::tempdir().unwrap();
    let dir = source.path();
    std::fs::create_dir_all(dir.join("covers")).unwrap();
    let covers = [
        ("a", blocks_cover(1, 90, 0)),
        ("b", blocks_cover(1, 90, 0)),
        ("c", blocks_cover(1, 60, 6)),
        ("d", blocks_cover(2, 90, 0)),
        ("e", blocks_cover(3, 90, 0)),
        ("f", blocks_cover(4, 90, 0)),
    ];
    for (id, bytes) in &covers {
        std::fs::write(dir.join(format!("covers/{id}.jpg")), bytes).unwrap();
    }
    std::fs::write(
        dir.join("books.csv"),
        "id,title,author,category,synopsis,cover\n\
         a,Dracula,Bram Stoker,Horror,,covers/a.jpg\n\
         b,Dracula (copy),Bram Stoker,Horror,,covers/b.jpg\n\
         c,Dracula reprint,B. Stoker,Horror,,covers/c.jpg\n\
         d,The Hobbit,J. R. R. Tolkien,Fantasy,,covers/d.jpg\n\
         e,\"the hobbit!\",J.R.R. Tolkien,Fantasy,,covers/e.jpg\n\
         f,Emma,Jane Austen,Fantasy,,covers/f.jpg\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("readings.csv"),
        "reader,book_id,rating,date\nada,b,5,2024-01-02\nbob,a,4,\nbob,b,2,\n",
    )
    .unwrap();
    let library = tempfile::tempdir().unwrap();
    let lib = library.path();
    run(lib, &["import", dir.join("books.csv").to_str().unwrap()]);
    run(lib, &["import", dir.join("readings.csv").to_str().unwrap()]);

    let found = run(lib, &["near-duplicates"]);
    let pairs: Vec<(String, String, String)> = found["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["books"][0]["external_id"].as_str().unwrap().to_string(),
                p["books"][1]["external_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |kind: &str, x: &str, y: &str| {
        pairs
            .iter()
            .any(|(k, a, b)| k == kind && ((a == x && b == y) || (a == y && b == x)))
    };
    assert!(has("same_cover", "a", "b"), "{found}");
    assert!(
        has("similar_cover", "a", "c") || has("similar_cover", "b", "c"),
        "{found}"
    );
    // "J. R. R." and "J.R.R.": the same once punctuation is set aside.
    assert!(has("same_title_and_author", "d", "e"), "{found}");
    assert!(
        !pairs.iter().any(|(_, a, b)| a == "f" || b == "f"),
        "Emma looks like nothing else: {found}"
    );

    // Merge b into a: a keeps bob's own reading and gains ada's; b leaves.
    run(lib, &["merge", "a", "b"]);
    assert_eq!(readers_of(lib, "a"), ["ada", "bob"]);
    assert_eq!(run(lib, &["stats"])["books"], 5);
    let trash = run(lib, &["trash"]);
    assert_eq!(trash["trash"][0]["external_id"], "b");
    // One undo: b is back with its readings, a has its own only.
    run(lib, &["undo"]);
    assert_eq!(readers_of(lib, "a"), ["bob"]);
    assert_eq!(readers_of(lib, "b"), ["ada", "bob"]);
    assert_eq!(run(lib, &["stats"])["books"], 6);
    let (status, _, stderr) =
        common::shelfwise(&["--library", lib.to_str().unwrap(), "merge", "a", "a"]);
    assert!(
        !status.success() && stderr.contains("merged with itself"),
        "{stderr}"
    );
}
