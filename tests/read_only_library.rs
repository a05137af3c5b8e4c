//! A library on a read-only disk (a library shared on a read-only mount, a
//! DVD, a folder without write permission) opens read-only: what is stored
//! answers (`stats`, `runs`, `words`, `recommend`, `project`, `check`), and
//! whatever would write says the folder is read-only before it starts.
//! Needs root to bind-mount the library read-only; skipped otherwise.

mod common;

use std::path::Path;
use std::process::Command;

use common::{shelfwise, trained_library};

/// `source` seen again, read-only, at a folder of its own; unmounted when dropped.
struct ReadOnlyView {
    dir: tempfile::TempDir,
}

impl ReadOnlyView {
    fn of(source: &Path) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            Command::new("mount")
                .args(args)
                .output()
                .is_ok_and(|out| out.status.success())
        };
        let target = dir.path().to_str().unwrap().to_string();
        let target = target.as_str();
        let bound = run(&["--bind", source.to_str().unwrap(), target]);
        if !bound {
            eprintln!("skipped: cannot bind-mount here (the test needs root)");
            return None;
        }
        let view = Self { dir };
        if !run(&["-o", "remount,ro,bind", target]) {
            eprintln!("skipped: cannot remount read-only here");
            return None;
        }
        Some(view)
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
}

impl Drop for ReadOnlyView {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn json(args: &[&str]) -> (bool, serde_json::Value, String) {
    let (status, stdout, stderr) = shelfwise(args);
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout} {stderr}"));
    (status.success(), value, stderr)
}

#[test]
fn a_read_only_library_answers_from_what_is_stored_and_refuses_writes() {
    let (library, source, run) = trained_library();
    let writable = library.path().to_str().unwrap();
    let run = run.to_string();
    // Results stored while the library could be written.
    let like = [
        "recommend",
        "--run",
        &run,
        "--like",
        "b0",
        "--k",
        "5",
        "--json",
    ];
    let (ok, stored_like, stderr) = json(&[&["--library", writable][..], &like].concat());
    assert!(ok, "{stderr}");
    let project = ["project", "--run", &run, "--method", "pca", "--json"];
    let (ok, _, stderr) = json(&[&["--library", writable][..], &project].concat());
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = json(&["--library", writable, "words", "book", "--json"]);
    assert!(ok, "{stderr}");

    let Some(view) = ReadOnlyView::of(library.path()) else {
        return;
    };
    let dir = view.path();
    assert!(
        std::fs::write(Path::new(dir).join("probe"), b"x").is_err(),
        "the view is read-only"
    );

    let (ok, stats, stderr) = json(&["--library", dir, "stats", "--json"]);
    assert!(ok, "{stderr}");
    assert_eq!(stats["books"], 40);
    let (ok, runs, stderr) = json(&["--library", dir, "runs", "--json"]);
    assert!(ok, "{stderr}");
    assert_eq!(runs["runs"][0]["status"], "finished", "{runs}");
    let (ok, _, stderr) = json(&["--library", dir, "words", "book", "--json"]);
    assert!(ok, "{stderr}");
    let (ok, read_only_like, stderr) = json(&[&["--library", dir][..], &like].concat());
    assert!(ok, "{stderr}");
    assert_eq!(read_only_like["suggestions"], stored_like["suggestions"]);
    let (ok, projection, stderr) = json(&[&["--library", dir][..], &project].concat());
    assert!(ok, "{stderr}");
    assert_eq!(projection["books"], 40);
    let (ok, check, stderr) = json(&["--library", dir, "check", "--json"]);
    assert!(ok, "{stderr}");
    assert_eq!(check["findings"], serde_json::json!([]), "{check}");

    // Whatever writes is refused, naming the folder, before it starts.
    let csv = source.path().join("books.csv");
    let writes: [&[&str]; 5] = [
        &["import", csv.to_str().unwrap()],
        &["train", "--beta", "0.5", "--epochs", "1"],
        &["train-words"],
        &["runs", "delete", &run],
        &["check", "--repair"],
    ];
    for command in writes {
        let args = [&["--library", dir, "--json"][..], command].concat();
        let (ok, error, _) = json(&args);
        assert!(!ok, "{command:?} succeeded on a read-only library");
        assert_eq!(error["error"]["kind"], "read_only", "{command:?}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("the library folder {dir} is read-only")),
            "{command:?}: {message}"
        );
    }
}
