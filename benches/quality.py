#!/usr/bin/env python3
"""The honest quality benchmark: the model against a cross-validated linear
baseline on books neither has seen, over several seeded splits.

For each data set and seed: a stratified, seeded 80/20 split of its labelled
books; the 80% imported into a fresh library and trained with `train`'s
defaults (models/cpu-default.json) as a fused run, a text-only run and, when
the set has covers, an image-only run (without covers the fused run reads
the text alone and is the text-only run, which is not trained again); each scored with `eval --csv` on the
20% (macro-F1, and cross-modal retrieval mR against its chance level for the
gallery of held-out books). Beside it, on the very same split: TF-IDF over
words and word pairs + logistic regression, with C and class weighting chosen
by 5-fold cross-validation on the 80% alone (scikit-learn).

Prints mean and spread (sample standard deviation) over the seeds, and writes
every figure to RESULTS (default: <work>/quality.json).

Usage: benches/quality.py --binary target/release/shelfwise
         [--data ../shared/data] [--sets openlibrary_covers5,goodbooks_text,goodreads_synopsis_bml]
         [--seeds 1,2,3] [--work DIR] [--config models/cpu-default.json] [--epochs N]
(`make bench-quality` builds the binary and installs scikit-learn first.)

A seed already in RESULTS with the same version (the git trees of src,
Cargo.lock and build.rs, and the settings) is kept rather than trained again,
so a benchmark stopped part-way, or run a set at a time, goes on where it was.
"""

import argparse
import csv
import hashlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETS = "openlibrary_covers5,goodbooks_text,goodreads_synopsis_bml"


def read_books(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.DictReader(f)]
    return [row for row in rows if row.get("category", "").strip()]


def stratified_split(rows, seed, share):
    """A seeded split that keeps each category's share on both sides."""
    by_category = defaultdict(list)
    for row in rows:
        by_category[row["category"].strip()].append(row)
    rng = random.Random(seed)
    train, test = [], []
    for category in sorted(by_category):
        books = sorted(by_category[category], key=lambda r: r["id"])
        rng.shuffle(books)
        cut = max(1, round(len(books) * share))
        train += books[:cut]
        test += books[cut:]
    return train, test


def write_csv(path, rows, columns):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def shelfwise(binary, library, *args):
    command = [str(binary), "--library", str(library), "--json", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"quality: {' '.join(command)} failed:\n{done.stderr[-2000:]}\n{done.stdout[-2000:]}")
    return json.loads(done.stdout)


def text_of(row):
    return " ".join(row.get(k, "") for k in ("title", "author", "synopsis"))


