#!/usr/bin/env bash
# The whole pipeline on openlibrary_covers5 at the CPU defaults, each stage
# timed with its peak memory: import, Word2Vec, feature cache, a sweep of
# 3 betas + 2 single-modal runs, evaluation of the fused runs' suggestions;
# twice, side by side: one run at a time (the old way) and two at a time.
# MODES="two" runs the new way alone.
# Usage: benches/pipeline.sh [DATA_DIR] (default ../shared/data/openlibrary_covers5)
# Builds the release binary with `make build` first; the library goes to a
# temporary folder that is removed afterwards (set KEEP=1 to keep it).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/openlibrary_covers5}
if [ ! -f "$data/books.csv" ]; then
    echo "pipeline: $data/books.csv not found (the shared data is not on this machine)" >&2
    exit 2
fi
make -s build >&2
bin=${SHELFWISE_BIN:-$(make -s print-binary)}
# Each stage's time and peak memory into $library/time.$mode.$name.
stage() {
    local mode=$1 name=$2
    shift 2
    /usr/bin/time -f "%e %M" -o "$library/time.$mode.$name" "$bin" --library "$library" "$@" >"$library/out.$name" 2>"$library/err.$name" || {
        echo "pipeline: stage $name ($mode) failed:" >&2
        tail -5 "$library/err.$name" >&2
        exit 1
    }
}
# The whole pipeline in a fresh library; `one` trains the sweep's runs one
# after the other with one core left free (and fills the cover cache so), as
# before runs trained side by side; `two` is the default: the cache on every
# core (a worker a run), two runs at a time, each on its share of the cores.
pipeline() {
    local mode=$1
    local runs_flag
    if [ "$mode" = one ]; then runs_flag=1; else runs_flag=0; fi
    library=$(mktemp -d /tmp/shelfwise-pipeline.XXXXXX)
    libraries+=("$library")
    stage "$mode" import import "$data/books.csv"
    stage "$mode" words train-words
    stage "$mode" cache cache --parallel-runs "$runs_flag"
    stage "$mode" sweep train --beta 0.2,0.3,0.5 --single-modal --parallel-runs "$runs_flag" --json
    runs=$(python3 -c 'import json,sys; print(" ".join(str(r["run"]) for r in json.load(open(sys.argv[1]))["runs"] if r["modalities"]=="fused"))' "$library/out.sweep")
    for run in $runs; do
        stage "$mode" "eval$run" eval --run "$run" --json
    done
    cp "$library"/time.* "$results/"
    cp "$library/out.sweep" "$results/out.$mode.sweep"
}
libraries=()
results=$(mktemp -d /tmp/shelfwise-pipeline-times.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "${libraries[@]}" "$results"' EXIT
modes=${MODES:-one two}
for mode in $modes; do
    echo "pipeline ($mode at a time) ..." >&2
    pipeline "$mode"
done
python3 - "$results" $modes <<'PY'
import glob, os, sys
results, modes = sys.argv[1], sys.argv[2:]
def stages(mode):
    out = {}
    for path in sorted(glob.glob(f"{results}/time.{mode}.*")):
        name = path.split(f"time.{mode}.", 1)[1]
        seconds, kilobytes = open(path).read().split()
        out["eval" if name.startswith("eval") else name] = [
            out.get("eval" if name.startswith("eval") else name, [0, 0])[0] + float(seconds),
            max(out.get("eval" if name.startswith("eval") else name, [0, 0])[1], int(kilobytes)),
        ]
    return out
table = {mode: stages(mode) for mode in modes}
order = ["import", "words", "cache", "sweep", "eval"]
head = "".join(f"{m + ' at a time':>26}" for m in modes)
print(f"{'stage':<8}{head}")
for name in order:
    cells = "".join(
        f"{table[m][name][0]:>12.1f} s  {table[m][name][1] // 1024:>6d} MB" if name in table[m] else f"{'':>26}"
        for m in modes
    )
    print(f"{name:<8}{cells}")
totals = "".join(
    f"{sum(v[0] for v in table[m].values()):>12.1f} s  {max(v[1] for v in table[m].values()) // 1024:>6d} MB"
    for m in modes
)
print(f"{'total':<8}{totals}")
if len(modes) == 2:
    a, b = (sum(v[0] for v in table[m].values()) for m in modes)
    print(f"{modes[1]} / {modes[0]}: {b / a:.2f} of the time")
import json
print()
print(f"{'mode':<4} {'run':>4} {'modalities':<10} {'beta':>5} {'best epoch':>10} {'val acc':>8} {'macro-F1':>8}")
for m in modes:
    for r in json.load(open(f"{results}/out.{m}.sweep"))["runs"]:
        print(f"{m:<4} {r['run']:>4} {r['modalities']:<10} {r['beta']:>5} {r['best_epoch']:>10} {r['val_accuracy']:>8.3f} {r['val_macro_f1']:>8.3f}")
PY
