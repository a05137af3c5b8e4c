//! VGG16's block 5 trained with the heads, through the command line as an
//! analyst runs it: `train --train-block5` keeps the trained block in the
//! run's checkpoint (moved from the trunk's), `runs` says so beside a frozen
//! run, the block's run answers an image query through its own block, and a
//! fine-tune of a frozen run can train the block from the trunk's.

mod common;

use std::collections::HashMap;

use shelfwise::embed::{self, TrunkSettings};
use tch::{Device, Kind, Tensor};

fn train(dir: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--library",
        dir,
        "--json",
        "train",
        "--beta",
        "0.5",
        "--epochs",
        "3",
        "--image-size",
        "32",
        "--width",
        "0.125",
    ];
    args.extend_from_slice(extra);
    let (status, stdout, stderr) = common::shelfwise(&args);
    assert!(status.success(), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn checkpoint(dir: &std::path::Path, run: i64) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(dir.join(format!("runs/{run}/best.safetensors")))
        .unwrap()
        .into_iter()
        .collect()
}

fn difference(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().to_kind(Kind::Double).double_value(&[])
}

#[test]
fn a_run_trains_block5_keeps_it_and_says_so() {
    let source = tempfile::tempdir().unwrap();
    let csv = common::write_category_books(source.path(), 40, 10, |i| format!("Book {i}"));
    let library = tempfile::tempdir().unwrap();
    let dir = library.path().to_str().unwrap();
    let (status, _, stderr) =
        common::shelfwise(&["--library", dir, "import", csv.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");

    let frozen = train(dir, &[])["runs"][0]["run"].as_i64().unwrap();
    let trained = train(dir, &["--train-block5"])["runs"][0]["run"]
        .as_i64()
        .unwrap();

    // The trunk both runs read: random, seeded by the run's seed.
    let settings = TrunkSettings {
        image_size: 32,
        width: 0.125,
        grid: 8,
        weights: None,
        seed: 1,
        train_block5: false,
    };
    let (trunk_store, _, _) = embed::build_trunk(&settings, Device::Cpu).unwrap();
    let trunk = trunk_store.variables();
    let frozen_checkpoint = checkpoint(library.path(), frozen);
    assert!(
        !frozen_checkpoint
            .keys()
            .any(|name| name.starts_with("block5.")),
        "a frozen run keeps no block 5"
    );
    let kept = checkpoint(library.path(), trained);
    for index in [24, 26, 28] {
        let name = format!("block5.features.{index}.weight");
        let block = kept
            .get(&name)
            .unwrap_or_else(|| panic!("no {name} in the checkpoint"));
        let start = &trunk[&format!("features.{index}.weight")];
        assert_eq!(block.size(), start.size(), "{name}");
        let moved = difference(block, start);
        assert!(moved > 0.0, "{name} did not train");
        // A tenth of the heads' rate: moved, not thrown away.
        assert!(
            moved < start.abs().max().double_value(&[]),
            "{name}: {moved}"
        );
    }

    // The run table says which run trained its block 5.
    let (status, stdout, stderr) = common::shelfwise(&["--library", dir, "runs"]);
    assert!(status.success(), "{stderr}");
    let line = |run: i64| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("run {run} (")))
            .unwrap()
            .to_string()
    };
    assert!(
        line(trained).contains("trunk random + block 5 trained"),
        "{stdout}"
    );
    assert!(line(frozen).contains("trunk random,"), "{stdout}");
    let (_, json, _) = common::shelfwise(&["--library", dir, "--json", "runs"]);
    let runs: serde_json::Value = serde_json::from_str(&json).unwrap();
    let block5 = |run: i64| {
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run"] == run)
            .unwrap()["block5_trained"]
            .as_bool()
            .unwrap_or(false)
    };
    assert!(block5(trained) && !block5(frozen), "{runs}");

    // An image query goes through the run's own block 5.
    let cover = source.path().join("covers/b3.jpg");
    let (status, stdout, stderr) = common::shelfwise(&[
        "--library",
        dir,
        "--json",
        "recommend",
        "--run",
        &trained.to_string(),
        "--image",
        cover.to_str().unwrap(),
        "--k",
        "3",
    ]);
    assert!(status.success(), "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(answer.to_string().contains("b3"), "{answer}");

    // A fine-tune of the frozen run may train block 5, from the trunk's.
    let (status, stdout, stderr) = common::shelfwise(&[
        "--library",
        dir,
        "--json",
        "train",
        "--fine-tune",
        &frozen.to_string(),
        "--epochs",
        "1",
        "--train-block5",
    ]);
    assert!(status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let tuned = report["runs"][0]["run"].as_i64().unwrap();
    let tuned_checkpoint = checkpoint(library.path(), tuned);
    let block = &tuned_checkpoint["block5.features.24.weight"];
    assert!(difference(block, &trunk["features.24.weight"]) > 0.0);
}