def linear_baseline(train, test, seed):
    """TF-IDF (words + word pairs) + logistic regression, C and class weights
    chosen by 5-fold cross-validation on the training books only."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline(
        [
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("lr", LogisticRegression(max_iter=3000)),
        ]
    )
    grid = GridSearchCV(
        pipeline,
        {"lr__C": [0.3, 1, 3, 10, 30], "lr__class_weight": [None, "balanced"]},
        scoring="f1_macro",
        cv=StratifiedKFold(5, shuffle=True, random_state=seed),
        n_jobs=1,
    )
    grid.fit([text_of(r) for r in train], [r["category"].strip() for r in train])
    predicted = grid.predict([text_of(r) for r in test])
    truth = [r["category"].strip() for r in test]
    return f1_score(truth, predicted, average="macro"), grid.best_params_


def model_version(config_text):
    """What the figures depend on: the git trees of the code and the settings
    file's content. None while the code has uncommitted changes (its figures
    are then never reused)."""
    paths = ["src", "Cargo.lock", "build.rs"]
    try:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        trees = [subprocess.check_output(["git", "rev-parse", f"HEAD:{p}"], cwd=ROOT, text=True).strip() for p in paths]
    except (OSError, subprocess.CalledProcessError):
        return None
    if dirty:
        return None
    settings = hashlib.sha256(config_text.encode()).hexdigest()
    return "-".join(t[:12] for t in trees) + "-" + settings[:12]


def mean_spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def run_set(args, name, config, baselines, on_seed, earlier):
    data = Path(args.data) / name
    rows = read_books(data / "books.csv")
    has_covers = any(r.get("cover", "").strip() for r in rows)
    work = Path(args.work) / name
    work.mkdir(parents=True, exist_ok=True)
    if has_covers and not (work / "covers").exists():
        shutil.copytree(data / "covers", work / "covers")
    columns = ["id", "title", "author", "category", "synopsis", "cover"]
    kinds = ["fused", "text"] + (["image"] if has_covers else [])
    configs = {}
    for kind in kinds:
        settings = dict(config, modalities=kind)
        if args.epochs:
            settings["epochs"] = args.epochs
        configs[kind] = work / f"{kind}.json"
        configs[kind].write_text(json.dumps(settings))
    results = []
    features = Path(args.features) if args.features else None
    for seed in args.seeds:
        kept = [r for r in earlier if r["seed"] == seed and args.version and r.get("version") == args.version]
        if kept:
            # The same code and settings on the same split: the figures of an earlier run stand.
            print(f"{name} seed {seed}: kept from {args.results_path}", file=sys.stderr, flush=True)
            results.append(kept[0])
            on_seed(results)
            continue
        started = time.time()
        train, test = stratified_split(rows, seed, args.share)
        train_csv, test_csv = work / f"train-{seed}.csv", work / f"test-{seed}.csv"
        write_csv(train_csv, train, columns)
        write_csv(test_csv, test, columns)
        library = work / f"library-{seed}"
        shutil.rmtree(library, ignore_errors=True)
        shelfwise(args.binary, library, "import", train_csv)
        if features is not None:
            # The trunk's cache is keyed by cover content and settings: the
            # next split's library reuses it instead of recomputing it.
            shutil.copytree(features, library / "features", dirs_exist_ok=True)
        # The baseline fits on the other core while the model trains on one.
        baseline = baselines.submit(linear_baseline, train, test, seed)
        result = {"set": name, "seed": seed, "train": len(train), "test": len(test), "version": args.version}
        for kind in kinds:
            if kind == "text" and not has_covers:
                # Without covers the fused run reads the text alone: its
                # figures are the text-only run's, bit for bit (every seed of
                # both sets at 15 epochs), so it is not trained twice.
                result["text"] = dict(result["fused"], same_as="fused")
                continue
            sweep = shelfwise(args.binary, library, "train", "--config", configs[kind], "--seed", seed)
            run = sweep["runs"][0]["run"]
            report = shelfwise(args.binary, library, "eval", "--run", run, "--csv", test_csv)
            result[kind] = {
                "run": run,
                "macro_f1": report["macro_f1"],
                "accuracy": report["accuracy"],
                "mR": (report["retrieval"] or {}).get("mR"),
                "gallery": report.get("retrieval_gallery", report["books"]),
                "attention": report.get("attention"),
            }
        if (library / "features").is_dir():
            features = library / "features"
        f1, params = baseline.result()
        result["linear"] = {"macro_f1": f1, "params": params}
        result["seconds"] = time.time() - started
        results.append(result)
        line = ", ".join(f"{k} {result[k]['macro_f1']:.3f}" for k in kinds + ["linear"])
        fused_mr, gallery = result["fused"]["mR"], result["fused"]["gallery"]
        retrieval = (
            f"fused mR {fused_mr:.4f} (chance {16 / (3 * gallery):.4f}, {gallery} books)"
            if fused_mr is not None
            else "no cross-modal retrieval (no covers)"
        )
        print(
            f"{name} seed {seed}: macro-F1 {line}; {retrieval} ({result['seconds']:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        on_seed(results)
    return kinds, results


def attention_of(results, kind, key):
    return [(r[kind].get("attention") or {}).get(key) for r in results]


def print_table(all_results):
    print(
        f"{'set':<24} {'runs':<10} {'macro-F1 (mean ± sd)':>22} {'mR':>16} {'chance mR':>10} {'gallery':>8}"
        f" {'cover share':>16} {'edge peaks':>16} {'edge cells':>10}"
    )
    for name, (kinds, results) in all_results.items():
        gallery = results[0]["fused"].get("gallery") or results[0]["test"]
        chance = 16 / (3 * gallery)
        for kind in kinds + ["linear"]:
            f1 = mean_spread([r[kind]["macro_f1"] for r in results])
            # Without covers "cover-only" embeddings fall back to the text: no mR.
            with_mr = kind == "fused" and "image" in kinds
            mr = mean_spread([r[kind].get("mR") for r in results]) if with_mr else ""
            chance_text = f"{chance:.4f}" if with_mr else ""
            label = "TF-IDF+LR" if kind == "linear" else kind
            share = edge = cells = ""
            if kind in ("fused", "image") and "image" in kinds:
                share = mean_spread(attention_of(results, kind, "mean_cover_share"))
                edge = mean_spread(attention_of(results, kind, "border_peaks"))
                cells = next((f"{c:.3f}" for c in attention_of(results, kind, "border_cells") if c), "")
            print(
                f"{name:<24} {label:<10} {f1:>22} {mr:>16} {chance_text:>10} {gallery if kind == 'fused' else '':>8}"
                f" {share:>16} {edge:>16} {cells:>10}"
            )
    seeds = sorted({r["seed"] for _, results in all_results.values() for r in results})
    print(f"\nseeds {seeds}; held-out books never seen by either model; ± is the sample standard deviation over seeds")
    print("cover share: mean S_c / (S_c + S_u) on held-out covers; edge peaks: share of their CBAM maps peaking in an edge cell (edge cells: by chance)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--sets", default=DEFAULT_SETS)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--share", type=float, default=0.8)
    parser.add_argument("--work")
    parser.add_argument("--config", default=str(ROOT / "models" / "cpu-default.json"))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--results")
    parser.add_argument(
        "--features",
        help="a feature cache folder (<library>/features) the first seed's library starts from; "
        "its entries are keyed by cover content and trunk settings, so figures do not change",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="print the table of RESULTS' figures of this version and train nothing",
    )
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    if not args.work:
        args.work = tempfile.mkdtemp(prefix="shelfwise-quality.")
    config = json.loads(Path(args.config).read_text())
    missing = [n for n in args.sets.split(",") if not (Path(args.data) / n / "books.csv").is_file()]
    if missing:
        sys.exit(f"quality: {', '.join(missing)} not under {args.data} (the shared data is not on this machine)")
    print(f"work folder: {args.work}", file=sys.stderr)
    results_path = Path(args.results or Path(args.work) / "quality.json")
    args.results_path = results_path
    settings = dict(config, epochs=args.epochs or config.get("epochs"))
    args.version = model_version(json.dumps(settings, sort_keys=True))
    if args.version is None:
        print("the code has uncommitted changes: no earlier figures are reused", file=sys.stderr)
    done = json.loads(results_path.read_text()) if results_path.is_file() else {}
    earlier = {name: list(results) for name, results in done.items()}

    if args.table_only:
        table = {}
        for name in args.sets.split(","):
            kept = [r for r in earlier.get(name, []) if r["seed"] in args.seeds and r.get("version") == args.version]
            if kept:
                has_image = all("image" in r for r in kept)
                table[name] = (["fused", "text"] + (["image"] if has_image else []), kept)
        if not table:
            sys.exit(f"quality: {results_path} has no figures of this version ({args.version})")
        print_table(table)
        return

    try:
        import sklearn  # noqa: F401 (the baseline's, checked before hours of training)
    except ImportError:
        sys.exit(
            f"quality: the baseline needs scikit-learn, which {sys.executable} lacks: "
            f'{sys.executable} -m pip install "scikit-learn>=1.5" (make bench-quality does this)'
        )

    def save(name, results):
        # Written after every seed: a long benchmark stopped part-way keeps its figures.
        # Seeds of earlier runs that this one does not train stay in the file.
        seeds = {r["seed"] for r in results}
        others = [r for r in earlier.get(name, []) if r["seed"] not in seeds]
        done[name] = sorted(others + results, key=lambda r: r["seed"])
        results_path.write_text(json.dumps(done, indent=1))

    all_results = {}
    with ProcessPoolExecutor(1) as baselines:
        for name in args.sets.split(","):
            all_results[name] = run_set(
                args, name, config, baselines, lambda r, n=name: save(n, r), earlier.get(name, [])
            )
    print_table(all_results)
    print(f"figures: {results_path}")


if __name__ == "__main__":
    main()
