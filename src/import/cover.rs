//! Cover files: checked, decoded under a memory limit, thumbnailed once, and
//! stored under their content hash.

use std::io::Cursor;
use std::path::{Component, Path, PathBuf};

use image::{DynamicImage, ImageDecoder as _, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::store::{StoreError, StoredCover, write_file_atomically};

/// Why a cover was not stored: something about the cover itself (the book is
/// imported without it, and the report says why), or the library could not be
/// written (a full disk, a read-only folder), which stops the import.
#[derive(Debug, thiserror::Error)]
pub enum CoverError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Write(StoreError),
}

impl From<String> for CoverError {
    fn from(reason: String) -> Self {
        CoverError::Refused(reason)
    }
}

impl From<&str> for CoverError {
    fn from(reason: &str) -> Self {
        CoverError::Refused(reason.to_string())
    }
}

/// Largest cover file read at all; anything bigger is not a book cover.
pub const MAX_COVER_BYTES: u64 = 64 * 1024 * 1024;
/// Largest side a cover may have; a header claiming more is refused before decoding.
pub const MAX_COVER_SIDE: u32 = 12_000;
/// The decoder's memory ceiling for one cover.
pub const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;
/// Thumbnails fit in this box (width, height), the grid's cell at 2x.
pub const THUMB_BOX: (u32, u32) = (160, 240);

/// Resolves a cover path written in an import file against that file's folder,
/// refusing absolute paths and paths that leave the folder (also through symlinks).
pub fn resolve_inside(base_dir: &Path, raw: &str) -> Result<PathBuf, String> {
    // `Path::new("books.csv").parent()` is the empty path: the working folder.
    let base_dir = if base_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base_dir
    };
    let relative = Path::new(raw);
    if relative.is_absolute() || raw.starts_with('/') {
        return Err(format!(
            "cover path `{raw}` is absolute; it must be relative to the import file"
        ));
    }
    let mut depth: i64 = 0;
    for component in relative.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "cover path `{raw}` is absolute; it must be relative to the import file"
                ));
            }
        }
        if depth < 0 {
            return Err(format!("cover path `{raw}` leaves the import folder"));
        }
    }
    let base = base_dir
        .canonicalize()
        .map_err(|e| format!("import folder {}: {e}", base_dir.display()))?;
    let full = base
        .join(relative)
        .canonicalize()
        .map_err(|e| format!("cover file `{raw}`: {e}"))?;
    if !full.starts_with(&base) {
        return Err(format!(
            "cover path `{raw}` leaves the import folder (through a link)"
        ));
    }
    Ok(full)
}

/// Reads, checks and stores one cover; the error is the report's reason.
pub fn store_cover(
    library_root: &Path,
    path: &Path,
    known: impl Fn(&str) -> Option<StoredCover>,
) -> Result<StoredCover, CoverError> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cover file unreadable: {e}"))?;
    if !metadata.is_file() {
        return Err("cover path is not a file".into());
    }
    if metadata.len() > MAX_COVER_BYTES {
        return Err(format!(
            "cover file is {} MB, over the {} MB limit",
            metadata.len() / (1024 * 1024),
            MAX_COVER_BYTES / (1024 * 1024)
        )
        .into());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cover file unreadable: {e}"))?;
    let cover_hash = hex(&Sha256::digest(&bytes));
    if let Some(stored) = known(&cover_hash) {
        let cover_file = library_root.join("covers").join(&stored.file_name);
        let thumb_file = library_root.join("thumbs").join(&stored.thumb_name);
        if cover_file.is_file() && thumb_file.is_file() {
            return Ok(stored);
        }
    }
    store_cover_bytes(library_root, &bytes, cover_hash)
}

/// Writes again what a stored cover file lacks (its thumbnail), from the
/// cover's own bytes; the cover must still hash to its name.
pub fn restore_cover_files(
    library_root: &Path,
    cover_file: &Path,
) -> Result<StoredCover, CoverError> {
    let bytes = std::fs::read(cover_file).map_err(|e| format!("cover file unreadable: {e}"))?;
    store_cover_bytes(library_root, &bytes, hex(&Sha256::digest(&bytes)))
}

/// The content hash a cover file is named by.
pub fn file_hash(path: &Path) -> std::io::Result<String> {
    Ok(hex(&Sha256::digest(std::fs::read(path)?)))
}

