//! A library on a disk that fills during an import: the import stops with a
//! message naming the folder that is full and what was kept; the kept books
//! are whole, and no cover, thumbnail or temporary file is left that no book
//! names. Needs root (to mount a small tmpfs); skipped otherwise.

mod common;

use std::path::Path;
use std::process::Command;

use common::{field, shelfwise};

/// A small tmpfs mounted on a fresh folder, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|out| out.status.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (the test needs root)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A JPEG of noise, which does not compress: each about 15 KB.
fn noise_cover(seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let image = image::RgbImage::from_fn(60, 90, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
        .encode_image(&image)
        .unwrap();
    bytes
}

#[test]
fn a_full_disk_stops_the_import_saying_where_and_what_was_kept() {
    let Some(disk) = SmallDisk::mount("8m") else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(source.path().join("covers")).unwrap();
    let mut csv = String::from("id,title,author,category,synopsis,cover\n");
    for index in 0..200 {
        let cover = format!("covers/{index}.jpg");
        std::fs::write(source.path().join(&cover), noise_cover(index)).unwrap();
        let row = [
            &format!("b{index}"),
            &format!("Book {index}"),
            "An Author",
            ["Drama", "Poetry"][index as usize % 2],
            ["A storm at sea.", "A song of the hills."][index as usize % 2],
            &cover,
        ]
        .map(field)
        .join(",");
        csv.push_str(&row);
        csv.push('\n');
    }
    let csv_path = source.path().join("books.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let library = disk.path().join("library");
    let library_arg = library.to_str().unwrap();

    let (status, stdout, stderr) = shelfwise(&[
        "--library",
        library_arg,
        "--json",
        "import",
        csv_path.to_str().unwrap(),
    ]);

    assert!(!status.success(), "{stdout}");
    let error: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    assert_eq!(error["error"]["kind"], "disk_full", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    let full = format!("the disk holding {library_arg}/");
    assert!(
        message.contains(&full) && message.contains(" is full ("),
        "{message}"
    );
    assert!(message.contains("No space left on device"), "{message}");

    // What the message says was kept is what the library holds, covers and all.
    let kept: usize = message
        .split(" of the 200 rows")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kept count in: {message}"));
    assert!(kept < 200, "{message}");
    assert!(kept > 0, "the first batches fit: {message}");
    let (_, stats, _) = shelfwise(&["--library", library_arg, "--json", "stats"]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["books"], kept, "{stats}");
    assert_eq!(stats["with_cover"], kept, "{stats}");

    // No file that no book names: no orphan cover or thumbnail, no temporary.
    let (status, stdout, _) = shelfwise(&["--library", library_arg, "--json", "check"]);
    assert!(status.success(), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
    let temporaries: Vec<_> = common::walk(&library)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");

    // Training on the full disk says so too, and leaves the library whole.
    let (status, stdout, _) = shelfwise(&[
        "--library",
        library_arg,
        "--json",
        "train",
        "--beta",
        "0.5",
        "--epochs",
        "1",
        "--image-size",
        "32",
    ]);
    assert!(!status.success(), "{stdout}");
    let error: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"]["kind"], "disk_full", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("is full"), "{message}");
    assert!(message.contains(library_arg), "{message}");
    let (status, _, stderr) = shelfwise(&["--library", library_arg, "stats"]);
    assert!(status.success(), "{stderr}");
}
