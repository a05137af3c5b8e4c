#!/usr/bin/env python3
"""Doubtful labels found again: on openlibrary_covers5, 5% of the books get a
deliberately wrong category (another of the set's, at random), the library is
imported (without covers: the fold models read the text) and
`shelfwise doubtful` ranks the books whose category the cross-fitted models
dispute. Prints, per seed and as mean ± spread, how many of the swapped books
are in the top of the list at the number swapped (precision = recall there),
and recall over the whole list with its length.

Usage: benches/doubtful.py --binary target/release/shelfwise
         [--data ../shared/data] [--seeds 1,2,3] [--share 0.05] [--work DIR]
(`make bench-doubtful` builds the binary first.)
"""

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import ROOT, read_books, shelfwise, write_csv  # noqa: E402

SET = "openlibrary_covers5"
COLUMNS = ["id", "title", "author", "category", "synopsis"]


def run_seed(args, rows, seed, work):
    rng = random.Random(seed)
    categories = sorted({r["category"].strip() for r in rows})
    books = [dict(r) for r in rows]
    swapped = set()
    for book in rng.sample(books, round(len(books) * args.share)):
        book["category"] = rng.choice([c for c in categories if c != book["category"].strip()])
        swapped.add(book["id"])
    csv = work / f"swapped-{seed}.csv"
    write_csv(csv, books, COLUMNS)
    library = work / f"library-{seed}"
    shutil.rmtree(library, ignore_errors=True)
    shelfwise(args.binary, library, "import", csv)
    started = time.time()
    found = shelfwise(args.binary, library, "doubtful", "--folds", args.folds)["doubtful"]
    seconds = time.time() - started
    ranked = [d["external_id"] for d in found]
    k = len(swapped)
    top = len(set(ranked[:k]) & swapped)
    return {
        "seed": seed,
        "books": len(books),
        "swapped": k,
        "listed": len(ranked),
        "precision_at_k": top / k,
        "recall_at_k": top / k,
        "recall_whole_list": len(set(ranked) & swapped) / k,
        "seconds": seconds,
    }


def mean_spread(values):
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--work")
    args = parser.parse_args()
    data = Path(args.data) / SET / "books.csv"
    if not data.is_file():
        sys.exit(f"doubtful: {data} is missing; pass --data (../shared/data)")
    work = Path(args.work or tempfile.mkdtemp(prefix="shelfwise-doubtful-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = read_books(data)
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        result = run_seed(args, rows, seed, work)
        results.append(result)
        print(json.dumps(result), file=sys.stderr, flush=True)
    print(f"{'seed':>5} {'books':>6} {'swapped':>8} {'listed':>7} {'P@k = R@k':>10} {'recall (list)':>14} {'seconds':>8}")
    for r in results:
        print(f"{r['seed']:>5} {r['books']:>6} {r['swapped']:>8} {r['listed']:>7} {r['precision_at_k']:>10.3f}"
              f" {r['recall_whole_list']:>14.3f} {r['seconds']:>8.0f}")
    print(f"mean over seeds {[r['seed'] for r in results]}: precision = recall at the number swapped "
          f"{mean_spread([r['precision_at_k'] for r in results])}, recall over the whole list "
          f"{mean_spread([r['recall_whole_list'] for r in results])}")


if __name__ == "__main__":
    main()