/// Decodes an image turned the way its EXIF orientation says it is seen (a
/// phone's portrait photo of a cover is stored sideways with a tag saying so).
fn decode_oriented<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
) -> image::ImageResult<DynamicImage> {
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A stored cover file, decoded and turned upright: what the trunk reads.
pub fn open_oriented(path: &Path) -> image::ImageResult<DynamicImage> {
    decode_oriented(ImageReader::open(path)?.with_guessed_format()?)
}

fn store_cover_bytes(
    library_root: &Path,
    bytes: &[u8],
    cover_hash: String,
) -> Result<StoredCover, CoverError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cover file unreadable: {e}"))?;
    let format = reader
        .format()
        .ok_or_else(|| "cover file is not an image (unknown format)".to_string())?;
    if format == ImageFormat::Jpeg && !jpeg_has_end_marker(bytes) {
        return Err("cover JPEG is truncated (no end-of-image marker)".into());
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_COVER_SIDE);
    limits.max_image_height = Some(MAX_COVER_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let image = decode_oriented(reader).map_err(|e| match e {
        image::ImageError::Limits(limit) => format!(
            "cover image is too large to decode ({limit}; at most {MAX_COVER_SIDE}x{MAX_COVER_SIDE} pixels)"
        ),
        other => format!("cover image is corrupt or truncated: {other}"),
    })?;
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err("cover image is empty (0 pixels)".into());
    }
    let thumbnail = image.thumbnail(THUMB_BOX.0, THUMB_BOX.1).to_rgb8();
    let mut thumb_bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumb_bytes, 85)
        .encode_image(&thumbnail)
        .map_err(|e| format!("cannot make the thumbnail: {e}"))?;

    let extension = format.extensions_str().first().copied().unwrap_or("img");
    let shard = &cover_hash[..2];
    let file_name = format!("{shard}/{cover_hash}.{extension}");
    let thumb_name = format!("{shard}/{cover_hash}.jpg");
    let cover_file = library_root.join("covers").join(&file_name);
    let thumb_file = library_root.join("thumbs").join(&thumb_name);
    let cover_is_new = !cover_file.is_file();
    if cover_is_new {
        write_file_atomically(&cover_file, bytes).map_err(CoverError::Write)?;
    }
    if !thumb_file.is_file()
        && let Err(error) = write_file_atomically(&thumb_file, &thumb_bytes)
    {
        // A cover without its thumbnail would belong to no book.
        if cover_is_new {
            let _ = std::fs::remove_file(&cover_file);
        }
        return Err(CoverError::Write(error));
    }
    Ok(StoredCover {
        cover_hash,
        file_name,
        thumb_name,
        width,
        height,
    })
}

/// A complete JPEG ends with the EOI marker (FF D9), possibly followed by padding.
/// Decoders fill a cut-off scan with grey instead of failing, so this is checked first.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let trimmed = bytes
        .iter()
        .rposition(|&b| b != 0 && b != b'\n' && b != b'\r')
        .map_or(&bytes[..0], |last| &bytes[..=last]);
    trimmed.ends_with(&[0xFF, 0xD9])
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TIFF block saying "rotate 90 degrees clockwise to view" (EXIF orientation 6).
    const EXIF_ROTATE_RIGHT: &[u8] = &[
        0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x12, 0x01, 0x03, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn portrait() -> image::RgbImage {
        image::RgbImage::from_fn(60, 90, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 2) as u8, 90])
        })
    }

    #[test]
    fn a_cover_is_stored_the_way_its_exif_orientation_says_it_is_seen() {
        use image::ImageEncoder as _;
        let mut bytes = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
        encoder
            .set_exif_metadata(EXIF_ROTATE_RIGHT.to_vec())
            .unwrap();
        let picture = portrait();
        encoder
            .write_image(&picture, 60, 90, image::ExtendedColorType::Rgb8)
            .unwrap();
        let library = tempfile::tempdir().unwrap();
        let stored = store_cover_bytes(library.path(), &bytes, "ab".repeat(32)).unwrap();
        assert_eq!((stored.width, stored.height), (90, 60));
        let thumb = image::open(library.path().join("thumbs").join(&stored.thumb_name)).unwrap();
        assert!(
            thumb.width() > thumb.height(),
            "the thumbnail is turned too"
        );
        let cover = library.path().join("covers").join(&stored.file_name);
        assert_eq!(
            open_oriented(&cover).unwrap().width(),
            90,
            "and so is what the trunk reads"
        );
    }

    #[test]
    fn a_tiff_cover_decodes() {
        let mut bytes = std::io::Cursor::new(Vec::new());
        portrait().write_to(&mut bytes, ImageFormat::Tiff).unwrap();
        let library = tempfile::tempdir().unwrap();
        let stored = store_cover_bytes(library.path(), bytes.get_ref(), "cd".repeat(32)).unwrap();
        assert_eq!((stored.width, stored.height), (60, 90));
        assert!(stored.file_name.ends_with(".tif") || stored.file_name.ends_with(".tiff"));
    }

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("covers")).unwrap();
        std::fs::write(dir.path().join("covers/a.jpg"), b"x").unwrap();
        assert!(resolve_inside(dir.path(), "covers/a.jpg").is_ok());
        // A CSV named without a folder (`import books.csv`) has the empty
        // path as its parent: its covers are found in the working folder
        // (tests run in the package's root).
        let file = Path::new("Cargo.toml");
        let parent = file.parent().unwrap();
        assert!(resolve_inside(parent, "Cargo.toml").is_ok());
        assert!(resolve_inside(dir.path(), "./covers/../covers/a.jpg").is_ok());
        let err = resolve_inside(dir.path(), "../../etc/passwd").unwrap_err();
        assert!(err.contains("leaves the import folder"), "{err}");
        let err = resolve_inside(dir.path(), "covers/../../x.jpg").unwrap_err();
        assert!(err.contains("leaves the import folder"), "{err}");
        let err = resolve_inside(dir.path(), "/etc/passwd").unwrap_err();
        assert!(err.contains("absolute"), "{err}");
        let err = resolve_inside(dir.path(), "covers/missing.jpg").unwrap_err();
        assert!(err.contains("missing.jpg"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.jpg"), b"x").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.jpg"),
            dir.path().join("link.jpg"),
        )
        .unwrap();
        let err = resolve_inside(dir.path(), "link.jpg").unwrap_err();
        assert!(err.contains("leaves the import folder"), "{err}");
    }

    #[test]
    fn end_marker_check() {
        assert!(jpeg_has_end_marker(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9]));
        assert!(jpeg_has_end_marker(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9, 0, 0]));
        assert!(!jpeg_has_end_marker(&[0xFF, 0xD8, 1, 2, 3]));
        assert!(!jpeg_has_end_marker(&[]));
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
