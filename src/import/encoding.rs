//! A CSV's text encoding: read from its byte-order mark, given by the user
//! (`--encoding`), or detected (chardetng), then turned into UTF-8 before the
//! rows are parsed, so line numbers stay those of the file.
//!
//! UTF-8 is kept as bytes: a file that is UTF-8 but for a few damaged rows has
//! those rows reported one by one instead of being read as another encoding.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use serde::Serialize;

use super::ImportError;

/// How the encoding of a file was chosen; the report says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodingChoice {
    /// The file starts with a byte-order mark.
    ByteOrderMark,
    /// The user named it (`--encoding`).
    Given,
    /// Found from the bytes.
    Detected,
}

/// A file's bytes as UTF-8 (damaged rows of a UTF-8 file left as they are),
/// with the encoding they were read in.
#[derive(Debug, Clone)]
pub struct DecodedText {
    pub bytes: Vec<u8>,
    pub encoding: &'static Encoding,
    pub choice: EncodingChoice,
}

impl DecodedText {
    /// `windows-1252 (detected)`, for the report.
    pub fn describe(&self) -> String {
        let how = match self.choice {
            EncodingChoice::ByteOrderMark => "byte-order mark",
            EncodingChoice::Given => "given",
            EncodingChoice::Detected => "detected",
        };
        format!("{} ({how})", self.encoding.name())
    }
}

/// The encoding a user named, by any WHATWG label (`latin1`, `utf-16le`, `cp1252`...).
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding, ImportError> {
    Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| ImportError::UnknownEncoding {
        label: label.to_string(),
    })
}

/// Reads `bytes` in `given` when set, else in the encoding its byte-order mark
/// names, else in the one its bytes suggest.
pub fn decode(bytes: Vec<u8>, given: Option<&'static Encoding>) -> DecodedText {
    let (encoding, choice) = match given {
        Some(encoding) => (encoding, EncodingChoice::Given),
        None => match Encoding::for_bom(&bytes) {
            Some((encoding, _)) => (encoding, EncodingChoice::ByteOrderMark),
            None => (detect(&bytes), EncodingChoice::Detected),
        },
    };
    let bytes = if encoding == UTF_8 {
        match bytes.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) => rest.to_vec(),
            None => bytes,
        }
    } else {
        // encoding_rs never fails: bytes it cannot map become U+FFFD.
        let (text, _had_errors) = encoding.decode_with_bom_removal(&bytes);
        text.into_owned().into_bytes()
    };
    DecodedText {
        bytes,
        encoding,
        choice,
    }
}

/// The encoding of bytes without a byte-order mark.
fn detect(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() || mostly_utf8(bytes) {
        return UTF_8;
    }
    if let Some(utf16) = utf16_without_bom(bytes) {
        return utf16;
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    detector.guess(None, false)
}

/// True when valid multi-byte UTF-8 characters outnumber the invalid stretches:
/// a UTF-8 file with a damaged row, not a legacy encoding (where bytes above
/// 127 almost never happen to form valid UTF-8).
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut valid_non_ascii, mut invalid_stretches) = (0usize, 0usize);
    let mut in_stretch = false;
    for chunk in bytes.utf8_chunks() {
        valid_non_ascii += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        if !chunk.valid().is_empty() {
            in_stretch = false;
        }
        if !chunk.invalid().is_empty() {
            // Invalid bytes side by side come as one chunk each: one stretch.
            invalid_stretches += usize::from(!in_stretch);
            in_stretch = true;
        }
    }
    valid_non_ascii > invalid_stretches
}

/// UTF-16 without a byte-order mark: text that is mostly ASCII has a zero in
/// every other byte.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return None;
    }
    let zeros_at = |offset: usize| {
        sample
            .iter()
            .skip(offset)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let (even, odd) = (zeros_at(0), zeros_at(1));
    if odd * 10 >= pairs * 4 && even * 20 < pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 4 && odd * 20 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(decoded: &DecodedText) -> &str {
        std::str::from_utf8(&decoded.bytes).unwrap()
    }

    #[test]
    fn latin1_is_detected_and_read() {
        let bytes =
            b"id,title\nb1,Caf\xe9 \xe0 la cr\xe8me, d\xe9j\xe0 vu\nb2,Na\xefve M\xfcller\n"
                .to_vec();
        let decoded = decode(bytes, None);
        assert_eq!(decoded.encoding, encoding_rs::WINDOWS_1252);
        assert_eq!(decoded.choice, EncodingChoice::Detected);
        assert!(
            text(&decoded).contains("Café à la crème"),
            "{}",
            text(&decoded)
        );
        assert_eq!(decoded.describe(), "windows-1252 (detected)");
    }

    #[test]
    fn utf16_with_and_without_bom_is_read() {
        let csv = "id,title\nb1,Ünïcödé\n";
        let le: Vec<u8> = csv.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = csv.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let with_bom = [b"\xFF\xFE".to_vec(), le.clone()].concat();
        for (bytes, encoding, choice) in [
            (with_bom, UTF_16LE, EncodingChoice::ByteOrderMark),
            (le, UTF_16LE, EncodingChoice::Detected),
            (be, UTF_16BE, EncodingChoice::Detected),
        ] {
            let decoded = decode(bytes, None);
            assert_eq!((decoded.encoding, decoded.choice), (encoding, choice));
            assert_eq!(text(&decoded), csv);
        }
    }

    #[test]
    fn utf8_keeps_its_damaged_rows_as_bytes_and_loses_its_bom() {
        let bytes =
            b"\xEF\xBB\xBFid,title\nb1,Sch\xc3\xb6n \xe2\x80\x94 gut\nb2,Bad \xC3\x28\n".to_vec();
        let decoded = decode(bytes.clone(), None);
        assert_eq!(decoded.encoding, UTF_8);
        assert_eq!(decoded.choice, EncodingChoice::ByteOrderMark);
        assert_eq!(decoded.bytes, bytes[3..]);
        let without_bom = decode(bytes[3..].to_vec(), None);
        assert_eq!(
            (without_bom.encoding, without_bom.choice),
            (UTF_8, EncodingChoice::Detected)
        );
    }

    #[test]
    fn a_given_encoding_wins_over_detection() {
        let bytes = b"id,title\nb1,Caf\xe9\n".to_vec();
        let given = encoding_for_label("utf-8").unwrap();
        let decoded = decode(bytes.clone(), Some(given));
        assert_eq!(
            (decoded.encoding, decoded.choice),
            (UTF_8, EncodingChoice::Given)
        );
        assert_eq!(decoded.bytes, bytes);
        let latin1 = encoding_for_label("latin1").unwrap();
        assert_eq!(text(&decode(bytes, Some(latin1))), "id,title\nb1,Café\n");
        let unknown = encoding_for_label("klingon").unwrap_err().to_string();
        assert!(unknown.contains("`klingon`"), "{unknown}");
    }
}
