//! `shelfwise weights get` and `weights import` against a server on 127.0.0.1
//! that this test starts, serving a torchvision-layout VGG16 checkpoint that
//! the project's virtual environment's torch writes (random weights: nothing
//! here reaches outside the machine). The checksum is verified, a download cut
//! half-way resumes, a wrong checksum is refused and leaves no file behind,
//! and the converted trunk is what a run then trains with.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

/// Writes VGG16's 26 trunk tensors (and one classifier tensor, which the
/// conversion leaves out) with torch.save: `legacy` picks the pre-1.6 pickle
/// stream that torchvision's ImageNet file is in, else the zip format.
const WRITE_CHECKPOINT: &str = r#"
import sys, torch
torch.manual_seed(0)
out, legacy = sys.argv[1], sys.argv[2] == "legacy"
state, index, channels = {}, 0, 3
for block in [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]:
    for width in block:
        state[f"features.{index}.weight"] = torch.randn(width, channels, 3, 3) * 0.05
        state[f"features.{index}.bias"] = torch.randn(width) * 0.01
        channels, index = width, index + 2
    index += 1
state["classifier.6.bias"] = torch.zeros(1000)
torch.save(state, out, _use_new_zipfile_serialization=not legacy)
"#;

/// The virtual environment's python with torch, or `None` (a user who built
/// against their own LIBTORCH may have no torch for Python).
fn python_with_torch() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SHELFWISE_VENV").map(|v| PathBuf::from(v).join("bin/python")),
        Some(PathBuf::from("python3")),
    ];
    let found = candidates.into_iter().flatten().find(|python| {
        std::process::Command::new(python)
            .args(["-c", "import torch"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        eprintln!("skipped: no python with torch to write the test checkpoint");
    }
    found
}

fn write_checkpoint(python: &Path, out: &Path, format: &str) -> Vec<u8> {
    let status = std::process::Command::new(python)
        .args(["-c", WRITE_CHECKPOINT])
        .arg(out)
        .arg(format)
        .status()
        .unwrap();
    assert!(status.success(), "writing the test checkpoint failed");
    std::fs::read(out).unwrap()
}

/// A one-file HTTP server: honours `Range: bytes=N-`, and while `cut` is set
/// sends only the first half of what a request asks for, then hangs up.
struct Server {
    address: String,
    cut: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    /// Where the last request asked the file to start (0 without a range).
    last_from: Arc<AtomicUsize>,
}

impl Server {
    fn start(body: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}/vgg16.pth", listener.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let last_from = Arc::new(AtomicUsize::new(0));
        let (cut_flag, counter, from) = (
            Arc::clone(&cut),
            Arc::clone(&requests),
            Arc::clone(&last_from),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let start = serve(stream, &body, cut_flag.load(Ordering::SeqCst));
                from.store(start, Ordering::SeqCst);
            }
        });
        Self {
            address,
            cut,
            requests,
            last_from,
        }
    }
}

/// Answers one request; returns where it asked the file to start.
fn serve(mut stream: TcpStream, body: &[u8], cut: bool) -> usize {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut from = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(range) = lower.strip_prefix("range: bytes=") {
            from = range.trim().trim_end_matches('-').parse().unwrap();
        }
    }
    let rest = &body[from.min(body.len())..];
    let status = if from > 0 {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        rest.len()
    );
    let sent = if cut { &rest[..rest.len() / 2] } else { rest };
    let _ = stream.write_all(header.as_bytes());
    let _ = stream.write_all(sent);
    let _ = stream.flush();
    // Dropping the stream hangs up; a cut one has sent less than its length.
    from
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn weights(library: &Path, args: &[&str]) -> (bool, String, String) {
    let dir = library.to_str().unwrap();
    let (status, stdout, stderr) =
        common::shelfwise(&[&["--library", dir, "weights"], args].concat());
    (status.success(), stdout, stderr)
}

/// Files under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found.sort();
    found
}

/// The first conv's weights in the installed safetensors file.
fn installed_first_weight(library: &Path) -> Vec<f32> {
    let tensors =
        tch::Tensor::read_safetensors(library.join("backbone/vgg16.safetensors")).unwrap();
    assert_eq!(tensors.len(), 26, "the trunk's 26 tensors, no classifier");
    let (_, first) = tensors
        .into_iter()
        .find(|(name, _)| name == "features.0.weight")
        .unwrap();
    assert_eq!(first.size(), [64, 3, 3, 3]);
    let flat = first.flatten(0, -1);
    Vec::<f32>::try_from(&flat).unwrap()
}

