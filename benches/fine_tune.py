#!/usr/bin/env python3
"""Fine-tuning a grown library against training it again from scratch.

For each seed, on openlibrary_covers5: a stratified, seeded 20% of the
labelled books is set aside and never imported (the books both models are
scored on); the other 80% is cut, again stratified, into a first half and the
rest. The first half is imported into a fresh library and trained (the
parent run, models/cpu-default.json); then the rest is imported and the
trunk's cache filled for its covers (timed on its own: both ways need it);
then, in that same library, the parent is fine-tuned (`train --fine-tune`,
its defaults) and a run is trained from scratch on every book, with the same
settings and seed. Each run is scored with `eval --csv` on the set-aside
books: macro-F1 and the time it took.

Prints per seed and mean ± spread over the seeds, and writes every figure to
RESULTS (default: <work>/fine_tune.json).

Usage: benches/fine_tune.py --binary target/release/shelfwise
         [--data ../shared/data] [--seeds 1,2,3] [--work DIR] [--results FILE]
         [--config models/cpu-default.json] [--table-only]
(`make bench-fine-tune` builds the binary first.)
"""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seeded  # noqa: E402
from quality import shelfwise, stratified_split, write_csv  # noqa: E402
from seeded import COLUMNS, mean_spread, timed  # noqa: E402



def run_seed(args, rows, seed, work):
    pool, test = stratified_split(rows, seed, 0.8)
    first, rest = stratified_split(pool, seed + 1000, 0.5)
    paths = {}
    for name, part in (("first", first), ("rest", rest), ("test", test)):
        paths[name] = work / f"{name}-{seed}.csv"
        write_csv(paths[name], part, COLUMNS)
    library = work / f"library-{seed}"
    shutil.rmtree(library, ignore_errors=True)
    config = str(args.config)
    result = {"seed": seed, "first": len(first), "rest": len(rest), "test": len(test)}

    _, result["import_first_s"] = timed(args.binary, library, "import", paths["first"])
    sweep, result["parent_s"] = timed(args.binary, library, "train", "--config", config, "--seed", seed)
    parent = sweep["runs"][0]["run"]
    _, result["import_rest_s"] = timed(args.binary, library, "import", paths["rest"])
    _, result["cache_rest_s"] = timed(args.binary, library, "cache", "--config", config, "--seed", seed)
    tuned, result["fine_tune_s"] = timed(args.binary, library, "train", "--fine-tune", parent)
    scratch, result["scratch_s"] = timed(args.binary, library, "train", "--config", config, "--seed", seed)
    for kind, run in (("parent", parent), ("fine_tune", tuned["runs"][0]["run"]), ("scratch", scratch["runs"][0]["run"])):
        report = shelfwise(args.binary, library, "eval", "--run", run, "--csv", paths["test"])
        result[kind] = {"run": run, "macro_f1": report["macro_f1"], "accuracy": report["accuracy"]}
    return result


def print_table(results):
    print(f"{'seed':>5} {'books':>13} {'parent F1':>10} {'fine-tune F1':>13} {'scratch F1':>11} {'fine-tune s':>12} {'scratch s':>10} {'ratio':>6} {'cache s':>8}")
    for r in results:
        print(
            f"{r['seed']:>5} {r['first']:>6}+{r['rest']:<6} {r['parent']['macro_f1']:>10.3f} {r['fine_tune']['macro_f1']:>13.3f}"
            f" {r['scratch']['macro_f1']:>11.3f} {r['fine_tune_s']:>12.0f} {r['scratch_s']:>10.0f}"
            f" {r['fine_tune_s'] / r['scratch_s']:>6.2f} {r['cache_rest_s']:>8.0f}"
        )
    if results:
        f1 = lambda kind: mean_spread([r[kind]["macro_f1"] for r in results])  # noqa: E731
        ratio = mean_spread([r["fine_tune_s"] / r["scratch_s"] for r in results])
        print(f"mean over seeds {[r['seed'] for r in results]}: parent {f1('parent')}, fine-tune {f1('fine_tune')}, "
              f"scratch {f1('scratch')}; fine-tune / scratch time {ratio}; held-out books {results[0]['test']}")


if __name__ == "__main__":
    seeded.main(__doc__, "fine_tune", "1,2,3", run_seed, print_table)
