#!/usr/bin/env python3
"""shelfwise's Word2Vec against gensim's, side by side in one run.

Both train skip-gram with negative sampling on the same corpus (every title,
author and synopsis in ../shared/data, preprocessed by `shelfwise preprocess`
and repeated to at least 2 million tokens) with the same settings and the same
number of threads. Prints words per second for each and their ratio, and, for
quality, how far the top-10 neighbour lists of 200 probe words agree between the
two (with gensim against itself under another seed as the yardstick).

Run with `make bench-words`, which installs gensim into the project's virtual
environment and builds the release binary first.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def log(message):
    print(message, file=sys.stderr, flush=True)


def build_corpus(binary, out, min_tokens):
    csvs = sorted(DATA.glob("*/books.csv"))
    if not csvs:
        sys.exit(f"skipped: no books.csv under {DATA}")
    lines = subprocess.run(
        [binary, "preprocess", *map(str, csvs)], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    lines = [line for line in lines if line.strip()]
    base_tokens = sum(len(line.split()) for line in lines)
    repeats = -(-min_tokens // base_tokens)
    with open(out, "w") as corpus:
        for _ in range(repeats):
            for line in lines:
                corpus.write(line + "\n")
    log(f"corpus: {len(lines)} books from {len(csvs)} sets, {base_tokens} tokens, x{repeats} "
        f"= {base_tokens * repeats} tokens")
    return base_tokens * repeats


def gensim_model(corpus, args, seed, corpus_file_mode):
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=args.dim, window=args.window, negative=args.negative, hs=0, sg=1,
                     min_count=args.min_count, sample=args.sample, alpha=0.025, min_alpha=0.0001,
                     workers=args.threads, seed=seed, epochs=args.epochs)
    if corpus_file_mode:
        model.build_vocab(corpus_file=str(corpus))
        started = time.perf_counter()
        model.train(corpus_file=str(corpus), total_words=model.corpus_total_words, epochs=args.epochs)
    else:
        sentences = [line.split() for line in open(corpus)]
        model.build_vocab(sentences)
        started = time.perf_counter()
        model.train(sentences, total_examples=model.corpus_count, epochs=args.epochs)
    return model, time.perf_counter() - started


def neighbour_agreement(a, b, probes):
    overlaps = []
    for word in probes:
        top_a = {w for w, _ in a.most_similar(word, topn=10)}
        top_b = {w for w, _ in b.most_similar(word, topn=10)}
        overlaps.append(len(top_a & top_b) / 10)
    shared_any = sum(1 for o in overlaps if o > 0) / len(overlaps)
    return sum(overlaps) / len(overlaps), shared_any


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "shelfwise"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-tokens", type=int, default=2_000_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()

    import gensim
    from gensim.models import KeyedVectors

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        corpus = work / "corpus.txt"
        tokens = build_corpus(args.binary, corpus, args.min_tokens)
        corpus_words = tokens * args.epochs

        log("training: shelfwise")
        rust_vec = work / "shelfwise.vec"
        result = subprocess.run(
            [args.binary, "train-words", "--corpus-file", str(corpus), "--export", str(rust_vec),
             "--threads", str(args.threads), "--epochs", str(args.epochs), "--dim", str(args.dim),
             "--window", str(args.window), "--negative", str(args.negative),
             "--min-count", str(args.min_count), "--sample", str(args.sample), "--seed", "1", "--json"],
            check=True, capture_output=True, text=True)
        rust = json.loads(result.stdout)
        rust_rate = corpus_words / rust["seconds"]
        rust_vectors = KeyedVectors.load_word2vec_format(str(rust_vec), binary=False)

        rates = {}
        models = {}
        for mode, corpus_file_mode in [("sentences", False), ("corpus_file", True)]:
            log(f"training: gensim {gensim.__version__} ({mode})")
            model, seconds = gensim_model(corpus, args, seed=1, corpus_file_mode=corpus_file_mode)
            rates[mode] = corpus_words / seconds
            models[mode] = model
        best_mode = max(rates, key=rates.get)
        log(f"training: gensim ({best_mode}, seed 2) as the quality yardstick")
        other, _ = gensim_model(corpus, args, seed=2, corpus_file_mode=best_mode == "corpus_file")

        reference = models[best_mode].wv
        vocabulary = [w for w in reference.index_to_key if w in rust_vectors.key_to_index]
        # Probe words spread over the frequency ranks, skipping the 50 most frequent.
        pool = vocabulary[50:]
        step = max(1, len(pool) // args.probes)
        probes = pool[::step][: args.probes]
        rust_overlap, rust_any = neighbour_agreement(rust_vectors, reference, probes)
        gensim_overlap, gensim_any = neighbour_agreement(other.wv, reference, probes)

    ratio = rust_rate / rates[best_mode]
    print(f"corpus: {tokens} tokens x {args.epochs} epochs, {args.threads} threads, dim {args.dim}, "
          f"window {args.window}, {args.negative} negatives, min count {args.min_count}, sample {args.sample}")
    print(f"shelfwise:        {rust_rate:>10.0f} words/s  (vocabulary {rust['vocabulary']})")
    for mode, rate in rates.items():
        print(f"gensim {mode:<11}{rate:>10.0f} words/s  (vocabulary {len(models[mode].wv)})")
    print(f"ratio shelfwise / gensim ({best_mode}, the faster): {ratio:.2f}")
    print(f"top-10 neighbour overlap on {len(probes)} probe words, against gensim seed 1: "
          f"shelfwise {rust_overlap:.2f} (probes sharing any neighbour: {rust_any:.0%}), "
          f"gensim seed 2 {gensim_overlap:.2f} ({gensim_any:.0%})")
    print(json.dumps({
        "tokens": tokens, "epochs": args.epochs, "threads": args.threads,
        "shelfwise_words_per_second": round(rust_rate), "gensim_words_per_second":
        {mode: round(rate) for mode, rate in rates.items()}, "ratio": round(ratio, 3),
        "probes": len(probes), "overlap_shelfwise_vs_gensim": round(rust_overlap, 3),
        "overlap_gensim_seed2_vs_gensim": round(gensim_overlap, 3),
        "share_with_common_neighbour_shelfwise": round(rust_any, 3),
        "share_with_common_neighbour_gensim_seed2": round(gensim_any, 3),
    }))


if __name__ == "__main__":
    main()