fn first_weight_of_checkpoint(python: &Path, checkpoint: &Path) -> Vec<f32> {
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, torch; w = torch.load(sys.argv[1])['features.0.weight']; print(' '.join(repr(x) for x in w.flatten().tolist()))",
        ])
        .arg(checkpoint)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn weights_get_verifies_resumes_refuses_and_installs() {
    let Some(python) = python_with_torch() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checkpoint = work.path().join("vgg16-legacy.pth");
    let body = write_checkpoint(&python, &checkpoint, "legacy");
    let sha = sha256_hex(&body);
    let server = Server::start(body);
    let library = work.path().join("library");

    // A wrong checksum is refused, and nothing is left behind.
    let wrong = "0".repeat(64);
    let (ok, _, stderr) = weights(
        &library,
        &["get", "vgg16", "--url", &server.address, "--sha256", &wrong],
    );
    assert!(!ok);
    assert!(
        stderr.contains("SHA-256") && stderr.contains(&sha),
        "{stderr}"
    );
    assert_eq!(files_under(&library.join("backbone")), Vec::<String>::new());

    // Cut half-way: the half is kept, and the next call resumes from it.
    server.cut.store(true, Ordering::SeqCst);
    let (ok, _, stderr) = weights(
        &library,
        &["get", "vgg16", "--url", &server.address, "--sha256", &sha],
    );
    assert!(!ok, "a cut download was accepted");
    assert!(stderr.contains("resume"), "{stderr}");
    let kept = std::fs::metadata(library.join("backbone/download.pth.part"))
        .unwrap()
        .len();
    assert!(kept > 0, "nothing of the cut download was kept");
    server.cut.store(false, Ordering::SeqCst);
    let before = server.requests.load(Ordering::SeqCst);
    let (ok, stdout, stderr) = weights(
        &library,
        &["get", "vgg16", "--url", &server.address, "--sha256", &sha],
    );
    assert!(ok, "{stderr}");
    assert_eq!(server.requests.load(Ordering::SeqCst), before + 1);
    assert_eq!(
        server.last_from.load(Ordering::SeqCst) as u64,
        kept,
        "the second try asked for the rest, not the whole file"
    );
    assert!(
        stdout.contains("backbone.json") || stdout.contains("vgg16.safetensors"),
        "{stdout}"
    );
    // The checkpoint is gone once converted; the trunk and its record stay.
    assert_eq!(
        files_under(&library.join("backbone")),
        ["backbone.json", "vgg16.safetensors"]
    );
    assert_eq!(
        installed_first_weight(&library),
        first_weight_of_checkpoint(&python, &checkpoint)
    );
    let (ok, stdout, _) = weights(&library, &["--json"]);
    assert!(ok);
    let shown: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(shown["source_sha256"], sha);
    assert_eq!(
        shown["imagenet"], false,
        "random weights are not ImageNet's"
    );

    // A run that names no weights file uses the library's backbone, at full width.
    let dir = library.to_str().unwrap();
    let (status, stdout, stderr) = common::shelfwise(&["--library", dir, "--json", "cache"]);
    assert!(status.success(), "{stderr}");
    let cached: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(cached["trunk"]["trunk"], "pretrained", "{stdout}");
    assert!(
        cached["trunk"]["file"]
            .as_str()
            .unwrap()
            .ends_with("backbone/vgg16.safetensors"),
        "{stdout}"
    );
}

#[test]
fn weights_import_reads_zip_checkpoints_and_refuses_other_files_by_name() {
    let Some(python) = python_with_torch() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checkpoint = work.path().join("vgg16-zip.pth");
    write_checkpoint(&python, &checkpoint, "zip");
    let library = work.path().join("library");
    let (ok, _, stderr) = weights(&library, &["import", checkpoint.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(
        installed_first_weight(&library),
        first_weight_of_checkpoint(&python, &checkpoint)
    );

    let not_vgg = work.path().join("notes.pth");
    std::fs::write(&not_vgg, b"not a checkpoint").unwrap();
    let (ok, _, stderr) = weights(&library, &["import", not_vgg.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("notes.pth"), "{stderr}");
    // The refused file left the installed backbone as it was.
    assert_eq!(
        installed_first_weight(&library),
        first_weight_of_checkpoint(&python, &checkpoint)
    );
    let (ok, stdout, _) = weights(&library, &["clear"]);
    assert!(ok);
    assert!(stdout.contains("random trunk"), "{stdout}");
}
