//! Settings no run can train with are refused by name before anything is
//! written (no sweep, run row or run folder), and with `--json` an error is
//! one JSON object on stdout.

mod common;

use shelfwise::store::Library;

/// Sweeps and runs stored in the library at `dir`.
fn stored_sweeps_and_runs(dir: &std::path::Path) -> (i64, usize) {
    let runs = Library::open(dir).unwrap().runs().unwrap().len();
    let conn = rusqlite::Connection::open(dir.join("library.sqlite")).unwrap();
    let sweeps = conn
        .query_row("SELECT COUNT(*) FROM sweeps", [], |row| row.get(0))
        .unwrap();
    (sweeps, runs)
}

#[test]
fn bad_settings_are_refused_by_name_and_leave_nothing_behind() {
    let library_dir = tempfile::tempdir().unwrap();
    let dir = library_dir.path().to_str().unwrap();
    for (flags, said) in [
        (
            &["--beta", "inf"][..],
            "--beta inf is not allowed: a number from 0 to 1",
        ),
        (&["--beta", "nan"][..], "--beta NaN is not allowed"),
        (&["--beta", "1.5"][..], "--beta 1.5 is not allowed"),
        (&["--beta=-0.5"][..], "--beta -0.5 is not allowed"),
        (&["--epochs", "0"][..], "--epochs 0 is not allowed"),
        (&["--image-size", "8"][..], "--image-size 8 is not allowed"),
        (
            &["--learning-rate", "0"][..],
            "--learning-rate 0 is not allowed",
        ),
    ] {
        let args = [&["--library", dir, "train"][..], flags].concat();
        let (status, _, stderr) = common::shelfwise(&args);
        assert!(!status.success(), "{flags:?} trained");
        assert!(stderr.contains(said), "{flags:?}: {stderr}");
    }
    assert_eq!(stored_sweeps_and_runs(library_dir.path()), (0, 0));
    assert!(!library_dir.path().join("runs").exists());
}

#[test]
fn with_json_an_error_is_one_object_on_stdout() {
    let library_dir = tempfile::tempdir().unwrap();
    let dir = library_dir.path().to_str().unwrap();
    let (status, stdout, _) =
        common::shelfwise(&["--library", dir, "train", "--beta", "2", "--json"]);
    assert!(!status.success());
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect(&stdout);
    assert_eq!(report["error"]["kind"], "invalid_setting");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--beta 2 is not allowed")
    );
    let (status, stdout, _) =
        common::shelfwise(&["--library", dir, "eval", "--run", "999", "--json"]);
    assert!(!status.success());
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect(&stdout);
    assert_eq!(report["error"]["kind"], "run_not_found");
}

/// A run that fails after it started (here: too few books to train on) is
/// stored as failed with its reason, and leaves no folder behind.
#[test]
fn a_run_that_fails_is_stored_failed_with_its_reason_and_leaves_no_folder() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(
        source.path(),
        &[
            ("a", "Sea ship", "Ann", "Drama", "sea"),
            ("b", "Land", "Bo", "Poetry", "land"),
        ],
    );
    let library = tempfile::tempdir().unwrap();
    let dir = library.path().to_str().unwrap();
    let (status, _, stderr) =
        common::shelfwise(&["--library", dir, "import", csv.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");

    let (status, _, stderr) =
        common::shelfwise(&["--library", dir, "train", "--beta", "0.5", "--epochs", "1"]);
    assert!(!status.success());
    assert!(stderr.contains("at least two categories"), "{stderr}");

    let (status, stdout, stderr) = common::shelfwise(&["--library", dir, "runs", "--json"]);
    assert!(status.success(), "{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let run = &runs["runs"][0];
    assert_eq!(run["status"], "failed", "{runs}");
    assert!(
        run["reason"]
            .as_str()
            .unwrap()
            .contains("at least two categories"),
        "{runs}"
    );
    let run_folder = library.path().join("runs").join(run["run"].to_string());
    assert!(!run_folder.exists(), "{} was left", run_folder.display());
    let (status, stdout, _) = common::shelfwise(&["--library", dir, "check", "--json"]);
    assert!(status.success(), "{stdout}");
}
