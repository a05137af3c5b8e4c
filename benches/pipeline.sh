#!/usr/bin/env bash
# The whole pipeline on openlibrary_covers5 at the CPU defaults, each stage
# timed with its peak memory: import, Word2Vec, feature cache, a sweep of
# 3 betas + 2 single-modal runs, evaluation of the fused runs' suggestions.
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
library=$(mktemp -d /tmp/shelfwise-pipeline.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$library"' EXIT
total=0
peak=0
stage() {
    local name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$library/time.$name" "$bin" --library "$library" "$@" >"$library/out.$name" 2>"$library/err.$name" || {
        echo "pipeline: stage $name failed:" >&2
        tail -5 "$library/err.$name" >&2
        exit 1
    }
    read -r seconds kilobytes <"$library/time.$name"
    total=$(echo "$total + $seconds" | bc)
    [ "$kilobytes" -gt "$peak" ] && peak=$kilobytes
    printf '%-8s %8.1f s  peak %6d MB\n' "$name" "$seconds" $((kilobytes / 1024))
}
echo "library: $library"
stage import import "$data/books.csv"
stage words train-words
stage cache cache
stage sweep train --beta 0.2,0.3,0.5 --single-modal --json
runs=$(python3 -c 'import json,sys; print(" ".join(str(r["run"]) for r in json.load(open(sys.argv[1]))["runs"] if r["modalities"]=="fused"))' "$library/out.sweep")
for run in $runs; do
    stage "eval$run" eval --run "$run" --json
done
printf '%-8s %8.1f s  peak %6d MB\n' total "$total" $((peak / 1024))
echo
python3 - "$library" $runs <<'PY'
import json, sys
library, runs = sys.argv[1], sys.argv[2:]
print(f"{'run':>4} {'modalities':<10} {'beta':>5} {'best epoch':>10} {'val acc':>8} {'macro-F1':>8}")
for r in json.load(open(f"{library}/out.sweep"))["runs"]:
    print(f"{r['run']:>4} {r['modalities']:<10} {r['beta']:>5} {r['best_epoch']:>10} {r['val_accuracy']:>8.3f} {r['val_macro_f1']:>8.3f}")
for run in runs:
    s = json.load(open(f"{library}/out.eval{run}"))["suggestions"]
    print(f"run {run}: more like this precision@10 {s['more_like_this']['precision']:.3f}, NDCG@10 {s['more_like_this']['ndcg']:.3f}")
PY
