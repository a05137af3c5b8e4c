"""How a linear model on the covers' pooled trunk maps best joins a linear
model on the words: the words alone, their probabilities plus the covers'
times a weight, and times the covers' raised to a power (what
`src/train/mixes.rs` does), by 5-fold macro-F1 on the training books of the
quality benchmark's split (the held-out 20% is never read). Then the same
with character n-grams (scikit-learn's `char_wb`, 2 to 5) beside the words
and word pairs, which shelfwise's word bags do not have.

usage: cover_mix.py LIBRARY [--seed 1] [--set openlibrary_covers5]
LIBRARY: a library holding the set's books (imported from its books.csv)
with its cover cache filled (`shelfwise cache`) at train's default trunk
settings (width 0.5: 128, 256, 256 channels on an 8 x 8 grid).
"""

import argparse
import glob
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import ROOT, read_books, stratified_split, text_of  # noqa: E402


def pooled(path, channels=(128, 256, 256), cells=64):
    values = np.fromfile(path, dtype=np.float16).astype(np.float32)
    out, offset = [], 0
    for count in channels:
        grid = values[offset : offset + count * cells].reshape(count, cells)
        offset += count * cells
        out += [grid.mean(1), grid.max(1)]
    return np.concatenate(out)


def main():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_union
    from sklearn.preprocessing import StandardScaler

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("library")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", default="openlibrary_covers5")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    rows = read_books(Path(args.data) / args.set / "books.csv")
    train, _held_out = stratified_split(rows, args.seed, 0.8)
    library = Path(args.library)
    hashes = dict(sqlite3.connect(library / "library.sqlite").execute("select external_id, cover_hash from books"))
    files = {Path(f).stem: f for f in glob.glob(str(library / "features" / "*" / "*" / "*.f16"))}
    train = [r for r in train if hashes.get(r["id"]) in files]
    covers = np.stack([pooled(files[hashes[r["id"]]]) for r in train])
    texts = [text_of(r) for r in train]
    labels = np.array([r["category"].strip() for r in train])
    classes = np.array(sorted(set(labels)))
    words = np.zeros((len(train), len(classes)))
    pictures = np.zeros_like(words)
    characters = np.zeros_like(words)

    def word_model(with_characters):
        pairs = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        if not with_characters:
            return pairs
        grams = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
        return make_union(pairs, grams)

    for fitting, scored in StratifiedKFold(5, shuffle=True, random_state=7).split(texts, labels):
        for probabilities, with_characters, c in ((words, False, 30), (characters, True, 10)):
            vectorizer = word_model(with_characters)
            seen = vectorizer.fit_transform([texts[i] for i in fitting])
            model = LogisticRegression(C=c, max_iter=3000).fit(seen, labels[fitting])
            probabilities[scored] = model.predict_proba(vectorizer.transform([texts[i] for i in scored]))
        scaler = StandardScaler().fit(covers[fitting])
        model = LogisticRegression(C=0.01, max_iter=3000).fit(scaler.transform(covers[fitting]), labels[fitting])
        pictures[scored] = model.predict_proba(scaler.transform(covers[scored]))

    def score(probabilities):
        return f1_score(labels, classes[probabilities.argmax(1)], average="macro")

    print(f"{len(train)} training books with a cover, seed {args.seed}; 5-fold macro-F1")
    print(f"covers alone {score(pictures):.4f}")
    for name, text in (("words", words), ("words + characters", characters)):
        print(f"{name} alone {score(text):.4f}")
        sums = ", ".join(f"{w} {score(text + w * pictures):.4f}" for w in (0.25, 0.5, 0.75, 1.0))
        print(f"  + covers x w: {sums}")
        products = ", ".join(f"{p} {score(text * pictures**p):.4f}" for p in (0.1, 0.2, 0.3, 0.5, 0.75, 1.0))
        print(f"  x covers ^ p: {products}")


if __name__ == "__main__":
    main()
