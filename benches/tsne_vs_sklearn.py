#!/usr/bin/env python3
"""t-SNE of 10,000 points: shelfwise (bhtsne, Barnes-Hut) against scikit-learn's
TSNE (Barnes-Hut), same perplexity, iterations, angle and PCA start, side by
side in one run. scikit-learn gets every core; shelfwise runs its fit on one
thread (so that a seed always gives the same layout), which only handicaps it. Prints each side's seconds, the ratio, and the
trustworthiness (scikit-learn's function, k = 10) of both layouts.

The points: a seeded mixture of 10 Gaussian clusters in 64 dimensions, or
`--points FILE` (comma-separated rows, e.g. a run's embeddings).
`make bench-tsne` installs scikit-learn into the project's virtual environment.
"""
import argparse, json, os, subprocess, sys, tempfile, time

import numpy as np
from sklearn.manifold import TSNE, trustworthiness

parser = argparse.ArgumentParser()
parser.add_argument("--points", help="comma-separated rows (default: synthetic clusters)")
parser.add_argument("--n", type=int, default=10_000)
parser.add_argument("--perplexity", type=float, default=30.0)
parser.add_argument("--iterations", type=int, default=1000)
parser.add_argument("--threads", type=int, default=os.cpu_count())
args = parser.parse_args()

if args.points:
    X = np.loadtxt(args.points, delimiter=",", dtype=np.float32)
else:
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 4, size=(10, 64))
    labels = rng.integers(0, 10, size=args.n)
    X = (centres[labels] + rng.normal(0, 1, size=(args.n, 64))).astype(np.float32)

with tempfile.TemporaryDirectory() as scratch:
    points = os.path.join(scratch, "points.csv")
    layout = os.path.join(scratch, "layout.csv")
    np.savetxt(points, X, delimiter=",", fmt="%.6f")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    # Build first, so that compiling is not timed.
    subprocess.run(["cargo", "bench", "--bench", "tsne_points", "--no-run"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run(
        ["cargo", "bench", "--bench", "tsne_points", "--", points, layout,
         str(args.perplexity), str(args.iterations)],
        check=True, env=env, capture_output=True, text=True)
    ours = json.loads(out.stdout.strip().splitlines()[-1])
    Y_ours = np.loadtxt(layout, delimiter=",")

started = time.perf_counter()
Y_sklearn = TSNE(n_components=2, perplexity=args.perplexity, max_iter=args.iterations,
                 method="barnes_hut", angle=0.5, init="pca", random_state=1,
                 n_jobs=args.threads).fit_transform(X)
sklearn_seconds = time.perf_counter() - started

t_ours = trustworthiness(X, Y_ours, n_neighbors=10)
t_sklearn = trustworthiness(X, Y_sklearn, n_neighbors=10)
print(f"{len(X)} points x {X.shape[1]} dims, perplexity {args.perplexity}, "
      f"{args.iterations} iterations")
print(f"shelfwise (bhtsne, 1 thread): {ours['seconds']:7.1f} s  trustworthiness@10 {t_ours:.4f}")
print(f"scikit-learn TSNE ({args.threads} threads): {sklearn_seconds:7.1f} s  trustworthiness@10 {t_sklearn:.4f}")
print(f"time ratio shelfwise / scikit-learn: {ours['seconds'] / sklearn_seconds:.2f} (goal <= 0.5)")
