#!/usr/bin/env python3
"""VGG16's block 5 trained with the heads against the frozen trunk.

For each seed, on openlibrary_covers5: a stratified, seeded 80/20 split of the
labelled books (the split benches/quality.py uses); the 80% imported into a
fresh library; then, side by side in the same library, an image-only and a
fused run with the frozen trunk (models/cpu-default.json) and the same two
runs with `--train-block5`, in the order frozen, block 5, frozen, block 5 so
that both see the machine alike. Each trunk's feature cache is filled first
by `cache` and timed on its own (block 5's holds block 4's output); a run's
time per epoch is its `train` wall time over its epochs. Each run is scored
with `eval --csv` on the held-out 20%: macro-F1.

Prints per seed and mean ± spread over the seeds, and writes every figure to
RESULTS (default: <work>/block5.json).

Usage: benches/block5.py --binary target/release/shelfwise
         [--data ../shared/data] [--seeds 1] [--work DIR] [--results FILE]
         [--config models/cpu-default.json] [--table-only]
(`make bench-block5` builds the binary first.)
"""

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seeded  # noqa: E402
from quality import shelfwise, stratified_split, write_csv  # noqa: E402
from seeded import COLUMNS, mean_spread, timed  # noqa: E402

KINDS = ("image", "fused")


def image_config(work, config_path):
    """The CPU defaults with the cover alone (no dropout, as `--single-modal`'s image run)."""
    config = json.loads(Path(config_path).read_text())
    config["modalities"] = "image"
    config["model"]["dropout"] = 0.0
    path = work / "image-only.json"
    path.write_text(json.dumps(config))
    return path, config["epochs"]


def run_seed(args, rows, seed, work):
    train, test = stratified_split(rows, seed, 0.8)
    paths = {name: work / f"{name}-{seed}.csv" for name in ("train", "test")}
    write_csv(paths["train"], train, COLUMNS)
    write_csv(paths["test"], test, COLUMNS)
    library = work / f"library-{seed}"
    shutil.rmtree(library, ignore_errors=True)
    shelfwise(args.binary, library, "import", paths["train"])
    image_path, epochs = image_config(work, args.config)
    configs = {"image": str(image_path), "fused": str(args.config)}
    result = {"seed": seed, "train": len(train), "test": len(test), "epochs": epochs}
    for trunk, flags in (("frozen", []), ("block5", ["--train-block5"])):
        _, result[f"cache_{trunk}_s"] = timed(
            args.binary, library, "cache", "--config", args.config, "--seed", seed, *flags
        )
    for kind in KINDS:
        for trunk, flags in (("frozen", []), ("block5", ["--train-block5"])):
            sweep, seconds = timed(
                args.binary, library, "train", "--config", configs[kind], "--seed", seed, *flags
            )
            run = sweep["runs"][0]["run"]
            report = shelfwise(args.binary, library, "eval", "--run", run, "--csv", paths["test"])
            result[f"{kind}_{trunk}"] = {
                "run": run,
                "macro_f1": report["macro_f1"],
                "seconds": seconds,
                "seconds_per_epoch": seconds / epochs,
            }
            print(f"seed {seed} {kind} {trunk}: {json.dumps(result[f'{kind}_{trunk}'])}", file=sys.stderr, flush=True)
    return result


def print_table(results):
    print(f"{'seed':>5} {'run':>6} {'frozen F1':>10} {'block 5 F1':>11} {'frozen s/epoch':>15} {'block 5 s/epoch':>16} {'ratio':>6}")
    for r in results:
        for kind in KINDS:
            frozen, block5 = r[f"{kind}_frozen"], r[f"{kind}_block5"]
            print(
                f"{r['seed']:>5} {kind:>6} {frozen['macro_f1']:>10.3f} {block5['macro_f1']:>11.3f}"
                f" {frozen['seconds_per_epoch']:>15.1f} {block5['seconds_per_epoch']:>16.1f}"
                f" {block5['seconds_per_epoch'] / frozen['seconds_per_epoch']:>6.2f}"
            )
    if results:
        for kind in KINDS:
            f1 = lambda trunk: mean_spread([r[f"{kind}_{trunk}"]["macro_f1"] for r in results])  # noqa: E731
            ratio = mean_spread(
                [r[f"{kind}_block5"]["seconds_per_epoch"] / r[f"{kind}_frozen"]["seconds_per_epoch"] for r in results]
            )
            print(f"{kind} over seeds {[r['seed'] for r in results]}: frozen {f1('frozen')}, block 5 {f1('block5')}; "
                  f"time per epoch block 5 / frozen {ratio}")
        cache = mean_spread([r["cache_block5_s"] / r["cache_frozen_s"] for r in results])
        print(f"feature cache block 5 / frozen time {cache}; training books {results[0]['train']}, held-out {results[0]['test']}")


if __name__ == "__main__":
    seeded.main(__doc__, "block5", "1", run_seed, print_table)
