"""What the openlibrary_covers5 benchmarks (fine_tune.py, block5.py) share:
their command line, the set's books and covers in a work folder, and the
seeds run one after another into a results file that a stopped benchmark
goes on from."""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from quality import ROOT, read_books, shelfwise

SET = "openlibrary_covers5"
COLUMNS = ["id", "title", "author", "category", "synopsis", "cover"]


def timed(binary, library, *args):
    started = time.time()
    output = shelfwise(binary, library, *args)
    return output, time.time() - started


def mean_spread(values):
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main(description, name, default_seeds, run_seed, print_table):
    """Parses the command line, runs `run_seed(args, rows, seed, work)` for
    each seed not yet in the results and prints `print_table(results)`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--seeds", default=default_seeds)
    parser.add_argument("--work")
    parser.add_argument("--results")
    parser.add_argument("--config", default=str(ROOT / "models" / "cpu-default.json"))
    parser.add_argument("--table-only", action="store_true", help="print RESULTS' table without training")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix=f"shelfwise-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.results or work / f"{name}.json")
    results = json.loads(results_path.read_text()) if results_path.is_file() else []
    if args.table_only:
        print_table(results)
        return
    data = Path(args.data) / SET
    if not (data / "books.csv").is_file():
        sys.exit(f"{name}: {data / 'books.csv'} is missing; pass --data (../shared/data)")
    rows = read_books(data / "books.csv")
    if not (work / "covers").exists():
        shutil.copytree(data / "covers", work / "covers")
    for seed in [int(s) for s in args.seeds.split(",")]:
        if any(r["seed"] == seed for r in results):
            print(f"seed {seed}: kept from {results_path}", file=sys.stderr)
            continue
        result = run_seed(args, rows, seed, work)
        results.append(result)
        results_path.write_text(json.dumps(results, indent=1))
        print(f"seed {seed}: {json.dumps(result)}", file=sys.stderr, flush=True)
    print_table(results)
