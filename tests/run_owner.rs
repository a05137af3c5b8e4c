//! One owner per run, with real processes: while `shelfwise train` trains a
//! run, another process is refused (resume, delete) and told who holds it;
//! killed with SIGKILL, the run shows as interrupted, resumes with its steps
//! continuing, and can then be deleted with its folder.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shelfwise::store::{Library, RunId};

fn runs_json(dir: &str) -> Vec<serde_json::Value> {
    let (status, stdout, stderr) = common::shelfwise(&["--library", dir, "runs", "--json"]);
    assert!(status.success(), "{stderr}");
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    listed["runs"].as_array().unwrap().clone()
}

fn tiny_config(dir: &std::path::Path, epochs: usize) -> std::path::PathBuf {
    let path = dir.join("tiny.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"beta": 0.5, "alpha": null, "epochs": {epochs}, "categories_per_batch": 4,
            "books_per_category": 5, "learning_rate": 0.003, "seed": 1,
            "validation_share": 0.2, "modality_dropout": 0.1, "modalities": "fused",
            "max_words": 50,
            "model": {{"image_size": 32, "width": 0.125, "word_dim": 100, "lstm_hidden": 16,
                      "fused_channels": 16, "embedding_dim": 16, "categories": 2}},
            "trunk": {{"image_size": 32, "width": 0.125, "grid": 2, "weights": null, "seed": 1}}}}"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_run_has_one_owner_and_a_killed_one_resumes() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 40, 10, |i| format!("Book {i}"));
    let library = tempfile::tempdir().unwrap();
    let dir = library.path().to_str().unwrap();
    let (status, _, stderr) =
        common::shelfwise(&["--library", dir, "import", csv.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    let config = tiny_config(source.path(), 1000);

    let mut trainer = Command::new(env!("CARGO_BIN_EXE_shelfwise"))
        .args([
            "--library",
            dir,
            "train",
            "--config",
            config.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, heard) = mpsc::channel();
    let stderr = trainer.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let line = heard
            .recv_timeout(deadline - Instant::now())
            .expect("no epoch ended in time");
        if line.contains("epoch 2/") {
            break;
        }
    }

    // While it trains, the run is its own: others are told who holds it.
    let pid = trainer.id();
    let listed = runs_json(dir);
    assert_eq!(listed[0]["status"], "running");
    assert_eq!(listed[0]["owner"], pid);
    let owner = format!("run 1 is being trained by process {pid}");
    let (status, _, stderr) = common::shelfwise(&["--library", dir, "train", "--resume", "1"]);
    assert!(!status.success() && stderr.contains(&owner), "{stderr}");
    let (status, _, stderr) = common::shelfwise(&["--library", dir, "runs", "delete", "1"]);
    assert!(!status.success() && stderr.contains(&owner), "{stderr}");

    // Killed, it is interrupted, and resumes where it stopped.
    trainer.kill().unwrap();
    trainer.wait().unwrap();
    let listed = runs_json(dir);
    assert_eq!(listed[0]["status"], "interrupted");
    assert!(listed[0]["owner"].is_null());
    let done = listed[0]["epochs"].as_i64().unwrap();
    assert!(done >= 2, "{listed:?}");
    let before = Library::open(library.path())
        .unwrap()
        .run_steps(RunId(1))
        .unwrap()
        .len();
    let (status, _, stderr) = common::shelfwise(&[
        "--library",
        dir,
        "train",
        "--resume",
        "1",
        "--epochs",
        &(done + 2).to_string(),
    ]);
    assert!(status.success(), "{stderr}");
    let steps = Library::open(library.path())
        .unwrap()
        .run_steps(RunId(1))
        .unwrap();
    let numbers: Vec<i64> = steps.iter().map(|s| s.step).collect();
    assert_eq!(numbers, (1..=steps.len() as i64).collect::<Vec<_>>());
    assert!(steps.len() > before);
    assert_eq!(steps.last().unwrap().epoch, done + 2);
    let finished = &runs_json(dir)[0];
    assert_eq!(finished["status"], "finished");
    // A finished run says which trunk it read its covers through.
    assert_eq!(finished["trunk"]["trunk"], "random", "{finished}");

    // Deleted, the run and its folder are gone.
    let (status, _, stderr) = common::shelfwise(&["--library", dir, "runs", "delete", "1"]);
    assert!(status.success(), "{stderr}");
    assert!(runs_json(dir).is_empty());
    assert!(!library.path().join("runs/1").exists());
    let (status, _, stderr) = common::shelfwise(&["--library", dir, "runs", "delete", "1"]);
    assert!(
        !status.success() && stderr.contains("there is no run 1"),
        "{stderr}"
    );
}
