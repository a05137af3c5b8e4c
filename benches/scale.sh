#!/usr/bin/env bash
# The scale benchmark. A generated library of BOOKS books (default 100,000,
# each with its own cover, and 5,000 readers' histories; benches/scale_library.rs)
# goes through every stage a librarian waits for, each timed with its peak
# memory: import, Word2Vec, the cover cache, one training run (EPOCHS epochs,
# default 1), the placements of every book stored, one "more like this" from
# the command line, PCA and t-SNE, the library check. Then, in benches: whole
# queries on that library's run (p50 / p99, idle and while a run trains), and
# the window's frames (grid, projection) at BOOKS and at BIG (default
# 1,000,000) books, with "more like this" on BIG synthetic placements and a
# t-SNE / PCA of BIG points (the stages that need no covers).
#
# Usage: benches/scale.sh [BOOKS]   (STAGES="import words ..." to run some;
# KEEP=1 keeps the generated data and library under $SCALE_DIR, default
# /tmp/shelfwise-scale-BOOKS; a kept folder is reused).
set -euo pipefail
cd "$(dirname "$0")/.."
books=${1:-100000}
big=${BIG:-1000000}
epochs=${EPOCHS:-1}
data_dir=${DATA:-../shared/data}
if [ ! -d "$data_dir/openlibrary_covers5" ]; then
    echo "scale: $data_dir/openlibrary_covers5 not found (the shared data is not on this machine)" >&2
    exit 2
fi
stages=${STAGES:-generate import words cache train embeddings recommend pca tsne check queries frames big}
make -s build >&2
bin=${SHELFWISE_BIN:-$(make -s print-binary)}
torch_env=(LIBTORCH_USE_PYTORCH=1 "PATH=${VENV:-$HOME/.cache/shelfwise/torch-venv}/bin:$PATH")
scale=${SCALE_DIR:-/tmp/shelfwise-scale-$books}
generated=$scale/generated
library=$scale/library
results=$scale/results
mkdir -p "$scale" "$results"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$scale"' EXIT
wants() { [[ " $stages " == *" $1 "* ]]; }
# One stage under /usr/bin/time: its seconds and peak memory into results/.
timed() {
    local name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$results/time.$name" "$@" >"$results/out.$name" 2>"$results/err.$name" || {
        echo "scale: stage $name failed:" >&2
        tail -5 "$results/err.$name" >&2
        exit 1
    }
    read -r seconds kilobytes <"$results/time.$name"
    printf '%-28s %10.1f s %8d MB\n' "$name" "$seconds" "$((kilobytes / 1024))" | tee -a "$results/table" >&2
}
shelf() { timed "$1" "$bin" --library "$library" "${@:2}"; }
bench() { env "${torch_env[@]}" cargo bench -q --bench "$@"; }

if wants generate; then
    bench scale_library --no-run >&2
    timed generate env "${torch_env[@]}" cargo bench -q --bench scale_library -- \
        --books "$books" --readers 5000 --out "$generated" --data "$data_dir"
fi
wants import && shelf import import "$generated/books.csv" && shelf import-readings import "$generated/readings.csv"
wants words && shelf words train-words
wants cache && shelf cache cache --parallel-runs 0
if wants train; then
    shelf train train --beta 0.3 --epochs "$epochs" --json
fi
run=$("$bin" --library "$library" runs --json | python3 -c 'import json,sys; print(max(r["run"] for r in json.load(sys.stdin)["runs"] if r["status"]=="finished"))' 2>/dev/null || echo "")
first_book=$(python3 -c 'import csv,sys; r=csv.reader(open(sys.argv[1])); next(r); print(next(r)[0])' "$generated/books.csv")
if [ -n "$run" ]; then
    wants embeddings && shelf embeddings recommend --run "$run" --like "$first_book"
    wants recommend && shelf recommend recommend --run "$run" --like "$first_book"
    wants pca && shelf pca project --run "$run" --method pca
    wants tsne && shelf tsne project --run "$run" --method tsne
fi
# The check exits 1 when it finds something (a stopped run, say): a finding
# is its answer, not the stage failing.
wants check && timed check sh -c '"$0" --library "$1" check; [ $? -le 1 ]' "$bin" "$library"
if wants queries && [ -n "$run" ]; then
    timed queries env LIBRARY="$library" RUN="$run" QUERIES=300 "${torch_env[@]}" cargo bench -q --bench recommend_query
    cat "$results/out.queries"
fi
if wants frames; then
    timed "frames-$books" env BOOKS="$books" "${torch_env[@]}" cargo bench -q --bench frame_time
    cat "$results/out.frames-$books"
fi
if wants big; then
    timed "frames-$big" env BOOKS="$big" FRAMES=100 "${torch_env[@]}" cargo bench -q --bench frame_time
    cat "$results/out.frames-$big"
    timed "queries-$big" env BOOKS="$big" QUERIES=200 TRAINING=0 "${torch_env[@]}" cargo bench -q --bench recommend_query
    cat "$results/out.queries-$big"
    timed "projection-$big" env "${torch_env[@]}" cargo bench -q --bench tsne_points -- --synthetic "$big" 256
    cat "$results/out.projection-$big"
fi
echo
echo "stage (at $books books; big = $big)       time      peak memory"
cat "$results/table"
