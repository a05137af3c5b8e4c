//! `shelfwise check` finds what a library folder lost or gained by hand, and
//! `--repair` mends it: a deleted cover and a damaged one are forgotten (the
//! books stay), a deleted thumbnail is rebuilt, stray and temporary files and
//! a run folder without a run are removed.

mod common;

use shelfwise::store::Library;

fn check(dir: &str, repair: bool) -> (bool, serde_json::Value) {
    let mut args = vec!["--library", dir, "check", "--json"];
    if repair {
        args.push("--repair");
    }
    let (status, stdout, stderr) = common::shelfwise(&args);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout} {stderr}"));
    (status.success(), report)
}

fn kinds(report: &serde_json::Value) -> Vec<String> {
    let mut kinds: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds
}

#[test]
fn check_finds_what_was_lost_or_left_and_repair_mends_it() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_books(
        source.path(),
        &[
            ("a", "A", "x", "One", "sea ship"),
            ("b", "B", "y", "One", "sea ship"),
            ("c", "C", "z", "Two", "star moon"),
            ("d", "D", "w", "Two", "star moon"),
        ],
    );
    let library_dir = tempfile::tempdir().unwrap();
    let root = library_dir.path();
    let dir = root.to_str().unwrap();
    common::import(&mut Library::open(root).unwrap(), &csv);
    assert_eq!(
        check(dir, false),
        (true, serde_json::json!({"findings": []}))
    );

    let library = Library::open(root).unwrap();
    let mut covers: Vec<_> = library.stored_covers().unwrap().into_values().collect();
    covers.sort_by(|a, b| a.cover_hash.cmp(&b.cover_hash));
    drop(library);
    std::fs::remove_file(root.join("covers").join(&covers[0].file_name)).unwrap();
    std::fs::write(
        root.join("covers").join(&covers[1].file_name),
        b"not the cover",
    )
    .unwrap();
    let lost_thumb = root.join("thumbs").join(&covers[2].thumb_name);
    std::fs::remove_file(&lost_thumb).unwrap();
    std::fs::create_dir_all(root.join("covers/zz")).unwrap();
    std::fs::write(root.join("covers/zz/stray.jpg"), b"x").unwrap();
    // Left by a writer that has died: a child process that ran and ended.
    let mut writer = std::process::Command::new("true").spawn().unwrap();
    let dead = writer.id();
    writer.wait().unwrap();
    let temporary = root.join(format!("thumbs/.zz.jpg.{dead}.tmp"));
    std::fs::write(&temporary, b"").unwrap();
    std::fs::create_dir_all(root.join("runs/99")).unwrap();

    let (clean, report) = check(dir, false);
    assert!(!clean, "{report}");
    let found = [
        "damaged_cover",
        "missing_cover",
        "missing_thumbnail",
        "orphan_file",
        "orphan_run_folder",
    ];
    let with_temporary = [found.as_slice(), &["temporary_file"]].concat();
    assert_eq!(kinds(&report), with_temporary, "{report}");
    // Opening the library removed the dead writer's temporary file, and says so.
    assert!(!temporary.exists());
    let removed = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "temporary_file")
        .unwrap();
    assert_eq!(removed["repaired"], true);
    assert!(
        removed["detail"]
            .as_str()
            .unwrap()
            .contains("removed when the library opened")
    );

    let (clean, report) = check(dir, true);
    assert!(clean, "{report}");
    assert_eq!(kinds(&report), found);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["repaired"] == true)
    );
    assert!(lost_thumb.is_file(), "the thumbnail is rebuilt");
    assert!(!root.join("runs/99").exists() && !root.join("covers/zz/stray.jpg").exists());
    assert_eq!(
        check(dir, false),
        (true, serde_json::json!({"findings": []}))
    );
    let stats = Library::open(root).unwrap().stats().unwrap();
    assert_eq!(
        (stats.books, stats.with_cover),
        (4, 2),
        "the books stay, two without a cover"
    );
}
