//! A large file fetched over HTTP into a `.part` file that survives a cut
//! connection, a cancel or a crash: the next try asks the server for the rest
//! (an HTTP range request) and the checksum is verified over the whole file
//! before anything uses it. A file whose checksum is wrong is removed, so no
//! half-written or corrupt download is ever left to be trusted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::BackboneError;
use crate::jobs::{Cancel, OnProgress, Progress, is_cancelled};

/// Bytes read and written between two looks at the cancel flag.
const CHUNK: usize = 1 << 20;

/// What to fetch and what it must hash to.
#[derive(Debug, Clone)]
pub struct DownloadRequest<'a> {
    pub url: &'a str,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: &'a str,
}

/// Fetches `request.url` into `part` (resuming what `part` already holds) and
/// verifies its SHA-256. On success `part` holds the whole, verified file.
/// Progress is in bytes.
pub fn download(
    request: &DownloadRequest,
    part: &Path,
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<(), BackboneError> {
    let have = std::fs::metadata(part).map_or(0, |m| m.len());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut call = agent.get(request.url);
    if have > 0 {
        call = call.header("Range", format!("bytes={have}-"));
    }
    let fail = |reason: String| BackboneError::Download {
        url: request.url.to_string(),
        reason,
    };
    let response = call.call().map_err(|e| {
        fail(format!(
            "{e} (is this machine online? `--url` names a mirror of the same file)"
        ))
    })?;
    let status = response.status().as_u16();
    let length: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (start, total) = match status {
        // The server sends the rest.
        206 => (have, length.map(|l| have + l)),
        // The server ignores ranges (or there was nothing yet): start over.
        200 => (0, length),
        // Nothing left to send: the part file is already whole.
        416 if have > 0 => return verify(request, part),
        other => return Err(fail(format!("the server answered HTTP {other}"))),
    };
    let mut file = if start == 0 {
        File::create(part)
    } else {
        OpenOptions::new().append(true).open(part)
    }
    .map_err(|source| io_error(part, source))?;
    let body = response.into_body().into_reader();
    let progress = (start, total.unwrap_or(0).max(start));
    let done = append_body(body, &mut file, progress, on_progress, cancel)
        .map_err(|error| match error {
            Appended::Cancelled(kept) => BackboneError::Cancelled { kept },
            Appended::Broke(done, error) => fail(format!(
                "the connection broke after {done} bytes ({error}); run the same command again to resume"
            )),
            Appended::Write(source) => io_error(part, source),
        })?;
    file.sync_all().map_err(|source| io_error(part, source))?;
    if let Some(total) = total
        && done < total
    {
        return Err(fail(format!(
            "the connection broke after {done} of {total} bytes; run the same command again to resume"
        )));
    }
    verify(request, part)
}

/// Why [`append_body`] stopped before the body's end.
enum Appended {
    Cancelled(u64),
    Broke(u64, std::io::Error),
    Write(std::io::Error),
}

/// Appends `body` to `file` a chunk at a time, looking at the cancel flag
/// between chunks; `(done, total)` is where the progress starts. Returns the
/// bytes the file then holds. What was written stays, to be resumed.
fn append_body(
    mut body: impl Read,
    file: &mut File,
    (mut done, total): (u64, u64),
    on_progress: OnProgress,
    cancel: &Cancel,
) -> Result<u64, Appended> {
    let mut buffer = vec![0u8; CHUNK];
    on_progress(Progress::new(done, total));
    loop {
        if is_cancelled(cancel) {
            file.flush().map_err(Appended::Write)?;
            return Err(Appended::Cancelled(done));
        }
        let read = match body.read(&mut buffer) {
            Ok(0) => return Ok(done),
            Ok(read) => read,
            Err(error) => {
                file.flush().map_err(Appended::Write)?;
                return Err(Appended::Broke(done, error));
            }
        };
        file.write_all(&buffer[..read]).map_err(Appended::Write)?;
        done += read as u64;
        on_progress(Progress::new(done, total.max(done)));
    }
}

/// Checks the whole file's SHA-256; a wrong file is removed (it can never
/// become right by resuming).
fn verify(request: &DownloadRequest, part: &Path) -> Result<(), BackboneError> {
    let found = sha256_of(part)?;
    if found != request.sha256.to_ascii_lowercase() {
        let _ = std::fs::remove_file(part);
        return Err(BackboneError::Checksum {
            origin: request.url.to_string(),
            expected: request.sha256.to_string(),
            found,
        });
    }
    Ok(())
}

/// Lower-case hex SHA-256 of a file, read in chunks.
pub fn sha256_of(path: &Path) -> Result<String, BackboneError> {
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|source| io_error(path, source))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn io_error(path: &Path, source: std::io::Error) -> BackboneError {
    BackboneError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_server_is_named_and_leaves_no_file() {
        // Nothing listens on port 1 of this machine.
        let request = DownloadRequest {
            url: "http://127.0.0.1:1/vgg16.pth",
            sha256: "00",
        };
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("download.pth.part");
        let error = download(&request, &part, &|_| {}, &Cancel::new(false)).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("http://127.0.0.1:1/vgg16.pth"),
            "{message}"
        );
        assert!(message.contains("online"), "{message}");
        assert!(!part.exists());
    }
}
